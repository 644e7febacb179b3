"""The fault matrix: every client protocol x {JSON, stream} x {passthrough, translated} against
an upstream that fails in each way a real one does (fault_upstream.py), asserting each time a
complete answer or the client's own well-formed error, within a time bound.

Each test runs one fault for one client protocol and mode on a fresh gateway with three
upstreams: `fault` (weight 100, so it is tried first) and `healthy` (the mock) both serve model
`m`; `solo` (the fault server again, its own name and token) is the only one serving `solo`.
So `m` shows failover and `solo` shows the error a client gets when nothing is left."""

import json
import time

import pytest

from fault_upstream import PIECE, FaultUpstream, long_piece
from harness import free_port, post_json, stream_sse
from test_gateway import answer_text, client_request, delta_text, error_message

PROTOS = ["anthropic", "openai", "responses", "gemini"]
# The upstream protocol of the translated variant: each client protocol to another, so every
# protocol is also exercised as an upstream.
TRANSLATED_TO = {"anthropic": "openai", "openai": "responses", "responses": "gemini",
                 "gemini": "anthropic"}
# Faults before the first byte of content: the gateway must fail over.
BEFORE_CONTENT = ["refused", "reset", "silent", "status-500", "status-502", "status-503",
                  "status-529", "status-429", "garbage", "gzip-cut", "zstd-cut", "br-cut",
                  "big-headers"]
# Faults after content, with the text deltas a stream carries before them: a stream has
# started (the client keeps the whole events it got and then gets an error event); a JSON
# answer is never sent in part (the gateway fails over).
AFTER_CONTENT = {"short": 1, "reset-after": 2, "stall-after": 2, "garbage-after": 2,
                 "bad-event-after": 2}
BOUND = 8.0  # seconds any one request may take (the upstream timeout is 1 s)


@pytest.fixture(scope="module")
def faults():
    server = FaultUpstream().start()
    yield server
    server.stop()


def upstream_proto(proto, mode):
    return TRANSLATED_TO[proto] if mode == "translated" else proto


def fault_gateway(make_gateway, mock, faults, proto, mode, fault):
    up = upstream_proto(proto, mode)
    base = f"http://127.0.0.1:{free_port()}" if fault == "refused" else faults.base_url()
    return make_gateway("\n".join([
        f"AIProxyUpstream fault {base} api={up} token=f models=m weight=100 timeout=1",
        f"AIProxyUpstream solo {base} api={up} token=s models=solo timeout=1",
        f"AIProxyUpstream healthy {mock.base_url(up)} api={up} token=h models=m",
    ]))


def timed(call, *args, **kwargs):
    started = time.monotonic()
    result = call(*args, **kwargs)
    elapsed = time.monotonic() - started
    assert elapsed < BOUND, f"took {elapsed:.1f} s"
    return result


def stream_outcome(proto, events):
    """(text, error object or None, completed) of a client stream."""
    text, error, completed = "", None, False
    for name, data in events:
        text += delta_text(proto, name, data)
        if data == "[DONE]":
            completed = True
            continue
        obj = json.loads(data)
        if proto == "anthropic":
            completed |= name == "message_stop"
            if name == "error":
                assert obj["type"] == "error" and obj["error"]["type"], obj
                error = obj["error"]
        elif proto == "responses":
            completed |= name == "response.completed"
            if name == "response.failed":
                assert obj["response"]["status"] == "failed", obj
                error = obj["response"]["error"]
            elif name == "error":
                error = error or obj
        elif "error" in obj:
            if proto == "gemini":
                assert isinstance(obj["error"]["code"], int) and obj["error"]["status"], obj
            error = obj["error"]
        elif proto == "gemini":
            completed |= any("finishReason" in c for c in obj.get("candidates", []))
    if error is not None:
        assert error.get("message"), error
    return text, error, completed


def read_stream(gw, proto, text, model):
    path, body = client_request(proto, text, stream=True, model=model)
    with stream_sse(gw.url(path), body, timeout=BOUND + 5) as s:
        events = s.events() if s.status == 200 else None
        raw = bytes(s.raw) if events is None else None
        if events is None:
            raw = s._resp.read()  # an error answer: one JSON body
        return s.status, s.headers, events, raw


def assert_error_answer(proto, status, headers, body):
    assert status >= 400, (status, body)
    assert headers.get("content-type", "").startswith("application/json"), headers
    assert error_message(proto, body)


@pytest.mark.parametrize("fault", BEFORE_CONTENT + list(AFTER_CONTENT))
@pytest.mark.parametrize("mode", ["passthrough", "translated"])
@pytest.mark.parametrize("proto", PROTOS)
def test_fault(make_gateway, mock, faults, proto, mode, fault):
    gw = fault_gateway(make_gateway, mock, faults, proto, mode, fault)
    text = f"hello [fault:{fault}]"
    faults.clear()

    # JSON, failover: a fault before or after content, the answer is the healthy one's
    path, body = client_request(proto, text, model="m")
    status, headers, payload = timed(post_json, gw.url(path), body, timeout=BOUND + 5)
    assert status == 200, payload
    assert headers["x-aiproxy-upstream"] == "healthy"
    assert answer_text(proto, json.loads(payload)) == f"echo: {text}"

    # stream, failover before content; after content the stream ends in an error event
    status, headers, events, raw = timed(read_stream, gw, proto, text, "m")
    assert status == 200, raw
    got, error, completed = stream_outcome(proto, events)
    if fault in BEFORE_CONTENT:
        assert headers["x-aiproxy-upstream"] == "healthy"
        assert (got, error, completed) == (f"echo: {text}", None, True), events[-3:]
    else:
        assert headers["x-aiproxy-upstream"] == "fault"
        assert got == PIECE * AFTER_CONTENT[fault], events
        assert error is not None and not completed, events[-3:]

    # nothing left: the client's own error envelope (JSON), or its error event (stream)
    path, body = client_request(proto, text, model="solo")
    status, headers, payload = timed(post_json, gw.url(path), body, timeout=BOUND + 5)
    assert_error_answer(proto, status, headers, payload)
    status, headers, events, raw = timed(read_stream, gw, proto, text, "solo")
    if fault in BEFORE_CONTENT:
        assert_error_answer(proto, status, headers, raw)
    else:
        assert status == 200
        got, error, completed = stream_outcome(proto, events)
        assert got == PIECE * AFTER_CONTENT[fault], events
        assert error is not None and not completed, events[-3:]

    if fault != "refused":
        # a 429 with Retry-After benches the upstream's token: its second request goes
        # straight to the healthy upstream (or, for solo, to the error)
        tried = len(faults.seen(fault))
        assert tried == (2 if fault == "status-429" else 4), f"the fault upstream saw {tried}"


def single_upstream_gateway(make_gateway, faults, proto, mode):
    up = upstream_proto(proto, mode)
    return make_gateway(f"AIProxyUpstream fault {faults.base_url()} api={up} token=f models=m")


@pytest.mark.parametrize("mode", ["passthrough", "translated"])
@pytest.mark.parametrize("proto", PROTOS)
def test_client_disconnect_closes_the_upstream(make_gateway, faults, proto, mode):
    """A client that goes away mid-stream: the gateway hangs up on the upstream within a
    second (nobody pays for tokens no one reads), while the upstream is still sending."""
    gw = single_upstream_gateway(make_gateway, faults, proto, mode)
    faults.clear()
    path, body = client_request(proto, "hello [fault:drip]", stream=True, model="m")
    with stream_sse(gw.url(path), body, timeout=10) as s:
        assert s.status == 200
        for _, name, data in s:
            if delta_text(proto, name, data):
                break
        s.close()
        left = time.monotonic()
    deadline = left + 5
    while time.monotonic() < deadline and not (faults.seen("drip") and
                                               faults.seen("drip")[0]["closed"]):
        time.sleep(0.02)
    closed = faults.seen("drip")[0]["closed"]
    assert closed is not None, "the upstream connection stayed open"
    assert closed - left < 1.0, f"the upstream connection closed {closed - left:.2f} s after"


@pytest.mark.parametrize("mode", ["passthrough", "translated"])
@pytest.mark.parametrize("proto", PROTOS)
def test_long_stream_arrives_unbuffered(make_gateway, faults, proto, mode):
    """5,000 events of 1 KiB: the first ones reach the client while the upstream waits
    (nothing is held back), every one arrives, in order, ending well, and the gateway does not
    grow with the stream (5 MiB of text). The Responses protocol repeats the whole text in
    its closing events (5 MiB each, under the 8 MiB event cap): a Responses stream on either
    side needs memory for one such event, which is not growth with the stream's length."""
    count, size = 5000, 1024
    gw = single_upstream_gateway(make_gateway, faults, proto, mode)
    faults.clear()
    path, body = client_request(proto, f"hello [fault:long-{count}-{size}]", stream=True,
                                model="m")
    text, events, rss_held = "", [], None
    with stream_sse(gw.url(path), body, timeout=60) as s:
        assert s.status == 200
        for _, name, data in s:
            events.append((name, data))
            text += delta_text(proto, name, data)
            if rss_held is None and text == long_piece(size) * 3:
                # the upstream holds its 11th delta until this: the first ones were not
                # buffered in the gateway
                rss_held = gateway_rss_kib(gw)
                faults.release()
        rss_end = gateway_rss_kib(gw)
    assert faults._released.is_set(), "no delta arrived before the upstream went on"
    got, error, completed = stream_outcome(proto, events)
    assert error is None and completed
    assert got == long_piece(size) * count
    if "responses" not in (proto, upstream_proto(proto, mode)):
        assert rss_end - rss_held < 2048, f"the gateway grew {rss_end - rss_held} KiB"


@pytest.mark.parametrize("mode", ["passthrough", "translated"])
def test_open_stream_has_let_its_request_go(make_gateway, faults, mode):
    """Once an answer's first bytes reach the client no other attempt can follow, so the
    request's body and its copies go then, not when the stream ends minutes later; an
    attempt that fails first keeps them for the next one (AIP00304 once, after the fail)."""
    up = upstream_proto("openai", mode)
    gw = make_gateway("\n".join([
        # nothing listens there: refused, the next upstream answers
        f"AIProxyUpstream broken http://127.0.0.1:{free_port()} api={up} token=f models=m "
        "weight=100",
        f"AIProxyUpstream fault {faults.base_url()} api={up} token=f models=m weight=1",
        "LogLevel aiproxy:trace1",
    ]))
    faults.clear()
    path, body = client_request("openai", "hello [fault:long-40]", stream=True, model="m")
    with stream_sse(gw.url(path), body, timeout=30) as s:
        assert s.status == 200
        events = iter(s)
        for _, name, data in events:
            if delta_text("openai", name, data):
                break
        # the upstream holds its 11th delta until released: the stream is open
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and "AIP00304" not in gw.error_log():
            time.sleep(0.05)
        assert gw.error_log().count("AIP00304") == 1, gw.error_log()
        faults.release()
        text = "".join(delta_text("openai", n, d) for _, n, d in events)
    assert text.count(PIECE) == 39
    log = gw.error_log()
    assert log.index("upstream broken failed") < log.index("AIP00304"), log


def gateway_rss_kib(gw):
    """RSS of the gateway's children (KiB): one stream, so one child's growth shows."""
    from test_soak import sample
    return sample(gw)[0]
