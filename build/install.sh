#!/bin/sh
# `make install`: install the built modules into httpd's module directory with apxs, and their
# a2enmod files (conf/mods-available/NAME.load, NAME.conf) into the Debian layout.
#
#   build/install.sh out/mod_NAME.so...
#
# Environment (the Makefile sets it from apxs): APXS; LIBEXECDIR, the module directory;
# MODS_AVAILABLE, /etc/apache2/mods-available or empty where the system has none (the LoadModule
# lines to add by hand are printed instead); DESTDIR, a staging root prefixed to every path
# written but never to the paths the installed files name (for packaging).
set -eu
cd "$(dirname "$0")/.."
APXS=${APXS:-apxs}
DESTDIR=${DESTDIR:-}
: "${LIBEXECDIR:?LIBEXECDIR is not set (apxs -q LIBEXECDIR)}"
MODS_AVAILABLE=${MODS_AVAILABLE:-}

# conf/mods-available/NAME.* for one module into DESTDIR/MODS_AVAILABLE; *.in files have
# @LIBEXECDIR@ filled in and lose their .in.
install_a2enmod_files() { # install_a2enmod_files NAME
    found=0
    for src in "conf/mods-available/$1".*; do
        [ -e "$src" ] || continue
        found=1
        dest="$DESTDIR$MODS_AVAILABLE/$(basename "$src" .in)"
        sed "s#@LIBEXECDIR@#$LIBEXECDIR#g" "$src" > "$dest"
        chmod 644 "$dest"
        echo "install: $dest"
    done
    [ "$found" = 1 ] || { echo "install: no conf/mods-available/$1.load" >&2; exit 1; }
}

mkdir -p "$DESTDIR$LIBEXECDIR"
[ -z "$MODS_AVAILABLE" ] || mkdir -p "$DESTDIR$MODS_AVAILABLE"
for so in "$@"; do
    name=$(basename "$so" .so)
    name=${name#mod_}
    # apxs -i copies through libtool; its chatter is shown only when it fails.
    if ! log=$("$APXS" -i -S LIBEXECDIR="$DESTDIR$LIBEXECDIR" -n "$name" "$so" 2>&1); then
        printf '%s\n' "$log" >&2
        echo "install: apxs could not install $so" >&2
        exit 1
    fi
    echo "install: $DESTDIR$LIBEXECDIR/$(basename "$so")"
    if [ -n "$MODS_AVAILABLE" ]; then
        install_a2enmod_files "$name"
    fi
done

if [ -n "$MODS_AVAILABLE" ]; then
    echo "install: enable with: a2enmod aiproxy (it enables aiproxy_translate and mod_proxy too)"
else
    echo "install: no mods-available directory; load the modules, after mod_proxy, with:"
    for so in "$@"; do
        name=$(basename "$so" .so)
        echo "    LoadModule ${name#mod_}_module $LIBEXECDIR/$(basename "$so")"
    done
fi
