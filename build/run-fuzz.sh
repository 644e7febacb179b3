#!/bin/sh
# Build and run the libFuzzer harnesses test/fuzz/fuzz_*.c (clang, ASan + UBSan + LSan).
#
#   build/run-fuzz.sh [RUNS [NAME...]]   RUNS executions per harness (default 1000000);
#                                        NAMEs (fuzz_route ...) pick harnesses, default all
#
# `make fuzzers` builds them: the Makefile's own rules with OUT=out/fuzz, clang and the
# sanitizer flags (FUZZ_MAKE_VARS there), so the cores go into instrumented copies of the same
# static libraries the modules link, and a new harness needs no entry here. Seeds are read from
# test/fuzz/corpus/<name>/ (kept in git), a dictionary from test/fuzz/<name>.dict if any; new
# corpus entries go to out/fuzz/corpus/<name>/ so runs do not litter the tree. Stops at the
# first harness that finds a crash or leak.
set -eu
cd "$(dirname "$0")/.."

RUNS=${1:-1000000}
[ $# -gt 0 ] && shift
OUT=out/fuzz

if [ $# -gt 0 ]; then
    names="$*"
else
    names=$(for src in test/fuzz/fuzz_*.c; do basename "$src" .c; done | tr '\n' ' ')
fi
echo "fuzz: building $names"
make --no-print-directory fuzzers FUZZ_NAMES="$names"

status=0
for name in $names; do
    mkdir -p "$OUT/corpus/$name" "test/fuzz/corpus/$name"
    dict=""
    [ -f "test/fuzz/$name.dict" ] && dict="-dict=test/fuzz/$name.dict"
    echo "fuzz: running $name for $RUNS executions"
    # shellcheck disable=SC2086
    if ! "$OUT/fuzzer/$name" $dict -runs="$RUNS" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$OUT/$name-" -print_final_stats=1 \
        "$OUT/corpus/$name" "test/fuzz/corpus/$name"; then
        echo "fuzz: $name FAILED (artifacts in $OUT/)"
        status=1
        break
    fi
done
exit $status
