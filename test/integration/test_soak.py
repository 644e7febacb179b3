"""Soak: sustained mixed load on the gateway built with AddressSanitizer and UBSan
(`make asan-modules`): every client protocol, passed through and translated, JSON and
stream, with a share of faulty upstream answers and of request bodies compressed on their
way to the mock (zstd, gzip, br). Afterwards: no sanitizer report, every
answer complete or the client's well-formed error, no file descriptors leaked, RSS flat.

`make test` runs it for AIPROXY_SOAK_SECONDS (default 20); the 10-minute run is

    AIPROXY_SOAK_SECONDS=600 /usr/bin/python3 -m pytest -q test/integration/test_soak.py -s

which prints the samples it judged by."""

import json
import os
import pathlib
import random
import subprocess
import threading
import time

import pytest

from conftest import DEMO_MODELS, MOCK_NAMES, UPSTREAM_TOKENS, Gateway
from fault_upstream import FaultUpstream
from harness import OUT, REPO, post_json, stream_sse
from test_fault_matrix import TRANSLATED_TO, stream_outcome
from test_gateway import answer_text, client_request, error_message

SECONDS = float(os.environ.get("AIPROXY_SOAK_SECONDS", "20"))
WORKERS = 8
# Faults the soak mixes in (on the `flaky-*` models, whose first upstream is the fault server).
FAULTS = ["none", "reset", "status-503", "status-500", "garbage", "gzip-cut", "short",
          "reset-after", "garbage-after", "bad-event-after"]
ASAN_DIR = OUT / "asan"
# Request bodies to the mock go compressed, a coding per upstream protocol (zstd twice: its
# contexts are shared between threads), when the request is long enough to be worth it.
CODINGS = {"anthropic": "zstd", "openai": "gzip", "responses": "br", "gemini": "zstd"}
PADDING = " and some earlier conversation" * 60  # about 1.8 KiB: over the 1 KiB threshold


def libasan():
    out = subprocess.run(["gcc", "-print-file-name=libasan.so"], capture_output=True,
                         text=True, check=True).stdout.strip()
    return os.path.realpath(out)


@pytest.fixture(scope="module")
def asan_build():
    result = subprocess.run(["make", "-C", str(REPO), "asan-modules"], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return ASAN_DIR


def soak_config(mock, faults):
    lines = []
    for proto in MOCK_NAMES:
        lines.append(f"AIProxyUpstream mock-{proto} {mock.base_url(proto)} api={proto} "
                     f"token={UPSTREAM_TOKENS[proto]} models={DEMO_MODELS[proto]},flaky-{proto} "
                     f"compression={CODINGS[proto]}")
        lines.append(f"AIProxyUpstream fault-{proto} {faults.base_url()} api={proto} token=f "
                     f"models=flaky-{proto} weight=100 timeout=2")
    # the soak is about memory and descriptors, not the breaker: keep the fault server in
    return "\n".join(lines + ["AIProxyCircuitBreaker 1000 1"])


def sample(gw):
    """(RSS in KiB, open descriptors) summed over the gateway's children."""
    rss = fds = 0
    for pid in gw.children():
        try:
            status = pathlib.Path(f"/proc/{pid}/status").read_text()
            rss += int(next(line.split()[1] for line in status.splitlines()
                            if line.startswith("VmRSS:")))
            fds += len(os.listdir(f"/proc/{pid}/fd"))
        except (OSError, StopIteration):
            continue
    return rss, fds


def codings_received(mock):
    """The request Content-Encodings the mock saw (a line scan: a long soak records a lot)."""
    seen = set()
    with open(mock.record_file, errors="replace") as records:
        for line in records:
            seen.update(c for c in CODINGS.values() if f'"content_encoding":"{c}"' in line)
    return seen


def one_request(gw, rng, problems):
    proto = rng.choice(MOCK_NAMES)
    upstream = proto if rng.random() < 0.5 else TRANSLATED_TO[proto]
    stream = rng.random() < 0.5
    fault = rng.choice(FAULTS) if rng.random() < 0.4 else None
    model = f"flaky-{upstream}" if fault else DEMO_MODELS[upstream]
    text = f"soak [fault:{fault}]" if fault else "soak [mock:long=20]"
    if rng.random() < 0.5:
        text += PADDING
    path, body = client_request(proto, text, stream=stream, model=model)
    what = f"{proto}->{upstream} {'stream' if stream else 'json'} {fault}"
    if not stream:
        status, _, payload = post_json(gw.url(path), body, timeout=20)
        if status == 200:
            answer_text(proto, json.loads(payload))
        elif not error_message(proto, payload):
            problems.append(f"{what}: {status} {payload[:200]!r}")
        return
    with stream_sse(gw.url(path), body, timeout=20) as s:
        if s.status != 200:
            error_message(proto, s._resp.read())
            return
        events = s.events()
    _, error, completed = stream_outcome(proto, events)
    if not (completed or error):
        problems.append(f"{what}: a stream that neither completed nor failed: {events[-2:]}")


def test_soak_under_sanitizers(mock, asan_build):
    faults = FaultUpstream().start()
    gw = Gateway(soak_config(mock, faults), module_dir=asan_build, env={
        "LD_PRELOAD": libasan(),
        # httpd's pools live until exit: leak checking at exit would only report those
        "ASAN_OPTIONS": "detect_leaks=0:quarantine_size_mb=16:malloc_context_size=8:"
                        "log_path=@LOG@/asan",
        "UBSAN_OPTIONS": "print_stacktrace=1:log_path=@LOG@/ubsan",
    })
    logs = gw.root / "logs"
    gw.env = {k: v.replace("@LOG@", str(logs)) for k, v in gw.env.items()}
    gw.start()
    mock.clear()
    stop, problems, counts = threading.Event(), [], []

    def worker(seed):
        rng, n = random.Random(seed), 0
        while not stop.is_set():
            try:
                one_request(gw, rng, problems)
            except Exception as exc:  # noqa: BLE001 - every failure counts
                problems.append(f"{type(exc).__name__}: {exc}")
            n += 1
        counts.append(n)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(WORKERS)]
    samples = []
    try:
        for t in threads:
            t.start()
        started = time.monotonic()
        while time.monotonic() - started < SECONDS:
            time.sleep(min(1.0, SECONDS / 20))
            samples.append((round(time.monotonic() - started, 1),) + sample(gw))
    finally:
        stop.set()
        for t in threads:
            t.join(30)
        gw.stop()
        faults.stop()
    reports = sorted(p.name for p in logs.iterdir() if p.name.startswith(("asan", "ubsan")))
    texts = "\n".join((logs / r).read_text(errors="replace")[:3000] for r in reports)
    print(f"\nsoak: {sum(counts)} requests in {SECONDS:.0f} s by {WORKERS} workers; "
          f"samples (s, RSS KiB, fds): {samples}")
    assert not reports, texts
    assert "AddressSanitizer" not in gw.error_log() and "runtime error" not in gw.error_log()
    assert not problems, problems[:5]
    assert sum(counts) >= 10 * WORKERS, "the load never got going"
    assert {r["fault"] for r in faults.records} >= set(FAULTS) - {"none"}, "faults not mixed in"
    assert codings_received(mock) == set(CODINGS.values()), "compressed bodies not mixed in"
    # flat: the last samples hold no more than the ones after warm-up, with slack for
    # children the MPM starts as load varies and for ASan's quarantine filling up
    warm = [s for s in samples if s[0] >= SECONDS * 0.4]
    base_rss = max(s[1] for s in warm[: max(1, len(warm) // 3)])
    base_fds = max(s[2] for s in warm[: max(1, len(warm) // 3)])
    last_rss, last_fds = max(s[1] for s in warm[-3:]), max(s[2] for s in warm[-3:])
    assert last_rss <= base_rss * 1.10 + 8192, samples
    assert last_fds <= base_fds + 32, samples
    gw.cleanup()
