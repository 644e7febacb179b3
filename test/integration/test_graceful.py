"""`apachectl graceful` under load: in-flight streams of every client protocol, passed through
and translated, finish; new requests keep being served, and a changed configuration takes
effect — with zero failed requests."""

import threading
import time

from conftest import DEMO_MODELS, MOCK_NAMES, upstream_lines
from harness import post_json, stream_sse
from test_fault_matrix import stream_outcome
from test_gateway import client_request


def stream_until(gw, proto, model, stop, results):
    """Stream one client protocol's requests for model until stop; one result each."""
    text = "load [mock:slow=50] [mock:long=12]"
    while not stop.is_set():
        path, body = client_request(proto, text, stream=True, model=model)
        try:
            with stream_sse(gw.url(path), body, timeout=20) as s:
                events = s.events()
                ok = s.status == 200 and not s.truncated and events
                if ok:
                    _, error, completed = stream_outcome(proto, events)
                    ok = completed and error is None
                results.append("ok" if ok else f"bad {proto}->{model} status={s.status} "
                               f"truncated={s.truncated} last={events[-1:] if events else None}")
        except Exception as exc:  # noqa: BLE001 - every failure counts, whatever it is
            results.append(f"error {proto}->{model} {exc!r}")


def test_graceful_restart_under_load(make_gateway, mock):
    gw = make_gateway(upstream_lines(mock))
    stop, results = threading.Event(), []
    # every client protocol, passed through and translated (to the next protocol's upstream)
    combos = [(p, DEMO_MODELS[p]) for p in MOCK_NAMES] + [
        (p, DEMO_MODELS[MOCK_NAMES[(i + 1) % len(MOCK_NAMES)]]) for i, p in enumerate(MOCK_NAMES)]
    workers = [threading.Thread(target=stream_until, args=(gw, proto, model, stop, results))
               for proto, model in combos]
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
