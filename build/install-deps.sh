#!/bin/sh
# Install the Debian packages the build, the tests and `make run` need.
# Idempotent: only missing packages are installed, so a warm machine pays one dpkg query.
set -eu

PACKAGES="apache2 apache2-dev apache2-utils libapr1-dev libaprutil1-dev \
libjansson-dev libyaml-dev libzstd-dev libbrotli-dev zlib1g-dev libssl-dev \
libcmocka-dev python3 python3-pytest python3-cryptography ca-certificates openssl curl clang libclang-rt-14-dev pkg-config make gcc"
PACKAGES="$PACKAGES libcurl4-openssl-dev" # mod_aiproxy_oauth: HTTP for token refreshes

missing=""
for pkg in $PACKAGES; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    case "$status" in
        *"install ok installed"*) ;;
        *) missing="$missing $pkg" ;;
    esac
done

[ -z "$missing" ] && exit 0

echo "install-deps: installing:$missing" >&2
SUDO=""
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "install-deps: need root (or sudo) to install:$missing" >&2
        exit 1
    fi
fi
APT_OPTS="-o DPkg::Lock::Timeout=300 -o Acquire::Retries=3"
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get $APT_OPTS update -q
# shellcheck disable=SC2086 # word splitting of the package list is intended
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get $APT_OPTS install -y -q --no-install-recommends $missing
