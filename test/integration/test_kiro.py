"""Kiro subscription upstreams (api=kiro) through the whole gateway: every client protocol, JSON
and stream, against the mock's Kiro vhost (conversationState requests, AWS event-stream answers
with real CRCs), mod_aiproxy_oauth's Kiro credentials (Kiro IDE token files, social and IdC
refresh, 402 monthly quota) and a corrupt frame ending the client's stream with its own error;
the real SDKs of test/sdk against it too (skipped when npm cannot install them).
Wire facts: research/oauth.md §5; docs/oauth.md "Kiro"."""

import json
import re
import struct
import time
import zlib

import pytest

from conftest import GATEWAY_MODULES, ensure_built
from harness import REPO, MockUpstream, npm_ci, post_json, stream_sse
from test_gateway import answer_text, client_request, delta_text, error_message
from test_oauth import (HOUR, OAuthGateway, TokenDir, env,  # noqa: F401 (env: fixture)
                        provider_requests, wait_for)
from test_sdk import SDKS, assert_mock_answer, case_id, run_batches

PROTOCOLS = ["anthropic", "openai", "responses", "gemini"]
MODEL = "kiro-sub"
UPSTREAM_MODEL = "claude-sonnet-4.5"
PROFILE = "arn:aws:codewhisperer:us-east-1:699475941385:profile/EHGA3GRVQMUK"


def iso(epoch):
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(epoch))


def kiro_social_file(access, refresh, expires_at, profile=PROFILE):
    """~/.aws/sso/cache/kiro-auth-token.json of a social (GitHub) login."""
    return {"accessToken": access, "refreshToken": refresh, "expiresAt": iso(expires_at),
            "authMethod": "social", "provider": "Github", "profileArn": profile,
            "region": "us-east-1"}


def kiro_idc_file(access, refresh, expires_at, client_id_hash):
    """An IdC / Builder ID login: its client registration lives in <clientIdHash>.json."""
    return {"accessToken": access, "refreshToken": refresh, "expiresAt": iso(expires_at),
            "authMethod": "IdC", "provider": "BuilderId", "region": "us-east-1",
            "clientIdHash": client_id_hash}


def kiro_upstream(mock, files, name="kiro-sub", token_path="/refreshToken"):
    base = mock.base_url("kiro")
    auth = " ".join(f"auth_file={f}" for f in files)
    return (f"AIProxyUpstream {name} {base} api=kiro {auth} token_url={base}{token_path} "
            f"models={MODEL} map={MODEL}={UPSTREAM_MODEL}")


def sent_body(record):
    body = record["body"]
    return json.loads(body) if isinstance(body, str) else body


def current_content(record):
    state = sent_body(record)["conversationState"]
    return state["currentMessage"]["userInputMessage"]["content"]


@pytest.fixture(scope="module")
def setup():
    ensure_built(*GATEWAY_MODULES, "mod_aiproxy_mock.so")
    now = int(time.time())
    tokens = TokenDir()
    mock = MockUpstream(names=["kiro"], oauth={"kiro": "kiro"},
                        issued_tokens={"kiro": [{"label": "k", "access": "aoa-kiro-1",
                                                 "refresh": "aor-kiro-1", "account": PROFILE,
                                                 "expires_in": HOUR}]})
    mock.start()
    path = tokens.write("kiro-auth-token.json",
                        kiro_social_file("aoa-kiro-1", "aor-kiro-1", now + HOUR))
    # error tests in a row must not open the circuit for the others
    gw = OAuthGateway(kiro_upstream(mock, [path]), extra="AIProxyCircuitBreaker 1000 1")
    gw.start()
    yield gw, mock
    gw.stop()
    gw.cleanup()
    mock.stop()
    mock.cleanup()


# ---- the real SDKs (test/sdk) against the Kiro upstream -------------------------------------

SDK_SCENARIOS = ["plain", "tool", "think", "texttool"]


@pytest.fixture(scope="module")
def sdk_results(setup):
    """Every SDK of test/sdk (openai chat and responses, @anthropic-ai/sdk 1.x and 0.x,
    @google/genai) against the Kiro model, JSON and its stream helper."""
    node = npm_ci(REPO / "test" / "sdk", "SDK tests", ".aiproxy-sdk-stamp", timeout=600)
    gw, _ = setup
    base = gw.url("").rstrip("/")
    return run_batches(node, {sdk: [
        {"id": case_id(sdk, MODEL, scenario, stream), "sdk": sdk, "baseURL": base,
         "model": MODEL, "scenario": scenario, "stream": stream}
        for scenario in SDK_SCENARIOS for stream in (False, True)] for sdk in SDKS})


@pytest.mark.parametrize("sdk,scenario,stream", [
    pytest.param(sdk, scenario, stream, id=f"{sdk}/{scenario}/{'stream' if stream else 'json'}")
    for sdk in SDKS for scenario in SDK_SCENARIOS for stream in (False, True)])
def test_sdk(sdk_results, sdk, scenario, stream):
    """The SDK's own parse of an answer that came as an AWS event stream: text, tool call,
    thinking, stop reason, usage."""
    res = sdk_results[case_id(sdk, MODEL, scenario, stream)]
    assert_mock_answer(res, sdk, scenario, stream, json.dumps(res))


def ask(gw, proto, body_or_text, stream, path=None):
    """(status, text, events or body) of one request."""
    if path is None:
        path, body = client_request(proto, body_or_text, stream=stream, model=MODEL)
    else:
        body = body_or_text
    if not stream:
        status, _, payload = post_json(gw.url(path), body)
        return status, payload
    with stream_sse(gw.url(path), body) as s:
        assert s.status == 200, s.raw
        events = s.events()
    return s.status, events


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("proto", PROTOCOLS)
def test_every_client_protocol(setup, proto, stream):
    """The answer's text reaches the client in its own protocol; the upstream got a
    conversationState naming the model and the login's profile, with Kiro IDE's headers."""
    gw, mock = setup
    text = f"kiro {proto} {stream}"
    status, got = ask(gw, proto, text, stream)
    assert status == 200, got
    sent = provider_requests(mock, "kiro")[-1]
    assert sent["oauth"]["outcome"] == "ok"
    assert sent["path"].endswith("/generateAssistantResponse")
    if stream:
        answer = "".join(delta_text(proto, name, data) for name, data in got)
    else:
        answer = answer_text(proto, json.loads(got))
    assert answer == "echo: " + current_content(sent)
    body = sent_body(sent)
    user = body["conversationState"]["currentMessage"]["userInputMessage"]
    assert user["modelId"] == UPSTREAM_MODEL and text in user["content"]
    assert user["origin"] == "AI_EDITOR"
    assert body["profileArn"] == PROFILE
    assert body["conversationState"]["chatTriggerType"] == "MANUAL"
    headers = {k.lower(): v for k, v in sent["headers"].items()}
    assert headers["authorization"] == "Bearer aoa-kiro-1"
    assert headers["accept"] == "application/vnd.amazon.eventstream"
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
                        headers["amz-sdk-invocation-id"])
    assert headers["x-amzn-kiro-agent-mode"] == "vibe"
    assert re.search(r"KiroIDE-[0-9.]+-[0-9a-f]{64}$", headers["x-amz-user-agent"])
    assert re.search(r"KiroIDE-[0-9.]+-[0-9a-f]{64}$", headers["user-agent"])


def openai_tool_request(text, stream):
    body = {"model": MODEL, "stream": stream,
            "messages": [{"role": "system", "content": "be brief"},
                         {"role": "user", "content": "weather?"},
                         {"role": "assistant", "content": None,
                          "tool_calls": [{"id": "call_1", "type": "function",
                                          "function": {"name": "get_weather",
                                                       "arguments": "{\"city\":\"Paris\"}"}}]},
                         {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
                         {"role": "user", "content": text}],
            "tools": [{"type": "function",
                       "function": {"name": "get_weather", "description": "Weather of a city",
                                    "parameters": {"type": "object",
                                                   "properties": {"city": {"type": "string"}}}}}]}
    return "/v1/chat/completions", body


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_tools_history_and_tool_call_answer(setup, stream):
    """A multi-turn request with a tool call and its result becomes Kiro history and tool
    results; the upstream's toolUseEvent fragments come back as one tool call."""
    gw, mock = setup
    path, body = openai_tool_request("[mock:tool] and now?", stream)
    status, got = ask(gw, "openai", body, stream, path=path)
    assert status == 200, got
    state = sent_body(provider_requests(mock, "kiro")[-1])["conversationState"]
    history = state["history"]
    assert history[0]["userInputMessage"]["content"] == "be brief\n\nweather?"
    uses = history[1]["assistantResponseMessage"]["toolUses"]
    assert uses == [{"toolUseId": "call_1", "name": "get_weather", "input": {"city": "Paris"}}]
    current = state["currentMessage"]["userInputMessage"]
    ctx = current["userInputMessageContext"]
    assert ctx["toolResults"][0]["toolUseId"] == "call_1"
    assert ctx["toolResults"][0]["content"] == [{"text": "sunny"}]
    spec = ctx["tools"][0]["toolSpecification"]
    assert spec["name"] == "get_weather" and spec["inputSchema"]["json"]["type"] == "object"
    if stream:
        args, names, finish = "", set(), None
        for _, data in got:
            if data == "[DONE]":
                continue
            for choice in json.loads(data).get("choices", []):
                for call in choice["delta"].get("tool_calls") or []:
                    names.add(call["function"].get("name"))
                    args += call["function"].get("arguments") or ""
                finish = choice.get("finish_reason") or finish
        assert "get_weather" in names and json.loads(args) == {"arg": "mock"}
        assert finish == "tool_calls"
    else:
        message = json.loads(got)["choices"][0]
        call = message["message"]["tool_calls"][0]
        assert call["function"]["name"] == "get_weather"
        assert json.loads(call["function"]["arguments"]) == {"arg": "mock"}
        assert message["finish_reason"] == "tool_calls"


def anthropic_tool_request(text, stream):
    body = {"model": MODEL, "max_tokens": 100, "stream": stream,
            "messages": [{"role": "user", "content": text}],
            "tools": [{"name": "get_weather", "description": "Weather of a city",
                       "input_schema": {"type": "object",
                                        "properties": {"city": {"type": "string"}}}}]}
    return "/v1/messages", body


def text_and_calls(proto, stream, got):
    """(text, [(id, name, arguments object)], stop reason) of an Anthropic or OpenAI answer."""
    text, calls, stop = "", [], None
    if proto == "anthropic" and stream:
        args = {}
        for name, data in got:
            ev = json.loads(data)
            if name == "content_block_start" and ev["content_block"]["type"] == "tool_use":
                block = ev["content_block"]
                calls.append([block["id"], block["name"], ev["index"]])
                args[ev["index"]] = ""
            elif name == "content_block_delta" and ev["delta"]["type"] == "text_delta":
                text += ev["delta"]["text"]
            elif name == "content_block_delta" and ev["delta"]["type"] == "input_json_delta":
                args[ev["index"]] += ev["delta"]["partial_json"]
            elif name == "message_delta":
                stop = ev["delta"]["stop_reason"]
        calls = [(i, n, json.loads(args[index])) for i, n, index in calls]
    elif proto == "anthropic":
        body = json.loads(got)
        text = "".join(b["text"] for b in body["content"] if b["type"] == "text")
        calls = [(b["id"], b["name"], b["input"]) for b in body["content"]
                 if b["type"] == "tool_use"]
        stop = body["stop_reason"]
    elif stream:
        parts = {}
        for _, data in got:
            if data == "[DONE]":
                continue
            for choice in json.loads(data).get("choices", []):
                text += choice["delta"].get("content") or ""
                for call in choice["delta"].get("tool_calls") or []:
                    part = parts.setdefault(call["index"], ["", "", ""])
                    part[0] += call.get("id") or ""
                    part[1] += call["function"].get("name") or ""
                    part[2] += call["function"].get("arguments") or ""
                stop = choice.get("finish_reason") or stop
        calls = [(i, n, json.loads(a)) for i, n, a in parts.values()]
    else:
        choice = json.loads(got)["choices"][0]
        text = choice["message"]["content"] or ""
        calls = [(c["id"], c["function"]["name"], json.loads(c["function"]["arguments"]))
                 for c in choice["message"].get("tool_calls") or []]
        stop = choice["finish_reason"]
    return text, calls, stop


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("proto", ["anthropic", "openai"])
def test_tool_call_written_into_the_text(setup, proto, stream):
    """Kiro sometimes writes a call into its text ("[Called get_weather with args: {...}]", cut
    across events) instead of toolUseEvent frames: the client gets a real tool call of its
    protocol, the text around it, and a tool-use stop."""
    gw, mock = setup
    build = anthropic_tool_request if proto == "anthropic" else openai_tool_request
    path, body = build("[mock:tool,text-tool] weather?", stream)
    status, got = ask(gw, proto, body, stream, path=path)
    assert status == 200, got
    ctx = sent_body(provider_requests(mock, "kiro")[-1])["conversationState"]["currentMessage"]
    assert ctx["userInputMessage"]["userInputMessageContext"]["tools"]
    text, calls, stop = text_and_calls(proto, stream, got)
    assert text.strip() == "Calling it."
    assert "[Called" not in text
    assert len(calls) == 1
    call_id, name, args = calls[0]
    assert name == "get_weather" and args == {"arg": "mock"}
    assert re.fullmatch(r"tooluse_[0-9a-f]{24}", call_id)
    assert stop == ("tool_use" if proto == "anthropic" else "tool_calls")


def test_thinking_and_usage_reach_an_anthropic_client(setup):
    gw, _ = setup
    status, got = ask(gw, "anthropic", "[mock:think] hi", False)
    assert status == 200, got
    body = json.loads(got)
    kinds = [b["type"] for b in body["content"]]
    assert kinds[0] == "thinking" and "text" in kinds
    assert body["content"][0]["thinking"] == "mock thinking"
    assert body["usage"]["output_tokens"] > 0 and body["usage"]["input_tokens"] > 0
    assert body["stop_reason"] == "end_turn"


def stream_error_seen(proto, events):
    """Whether the client's stream carries its protocol's error event."""
    for name, data in events:
        if data == "[DONE]":
            continue
        obj = json.loads(data)
        if proto == "anthropic" and name == "error" and obj["type"] == "error":
            return True
        if proto == "responses" and name in ("error", "response.failed"):
            return True
        if proto in ("openai", "gemini") and "error" in obj:
            return True
    return False


@pytest.mark.parametrize("proto", PROTOCOLS)
def test_corrupt_frame_ends_the_stream_with_an_error(setup, proto):
    """A frame with a wrong checksum after the first text: the client's stream ends with a
    well-formed error event of its own protocol, after the text that was good."""
    gw, _ = setup
    status, events = ask(gw, proto, "[mock:bad-crc] broken", True)
    assert status == 200
    assert stream_error_seen(proto, events), events
    text = "".join(delta_text(proto, n, d) for n, d in events if not (
        proto == "anthropic" and n == "error"))
    assert text.startswith("echo")


@pytest.mark.parametrize("proto", PROTOCOLS)
def test_corrupt_frame_ends_a_json_answer_with_an_error(setup, proto):
    """A JSON client gets its protocol's error envelope instead of a cut answer. Content had
    arrived before the bad frame, so the attempt was already committed (no failover) and the
    status line may be the 200 of that commit (test_routing: errors after content)."""
    gw, _ = setup
    status, payload = ask(gw, proto, "[mock:bad-crc] broken", False)
    assert status in (200, 502), payload
    assert "event stream is corrupt" in error_message(proto, payload)


@pytest.mark.parametrize("proto", PROTOCOLS)
def test_exception_frame_before_content_is_an_error_answer(setup, proto):
    """An exception frame before any content is a failed attempt: the client gets one error
    in its own envelope (there is no other upstream to fail over to)."""
    gw, _ = setup
    path, body = client_request(proto, "[mock:sse-error] x", stream=True, model=MODEL)
    status, _, payload = post_json(gw.url(path), body)
    assert status == 502, payload
    assert "kiro-sub" in error_message(proto, payload)


# ---- the mock's event stream, read independently of the gateway --------------------------------


def read_frames(data):
    """[(headers, payload, crc_ok)] of an AWS event stream; asserts the framing holds."""
    frames, at = [], 0
    while at < len(data):
        total, hlen, prelude_crc = struct.unpack(">III", data[at:at + 12])
        assert prelude_crc == zlib.crc32(data[at:at + 8])
        frame = data[at:at + total]
        assert len(frame) == total
        headers, h = {}, 12
        while h < 12 + hlen:
            n = frame[h]
            name = frame[h + 1:h + 1 + n].decode()
            assert frame[h + 1 + n] == 7  # every header the mock writes is a string
            vlen = struct.unpack(">H", frame[h + 2 + n:h + 4 + n])[0]
            headers[name] = frame[h + 4 + n:h + 4 + n + vlen].decode()
            h += 4 + n + vlen
        payload = frame[12 + hlen:total - 4]
        crc_ok = struct.unpack(">I", frame[total - 4:])[0] == zlib.crc32(frame[:total - 4])
        frames.append((headers, json.loads(payload), crc_ok))
        at += total
    return frames


def kiro_body(text, tools=False):
    user = {"content": text, "modelId": "claude-sonnet-4.5", "origin": "AI_EDITOR"}
    if tools:
        user["userInputMessageContext"] = {"tools": [{"toolSpecification": {
            "name": "get_weather", "description": "d", "inputSchema": {"json": {}}}}]}
    return {"conversationState": {"chatTriggerType": "MANUAL", "conversationId": "c",
                                  "currentMessage": {"userInputMessage": user}}}


@pytest.fixture(scope="module")
def plain_mock():
    ensure_built("mod_aiproxy_mock.so")
    mock = MockUpstream(names=["kiro"])
    mock.start()
    yield mock
    mock.stop()
    mock.cleanup()


def test_mock_answers_well_formed_frames(plain_mock):
    url = plain_mock.base_url("kiro") + "/generateAssistantResponse"
    status, headers, data = post_json(url, kiro_body("[mock:think,tool] hi", tools=True))
    assert status == 200
    assert headers["content-type"] == "application/vnd.amazon.eventstream"
    frames = read_frames(data)
    assert all(ok for _, _, ok in frames)
    kinds = [h[":event-type"] for h, _, _ in frames]
    assert kinds[:2] == ["reasoningContentEvent"] * 2
    assert kinds[-3:] == ["meteringEvent", "contextUsageEvent", "metadataEvent"]
    uses = [p for h, p, _ in frames if h[":event-type"] == "toolUseEvent"]
    assert "".join(p.get("input", "") for p in uses) == '{"arg":"mock"}'
    assert uses[-1]["stop"] is True and uses[0]["name"] == "get_weather"
    assert all(h[":message-type"] == "event" and h[":content-type"] == "application/json"
               for h, _, _ in frames)


def test_mock_spoils_one_frame_on_request(plain_mock):
    url = plain_mock.base_url("kiro") + "/generateAssistantResponse"
    _, _, data = post_json(url, kiro_body("[mock:bad-crc] hi"))
    verdicts = [ok for _, _, ok in read_frames(data)]
    assert verdicts.count(False) == 1 and verdicts[1] is False, verdicts  # the 2nd text frame


def test_mock_errors_are_aws_json(plain_mock):
    url = plain_mock.base_url("kiro") + "/generateAssistantResponse"
    status, headers, data = post_json(url, kiro_body("[mock:quota=60]"))
    assert status == 402 and json.loads(data)["reason"] == "MONTHLY_REQUEST_COUNT"
    status, headers, data = post_json(url, kiro_body("[mock:status=429]"))
    assert status == 429 and headers["x-amzn-errortype"] == "ThrottlingException"
    assert json.loads(data)["message"]
    status, _, data = post_json(url, kiro_body("[mock:sse-error]"))
    frames = read_frames(data)
    assert status == 200 and frames[0][0][":message-type"] == "exception"
    assert frames[0][0][":exception-type"] == "ThrottlingException"


# ---- credentials ------------------------------------------------------------------------------



def chat(gw, text="hello"):
    return post_json(gw.url("/v1/chat/completions"),
                     {"model": MODEL, "messages": [{"role": "user", "content": text}]})


def test_social_refresh_writes_back_and_keeps_fields(env):
    """An expired social login refreshes at the refreshToken endpoint (JSON with only the
    refresh token); the new tokens and profileArn go back into the file, the rest is kept."""
    now = int(time.time())
    mock = env.mock(names=["kiro"], oauth={"kiro": "kiro"},
                    issued_tokens={"kiro": [{"label": "s", "access": "aoa-old", "refresh": "aor-old",
                                             "account": PROFILE, "expires_in": -60}]})
    content = kiro_social_file("aoa-old", "aor-old", now - 60)
    content["extra"] = {"kept": [1, 2]}
    path = env.tokens.write("kiro-auth-token.json", content)
    gw = env.gateway(kiro_upstream(mock, [path]))

    status, _, body = chat(gw)
    assert status == 200, body
    refreshes = mock.token_requests()
    assert len(refreshes) == 1 and refreshes[0]["oauth"]["outcome"] == "issued"
    assert refreshes[0]["path"].endswith("/refreshToken")
    assert json.loads(refreshes[0]["body"]) == {"refreshToken": "aor-old"}
    cred = mock.credential("kiro", "s")
    written = env.tokens.read("kiro-auth-token.json")
    assert written["accessToken"] == cred["access"] != "aoa-old"
    assert written["refreshToken"] == cred["refresh"] != "aor-old"
    assert written["profileArn"] == PROFILE and written["extra"] == {"kept": [1, 2]}
    assert written["expiresAt"] > iso(now)
    sent = provider_requests(mock, "kiro")[-1]
    assert sent["oauth"]["outcome"] == "ok"
    assert sent_body(sent)["profileArn"] == PROFILE
    assert "aoa-old" not in gw.error_log() and cred["access"] not in gw.error_log()


def test_idc_refresh_uses_the_client_registration(env):
    """An IdC / Builder ID login refreshes at the OIDC token endpoint with the clientId and
    clientSecret of <clientIdHash>.json (camelCase JSON, grantType refresh_token); its body
    names no profile."""
    now = int(time.time())
    mock = env.mock(names=["kiro"], oauth={"kiro": "kiro"},
                    issued_tokens={"kiro": [{"label": "i", "access": "aoa-idc", "refresh": "aor-idc",
                                             "expires_in": -60}]},
                    token_control={"kiro": {"client_id": "reg-client",
                                            "client_secret": "reg-secret"}})
    path = env.tokens.write("kiro-auth-token.json",
                            kiro_idc_file("aoa-idc", "aor-idc", now - 60, "abc123"))
    env.tokens.write("abc123.json", {"clientId": "reg-client", "clientSecret": "reg-secret",
                                     "expiresAt": iso(now + 90 * 24 * HOUR)})
    gw = env.gateway(kiro_upstream(mock, [path], token_path="/token"))

    status, _, body = chat(gw)
    assert status == 200, body
    refreshes = mock.token_requests()
    assert len(refreshes) == 1 and refreshes[0]["oauth"]["outcome"] == "issued", refreshes
    sent_refresh = json.loads(refreshes[0]["body"])
    assert sent_refresh == {"clientId": "reg-client", "clientSecret": "reg-secret",
                            "refreshToken": "aor-idc", "grantType": "refresh_token"}
    written = env.tokens.read("kiro-auth-token.json")
    assert written["accessToken"] == mock.credential("kiro", "i")["access"]
    assert written["clientIdHash"] == "abc123" and "clientSecret" not in written
    assert "profileArn" not in sent_body(provider_requests(mock, "kiro")[-1])
    assert "reg-secret" not in gw.error_log()


def test_refused_bearer_token_refreshes_and_retries(env):
    """Kiro refuses a stale token with 403 "The bearer token ... is expired": one refresh, the
    same file again."""
    now = int(time.time())
    mock = env.mock(names=["kiro"], oauth={"kiro": "kiro"},
                    issued_tokens={"kiro": [{"label": "r", "access": "aoa-r", "refresh": "aor-r",
                                             "account": PROFILE, "expires_in": -5}]})
    path = env.tokens.write("kiro.json", kiro_social_file("aoa-r", "aor-r", now + 10 * HOUR))
    gw = env.gateway(kiro_upstream(mock, [path]))

    status, _, body = chat(gw)
    assert status == 200, body
    assert [r["oauth"]["outcome"] for r in provider_requests(mock, "kiro")] == ["expired", "ok"]
    assert len(mock.token_requests()) == 1


def test_monthly_quota_cools_the_file_until_next_month(env):
    """402 MONTHLY_REQUEST_COUNT: the file cools down until the 1st of next month 00:00 UTC,
    the next file serves."""
    now = int(time.time())
    mock = env.mock(names=["kiro"], oauth={"kiro": "kiro"},
                    issued_tokens={"kiro": [
                        {"label": "q1", "access": "aoa-q1", "refresh": "aor-q1",
                         "account": PROFILE, "expires_in": HOUR, "scenario": "[mock:quota=60]"},
                        {"label": "q2", "access": "aoa-q2", "refresh": "aor-q2",
                         "account": PROFILE, "expires_in": HOUR}]})
    f1 = env.tokens.write("q1.json", kiro_social_file("aoa-q1", "aor-q1", now + HOUR))
    f2 = env.tokens.write("q2.json", kiro_social_file("aoa-q2", "aor-q2", now + HOUR))
    gw = env.gateway(kiro_upstream(mock, [f1, f2]))

    for i in range(4):
        status, _, body = chat(gw, f"turn {i}")
        assert status == 200, body
    used = [r["oauth"]["credential"] for r in provider_requests(mock, "kiro")]
    assert used.count("q1") == 1 and used.count("q2") == 4, used
    states = gw.credentials("kiro-sub")
    assert states["q1.json"]["state"] == "cooling down"
    tm = time.gmtime(now)
    year, month = (tm.tm_year + 1, 1) if tm.tm_mon == 12 else (tm.tm_year, tm.tm_mon + 1)
    assert states["q1.json"]["until"].startswith(f"{year:04d}-{month:02d}-01T00:00:00"), states
    assert wait_for(lambda: "MONTHLY_REQUEST_COUNT" in gw.error_log())


# ---- the mock's Kiro OAuth vhost, directly ------------------------------------------------------


def test_mock_kiro_token_endpoints_and_bearer_check(env):
    mock = env.mock(names=["kiro"], oauth={"kiro": "kiro"},
                    issued_tokens={"kiro": [
                        {"label": "s", "access": "aoa-s", "refresh": "aor-s", "account": PROFILE},
                        {"label": "i", "access": "aoa-i", "refresh": "aor-i", "expires_in": -5}]})
    base = mock.base_url("kiro")

    # social: only the refresh token; camelCase answer with the profile; the old token is spent
    status, _, body = post_json(base + "/refreshToken", {"refreshToken": "aor-s"})
    answer = json.loads(body)
    assert status == 200, body
    assert set(answer) == {"accessToken", "refreshToken", "expiresIn", "tokenType", "profileArn"}
    assert answer["profileArn"] == PROFILE and answer["refreshToken"] != "aor-s"
    status, _, body = post_json(base + "/refreshToken", {"refreshToken": "aor-s"})
    assert status == 400 and json.loads(body)["error"] == "invalid_grant"

    # IdC: the client registration must match when the test sets one; no profile comes back
    mock.set_token_control("kiro", client_id="cid", client_secret="csecret")
    idc = {"clientId": "cid", "clientSecret": "wrong", "refreshToken": "aor-i",
           "grantType": "refresh_token"}
    status, _, body = post_json(base + "/token", idc)
    assert status == 401 and json.loads(body)["error"] == "invalid_client"
    status, _, body = post_json(base + "/token", dict(idc, clientSecret="csecret"))
    assert status == 200 and "profileArn" not in json.loads(body)

    # provider endpoint: AWS's 403 for a token it does not know, "expired" for a stale one
    url = base + "/generateAssistantResponse"
    status, headers, body = post_json(url, kiro_body("hi"), headers={"Authorization": "Bearer x"})
    assert status == 403 and headers["x-amzn-errortype"] == "AccessDeniedException"
    assert "bearer token" in json.loads(body)["message"]
    status, _, body = post_json(url, kiro_body("hi"), headers={"Authorization": "Bearer aoa-s"})
    assert status == 403  # rotated away by the refresh above
    fresh = mock.credential("kiro", "s")["access"]
    status, _, body = post_json(url, kiro_body("hi"),
                                headers={"Authorization": f"Bearer {fresh}"})
    assert status == 200 and read_frames(body)


def test_identity_header_override_keeps_the_machine_id(env):
    """AIProxyOAuthHeader kiro replaces a default; {machine_id} in it is the login's id, the
    same one the defaults carry (the SHA-256 of the profileArn)."""
    import hashlib
    now = int(time.time())
    mock = env.mock(names=["kiro"], oauth={"kiro": "kiro"},
                    issued_tokens={"kiro": [{"label": "h", "access": "aoa-h", "refresh": "aor-h",
                                             "account": PROFILE, "expires_in": HOUR}]})
    path = env.tokens.write("kiro.json", kiro_social_file("aoa-h", "aor-h", now + HOUR))
    gw = env.gateway(kiro_upstream(mock, [path]),
                     extra='AIProxyOAuthHeader kiro x-amz-user-agent "custom/1 {machine_id}"\n'
                           'AIProxyOAuthHeader kiro x-extra "yes"')
    status, _, body = chat(gw)
    assert status == 200, body
    headers = {k.lower(): v for k, v in provider_requests(mock, "kiro")[-1]["headers"].items()}
    machine = hashlib.sha256(PROFILE.encode()).hexdigest()
    assert headers["x-amz-user-agent"] == f"custom/1 {machine}"
    assert headers["user-agent"].endswith(f"KiroIDE-0.8.0-{machine}")
    assert headers["x-extra"] == "yes"
