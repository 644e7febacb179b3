"""The first end-to-end path: every client route, same-protocol passthrough through real
httpd + mod_proxy to the mock upstream, JSON and live SSE, and bad input answered in the
client's own error envelope."""

import http.client
import json
import re
import urllib.parse

import pytest

from conftest import DEMO_MODELS, MOCK_NAMES, UPSTREAM_TOKENS, upstream_lines
from harness import get, post_json, request, stream_sse

CLIENT_SECRET = "client-secret-must-not-leak"
# Every way a client may present credentials; none may reach an upstream.
CLIENT_CREDENTIALS = {
    "Authorization": f"Bearer {CLIENT_SECRET}",
    "x-api-key": CLIENT_SECRET,
    "x-goog-api-key": CLIENT_SECRET,
    "Cookie": f"session={CLIENT_SECRET}",
}


def client_request(proto, text, stream=False, model=None):
    """(path, body) of a minimal request in proto's own format."""
    model = model or DEMO_MODELS[proto]
    if proto == "anthropic":
        body = {"model": model, "max_tokens": 64, "messages": [{"role": "user", "content": text}]}
        path = "/v1/messages"
    elif proto == "openai":
        body = {"model": model, "messages": [{"role": "user", "content": text}]}
        path = "/v1/chat/completions"
    elif proto == "responses":
        body = {"model": model, "input": text}
        path = "/v1/responses"
    else:
        body = {"contents": [{"role": "user", "parts": [{"text": text}]}]}
        action = "streamGenerateContent?alt=sse&key=" + CLIENT_SECRET if stream else "generateContent"
        return f"/v1beta/models/{model}:{action}", body
    if stream:
        body["stream"] = True
    return path, body


def answer_text(proto, body):
    """The assistant text of a complete JSON answer."""
    if proto == "anthropic":
        return "".join(b["text"] for b in body["content"] if b["type"] == "text")
    if proto == "openai":
        return body["choices"][0]["message"]["content"]
    if proto == "responses":
        return "".join(part["text"] for item in body["output"] if item["type"] == "message"
                       for part in item["content"] if part["type"] == "output_text")
    return "".join(p.get("text", "") for p in body["candidates"][0]["content"]["parts"])


def delta_text(proto, event, data):
    """The text carried by one stream event ('' for others)."""
    if data == "[DONE]":
        return ""
    obj = json.loads(data)
    if proto == "anthropic":
        delta = obj.get("delta", {}) if event == "content_block_delta" else {}
        return delta.get("text", "")
    if proto == "openai":
        return "".join(c["delta"].get("content") or "" for c in obj.get("choices", []))
    if proto == "responses":
        return obj["delta"] if event == "response.output_text.delta" else ""
    return "".join(p.get("text", "") for c in obj.get("candidates", [])
                   for p in c.get("content", {}).get("parts", []))


def error_message(proto, body):
    """The message of an error body, asserting it has proto's envelope."""
    obj = json.loads(body)
    if proto == "anthropic":
        assert obj["type"] == "error" and obj["error"]["type"], obj
        return obj["error"]["message"]
    if proto == "gemini":
        assert isinstance(obj["error"]["code"], int) and obj["error"]["status"], obj
        return obj["error"]["message"]
    assert "type" in obj["error"] and "param" in obj["error"], obj
    return obj["error"]["message"]


def assert_upstream_saw(mock, proto, stream):
    rec = mock.last(proto)
    assert rec is not None, f"the {proto} mock received nothing"
    headers = rec["headers"]
    expected_path = {
        "anthropic": "/v1/messages",
        "openai": "/v1/chat/completions",
        "responses": "/v1/responses",
        "gemini": f"/v1beta/models/upstream-gemini-model:"
                  f"{'streamGenerateContent' if stream else 'generateContent'}",
    }[proto]
    assert rec["path"] == expected_path
    if proto == "gemini":
        assert (rec["query"] or "") == ("alt=sse" if stream else "")
        assert headers["x-goog-api-key"] == UPSTREAM_TOKENS[proto]
    else:
        assert rec["json"]["model"] == f"upstream-{proto}-model"
        if proto == "anthropic":
            assert headers["x-api-key"] == UPSTREAM_TOKENS[proto]
            assert headers["anthropic-version"] == "2023-06-01"
        else:
            assert headers["authorization"] == f"Bearer {UPSTREAM_TOKENS[proto]}"
    assert CLIENT_SECRET not in json.dumps(rec), "a client credential reached the upstream"
    assert "cookie" not in headers
    # the gateway's own Accept-Encoding (it decodes answers as they stream), not the client's
    assert headers["accept-encoding"] == "gzip, zstd, br, identity"


@pytest.mark.parametrize("proto", MOCK_NAMES)
def test_json_passthrough(gateway, mock, proto):
    path, body = client_request(proto, "hello there")
    status, headers, payload = post_json(gateway.url(path), body, CLIENT_CREDENTIALS)
    assert status == 200, payload
    assert headers["content-type"].startswith("application/json")
    assert answer_text(proto, json.loads(payload)) == "echo: hello there"
    assert headers["x-aiproxy-upstream"] == f"mock-{proto}"
    assert_upstream_saw(mock, proto, stream=False)


@pytest.mark.parametrize("proto", MOCK_NAMES)
def test_stream_passthrough(gateway, mock, proto):
    path, body = client_request(proto, "stream me", stream=True)
    with stream_sse(gateway.url(path), body, CLIENT_CREDENTIALS) as s:
        assert s.status == 200
        assert s.headers["content-type"].startswith("text/event-stream")
        events = s.events()
    text = "".join(delta_text(proto, name, data) for name, data in events)
    assert text == "echo: stream me"
    assert not s.truncated
    if proto == "anthropic":
        assert events[0][0] == "message_start" and events[-1][0] == "message_stop"
    if proto == "openai":
        assert events[-1][1] == "[DONE]"
    if proto == "responses":
        assert events[-1][0] == "response.completed"
    assert_upstream_saw(mock, proto, stream=True)


@pytest.mark.parametrize("proto", MOCK_NAMES)
def test_stream_arrives_incrementally(gateway, proto):
    """[mock:slow=300]: the mock waits 300 ms between events; the client must see the first
    event long before the last, i.e. nothing buffers the stream."""
    path, body = client_request(proto, "slowly [mock:slow=300] [mock:long=5]", stream=True)
    with stream_sse(gateway.url(path), body) as s:
        arrivals = [t for t, _, _ in s]
    assert len(arrivals) >= 4
    assert arrivals[-1] - arrivals[0] >= 0.6, "events arrived together: the stream was buffered"
    assert arrivals[1] - arrivals[0] < arrivals[-1] - arrivals[0]


@pytest.mark.parametrize("proto", MOCK_NAMES)
def test_upstream_error_reaches_client_in_its_envelope(gateway, proto):
    path, body = client_request(proto, "fail [mock:status=429]")
    status, headers, payload = post_json(gateway.url(path), body)
    assert status == 429
    message = error_message(proto, payload)
    # the upstream's own message survives, named after the upstream that said it
    assert f"mock-{proto} answered 429" in message
    assert ("rate limit" in message.lower()) or ("exhausted" in message.lower())


@pytest.mark.parametrize("proto", MOCK_NAMES)
def test_malformed_json(gateway, proto):
    path, _ = client_request(proto, "x")
    status, _, payload = request("POST", gateway.url(path), '{"model": "demo-', 
                                 {"Content-Type": "application/json"})
    assert status == 400
    assert "malformed JSON" in error_message(proto, payload)


@pytest.mark.parametrize("proto", ["anthropic", "openai", "responses"])
def test_missing_model(gateway, proto):
    path, body = client_request(proto, "x")
    del body["model"]
    status, _, payload = post_json(gateway.url(path), body)
    assert status == 400
    assert "'model' is required" in error_message(proto, payload)


@pytest.mark.parametrize("proto", MOCK_NAMES)
def test_wrong_content_type(gateway, proto):
    path, body = client_request(proto, "x")
    status, _, payload = request("POST", gateway.url(path), json.dumps(body),
                                 {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 415
    assert "JSON" in error_message(proto, payload)


def test_wrong_types_are_400(gateway):
    status, _, payload = post_json(gateway.url("/v1/messages"),
                                   {"model": "demo-anthropic", "messages": "hi", "stream": "yes"})
    assert status == 400
    assert "stream" in error_message("anthropic", payload)
    status, _, payload = post_json(gateway.url("/v1/chat/completions"), ["not", "an", "object"])
    assert status == 400
    assert "JSON object" in error_message("openai", payload)


def test_unknown_model_is_404(gateway):
    path, body = client_request("openai", "x", model="no-such-model")
    status, _, payload = post_json(gateway.url(path), body)
    assert status == 404
    assert "no-such-model" in error_message("openai", payload)


def test_unknown_route_and_method(gateway):
    status, _, payload = post_json(gateway.url("/v1/no_such_endpoint"), {"model": "x"})
    assert status == 404
    assert "no such endpoint" in error_message("openai", payload)
    status, _, payload = post_json(gateway.url("/v1beta/models/demo-gemini:noSuchAction"), {})
    assert status == 404
    error_message("gemini", payload)
    status, headers, payload = get(gateway.url("/v1/messages"))
    assert status == 405 and headers["allow"] == "POST"
    error_message("anthropic", payload)


# An unknown route is not an unknown model: each protocol's own not-found words.
UNKNOWN_ROUTE_WORDS = {
    "openai": ("/v1/no_such_endpoint", {}, lambda e: (e["error"]["type"], e["error"]["code"]),
               ("invalid_request_error", "unknown_url")),
    "anthropic": ("/v1/messages/batches", {"anthropic-version": "2023-06-01"},
                  lambda e: e["error"]["type"], "not_found_error"),
    "gemini": ("/v1beta/models/demo-gemini:noSuchAction", {},
               lambda e: (e["error"]["status"], e["error"]["code"]), ("NOT_FOUND", 404)),
}


@pytest.mark.parametrize("proto", sorted(UNKNOWN_ROUTE_WORDS))
def test_unknown_route_has_not_found_words(gateway, proto):
    path, headers, words, expected = UNKNOWN_ROUTE_WORDS[proto]
    status, _, payload = post_json(gateway.url(path), {"model": "x"}, headers)
    assert status == 404
    assert words(json.loads(payload)) == expected, payload
    assert f"Invalid URL (POST {path})" in error_message(proto, payload)


def test_unknown_model_keeps_model_not_found(gateway):
    path, body = client_request("openai", "x", model="no-such-model")
    status, _, payload = post_json(gateway.url(path), body)
    assert status == 404 and json.loads(payload)["error"]["code"] == "model_not_found"


def request_id_headers(url, body, stream=False):
    """Every X-AIProxy-Request-Id header of one answer, as http.client lists them."""
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    try:
        conn.request("POST", u.path + (f"?{u.query}" if u.query else ""), json.dumps(body),
                     {"Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        return resp.status, [v for k, v in resp.getheaders()
                             if k.lower() == "x-aiproxy-request-id"]
    finally:
        conn.close()


@pytest.mark.parametrize("case", ["200", "404", "stream", "upstream-error"])
def test_request_id_sent_once(gateway, case):
    path, body = client_request("openai", "x [mock:status=503]" if case == "upstream-error"
                                else "hi", stream=case == "stream")
    if case == "404":
        path = "/v1/nothing"
    status, ids = request_id_headers(gateway.url(path), body)
    assert status == {"200": 200, "404": 404, "stream": 200, "upstream-error": 503}[case]
    assert len(ids) == 1 and ids[0], ids


def test_oversized_body_is_413(make_gateway, mock):
    gw = make_gateway(upstream_lines(mock) + "\nAIProxyMaxBodySize 4096")
    path, body = client_request("anthropic", "x" * 5000)
    status, _, payload = post_json(gw.url(path), body)
    assert status == 413
    assert "4096" in error_message("anthropic", payload)
    # a chunked body (no Content-Length) is cut off while reading, too
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)
    conn.request("POST", path, body=iter([json.dumps(body).encode()]),
                 headers={"Content-Type": "application/json"}, encode_chunked=True)
    resp = conn.getresponse()
    assert resp.status == 413
    error_message("anthropic", resp.read())
    conn.close()
    path, body = client_request("anthropic", "small")
    assert post_json(gw.url(path), body)[0] == 200


def test_chunked_body_in_pieces_is_read_whole(gateway):
    """A body without Content-Length, in pieces of every size, is read to its end into the
    request's memory (growing as it arrives) and translated whole."""
    text = "word " * 30000 + "the end"
    path, body = client_request("anthropic", text)
    raw = json.dumps(body).encode()
    cuts = [0, 1, 7000, 7001, 70000, 150000, len(raw)]
    conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
    conn.request("POST", path, body=iter(raw[a:b] for a, b in zip(cuts, cuts[1:])),
                 headers={"Content-Type": "application/json"}, encode_chunked=True)
    resp = conn.getresponse()
    payload = resp.read()
    conn.close()
    assert resp.status == 200, payload
    assert answer_text("anthropic", json.loads(payload)) == "echo: " + text


def test_server_keeps_serving_after_bad_input(gateway):
    for _ in range(3):
        request("POST", gateway.url("/v1/messages"), b"\xff\xfe{{{", {"Content-Type": "application/json"})
        request("POST", gateway.url("/v1/responses"), "[" * 10000, {"Content-Type": "application/json"})
    path, body = client_request("responses", "still alive")
    status, _, payload = post_json(gateway.url(path), body)
    assert status == 200
    assert answer_text("responses", json.loads(payload)) == "echo: still alive"


def test_model_lists(gateway):
    status, _, payload = get(gateway.url("/v1/models"))
    assert status == 200
    ids = [m["id"] for m in json.loads(payload)["data"]]
    assert sorted(ids) == sorted(DEMO_MODELS.values())
    status, _, payload = get(gateway.url("/v1/models"), {"anthropic-version": "2023-06-01"})
    assert json.loads(payload)["data"][0]["type"] == "model"
    status, _, payload = get(gateway.url("/v1beta/models"))
    assert {m["name"] for m in json.loads(payload)["models"]} == {
        f"models/{m}" for m in DEMO_MODELS.values()}


def test_failover_to_next_upstream(make_gateway, mock):
    """A refused connection and an upstream error both move on to the next upstream."""
    body = "\n".join([
        "AIProxyUpstream dead http://127.0.0.1:9 api=openai token=t models=m weight=100",
        f"AIProxyUpstream good {mock.base_url('openai')} api=openai token=good-token models=m",
    ])
    gw = make_gateway(body)
    for _ in range(3):
        status, headers, payload = post_json(gw.url("/v1/chat/completions"),
                                             {"model": "m", "messages": [{"role": "user", "content": "hi"}]})
        assert status == 200, payload
        assert headers["x-aiproxy-upstream"] == "good"


def test_all_upstreams_failing_gives_one_error(make_gateway):
    gw = make_gateway("AIProxyUpstream dead http://127.0.0.1:9 api=anthropic token=t models=m")
    status, _, payload = post_json(gw.url("/v1/messages"),
                                   {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]})
    assert status == 502
    assert "could be reached" in error_message("anthropic", payload)


def test_balancer_manager_lists_upstreams(gateway):
    status, _, payload = get(gateway.url("/balancer-manager"))
    assert status == 200
    page = payload.decode()
    for name in MOCK_NAMES:
        # the gateway's vhost is the first with upstreams: balancer://aiproxy-v1-<upstream>
        assert f">balancer://aiproxy-v1-mock-{name}<" in page
        assert f"<td>mock-{name}</td>" in page  # the member's route is the upstream name


def balancer_manager_set(gw, balancer, member_url, **flags):
    """Change a member's status flags through balancer-manager, as an admin would."""
    page = get(gw.url("/balancer-manager"))[2].decode()
    nonce = re.search(rf"b={re.escape(balancer)}&amp;nonce=([0-9a-f-]+)", page).group(1)
    form = {"b": balancer, "w": member_url, "nonce": nonce}
    form.update({f"w_status_{k}": str(v) for k, v in flags.items()})
    status, _, _ = request("POST", gw.url("/balancer-manager"), urllib.parse.urlencode(form),
                           {"Content-Type": "application/x-www-form-urlencoded",
                            "Referer": gw.url("/balancer-manager")})
    assert status in (200, 302)


def test_balancer_manager_disable_takes_upstream_out(make_gateway, mock):
    body = "\n".join([
        f"AIProxyUpstream one {mock.base_url('openai')} api=openai token=t1 models=m",
        # the same base URL as "one": two accounts of one provider stay apart
        f"AIProxyUpstream two {mock.base_url('openai')} api=openai token=t2 models=m",
    ])
    gw = make_gateway(body)
    chat = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    seen = {post_json(gw.url("/v1/chat/completions"), chat)[1]["x-aiproxy-upstream"]
            for _ in range(4)}
    assert seen == {"one", "two"}
    tokens = {r["headers"]["authorization"] for r in mock.requests("openai")[-4:]}
    assert tokens == {"Bearer t1", "Bearer t2"}
    balancer_manager_set(gw, "aiproxy-v1-one", mock.base_url("openai"), D=1)
    seen = {post_json(gw.url("/v1/chat/completions"), chat)[1]["x-aiproxy-upstream"]
            for _ in range(4)}
    assert seen == {"two"}
    balancer_manager_set(gw, "aiproxy-v1-one", mock.base_url("openai"), D=0)
    seen = {post_json(gw.url("/v1/chat/completions"), chat)[1]["x-aiproxy-upstream"]
            for _ in range(4)}
    assert seen == {"one", "two"}


@pytest.mark.parametrize("coding", ["gzip", "zstd", "br", "deflate"])
def test_compressed_client_body(gateway, mock, coding):
    """Clients may compress their bodies; the gateway decodes them (the upstream gets its own
    coding, never the client's)."""
    from harness import compress
    path, body = client_request("openai", "squeezed")
    raw = compress(json.dumps(body).encode(), coding)
    status, _, payload = request("POST", gateway.url(path), raw,
                                 {"Content-Type": "application/json", "Content-Encoding": coding})
    assert status == 200, payload
    assert answer_text("openai", json.loads(payload)) == "echo: squeezed"
    assert mock.last("openai")["json"]["messages"][0]["content"] == "squeezed"


def test_bad_client_body_codings(gateway):
    path, body = client_request("anthropic", "x")
    status, _, payload = request("POST", gateway.url(path), json.dumps(body),
                                 {"Content-Type": "application/json", "Content-Encoding": "lz4"})
    assert status == 415 and "lz4" in error_message("anthropic", payload)
    status, _, payload = request("POST", gateway.url(path), b"\x1f\x8bnot gzip at all",
                                 {"Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert status == 400 and "could not be decoded" in error_message("anthropic", payload)


def test_compressed_body_is_held_to_the_size_limit(make_gateway, mock):
    """AIProxyMaxBodySize bounds the decoded body too: a small gzip that inflates past it is 413."""
    from harness import compress
    gw = make_gateway(upstream_lines(mock) + "\nAIProxyMaxBodySize 4096")
    path, body = client_request("openai", " " * 200000)
    raw = compress(json.dumps(body).encode(), "gzip")
    assert len(raw) < 4096
    status, _, payload = request("POST", gw.url(path), raw,
                                 {"Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert status == 413 and "decoded request body" in error_message("openai", payload)
