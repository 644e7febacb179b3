"""A fault-injecting upstream: a raw-socket HTTP/1.1 server that speaks the four provider
protocols well enough to start an answer, and then misbehaves in one chosen way.

The mock upstream (mod_aiproxy_mock) fails politely, through httpd; this server does what
httpd would not let a module do: reset a connection before any header, never answer, send
64 KiB of headers, a truncated gzip/zstd/br body with a correct Content-Length, or garbage
where the next chunk size belongs.

The fault is chosen per request by a marker in the request body, `[fault:NAME]` (the client's
text reaches the upstream in every protocol, translated or not):

    none            a complete, correct answer
    reset           connection reset (RST) before any response byte
    silent          the request is read and never answered (the gateway's timeout ends it)
    status-NNN      that status with a JSON error body (429 adds Retry-After: 30)
    garbage         200 with a complete body that is not the protocol's (HTML)
    short           200 whose body stops short of its Content-Length and is reset: a JSON
                    answer halfway, a stream after one text delta, inside the next event
    gzip-cut / zstd-cut / br-cut
                    200, Content-Encoding set, the compressed body cut in half (a clean end:
                    Content-Length is the length sent)
    big-headers     200 with a 64 KiB response header
    reset-after / stall-after / garbage-after / bad-event-after
                    the start of a real answer (streams: the first events and 2 text deltas;
                    JSON: the whole body as one chunk of a chunked reply), then a reset, a
                    stall, bytes that are neither SSE nor chunk framing, or well framed HTML
                    (streams: an event whose data it is, then the proper end; JSON: after
                    the document)
    drip            a stream of text deltas every 50 ms for up to 30 s (client disconnects)
    long-N[-SIZE]   a stream of N text deltas (PIECE, or SIZE bytes each: long_piece(SIZE));
                    after the 10th it waits (up to 10 s) until
                    release() is called, so a test can prove the first ones arrived unbuffered

Every request is recorded with its fault, path, protocol, stream flag and when its connection
opened and closed (time.monotonic()), so a test can see that the gateway hung up.
"""

import json
import re
import socket
import struct
import threading
import time

from harness import compress, free_port

TEXT = "fault ok"  # the text of every complete answer
PIECE = "piece "  # one streamed text delta
MARKER = re.compile(rb"\[fault:([a-z0-9-]+)\]")


def long_piece(size):
    """The text of one delta of a long-N-SIZE stream: SIZE bytes."""
    return "p" * (size - 1) + " "


def _proto_of(path):
    if path.startswith("/v1/messages"):
        return "anthropic"
    if path.startswith("/v1/chat/completions"):
        return "openai"
    if path.startswith("/v1/responses"):
        return "responses"
    return "gemini"


# ---- the four protocols: a complete JSON answer, and a stream as (event, data) pairs ---------

def json_answer(proto):
    if proto == "anthropic":
        return {"id": "msg_fault", "type": "message", "role": "assistant", "model": "fault",
                "content": [{"type": "text", "text": TEXT}], "stop_reason": "end_turn",
                "stop_sequence": None, "usage": {"input_tokens": 3, "output_tokens": 2}}
    if proto == "openai":
        return {"id": "chatcmpl-fault", "object": "chat.completion", "created": 1,
                "model": "fault", "choices": [{"index": 0, "finish_reason": "stop", "message": {
                    "role": "assistant", "content": TEXT}}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}
    if proto == "responses":
        return _response_object("completed", [_message_item("completed", TEXT)])
    return {"candidates": [{"index": 0, "finishReason": "STOP",
                            "content": {"role": "model", "parts": [{"text": TEXT}]}}],
            "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 2,
                              "totalTokenCount": 5},
            "modelVersion": "fault"}


def _message_item(status, text):
    content = [] if text is None else [{"type": "output_text", "text": text, "annotations": []}]
    return {"type": "message", "id": "msg_fault", "status": status, "role": "assistant",
            "content": content}


def _response_object(status, output):
    usage = {"input_tokens": 3, "output_tokens": 2, "total_tokens": 5}
    return {"id": "resp_fault", "object": "response", "created_at": 1, "status": status,
            "model": "fault", "output": output, "usage": usage if status == "completed" else None}


def stream_start(proto):
    """The events before the first text delta."""
    if proto == "anthropic":
        message = {"id": "msg_fault", "type": "message", "role": "assistant", "model": "fault",
                   "content": [], "stop_reason": None, "stop_sequence": None,
                   "usage": {"input_tokens": 3, "output_tokens": 0}}
        return [("message_start", {"type": "message_start", "message": message}),
                ("content_block_start", {"type": "content_block_start", "index": 0,
                                         "content_block": {"type": "text", "text": ""}})]
    if proto == "openai":
        return [(None, _chunk({"role": "assistant", "content": ""}, None))]
    if proto == "responses":
        part = {"type": "output_text", "text": "", "annotations": []}
        return [("response.created", {"type": "response.created",
                                      "response": _response_object("in_progress", [])}),
                ("response.output_item.added", {
                    "type": "response.output_item.added", "output_index": 0,
                    "item": _message_item("in_progress", None)}),
                ("response.content_part.added", {
                    "type": "response.content_part.added", "item_id": "msg_fault",
                    "output_index": 0, "content_index": 0, "part": part})]
    return []


def stream_delta(proto, text=PIECE):
    if proto == "anthropic":
        return ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                        "delta": {"type": "text_delta", "text": text}})
    if proto == "openai":
        return (None, _chunk({"content": text}, None))
    if proto == "responses":
        return ("response.output_text.delta", {
            "type": "response.output_text.delta", "item_id": "msg_fault", "output_index": 0,
            "content_index": 0, "delta": text})
    return (None, {"candidates": [{"index": 0, "content": {"role": "model",
                                                           "parts": [{"text": text}]}}],
                   "modelVersion": "fault"})


def stream_end(proto, text):
    """The events after the last delta; text is everything the deltas carried."""
    if proto == "anthropic":
        return [("content_block_stop", {"type": "content_block_stop", "index": 0}),
                ("message_delta", {"type": "message_delta", "usage": {"output_tokens": 2},
                                   "delta": {"stop_reason": "end_turn", "stop_sequence": None}}),
                ("message_stop", {"type": "message_stop"})]
    if proto == "openai":
        usage_chunk = _chunk(None, None)
        usage_chunk["choices"] = []
        usage_chunk["usage"] = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
        return [(None, _chunk({}, "stop")), (None, usage_chunk), (None, "[DONE]")]
    if proto == "responses":
        part = {"type": "output_text", "text": text, "annotations": []}
        return [("response.output_text.done", {
                    "type": "response.output_text.done", "item_id": "msg_fault",
                    "output_index": 0, "content_index": 0, "text": text}),
                ("response.content_part.done", {
                    "type": "response.content_part.done", "item_id": "msg_fault",
                    "output_index": 0, "content_index": 0, "part": part}),
                ("response.output_item.done", {
                    "type": "response.output_item.done", "output_index": 0,
                    "item": _message_item("completed", text)}),
                ("response.completed", {
                    "type": "response.completed",
                    "response": _response_object("completed",
                                                 [_message_item("completed", text)])})]
    return [(None, {"candidates": [{"index": 0, "finishReason": "STOP",
                                    "content": {"role": "model", "parts": [{"text": ""}]}}],
                    "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 2,
                                      "totalTokenCount": 5},
                    "modelVersion": "fault"})]


def _chunk(delta, finish):
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return {"id": "chatcmpl-fault", "object": "chat.completion.chunk", "created": 1,
            "model": "fault", "choices": choices}


def sse_bytes(events):
    out = bytearray()
    for name, data in events:
        if name:
            out += f"event: {name}\n".encode()
        out += b"data: " + (data.encode() if isinstance(data, str) else
                            json.dumps(data).encode()) + b"\n\n"
    return bytes(out)


def complete_stream(proto, deltas=1, text=TEXT):
    pieces = [text] if deltas == 1 else [PIECE] * deltas
    return sse_bytes(stream_start(proto) + [stream_delta(proto, p) for p in pieces]
                     + stream_end(proto, "".join(pieces)))


ERROR_BODIES = {
    "anthropic": lambda status: {"type": "error", "error": {
        "type": "overloaded_error" if status >= 500 else "rate_limit_error",
        "message": f"fault upstream {status}"}},
    "gemini": lambda status: {"error": {"code": status, "message": f"fault upstream {status}",
                                        "status": "UNAVAILABLE" if status >= 500
                                        else "RESOURCE_EXHAUSTED"}},
}


def error_body(proto, status):
    build = ERROR_BODIES.get(proto)
    if build:
        return build(status)
    return {"error": {"message": f"fault upstream {status}", "param": None, "code": None,
                      "type": "server_error" if status >= 500 else "rate_limit_exceeded"}}


# ---- the server ------------------------------------------------------------------------------

class FaultUpstream:
    """Serves on 127.0.0.1:port (a free port) from a thread per connection."""

    def __init__(self):
        self.port = free_port()
        self.records = []
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._stop = threading.Event()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", self.port))
        self._sock.listen(256)
        self._sock.settimeout(0.2)
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)

    def base_url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._released.set()
        self._thread.join(5)
        self._sock.close()

    def release(self):
        """Let held long-N streams go on."""
        self._released.set()

    def clear(self):
        with self._lock:
            self.records.clear()
        self._released.clear()

    def seen(self, fault):
        with self._lock:
            return [r for r in self.records if r["fault"] == fault]

    def _accept_loop(self):
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        record = {"opened": time.monotonic(), "closed": None, "fault": None}
        try:
            conn.settimeout(30)
            request = _read_request(conn)
            if request is None:
                return
            path, body = request
            found = MARKER.search(body)
            record.update(path=path, proto=_proto_of(path),
                          stream=b'"stream": true' in body or b'"stream":true' in body
                          or "streamGenerateContent" in path,
                          fault=found.group(1).decode() if found else "none")
            with self._lock:
                self.records.append(record)
            self._answer(conn, record)
        except OSError:
            pass
        finally:
            if record["closed"] is None:
                record["closed"] = _wait_closed(conn, self._stop)
            conn.close()

    def _answer(self, conn, rec):
        proto, stream, fault = rec["proto"], rec["stream"], rec["fault"]
        ctype = "text/event-stream" if stream else "application/json"
        full = complete_stream(proto) if stream else json.dumps(json_answer(proto)).encode()
        if fault == "reset":
            _reset(conn)
            rec["closed"] = time.monotonic()
        elif fault == "silent":
            rec["closed"] = _wait_closed(conn, self._stop, limit=30)
        elif fault.startswith("status-"):
            status = int(fault[len("status-"):])
            extra = {"Retry-After": "30"} if status == 429 else {}
            _send(conn, status, "application/json",
                  json.dumps(error_body(proto, status)).encode(), extra)
        elif fault == "garbage":
            _send(conn, 200, ctype, b"<html><body>502 Bad Gateway (not really)</body></html>\n")
        elif fault == "short":
            cut = len(full) // 2
            if stream:  # one whole text delta, then half of the next
                full = sse_bytes(stream_start(proto) + [stream_delta(proto)] * 2) + full
                cut = len(sse_bytes(stream_start(proto) + [stream_delta(proto)])) + 20
            head = _head(200, ctype, {"Content-Length": str(len(full))})
            conn.sendall(head + full[:cut])
            _reset(conn)
            rec["closed"] = time.monotonic()
        elif fault.endswith("-cut"):
            coding = fault[: -len("-cut")]
            packed = compress(full, coding)
            _send(conn, 200, ctype, packed[: len(packed) // 2], {"Content-Encoding": coding})
        elif fault == "big-headers":
            _send(conn, 200, ctype, full, {"X-Fault-Padding": "a" * 65536})
        elif fault in ("reset-after", "stall-after", "garbage-after", "bad-event-after"):
            self._answer_then_fail(conn, rec, proto, stream, fault)
        elif fault == "drip":
            self._drip(conn, rec, proto)
        elif fault.startswith("long-"):
            count, _, size = fault[len("long-"):].partition("-")
            self._long(conn, proto, int(count), long_piece(int(size)) if size else PIECE)
        else:
            _send(conn, 200, ctype, full)

    def _answer_then_fail(self, conn, rec, proto, stream, fault):
        """The start of a real answer in a chunked reply, then the fault."""
        ctype = "text/event-stream" if stream else "application/json"
        if stream:
            start = sse_bytes(stream_start(proto) + [stream_delta(proto), stream_delta(proto)])
        else:
            start = json.dumps(json_answer(proto)).encode()
        conn.sendall(_head(200, ctype, {"Transfer-Encoding": "chunked"}) + _chunked(start))
        if fault == "reset-after":
            time.sleep(0.05)  # let the content leave before the reset overtakes it
            _reset(conn)
            rec["closed"] = time.monotonic()
        elif fault == "stall-after":
            rec["closed"] = _wait_closed(conn, self._stop, limit=30)
        elif fault == "garbage-after":
            conn.sendall(b"\x00\xff<html>garbage\r\n\r\n")
            conn.shutdown(socket.SHUT_WR)
        elif stream:  # well framed, but an event no client can parse, then the proper end
            conn.sendall(_chunked(b"data: <html>oops</html>\n\n")
                         + _chunked(sse_bytes(stream_end(proto, PIECE * 2))) + b"0\r\n\r\n")
            conn.shutdown(socket.SHUT_WR)
        else:  # well framed, but HTML after the JSON document
            conn.sendall(_chunked(b"<html>oops</html>") + b"0\r\n\r\n")
            conn.shutdown(socket.SHUT_WR)

    def _drip(self, conn, rec, proto):
        conn.sendall(_head(200, "text/event-stream", {"Transfer-Encoding": "chunked"})
                     + _chunked(sse_bytes(stream_start(proto))))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not self._stop.is_set():
            try:
                conn.sendall(_chunked(sse_bytes([stream_delta(proto)])))
            except OSError:
                rec["closed"] = time.monotonic()
                return
            if _peer_closed(conn, 0.05):
                rec["closed"] = time.monotonic()
                return

    def _long(self, conn, proto, count, piece):
        conn.sendall(_head(200, "text/event-stream", {"Transfer-Encoding": "chunked"})
                     + _chunked(sse_bytes(stream_start(proto))))
        for i in range(count):
            if i == 10:
                self._released.wait(10)
            conn.sendall(_chunked(sse_bytes([stream_delta(proto, piece)])))
        _send_slowly_read(conn, _chunked(sse_bytes(stream_end(proto, piece * count)))
                          + b"0\r\n\r\n")


def _read_request(conn):
    """(path, body bytes) of one request, or None when the peer went away."""
    data = b""
    while b"\r\n\r\n" not in data:
        got = conn.recv(65536)
        if not got:
            return None
        data += got
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    path = lines[0].split(" ")[1]
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        while not body.endswith(b"0\r\n\r\n"):
            got = conn.recv(65536)
            if not got:
                return None
            body += got
        body = _unchunk(body)
    else:
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            got = conn.recv(65536)
            if not got:
                return None
            body += got
    coding = headers.get("content-encoding")
    if coding:
        from harness import decompress
        body = decompress(body, coding)
    return path, body


def _unchunk(data):
    out = bytearray()
    while True:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            return bytes(out)
        out += data[:size]
        data = data[size + 2:]


def _head(status, ctype, extra=None):
    reason = {200: "OK", 429: "Too Many Requests", 529: "Site Overloaded"}.get(status, "Error")
    lines = [f"HTTP/1.1 {status} {reason}", f"Content-Type: {ctype}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (extra or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _send(conn, status, ctype, body, extra=None):
    headers = dict(extra or {})
    headers["Content-Length"] = str(len(body))
    conn.sendall(_head(status, ctype, headers) + body)
    conn.shutdown(socket.SHUT_WR)


def _send_slowly_read(conn, data, slice_size=65536):
    """sendall in slices: the socket's timeout bounds the whole of one sendall, and a reader
    on a loaded machine may take longer than that for megabytes (a Responses stream's closing
    events repeat its whole text); a stall still ends it."""
    for at in range(0, len(data), slice_size):
        conn.sendall(data[at:at + slice_size])


def _chunked(data):
    """One chunk of a chunked body (nothing for no data: an empty chunk ends the body)."""
    return f"{len(data):x}\r\n".encode() + data + b"\r\n" if data else b""


def _reset(conn):
    """Close with RST instead of FIN."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def _peer_closed(conn, wait):
    """Has the peer closed its side (EOF or reset) within wait seconds?"""
    conn.settimeout(wait)
    try:
        return conn.recv(4096) == b""
    except socket.timeout:
        return False
    except OSError:
        return True


def _wait_closed(conn, stop, limit=10):
    """Block until the peer closes (or limit seconds pass); the time it closed, or None."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and not stop.is_set():
        try:
            if _peer_closed(conn, 0.05):
                return time.monotonic()
        except OSError:
            return time.monotonic()
    return None
