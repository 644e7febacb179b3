#!/bin/sh
# Build and run every libFuzzer harness test/fuzz/fuzz_*.c (clang, ASan + UBSan + LSan).
#
#   build/run-fuzz.sh [RUNS]     RUNS executions per harness (default 1000000)
#
# Each harness links the whole translate core (mod_aiproxy_translate/tr_*.c); fuzz_yaml links
# the config.yaml importer (mod_aiproxy/aip_yaml.c). Seeds are read
# from test/fuzz/corpus/<name>/ (kept in git), a dictionary from test/fuzz/<name>.dict if any; new corpus entries go to out/fuzz/corpus/<name>/
# so runs do not litter the tree. Stops at the first harness that finds a crash or leak.
set -eu
cd "$(dirname "$0")/.."

RUNS=${1:-1000000}
CC=${FUZZ_CC:-clang}
OUT=out/fuzz
SAN="-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined"
CFLAGS="-std=c11 -D_GNU_SOURCE -O1 -g -fno-omit-frame-pointer $(apr-1-config --cppflags --includes) \
        -Iinclude -Imod_aiproxy_translate $(pkg-config --cflags jansson)"
LIBS="$(apr-1-config --link-ld) $(pkg-config --libs jansson)"
CORE=$(ls mod_aiproxy_translate/tr_*.c)

mkdir -p "$OUT"
status=0
for src in test/fuzz/fuzz_*.c; do
    [ -e "$src" ] || continue
    name=$(basename "$src" .c)
    bin="$OUT/$name"
    echo "fuzz: building $name"
    # Harnesses link the translate core; fuzz_yaml links the config.yaml importer instead.
    core=$CORE
    libs=$LIBS
    if [ "$name" = fuzz_yaml ]; then
        core="mod_aiproxy/aip_yaml.c"
        libs="$LIBS $(pkg-config --libs yaml-0.1)"
    fi
    # shellcheck disable=SC2086
    $CC $SAN $CFLAGS -Imod_aiproxy -o "$bin" "$src" $core $libs
    mkdir -p "$OUT/corpus/$name" "test/fuzz/corpus/$name"
    dict=""
    [ -f "test/fuzz/$name.dict" ] && dict="-dict=test/fuzz/$name.dict"
    echo "fuzz: running $name for $RUNS executions"
    # shellcheck disable=SC2086
    if ! "$bin" $dict -runs="$RUNS" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$OUT/$name-" -print_final_stats=1 \
        "$OUT/corpus/$name" "test/fuzz/corpus/$name"; then
        echo "fuzz: $name FAILED (artifacts in $OUT/)"
        status=1
        break
    fi
done
exit $status
