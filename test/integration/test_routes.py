"""The routes beside generation, on the same request flow (candidates, failover, breakers, the
client's error envelope): POST /v1/messages/count_tokens, answered as Anthropic's
{"input_tokens": N}, and Gemini's POST /v1beta/models/{model}:countTokens, answered as
{"totalTokens": N}, whatever protocol the upstream counts in."""

import json

import pytest

from conftest import DEMO_MODELS
from harness import post_json, request

COUNT = "/v1/messages/count_tokens"

# Where each upstream protocol counts, and the model name the upstream sees in the request.
COUNT_ENDPOINTS = {
    "anthropic": "/v1/messages/count_tokens",
    "openai": "/v1/responses/input_tokens",
    "responses": "/v1/responses/input_tokens",
    "gemini": "/v1beta/models/upstream-gemini-model:countTokens",
}


def count_body(text, model):
    return {"model": model, "system": "count me too",
            "messages": [{"role": "user", "content": text}]}


def anthropic_error(body):
    obj = json.loads(body)
    assert obj["type"] == "error" and obj["error"]["type"], obj
    return obj["error"]["message"]


@pytest.mark.parametrize("proto", sorted(COUNT_ENDPOINTS))
def test_count_tokens_per_upstream_protocol(gateway, mock, proto):
    """Each upstream protocol's own count endpoint, with the mapped model; the client always
    gets {"input_tokens": N} with the upstream's number."""
    mock.clear()
    status, headers, body = post_json(gateway.url(COUNT),
                                      count_body("how many tokens is this?", DEMO_MODELS[proto]),
                                      {"anthropic-version": "2023-06-01"})
    assert status == 200, body
    assert headers["content-type"].startswith("application/json")
    answer = json.loads(body)
    assert list(answer) == ["input_tokens"] and answer["input_tokens"] > 0
    rec = mock.last()
    assert rec["path"] == COUNT_ENDPOINTS[proto]
    sent = rec["json"]
    if proto == "gemini":
        inner = sent["generateContentRequest"]
        assert inner["model"] == "models/upstream-gemini-model"
        assert inner["systemInstruction"] and inner["contents"]
    else:
        assert sent["model"] == f"upstream-{proto}-model"
        # generation settings are not sent to a count endpoint
        assert "stream" not in sent and "max_output_tokens" not in sent
    # the mock counts a quarter of the body it received
    assert answer["input_tokens"] == len(rec["body"]) // 4
    assert headers["x-aiproxy-upstream"] == f"mock-{proto}"


@pytest.mark.parametrize("form", ["contents", "generateContentRequest"])
@pytest.mark.parametrize("proto", sorted(COUNT_ENDPOINTS))
def test_gemini_count_tokens_per_upstream_protocol(gateway, mock, proto, form):
    """A Gemini client's countTokens (either body form) through each upstream protocol's own
    count endpoint; the answer in Gemini's words."""
    contents = [{"role": "user", "parts": [{"text": "how many tokens is this?"}]}]
    body = ({"contents": contents} if form == "contents" else
            {"generateContentRequest": {"model": f"models/{DEMO_MODELS[proto]}",
                                        "contents": contents,
                                        "systemInstruction": {"parts": [{"text": "count me"}]}}})
    mock.clear()
    status, headers, payload = post_json(
        gateway.url(f"/v1beta/models/{DEMO_MODELS[proto]}:countTokens"), body)
    assert status == 200, payload
    answer = json.loads(payload)
    rec = mock.last()
    assert rec["path"] == COUNT_ENDPOINTS[proto]
    assert list(answer) == ["totalTokens"] and answer["totalTokens"] == len(rec["body"]) // 4
    assert "how many tokens is this?" in rec["body"]
    if form == "generateContentRequest" and proto != "gemini":
        assert "count me" in rec["body"], "the inner request's system instruction was lost"
    assert headers["x-aiproxy-upstream"] == f"mock-{proto}"


def test_gemini_count_tokens_errors_in_gemini_envelope(gateway):
    status, _, payload = post_json(gateway.url("/v1beta/models/no-such-model:countTokens"),
                                   {"contents": [{"role": "user", "parts": [{"text": "x"}]}]})
    assert status == 404
    err = json.loads(payload)["error"]
    assert err["status"] == "NOT_FOUND" and err["code"] == 404, err


def test_count_tokens_anthropic_body_passes_unchanged(make_gateway, mock):
    """Same protocol and model: the client's bytes go out as they came."""
    gw = make_gateway(f"AIProxyUpstream a {mock.base_url('anthropic')} api=anthropic token=t "
                      "models=claude-x")
    raw = json.dumps(count_body("hi", "claude-x") | {"x_extra": 1})
    mock.clear()
    status, _, body = request("POST", gw.url(COUNT), raw.encode(),
                              {"Content-Type": "application/json"})
    assert status == 200, body
    assert mock.last()["body"] == raw


def test_count_tokens_fails_over_before_the_first_byte(make_gateway, mock):
    gw = make_gateway("\n".join([
        "AIProxyUpstream dead http://127.0.0.1:9 api=anthropic token=t models=m weight=100",
        f"AIProxyUpstream good {mock.base_url('gemini')} api=gemini token=t models=m",
    ]))
    status, headers, body = post_json(gw.url(COUNT), count_body("hi", "m"))
    assert status == 200, body
    assert headers["x-aiproxy-upstream"] == "good"
    assert json.loads(body)["input_tokens"] > 0


@pytest.mark.parametrize("proto", ["anthropic", "responses", "gemini"])
def test_count_tokens_upstream_error_in_anthropic_envelope(make_gateway, mock, proto):
    """Every upstream fails: the last one's status and message, in Anthropic's envelope."""
    gw = make_gateway("\n".join([
        f"AIProxyUpstream first {mock.base_url(proto)} api={proto} token=t models=m weight=100",
        f"AIProxyUpstream second {mock.base_url(proto)} api={proto} token=t models=m",
    ]))
    mock.clear()
    status, _, body = post_json(gw.url(COUNT), count_body("x [mock:status=503]", "m"))
    assert status == 503
    assert "second answered 503" in anthropic_error(body)
    assert len(mock.requests()) == 2


def test_count_tokens_bad_requests(gateway):
    status, _, body = post_json(gateway.url(COUNT), {"model": "demo-openai"})
    assert status == 400 and "messages" in anthropic_error(body)
    status, headers, body = request("GET", gateway.url(COUNT))
    assert status == 405 and headers["allow"] == "POST"
    anthropic_error(body)
    status, _, body = post_json(gateway.url(COUNT), count_body("hi", "no-such-model"))
    assert status == 404 and "no-such-model" in anthropic_error(body)
