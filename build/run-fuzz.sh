#!/bin/sh
# Build and run the libFuzzer harnesses test/fuzz/fuzz_*.c (clang, ASan + UBSan + LSan).
#
#   build/run-fuzz.sh [RUNS [NAME...]]   RUNS executions per harness (default 1000000);
#                                        NAMEs (fuzz_route ...) pick harnesses, default all
#
# Every pure core (common/*.c, each .c under mod_aiproxy_translate/ not named mod_*, aip_*.c,
# mod_aiproxy_oauth/oa_*.c) is compiled once, instrumented, into out/fuzz/libcore.a; each harness
# links that archive, so the linker takes only the objects it uses and a new harness needs no
# entry here. Seeds are read from test/fuzz/corpus/<name>/ (kept in git), a dictionary from
# test/fuzz/<name>.dict if any; new corpus entries go to out/fuzz/corpus/<name>/ so runs do not
# litter the tree. Stops at the first harness that finds a crash or leak.
set -eu
cd "$(dirname "$0")/.."

RUNS=${1:-1000000}
[ $# -gt 0 ] && shift
CC=${FUZZ_CC:-clang}
OUT=out/fuzz
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
PKGS="jansson yaml-0.1 libzstd libbrotlienc libbrotlidec zlib"
CFLAGS="-std=c11 -D_GNU_SOURCE -O1 -g -fno-omit-frame-pointer $(apr-1-config --cppflags --includes) \
        -Iinclude -Icommon -Imod_aiproxy_translate -Imod_aiproxy -Imod_aiproxy_oauth \
        $(pkg-config --cflags $PKGS)"
LIBS="$(apr-1-config --link-ld) $(apu-1-config --link-ld) $(pkg-config --libs $PKGS) -lcrypto"

mkdir -p "$OUT/obj"
echo "fuzz: building the instrumented cores"
rm -f "$OUT/libcore.a"
for src in common/*.c $(find mod_aiproxy_translate -name '*.c' ! -name 'mod_*' | sort) mod_aiproxy/aip_*.c \
    mod_aiproxy_oauth/oa_*.c; do
    [ -e "$src" ] || continue
    obj="$OUT/obj/$(echo "$src" | tr / _ | sed 's/\.c$/.o/')"
    # shellcheck disable=SC2086
    $CC -fsanitize=fuzzer-no-link $SAN $CFLAGS -c "$src" -o "$obj"
    ar rcs "$OUT/libcore.a" "$obj"
done

if [ $# -gt 0 ]; then
    harnesses=$(for name in "$@"; do echo "test/fuzz/$name.c"; done)
else
    harnesses=$(ls test/fuzz/fuzz_*.c)
fi
status=0
for src in $harnesses; do
    name=$(basename "$src" .c)
    bin="$OUT/$name"
    echo "fuzz: building $name"
    # shellcheck disable=SC2086
    $CC -fsanitize=fuzzer $SAN $CFLAGS -o "$bin" "$src" "$OUT/libcore.a" $LIBS
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
