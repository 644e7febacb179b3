#!/bin/sh
# `make bench`: build what the benchmarks need, then run them and print a table of figures.
#
#   bench/run.sh [bench.py options]      e.g. --rounds 7 --seconds 3, --only 1,2, --pin none
#
# Installs wrk when it is missing (Debian package), builds the modules (make all) and the
# translate micro benchmark (bench/bench.mk), then hands over to bench/bench.py, which starts
# its own gateway and mock httpd instances on free ports under a temp dir and stops them on
# exit, Ctrl-C or SIGTERM. Exits 0 when the figures were measured, even if a target was missed
# (the table says "MISSED target"); non-zero only when the build or the setup fails.
set -eu
REPO=$(cd "$(dirname "$0")/.." && pwd)

if ! command -v wrk >/dev/null 2>&1; then
    echo "bench: installing wrk" >&2
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q \
        --no-install-recommends wrk >/dev/null ||
        { $SUDO apt-get -o DPkg::Lock::Timeout=300 update -q >/dev/null &&
          $SUDO env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install \
              -y -q --no-install-recommends wrk >/dev/null; }
fi

make -C "$REPO" --no-print-directory all
MICRO="$REPO/out/bench/bench_translate"
rm -f "$MICRO"
if ! make -C "$REPO" --no-print-directory -f bench/bench.mk; then
    echo "bench: bench_translate did not build; the micro figures are reported as not available" >&2
fi

PYTHON=python3
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=/usr/bin/python3
exec "$PYTHON" "$REPO/bench/bench.py" --micro "$MICRO" "$@"
