"""Content codings on the upstream leg.

Requests: an upstream configured with compression=zstd|gzip|br gets the translated body in that
coding (with Content-Encoding and an exact Content-Length) when it shrinks, and plain otherwise.
The mock records the raw bytes (body_b64); the test decodes them itself.

Responses: upstreams may answer with any coding the gateway advertises in Accept-Encoding; the
gateway undoes it before translating, live for streams. The mock never compresses, so a small
standard-library upstream in this file answers with scripted, encoded replies."""

import base64
import http.server
import json
import threading
import zlib

import pytest

from harness import compress, decompress, post_json, stream_sse

ACCEPT_ENCODING = "gzip, zstd, br, identity"
UPSTREAM_MODEL = "upstream-compressed-model"


def header(record, name):
    """A request header of a mock record, by case-insensitive name."""
    for key, value in record["headers"].items():
        if key.lower() == name.lower():
            return value
    return None


def chat_body(messages=40, model="m"):
    """An OpenAI chat request of a few kilobytes (repetitive, as real conversations are)."""
    return {
        "model": model,
        "messages": [
            {"role": "user" if i % 2 == 0 else "assistant",
             "content": f"turn {i}: please keep summarising the design of the gateway"}
            for i in range(messages)
        ],
        "temperature": 0.5,
    }


def compressing_gateway(make_gateway, mock, coding, mapped=True):
    mapping = f"map=m={UPSTREAM_MODEL}" if mapped else ""
    return make_gateway(
        f"AIProxyUpstream up {mock.base_url('openai')} api=openai token=t models=m "
        f"{mapping} compression={coding}"
    )


def sent_by_gateway(client_body):
    """What the gateway means to send an OpenAI upstream for an OpenAI client body: the same
    JSON with the model mapped."""
    return dict(client_body, model=UPSTREAM_MODEL)


# ---- request bodies --------------------------------------------------------------------------


@pytest.mark.parametrize("coding", ["zstd", "gzip", "br"])
def test_request_body_is_compressed(make_gateway, mock, coding):
    gw = compressing_gateway(make_gateway, mock, coding)
    body = chat_body()
    mock.clear()
    st, _, reply = post_json(gw.url("/v1/chat/completions"), body)
    assert st == 200, reply
    rec = mock.last("openai")
    raw = base64.b64decode(rec["body_b64"])
    assert rec["content_encoding"] == coding
    assert int(header(rec, "Content-Length")) == len(raw)
    plain = decompress(raw, coding)
    assert json.loads(plain) == sent_by_gateway(body)
    assert len(raw) < len(plain) / 3
    assert header(rec, "Accept-Encoding") == ACCEPT_ENCODING


@pytest.mark.parametrize("coding", ["zstd", "gzip"])
def test_tiny_body_is_sent_plain(make_gateway, mock, coding):
    gw = compressing_gateway(make_gateway, mock, coding, mapped=False)
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    mock.clear()
    st, _, reply = post_json(gw.url("/v1/chat/completions"), body)
    assert st == 200, reply
    rec = mock.last("openai")
    raw = base64.b64decode(rec["body_b64"])
    # the gateway's own encoding would not shrink it: plain, no Content-Encoding
    assert len(compress(raw, coding)) >= len(raw)
    assert rec["content_encoding"] is None
    assert int(header(rec, "Content-Length")) == len(raw)
    assert json.loads(raw) == body


def test_compression_none_sends_plain(make_gateway, mock):
    gw = compressing_gateway(make_gateway, mock, "none")
    body = chat_body()
    mock.clear()
    st, _, reply = post_json(gw.url("/v1/chat/completions"), body)
    assert st == 200, reply
    rec = mock.last("openai")
    raw = base64.b64decode(rec["body_b64"])
    assert rec["content_encoding"] is None
    assert json.loads(raw) == sent_by_gateway(body)


def test_translated_body_is_compressed(make_gateway, mock):
    """An Anthropic client to an OpenAI upstream: the translated JSON is what gets encoded."""
    gw = compressing_gateway(make_gateway, mock, "zstd")
    body = {"model": "m", "max_tokens": 100, "system": "be brief " * 40,
            "messages": [{"role": "user", "content": "summarise " * 60}]}
    mock.clear()
    st, _, reply = post_json(gw.url("/v1/messages"), body)
    assert st == 200, reply
    rec = mock.last("openai")
    assert rec["content_encoding"] == "zstd"
    sent = json.loads(decompress(base64.b64decode(rec["body_b64"]), "zstd"))
    assert sent["model"] == UPSTREAM_MODEL
    assert sent["messages"][0] == {"role": "system", "content": "be brief " * 40}
    assert sent["messages"][-1]["content"] == "summarise " * 60


# ---- responses: a scripted upstream that encodes its answers ---------------------------------


class EncodingUpstream:
    """A standard-library HTTP server; every POST is answered by self.reply(handler)."""

    def __init__(self):
        stub = self
        self.reply = None
        self.requests = []  # (headers dict, body bytes)
        self.gate = threading.Event()  # a stream waits here after its first event
        self.gate_timed_out = None

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length", 0))
                stub.requests.append((dict(self.headers), self.rfile.read(length)))
                stub.reply(self)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self):
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def encoding_upstream():
    up = EncodingUpstream()
    yield up
    up.stop()


def stub_gateway(make_gateway, stub, extra=""):
    return make_gateway(
        f"AIProxyUpstream stub {stub.base_url} api=openai token=t models=m\n{extra}"
    )


def openai_answer(text):
    return {
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }


def openai_chunk(delta, finish=None):
    obj = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m",
           "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return f"data: {json.dumps(obj)}\n\n".encode()


STREAM_EVENTS = [
    openai_chunk({"role": "assistant", "content": "Hel"}),
    openai_chunk({"content": "lo, "}),
    openai_chunk({"content": "world"}),
    openai_chunk({}, "stop"),
    b"data: [DONE]\n\n",
]


def send_json(handler, status, payload, coding):
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Encoding", coding)
    handler.send_header("Content-Length", str(len(payload)))
    handler.end_headers()
    handler.wfile.write(payload)


def json_reply(obj, coding, status=200):
    def reply(handler):
        send_json(handler, status, compress(json.dumps(obj).encode(), coding), coding)
    return reply


class EventEncoder:
    """Encodes SSE events so each can be decoded as soon as it is sent: gzip and deflate with
    a sync flush per event, zstd as one frame per event; br as one stream at the end."""

    def __init__(self, coding):
        self.coding = coding
        if coding in ("gzip", "deflate"):
            self.z = zlib.compressobj(wbits=31 if coding == "gzip" else 15)
        self.held = b""

    def event(self, data):
        if self.coding in ("gzip", "deflate"):
            return self.z.compress(data) + self.z.flush(zlib.Z_SYNC_FLUSH)
        if self.coding == "zstd":
            return compress(data, "zstd")
        self.held += data
        return b""

    def end(self):
        if self.coding in ("gzip", "deflate"):
            return self.z.flush()
        return compress(self.held, "br") if self.coding == "br" else b""


def sse_reply(stub, coding, events=STREAM_EVENTS, wait_after_first=False, tail=b""):
    """Stream events encoded with coding; optionally hold the rest until stub.gate is set."""

    def reply(handler):
        enc = EventEncoder(coding)
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Content-Encoding", coding)
        handler.end_headers()  # no length: the body ends when the connection closes
        for i, event in enumerate(events):
            handler.wfile.write(enc.event(event))
            handler.wfile.flush()
            if i == 0 and wait_after_first:
                stub.gate_timed_out = not stub.gate.wait(10)
        handler.wfile.write(enc.end() + tail)
        handler.wfile.flush()
        handler.close_connection = True

    return reply


@pytest.mark.parametrize("coding", ["gzip", "x-gzip", "deflate", "zstd", "br"])
def test_json_response_is_decoded(make_gateway, encoding_upstream, coding):
    stub = encoding_upstream
    stub.reply = json_reply(openai_answer("decoded " + coding), coding)
    gw = stub_gateway(make_gateway, stub)
    # OpenAI client: passthrough; Anthropic client: through the translation
    st, headers, body = post_json(gw.url("/v1/chat/completions"), chat_body(2))
    assert st == 200, body
    assert "content-encoding" not in headers
    assert json.loads(body)["choices"][0]["message"]["content"] == "decoded " + coding
    st, headers, body = post_json(gw.url("/v1/messages"),
                                  {"model": "m", "max_tokens": 10,
                                   "messages": [{"role": "user", "content": "hi"}]})
    assert st == 200, body
    assert json.loads(body)["content"][0]["text"] == "decoded " + coding
    assert stub.requests[0][0]["Accept-Encoding"] == ACCEPT_ENCODING


@pytest.mark.parametrize("coding", ["gzip", "zstd", "br"])
def test_large_response_is_decoded_whole(make_gateway, encoding_upstream, coding):
    stub = encoding_upstream
    text = "".join(f"line {i} of a long answer\n" for i in range(40000))  # about 1 MiB
    stub.reply = json_reply(openai_answer(text), coding)
    gw = stub_gateway(make_gateway, stub)
    st, _, body = post_json(gw.url("/v1/chat/completions"), chat_body(2))
    assert st == 200, body[:200]
    assert json.loads(body)["choices"][0]["message"]["content"] == text


def exact_size_answer(size):
    """An OpenAI answer whose JSON is exactly size bytes."""
    base = len(json.dumps(openai_answer("")).encode())
    obj = openai_answer("w" * (size - base))
    assert len(json.dumps(obj).encode()) == size
    return obj


@pytest.mark.parametrize("coding", ["gzip", "deflate", "zstd", "br"])
def test_response_of_whole_decoder_chunks(make_gateway, encoding_upstream, coding):
    """A decoded body that ends exactly on the decoder's 16 KiB output chunks (zstd read such
    bodies as truncated): complete, passed through and translated."""
    stub = encoding_upstream
    gw = stub_gateway(make_gateway, stub)
    for size in (16384, 32768):
        obj = exact_size_answer(size)
        text = obj["choices"][0]["message"]["content"]
        stub.reply = json_reply(obj, coding)
        st, _, body = post_json(gw.url("/v1/chat/completions"), chat_body(2))
        assert st == 200, body[:200]
        assert json.loads(body) == obj
        st, _, body = post_json(gw.url("/v1/messages"),
                                {"model": "m", "max_tokens": 10,
                                 "messages": [{"role": "user", "content": "hi"}]})
        assert st == 200, body[:200]
        assert json.loads(body)["content"][0]["text"] == text


def test_decompression_bomb_is_refused(make_gateway, encoding_upstream):
    """65 MiB of JSON whitespace in a few kilobytes of zstd: decoding stops at 64 MiB."""
    stub = encoding_upstream
    bomb = compress(b"{" + b" " * (65 * 1024 * 1024) + b"}", "zstd")
    assert len(bomb) < 100000

    def reply(handler):
        send_json(handler, 200, bomb, "zstd")

    stub.reply = reply
    gw = stub_gateway(make_gateway, stub)
    # translated: the answer is refused as a failed attempt
    st, _, body = post_json(gw.url("/v1/messages"),
                            {"model": "m", "max_tokens": 10,
                             "messages": [{"role": "user", "content": "hi"}]}, timeout=60)
    assert st == 502, body[:200]
    # same protocol: the JSON passes through as it is decoded, and stops at the cap
    st, _, body = post_json(gw.url("/v1/chat/completions"), chat_body(2), timeout=60)
    assert len(body) <= 64 * 1024 * 1024
    assert "the decoded body exceeds 67108864 bytes" in gw.error_log()


@pytest.mark.parametrize("coding", ["gzip", "deflate", "zstd"])
def test_compressed_stream_stays_live(make_gateway, encoding_upstream, coding):
    """The upstream holds its second event until the client has seen the first one: a gateway
    that waited for more compressed bytes would stall here."""
    stub = encoding_upstream
    stub.reply = sse_reply(stub, coding, wait_after_first=True)
    gw = stub_gateway(make_gateway, stub)
    text = ""
    with stream_sse(gw.url("/v1/messages"),
                    {"model": "m", "max_tokens": 10, "stream": True,
                     "messages": [{"role": "user", "content": "hi"}]}) as s:
        assert s.status == 200
        names = []
        for _, name, data in s:
            names.append(name)
            if name == "content_block_delta":
                text += json.loads(data)["delta"]["text"]
                stub.gate.set()
    assert stub.gate_timed_out is False
    assert text == "Hello, world"
    assert names[-1] == "message_stop"


def test_brotli_stream_is_decoded(make_gateway, encoding_upstream):
    stub = encoding_upstream
    stub.reply = sse_reply(stub, "br")
    gw = stub_gateway(make_gateway, stub)
    body = dict(chat_body(2), stream=True)
    with stream_sse(gw.url("/v1/chat/completions"), body) as s:
        events = s.events()
    text = "".join(json.loads(d)["choices"][0]["delta"].get("content") or ""
                   for _, d in events if d != "[DONE]")
    assert text == "Hello, world"
    assert events[-1][1] == "[DONE]"


def test_corrupt_stream_ends_with_an_error_event(make_gateway, encoding_upstream):
    stub = encoding_upstream
    # valid events, then bytes that are no deflate data
    stub.reply = sse_reply(stub, "gzip", events=STREAM_EVENTS[:2], tail=b"\xff" * 32)
    gw = stub_gateway(make_gateway, stub)
    with stream_sse(gw.url("/v1/messages"),
                    {"model": "m", "max_tokens": 10, "stream": True,
                     "messages": [{"role": "user", "content": "hi"}]}) as s:
        events = s.events()
    names = [name for name, _ in events]
    text = "".join(json.loads(d)["delta"]["text"] for n, d in events
                   if n == "content_block_delta")
    assert text == "Hello, "
    assert names[-1] == "error", names
    assert "message_stop" not in names
    assert "Content-Encoding" in gw.error_log() or "content-encoding" in gw.error_log().lower()


def test_unsupported_coding_on_success_is_an_error(make_gateway, encoding_upstream):
    stub = encoding_upstream

    def reply(handler):
        send_json(handler, 200, b"\x00compressed-with-something-else", "lzma")

    stub.reply = reply
    gw = stub_gateway(make_gateway, stub)
    st, _, body = post_json(gw.url("/v1/chat/completions"), chat_body(2))
    assert st == 502, body  # nothing reached the client yet: the attempt counts as failed
    assert b"compressed-with-something-else" not in body
    assert "unsupported Content-Encoding: lzma" in gw.error_log()


def test_compressed_error_body_gives_the_message(make_gateway, encoding_upstream):
    stub = encoding_upstream
    stub.reply = json_reply({"error": {"message": "quota exceeded for this key",
                                       "type": "insufficient_quota"}}, "gzip", status=429)
    gw = stub_gateway(make_gateway, stub)
    st, _, body = post_json(gw.url("/v1/chat/completions"), chat_body(2))
    assert st == 429, body
    assert "quota exceeded for this key" in json.loads(body)["error"]["message"]


def test_error_with_unsupported_coding_still_fails_over(make_gateway, encoding_upstream, mock):
    stub = encoding_upstream

    def reply(handler):
        send_json(handler, 503, b"\x00\x01\x02", "lzma")

    stub.reply = reply
    gw = stub_gateway(
        make_gateway, stub,
        f"AIProxyUpstream good {mock.base_url('openai')} api=openai token=g models=m weight=1",
    )
    for _ in range(2):  # whichever is picked first, the answer comes from the mock
        st, headers, body = post_json(gw.url("/v1/chat/completions"), chat_body(2))
        assert st == 200, body
        assert headers["x-aiproxy-upstream"] == "good"
