#!/bin/sh
# Install the Debian packages that a make goal needs, and only those.
#
#   build/install-deps.sh GROUP...      groups: build unit run test fuzz bench deb
#
# The Makefile calls it with the groups of the goals asked for (none for clean, format, help).
# A warm machine pays one dpkg-query and no apt-get. When packages are missing and cannot be
# installed here (not root and no sudo, no apt-get, or apt-get failing), it prints one message
# naming them and the command that installs them, and fails.
set -eu

# The packages of one group, a table in a function.
packages_of() {
    case "$1" in
        build) echo "make gcc pkg-config apache2-dev libapr1-dev libaprutil1-dev libjansson-dev \
                     libyaml-dev libzstd-dev libbrotli-dev zlib1g-dev libssl-dev \
                     libcurl4-openssl-dev libhiredis-dev" ;;
        unit)  echo "libcmocka-dev" ;;
        run)   echo "apache2" ;;
        test)  echo "apache2-utils python3 python3-pytest python3-cryptography ca-certificates \
                     openssl curl redis-server memcached" ;;
        fuzz)  echo "clang libclang-rt-14-dev" ;;
        bench) echo "wrk python3" ;;
        deb)   echo "dpkg-dev debhelper fakeroot apache2-dev" ;;
        *) echo "install-deps: unknown package group '$1'" >&2; return 1 ;;
    esac
}

wanted=""
for group in "$@"; do
    wanted="$wanted $(packages_of "$group")"
done
# shellcheck disable=SC2086 # one name a line, duplicates (python3) once
wanted=$(printf '%s\n' $wanted | sort -u | tr '\n' ' ')
[ -n "${wanted% }" ] || exit 0

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "install-deps: not a Debian system (no dpkg-query); make sure the equivalents of" \
         "these packages are installed: $wanted" >&2
    exit 0
fi

# One query for all; installed packages print "name ii", unknown names nothing. awk keeps the
# wanted names that are not installed.
# shellcheck disable=SC2086 # word splitting of the package list is intended
missing=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' $wanted 2>/dev/null |
    awk -v wanted="$wanted" '$2 == "ii" { ok[$1] = 1 }
        END { n = split(wanted, w, " "); for (i = 1; i <= n; i++) if (!(w[i] in ok)) printf " %s", w[i] }')
[ -z "$missing" ] && exit 0

cannot_install() { # cannot_install WHY
    echo "install-deps: $1; missing Debian packages:$missing" >&2
    echo "install-deps: as root, run: apt-get update && apt-get install$missing" >&2
    exit 1
}

SUDO=""
if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || cannot_install "not root and no sudo"
    SUDO="sudo"
fi
command -v apt-get >/dev/null 2>&1 || cannot_install "no apt-get"

echo "install-deps: installing:$missing" >&2
APT_OPTS="-o DPkg::Lock::Timeout=300 -o Acquire::Retries=3"
# shellcheck disable=SC2086 # word splitting of the option and package lists is intended
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get $APT_OPTS update -q ||
    cannot_install "apt-get update failed"
# shellcheck disable=SC2086
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get $APT_OPTS install -y -q --no-install-recommends \
    $missing || cannot_install "apt-get install failed"
