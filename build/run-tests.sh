#!/bin/sh
# `make test`: unit tests, the fuzz corpora replayed, then integration tests (all always run),
# then one total line "N passed, N failed". Exit status is non-zero when anything failed.
# Usage: run-tests.sh UNIT_BINARY... [-- REPLAY_BINARY...]
set -u
cd "$(dirname "$0")/.."
log=$(mktemp -t aiproxy-tests.XXXXXX)
trap 'rm -f "$log"' EXIT
status=0

# Split the arguments at "--": unit binaries before, fuzz replay binaries after.
unit_bins=""
replay_bins=""
seen_sep=0
for arg in "$@"; do
    if [ "$arg" = "--" ]; then
        seen_sep=1
    elif [ "$seen_sep" -eq 0 ]; then
        unit_bins="$unit_bins $arg"
    else
        replay_bins="$replay_bins $arg"
    fi
done

# shellcheck disable=SC2086 # the binary lists are space-separated paths
./build/run-unit.sh $unit_bins 2>&1 | tee "$log" || true
unit_line=$(grep -E '^unit tests: [0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
[ -n "$unit_line" ] || { unit_line="unit tests: 0 passed, 1 failed"; echo "unit tests did not report"; }

replay_line="fuzz replay: 0 passed, 0 failed"
if [ -n "$replay_bins" ]; then
    # shellcheck disable=SC2086
    ./build/run-replay.sh $replay_bins 2>&1 | tee "$log" || true
    replay_line=$(grep -E '^fuzz replay: [0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
    [ -n "$replay_line" ] || { replay_line="fuzz replay: 0 passed, 1 failed"; echo "fuzz replay did not report"; }
fi

./build/run-integration.sh 2>&1 | tee "$log" || true
int_line=$(grep -E '^=*\s*[0-9]+ (passed|failed)|[0-9]+ passed|[0-9]+ failed' "$log" | tail -1)

count() { # count WORD LINE: the number before WORD in LINE, or 0
    printf '%s\n' "$2" | grep -oE "[0-9]+ $1" | head -1 | grep -oE '^[0-9]+' || echo 0
}
passed=$(( $(count passed "$unit_line") + $(count passed "$replay_line") + $(count passed "$int_line") ))
failed=$(( $(count failed "$unit_line") + $(count failed "$replay_line") + $(count failed "$int_line") + $(count error "$int_line") + $(count errors "$int_line") ))
if [ -z "$int_line" ]; then
    echo "integration tests did not report"
    failed=$((failed + 1))
fi
[ "$failed" -eq 0 ] || status=1
echo "$passed passed, $failed failed"
exit $status
