#!/bin/sh
# Fill conf/httpd-base.conf.in for one private instance: render-conf.sh TEMPLATE ROOT USER_LINES LOGLEVEL
set -eu
MODDIR=$(apxs -q LIBEXECDIR 2>/dev/null || echo /usr/lib/apache2/modules)
awk -v root="$2" -v users="$3" -v level="$4" -v moddir="$MODDIR" '{
    gsub(/@ROOT@/, root); gsub(/@LOGLEVEL@/, level); gsub(/@MODDIR@/, moddir);
    if ($0 ~ /@USER_LINES@/) { print users; next }
    print
}' "$1"
