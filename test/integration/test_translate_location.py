"""mod_aiproxy_translate on its own: `AIProxyTranslate` in a <Location> with plain ProxyPass,
in an httpd without mod_aiproxy. The client speaks one protocol, the (mock) upstream another;
we check what the upstream received (translated body, model, auth, URL) and what the client
got back (its own protocol's shape, JSON and SSE, errors in its own envelope)."""

import gzip
import json

import pytest

from conftest import ensure_built
from harness import OUT, Httpd, free_port, post_json, request, stream_chunks, stream_sse
from test_gateway import answer_text, delta_text, error_message

CLIENT_SECRET = "client-secret-must-not-leak"
CLIENT_CREDENTIALS = {
    "Authorization": f"Bearer {CLIENT_SECRET}",
    "x-api-key": CLIENT_SECRET,
    "x-goog-api-key": CLIENT_SECRET,
    "Cookie": f"session={CLIENT_SECRET}",
}
CLIENT_MODEL = "client-model"
UPSTREAM_KEY = {name: f"translate-key-{name}" for name in ("anthropic", "openai", "gemini")}

# name -> (client protocol, upstream protocol, client path prefix, upstream model or None)
ROUTES = {
    "openai-anthropic": ("openai", "anthropic", "/oa", "upstream-anthropic-model"),
    "anthropic-openai": ("anthropic", "openai", "/ao", None),
    "responses-gemini": ("responses", "gemini", "/rg", "upstream-gemini-model"),
    "gemini-openai": ("gemini", "openai", "/go", None),
}
UPSTREAM_PATH = {
    "anthropic": "/v1/messages",
    "openai": "/v1/chat/completions",
}
TOOL = {"name": "get_weather", "description": "Weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}


def location(mock, name, extra=""):
    client, upstream, prefix, model = ROUTES[name]
    if client == "gemini":
        path = f"{prefix}/v1beta/models/"
    else:
        path = prefix + {"anthropic": "/v1/messages", "openai": "/v1/chat/completions",
                         "responses": "/v1/responses"}[client]
    # a Gemini upstream takes a base URL: the module appends /v1beta/models/<model>:...
    target = mock.base_url(upstream) + UPSTREAM_PATH.get(upstream, "")
    model_line = f"    AIProxyTranslateModel {model}\n" if model else ""
    return (f'<Location "{path}">\n'
            f"    AIProxyTranslate {client} {upstream}\n{model_line}"
            f"    AIProxyTranslateAuth {UPSTREAM_KEY[upstream]}\n{extra}"
            f'    ProxyPass "{target}"\n'
            f"</Location>\n")


class TranslateGateway(Httpd):
    """An httpd with mod_aiproxy_translate, mod_proxy and mod_proxy_http, but no mod_aiproxy."""

    def __init__(self, body):
        self.port = free_port()
        conf = f"<VirtualHost 127.0.0.1:{self.port}>\n{body}</VirtualHost>\n"
        super().__init__("translate", conf, listen=[self.port],
                         extra_modules=[OUT / "mod_aiproxy_translate.so"])

    def url(self, path="/"):  # noqa: D102 - one port
        return f"http://127.0.0.1:{self.port}{path}"


def gateway_conf(mock):
    body = "".join(location(mock, name) for name in ROUTES)
    # KeepAuth On without AIProxyTranslateAuth: the client's own key goes on, in the
    # upstream's style
    body += (f'<Location "/keep/v1/chat/completions">\n'
             f"    AIProxyTranslate openai anthropic\n"
             f"    AIProxyTranslateKeepAuth On\n"
             f'    ProxyPass "{mock.base_url("anthropic")}/v1/messages"\n'
             f"</Location>\n")
    body += (f'<Location "/small/v1/messages">\n'
             f"    AIProxyTranslate anthropic openai\n"
             f"    AIProxyTranslateMaxBodySize 1000\n"
             f'    ProxyPass "{mock.base_url("openai")}/v1/chat/completions"\n'
             f"</Location>\n")
    body += (f'<Location "/dead/v1/messages">\n'
             f"    AIProxyTranslate anthropic openai\n"
             f'    ProxyPass "http://127.0.0.1:{free_port()}/v1/chat/completions"\n'
             f"</Location>\n")
    body += ('<Location "/nopass/v1/messages">\n'
             "    AIProxyTranslate anthropic openai\n"
             "</Location>\n")
    body += "LogLevel aiproxy_translate:trace1\n"  # AIP01206: the request's memory let go
    return body


@pytest.fixture(scope="module")
def gw(mock):
    ensure_built("mod_aiproxy_translate.so")
    gateway = TranslateGateway(gateway_conf(mock))
    gateway.start()
    yield gateway
    gateway.stop()
    gateway.cleanup()


# ---- client requests and answers -------------------------------------------------------------


def client_request(name, text, stream=False, tools=False, sse=True):
    """(path, body) of a request in the route's client protocol."""
    client, _, prefix, _ = ROUTES[name]
    if client == "anthropic":
        body = {"model": CLIENT_MODEL, "max_tokens": 64,
                "messages": [{"role": "user", "content": text}]}
        if tools:
            body["tools"] = [{"name": TOOL["name"], "description": TOOL["description"],
                              "input_schema": TOOL["parameters"]}]
        path = "/v1/messages"
    elif client == "openai":
        body = {"model": CLIENT_MODEL, "messages": [{"role": "user", "content": text}]}
        if tools:
            body["tools"] = [{"type": "function", "function": TOOL}]
        path = "/v1/chat/completions"
    elif client == "responses":
        body = {"model": CLIENT_MODEL, "input": text}
        if tools:
            body["tools"] = [{"type": "function", **TOOL}]
        path = "/v1/responses"
    else:
        body = {"contents": [{"role": "user", "parts": [{"text": text}]}]}
        if tools:
            body["tools"] = [{"functionDeclarations": [TOOL]}]
        action = ("streamGenerateContent" + ("?alt=sse" if sse else "")) if stream \
            else "generateContent"
        return f"{prefix}/v1beta/models/{CLIENT_MODEL}:{action}", body
    if stream:
        body["stream"] = True
    return prefix + path, body


def tool_call(proto, body):
    """(name, arguments dict) of the first tool call in a complete JSON answer."""
    if proto == "anthropic":
        block = next(b for b in body["content"] if b["type"] == "tool_use")
        return block["name"], block["input"]
    if proto == "openai":
        call = body["choices"][0]["message"]["tool_calls"][0]
        return call["function"]["name"], json.loads(call["function"]["arguments"])
    if proto == "responses":
        item = next(i for i in body["output"] if i["type"] == "function_call")
        return item["name"], json.loads(item["arguments"])
    part = next(p for p in body["candidates"][0]["content"]["parts"] if "functionCall" in p)
    return part["functionCall"]["name"], part["functionCall"]["args"]


def assert_upstream_got(mock, name, text, stream):
    """The mock of the route's upstream protocol received a translated request."""
    _, upstream, _, model = ROUTES[name]
    rec = mock.last(upstream)
    assert rec is not None, f"the {upstream} mock received nothing"
    body, headers = rec["json"], rec["headers"]
    expected_model = model or CLIENT_MODEL
    if upstream == "gemini":
        action = "streamGenerateContent" if stream else "generateContent"
        assert rec["path"] == f"/v1beta/models/{expected_model}:{action}"
        assert (rec["query"] or "") == ("alt=sse" if stream else "")
        assert body["contents"][-1]["parts"][0]["text"] == text
        assert headers["x-goog-api-key"] == UPSTREAM_KEY[upstream]
    else:
        assert rec["path"] == UPSTREAM_PATH[upstream]
        assert not rec["query"]
        assert body["model"] == expected_model
        assert bool(body.get("stream")) == stream
        if upstream == "anthropic":
            assert body["messages"][-1]["content"] in (text, [{"type": "text", "text": text}])
            assert body["max_tokens"] > 0
            assert headers["x-api-key"] == UPSTREAM_KEY[upstream]
            assert headers["anthropic-version"] == "2023-06-01"
        else:
            assert body["messages"][-1]["content"] in (text, [{"type": "text", "text": text}])
            assert headers["authorization"] == f"Bearer {UPSTREAM_KEY[upstream]}"
    assert headers["content-type"].startswith("application/json")
    assert int(headers["content-length"]) == len(rec["body"].encode())
    assert "accept-encoding" not in headers and "cookie" not in headers
    assert CLIENT_SECRET not in json.dumps(rec), "a client credential reached the upstream"


# ---- translation ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ROUTES)
def test_json_translated_both_ways(gw, mock, name):
    client = ROUTES[name][0]
    path, body = client_request(name, "hello there")
    status, headers, payload = post_json(gw.url(path), body, CLIENT_CREDENTIALS)
    assert status == 200, payload
    assert headers["content-type"].startswith("application/json")
    answer = json.loads(payload)
    assert answer_text(client, answer) == "echo: hello there"
    if client == "anthropic":
        assert answer["type"] == "message" and answer["model"] == CLIENT_MODEL
    elif client == "openai":
        assert answer["object"] == "chat.completion" and answer["model"] == CLIENT_MODEL
    elif client == "responses":
        assert answer["object"] == "response" and answer["model"] == CLIENT_MODEL
    else:
        assert answer["candidates"][0]["finishReason"] == "STOP"
    assert_upstream_got(mock, name, "hello there", stream=False)


@pytest.mark.parametrize("name", ROUTES)
def test_stream_translated_both_ways(gw, mock, name):
    client = ROUTES[name][0]
    path, body = client_request(name, "stream me", stream=True)
    with stream_sse(gw.url(path), body, CLIENT_CREDENTIALS) as s:
        assert s.status == 200
        assert s.headers["content-type"].startswith("text/event-stream")
        events = s.events()
    assert not s.truncated
    assert "".join(delta_text(client, ev, data) for ev, data in events) == "echo: stream me"
    if client == "anthropic":
        assert events[0][0] == "message_start" and events[-1][0] == "message_stop"
    elif client == "openai":
        assert events[-1][1] == "[DONE]"
    elif client == "responses":
        assert events[-1][0] == "response.completed"
    else:
        last = json.loads(events[-1][1])
        assert last["candidates"][0]["finishReason"] == "STOP"
    assert_upstream_got(mock, name, "stream me", stream=True)


@pytest.mark.parametrize("name", ROUTES)
def test_tool_call_translated(gw, mock, name):
    client = ROUTES[name][0]
    path, body = client_request(name, "weather? [mock:tool]", tools=True)
    status, _, payload = post_json(gw.url(path), body)
    assert status == 200, payload
    assert tool_call(client, json.loads(payload)) == ("get_weather", {"arg": "mock"})
    rec = mock.last(ROUTES[name][1])
    assert "get_weather" in rec["body"], "the tool definition did not reach the upstream"


def test_streamed_tool_call_translated(gw, mock):
    path, body = client_request("openai-anthropic", "weather? [mock:tool]", stream=True,
                                tools=True)
    with stream_sse(gw.url(path), body) as s:
        events = s.events()
    chunks = [json.loads(d) for _, d in events if d != "[DONE]"]
    calls = [tc for c in chunks for ch in c["choices"] for tc in ch["delta"].get("tool_calls", [])]
    assert calls[0]["function"]["name"] == "get_weather"
    assert json.loads("".join(tc["function"].get("arguments", "") for tc in calls)) == \
        {"arg": "mock"}
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert events[-1][1] == "[DONE]"


def test_gemini_client_json_array_stream(gw, mock):
    """streamGenerateContent without alt=sse: the client gets a JSON array of chunks."""
    path, body = client_request("gemini-openai", "array me", stream=True, sse=False)
    with stream_chunks(gw.url(path), body) as s:
        assert s.status == 200
        raw = b"".join(data for _, data in s)
    chunks = json.loads(raw)
    assert isinstance(chunks, list)
    text = "".join(delta_text("gemini", None, json.dumps(chunk)) for chunk in chunks)
    assert text == "echo: array me"
    assert mock.last("openai")["json"]["stream"] is True


def test_stream_arrives_incrementally(gw):
    path, body = client_request("openai-anthropic", "slowly [mock:slow=300] [mock:long=5]",
                                stream=True)
    with stream_sse(gw.url(path), body) as s:
        arrivals = [t for t, _, _ in s]
    assert len(arrivals) >= 4
    assert arrivals[-1] - arrivals[0] >= 0.6, "events arrived together: the stream was buffered"


# ---- credentials ----------------------------------------------------------------------------


def test_keep_auth_moves_the_client_key_to_the_upstream_style(gw, mock):
    path = "/keep/v1/chat/completions"
    body = {"model": "m", "messages": [{"role": "user", "content": "mine"}]}
    status, _, payload = post_json(gw.url(path), body, {"Authorization": "Bearer sk-client"})
    assert status == 200, payload
    headers = mock.last("anthropic")["headers"]
    assert headers["x-api-key"] == "sk-client"
    assert headers["authorization"] == "Bearer sk-client"


def test_gemini_query_key_never_reaches_the_upstream(gw, mock):
    path, body = client_request("gemini-openai", "keyed")
    status, _, payload = post_json(gw.url(path + "?key=" + CLIENT_SECRET), body)
    assert status == 200, payload
    rec = mock.last("openai")
    assert not rec["query"] and CLIENT_SECRET not in json.dumps(rec)


# ---- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ROUTES)
def test_malformed_json_is_400_without_contacting_upstream(gw, mock, name):
    client = ROUTES[name][0]
    path, _ = client_request(name, "x")
    mock.clear()
    status, _, payload = request("POST", gw.url(path), '{"model": "demo-',
                                 {"Content-Type": "application/json"})
    assert status == 400
    assert "malformed JSON" in error_message(client, payload)
    assert mock.requests() == []


def test_wrong_types_are_400_without_contacting_upstream(gw, mock):
    mock.clear()
    status, _, payload = post_json(gw.url("/ao/v1/messages"),
                                   {"model": "m", "messages": "hi", "stream": "yes"})
    assert status == 400
    assert "stream" in error_message("anthropic", payload)
    status, _, payload = post_json(gw.url("/oa/v1/chat/completions"), ["not", "an", "object"])
    assert status == 400
    assert "JSON object" in error_message("openai", payload)
    assert mock.requests() == []


@pytest.mark.parametrize("name", ROUTES)
def test_upstream_error_reaches_client_in_its_envelope(gw, name):
    client = ROUTES[name][0]
    path, body = client_request(name, "fail [mock:status=429]")
    status, headers, payload = post_json(gw.url(path), body)
    assert status == 429
    assert headers["content-type"].startswith("application/json")
    message = error_message(client, payload)
    assert "upstream answered 429" in message
    assert ("rate limit" in message.lower()) or ("exhausted" in message.lower())


def test_upstream_error_on_stream_request_is_a_json_envelope(gw):
    path, body = client_request("openai-anthropic", "fail [mock:status=503]", stream=True)
    status, headers, payload = post_json(gw.url(path), body)
    assert status == 503
    assert headers["content-type"].startswith("application/json")
    assert "upstream answered 503" in error_message("openai", payload)


def test_unreachable_upstream_is_an_envelope(gw):
    status, headers, payload = post_json(gw.url("/dead/v1/messages"),
                                         {"model": "m", "max_tokens": 8,
                                          "messages": [{"role": "user", "content": "x"}]})
    assert status in (502, 503)
    assert headers["content-type"].startswith("application/json")
    assert "no usable answer from the upstream" in error_message("anthropic", payload)


@pytest.mark.parametrize("path", ["/ao/v1/messages", "/dead/v1/messages"],
                         ids=["answer", "unreachable"])
def test_request_memory_goes_when_the_answer_comes(gw, path):
    """The body and its translated copies are needed until mod_proxy has sent the body: they
    go when the answer (or mod_proxy's own failure) arrives, once, not when a long stream
    ends; the request still ends well (what is left of its body is discarded)."""
    before = gw.error_log().count("AIP01206")
    body = {"model": "m", "max_tokens": 8, "stream": True,
            "messages": [{"role": "user", "content": "a long conversation " * 2000}]}
    with stream_sse(gw.url(path), body) as s:
        events = s.events()
    if path.startswith("/ao"):
        assert s.status == 200 and events[-1][0] == "message_stop"
    else:
        assert s.status in (502, 503)
    assert gw.error_log().count("AIP01206") == before + 1, gw.error_log()


def test_oversized_body_is_413(gw, mock):
    mock.clear()
    body = {"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": "x" * 2000}]}
    status, _, payload = post_json(gw.url("/small/v1/messages"), body)
    assert status == 413
    assert "AIProxyTranslateMaxBodySize" in error_message("anthropic", payload)
    assert mock.requests() == []


def test_compressed_client_body_is_decoded(gw, mock):
    """The same reading as the gateway's handler: gzip bodies are decoded, the decoded size is
    held to the limit, unknown codings get 415 without contacting the upstream."""
    body = {"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": "squeezed"}]}
    raw = json.dumps(body).encode()
    mock.clear()
    status, _, payload = request("POST", gw.url("/oa/v1/chat/completions"), gzip.compress(raw),
                                 {"Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert status == 200, payload
    assert "squeezed" in json.dumps(mock.requests()[-1]["body"])
    mock.clear()
    big = dict(body, messages=[{"role": "user", "content": "x" * 2000}])
    status, _, payload = request("POST", gw.url("/small/v1/messages"),
                                 gzip.compress(json.dumps(big).encode()),
                                 {"Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert status == 413
    assert "decoded request body" in error_message("anthropic", payload)
    status, _, payload = request("POST", gw.url("/oa/v1/chat/completions"), raw,
                                 {"Content-Type": "application/json", "Content-Encoding": "lzma"})
    assert status == 415
    assert "lzma" in error_message("openai", payload)
    assert mock.requests() == []


def test_wrong_method_content_type_and_route(gw):
    status, headers, payload = request("GET", gw.url("/oa/v1/chat/completions"))
    assert status == 405 and headers["allow"] == "POST"
    error_message("openai", payload)
    status, _, payload = request("POST", gw.url("/oa/v1/chat/completions"), "{}",
                                 {"Content-Type": "text/plain"})
    assert status == 415
    assert "JSON" in error_message("openai", payload)
    status, _, payload = post_json(gw.url("/go/v1beta/models/x:countTokens"), {})
    assert status == 404
    error_message("gemini", payload)


def test_location_without_proxypass_is_500_envelope(gw):
    status, _, payload = post_json(gw.url("/nopass/v1/messages"), {"model": "m"})
    assert status == 500
    assert "ProxyPass" in error_message("anthropic", payload)


def test_bad_directive_arguments_refuse_to_start(mock):
    gateway = TranslateGateway('<Location "/x">\n    AIProxyTranslate openai klingon\n'
                               "</Location>\n")
    try:
        with pytest.raises(Exception) as info:
            gateway.start()
        assert "klingon" in str(info.value)
    finally:
        gateway.stop()
        gateway.cleanup()


def test_stream_cut_mid_way_ends_with_client_error_event(gw):
    path, body = client_request("openai-anthropic", "cut [mock:cut=3] [mock:long=6]",
                                stream=True)
    with stream_sse(gw.url(path), body) as s:
        assert s.status == 200
        events = s.events()
    assert events, "nothing arrived before the cut"
    last = json.loads(events[-1][1]) if events[-1][1] != "[DONE]" else {}
    assert "error" in last, events[-1]
