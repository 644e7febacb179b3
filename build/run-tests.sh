#!/bin/sh
# `make test`: unit tests, then integration tests (both always run), then one total line
# "N passed, N failed". Exit status is non-zero when anything failed.
# Usage: run-tests.sh UNIT_BINARY...
set -u
cd "$(dirname "$0")/.."
log=$(mktemp -t aiproxy-tests.XXXXXX)
trap 'rm -f "$log"' EXIT
status=0

./build/run-unit.sh "$@" 2>&1 | tee "$log" || true
unit_line=$(grep -E '^unit tests: [0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
[ -n "$unit_line" ] || { unit_line="unit tests: 0 passed, 1 failed"; echo "unit tests did not report"; }

./build/run-integration.sh 2>&1 | tee "$log" || true
int_line=$(grep -E '^=*\s*[0-9]+ (passed|failed)|[0-9]+ passed|[0-9]+ failed' "$log" | tail -1)

count() { # count WORD LINE: the number before WORD in LINE, or 0
    printf '%s\n' "$2" | grep -oE "[0-9]+ $1" | head -1 | grep -oE '^[0-9]+' || echo 0
}
passed=$(( $(count passed "$unit_line") + $(count passed "$int_line") ))
failed=$(( $(count failed "$unit_line") + $(count failed "$int_line") + $(count error "$int_line") + $(count errors "$int_line") ))
if [ -z "$int_line" ]; then
    echo "integration tests did not report"
    failed=$((failed + 1))
fi
[ "$failed" -eq 0 ] || status=1
echo "$passed passed, $failed failed"
exit $status
