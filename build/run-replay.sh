#!/bin/sh
# Replay every committed fuzz corpus through its harness, built without libFuzzer
# (test/fuzz/replay_main.c): one verdict per harness, then one summary line.
#   run-replay.sh REPLAY_BINARY...    (out/replay/fuzz_NAME replays test/fuzz/corpus/fuzz_NAME/)
# A harness passes when it ran every input and exited 0; an abort, a signal, a hang (over
# REPLAY_TIMEOUT seconds, default 60) or an unreadable corpus fails it.
set -u
cd "$(dirname "$0")/.."
passed=0
failed=0
for bin in "$@"; do
    name=$(basename "$bin")
    out=$(timeout "${REPLAY_TIMEOUT:-60}" "$bin" "test/fuzz/corpus/$name" 2>&1)
    rc=$?
    if [ "$rc" -eq 0 ]; then
        passed=$((passed + 1))
        echo "replay: $name ok ($(printf '%s\n' "$out" | sed -n 's/^replay: \([0-9]*\) inputs$/\1/p' | tail -1) inputs)"
    else
        failed=$((failed + 1))
        printf '%s\n' "$out" | tail -20
        # A shell reports death by signal N as status 128+N (124: killed by timeout).
        echo "replay: $name FAILED (exit status $rc)"
    fi
done
echo "fuzz replay: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
