"""`apachectl graceful` under load: in-flight streams finish, new requests keep being served,
and a changed configuration takes effect — with zero failed requests."""

import threading
import time

from conftest import upstream_lines
from harness import post_json, stream_sse


def stream_until(gw, stop, results):
    body = {"model": "demo-openai", "stream": True,
            "messages": [{"role": "user", "content": "load [mock:slow=50] [mock:long=12]"}]}
    while not stop.is_set():
        try:
            with stream_sse(gw.url("/v1/chat/completions"), body, timeout=20) as s:
                events = s.events()
                ok = s.status == 200 and not s.truncated and events and events[-1][1] == "[DONE]"
                results.append("ok" if ok else f"bad status={s.status} truncated={s.truncated}")
        except Exception as exc:  # noqa: BLE001 - every failure counts, whatever it is
            results.append(f"error {exc!r}")


def test_graceful_restart_under_load(make_gateway, mock):
    gw = make_gateway(upstream_lines(mock))
    stop, results = threading.Event(), []
    workers = [threading.Thread(target=stream_until, args=(gw, stop, results)) for _ in range(8)]
    for w in workers:
        w.start()
    try:
        time.sleep(1.0)  # streams are in flight (each takes about 0.6 s)
        # a changed configuration: one more model, served after the restart
        gw.write_conf(gw.conf_body.replace(
            "models=demo-openai", "models=demo-openai,added-after-graceful"))
        gw.graceful()
        deadline = time.monotonic() + 10
        while True:
            status, _, _ = post_json(gw.url("/v1/chat/completions"),
                                     {"model": "added-after-graceful",
                                      "messages": [{"role": "user", "content": "new"}]})
            if status == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert status == 200, "the new configuration never took effect"
        time.sleep(1.0)  # more streams on the new generation
    finally:
        stop.set()
        for w in workers:
            w.join(timeout=30)
    failures = [r for r in results if r != "ok"]
    assert len(results) >= 16
    assert not failures, failures[:5]
