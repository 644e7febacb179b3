#!/bin/sh
# `make bench`: build what the benchmarks need, then run them and print a table of figures.
#
#   bench/run.sh [bench.py options]      e.g. --rounds 7 --seconds 3, --only 1,2, --pin none
#   BENCH_BASELINE=COMMIT bench/run.sh    also figure 6: this build against COMMIT's, built in a
#                                         temporary git worktree (removed on exit)
#
# Installs wrk when it is missing (build/install-deps.sh bench), builds the modules (make all)
# and the translate micro benchmark (out/bench/bench_translate, bench/bench.mk), then hands over
# to bench/bench.py, which starts its own gateway and mock httpd instances on free ports under a
# temp dir and stops them on exit, Ctrl-C or SIGTERM. Exits 0 when the figures were measured,
# even if a target was missed (the table says "MISSED target"); non-zero only when the build or
# the setup fails.
set -eu
REPO=$(cd "$(dirname "$0")/.." && pwd)

"$REPO/build/install-deps.sh" build run bench
make -C "$REPO" --no-print-directory all
MICRO="$REPO/out/bench/bench_translate"
if ! make -C "$REPO" --no-print-directory out/bench/bench_translate; then
    echo "bench: bench_translate did not build; the micro figures are reported as not available" >&2
    rm -f "$MICRO"
fi

if [ -n "${BENCH_BASELINE:-}" ]; then
    PREV=$(mktemp -d /tmp/aiproxy-bench-prev-XXXXXX)
    trap 'git -C "$REPO" worktree remove --force "$PREV/src" 2>/dev/null; rm -rf "$PREV"' EXIT
    git -C "$REPO" worktree add --detach "$PREV/src" "$BENCH_BASELINE"
    make -C "$PREV/src" --no-print-directory all
    set -- --baseline "$PREV/src/out" "$@"
fi

make -C "$REPO" --no-print-directory out/bench/bench_metrics ||
    echo "bench: bench_metrics did not build; its figure is reported as not available" >&2

PYTHON=python3
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=/usr/bin/python3
status=0
"$PYTHON" "$REPO/bench/bench.py" --micro "$MICRO" "$@" || status=$?
exit $status
