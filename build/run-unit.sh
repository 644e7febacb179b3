#!/bin/sh
# Run every cmocka unit-test binary given as arguments; print one summary line.
# cmocka prints "[  PASSED  ] N test(s)." and "[  FAILED  ] N test(s), listed below:".
set -u
passed=0
failed=0
status=0
for bin in "$@"; do
    out=$("$bin" 2>&1)
    rc=$?
    printf '%s\n' "$out" | grep -E '^\[  (FAILED|ERROR)|^\[ +FAILED|^\[  ERROR' || true
    p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -1)
    f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -1)
    passed=$((passed + ${p:-0}))
    failed=$((failed + ${f:-0}))
    if [ "$rc" -ne 0 ]; then
        status=1
        if [ -z "$f" ]; then
            failed=$((failed + 1))
            printf '%s\n' "$out" | tail -20
            echo "unit: $bin exited with status $rc"
        fi
    fi
done
echo "unit tests: $passed passed, $failed failed"
exit $status
