"""Every client protocol against both subscription dialects through the whole gateway:
mod_aiproxy_oauth's credentials and headers, the translate core's Codex and Claude Code request
shaping, JSON and streams. The mock's OAuth vhosts check the bearer tokens; what reached them
is checked field by field (docs/translation.md, "Subscription dialects")."""

import json
import time

import pytest

from harness import stream_sse, post_json
from test_gateway import answer_text, client_request, delta_text
from test_oauth import (HOUR, OAuthGateway, TokenDir, claude_file, codex_access, codex_file,
                        provider_requests)
from conftest import GATEWAY_MODULES, ensure_built
from harness import MockUpstream

PROTOCOLS = ["anthropic", "openai", "responses", "gemini"]
MODELS = {"codex": "sub-codex", "claude": "sub-claude"}
CLAUDE_CODE_PROMPT = "You are Claude Code, Anthropic's official CLI for Claude."


@pytest.fixture(scope="module")
def setup():
    ensure_built(*GATEWAY_MODULES, "mod_aiproxy_mock.so")
    now = int(time.time())
    tokens = TokenDir()
    codex_at = codex_access(now + HOUR, "acct-d")
    mock = MockUpstream(names=["codex", "claude"], oauth={"codex": "codex", "claude": "claude"},
                        issued_tokens={
                            "codex": [{"label": "d", "access": codex_at, "refresh": "rt-d",
                                       "account": "acct-d", "expires_in": HOUR}],
                            "claude": [{"label": "c", "access": "sk-ant-oat01-dialect",
                                        "refresh": "sk-ant-ort01-dialect",
                                        "expires_in": HOUR}]})
    mock.start()
    codex_path = tokens.write("codex.json", codex_file(codex_at, "rt-d", "acct-d", now + HOUR))
    claude_path = tokens.write("claude.json", claude_file("sk-ant-oat01-dialect",
                                                          "sk-ant-ort01-dialect", now + HOUR))
    cb, lb = mock.base_url("codex"), mock.base_url("claude")
    gw = OAuthGateway(
        f"AIProxyUpstream codex-sub {cb} api=codex auth_file={codex_path} "
        f"token_url={cb}/oauth/token models={MODELS['codex']}\n"
        f"AIProxyUpstream claude-sub {lb} api=claudecode auth_file={claude_path} "
        f"token_url={lb}/v1/oauth/token models={MODELS['claude']}\n")
    gw.start()
    yield gw, mock
    gw.stop()
    gw.cleanup()
    mock.stop()
    mock.cleanup()


def with_system(proto, body, system):
    """body with a system prompt in proto's own place."""
    if proto == "anthropic":
        body["system"] = system
    elif proto == "openai":
        body["messages"].insert(0, {"role": "system", "content": system})
    elif proto == "responses":
        body["instructions"] = system
    else:
        body["systemInstruction"] = {"parts": [{"text": system}]}
    return body


def sent_body(record):
    """The JSON body the mock received (recorded as its text)."""
    body = record["body"]
    return json.loads(body) if isinstance(body, str) else body


def ask(gw, proto, dialect, text, stream):
    """The client's answer text (and status) from one request."""
    path, body = client_request(proto, text, stream=stream, model=MODELS[dialect])
    body = with_system(proto, body, "be brief")
    if not stream:
        status, _, payload = post_json(gw.url(path), body)
        assert status == 200, payload
        return answer_text(proto, json.loads(payload))
    with stream_sse(gw.url(path), body) as s:
        assert s.status == 200, s.raw
        events = s.events()
    assert not s.truncated
    return "".join(delta_text(proto, name, data) for name, data in events)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("proto", PROTOCOLS)
def test_codex_dialect(setup, proto, stream):
    """Codex: the backend always streams (a JSON client gets the stream aggregated), nothing is
    stored, instructions are always there, and the request carries the account's token."""
    gw, mock = setup
    text = f"codex {proto} {stream}"
    assert ask(gw, proto, "codex", text, stream) == "echo: " + text
    sent = provider_requests(mock, "codex")[-1]
    assert sent["oauth"]["outcome"] == "ok"
    assert sent["path"].endswith("/responses")
    body = sent_body(sent)
    assert body["stream"] is True and body["store"] is False
    assert isinstance(body.get("instructions"), str)
    assert text in json.dumps(body["input"]) and "be brief" in json.dumps(body)
    assert sent["headers"]["chatgpt-account-id"] == "acct-d"


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("proto", PROTOCOLS)
def test_claudecode_dialect(setup, proto, stream):
    """Claude Code: ?beta=true, the Claude Code system block first and the client's after it,
    a bearer token with the oauth beta, never x-api-key."""
    gw, mock = setup
    text = f"claude {proto} {stream}"
    assert ask(gw, proto, "claude", text, stream) == "echo: " + text
    sent = provider_requests(mock, "claude")[-1]
    assert sent["oauth"]["outcome"] == "ok"
    assert sent["path"].endswith("/v1/messages") and "beta=true" in (sent["query"] or "")
    body = sent_body(sent)
    system = body["system"]
    assert system[0]["text"] == CLAUDE_CODE_PROMPT
    assert "be brief" in json.dumps(system[1:])
    assert body.get("stream", False) is stream
    assert "x-api-key" not in sent["headers"]
    assert "oauth-2025-04-20" in sent["headers"]["anthropic-beta"]
