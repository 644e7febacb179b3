"""Client keys with scopes and limits: models= (names and globs), rpm= and tpm= counted across
every httpd child, 429 with Retry-After and OpenAI's x-ratelimit-* headers, /v1/models per key,
plain keys unchanged, and the same from config.yaml."""

import json
import time

import pytest

from harness import get, post_json

CHAT = "/v1/chat/completions"
MESSAGES = "/v1/messages"


def chat(model, text="hi"):
    return {"model": model, "messages": [{"role": "user", "content": text}]}


def bearer(key):
    return {"Authorization": f"Bearer {key}"}


def upstreams(mock):
    return (f"AIProxyUpstream u {mock.base_url('openai')} api=openai token=tok-u "
            f"models=gpt-a,gpt-b,claude-x")


def wait_for_fresh_minute(margin=8):
    """Counters are per calendar minute: start a limit test well inside one."""
    if 60 - time.time() % 60 < margin:
        time.sleep(60 - time.time() % 60 + 0.2)


def test_scope_limits_models_and_list(make_gateway, mock):
    gw = make_gateway(upstreams(mock) + "\nAIProxyClientKey sk-scoped-0001 models=gpt-* "
                      "sk-open-00002")
    assert post_json(gw.url(CHAT), chat("gpt-b"), bearer("sk-scoped-0001"))[0] == 200
    st, _, body = post_json(gw.url(CHAT), chat("claude-x"), bearer("sk-scoped-0001"))
    assert st == 404, body
    err = json.loads(body)["error"]
    assert err["code"] == "model_not_found" and "claude-x" in err["message"]
    # in the Anthropic envelope for Anthropic clients
    st, _, body = post_json(gw.url(MESSAGES), {**chat("claude-x"), "max_tokens": 10},
                            {**bearer("sk-scoped-0001"), "anthropic-version": "2023-06-01"})
    assert st == 404 and json.loads(body)["type"] == "error"
    # a key without models= keeps every model
    assert post_json(gw.url(CHAT), chat("claude-x"), bearer("sk-open-00002"))[0] == 200
    listed = lambda key: sorted(m["id"] for m in json.loads(
        get(gw.url("/v1/models"), bearer(key))[2])["data"])
    assert listed("sk-scoped-0001") == ["gpt-a", "gpt-b"]
    assert listed("sk-open-00002") == ["claude-x", "gpt-a", "gpt-b"]


def test_requests_per_minute(make_gateway, mock):
    gw = make_gateway(upstreams(mock) + "\nAIProxyClientKey sk-limited-001 rpm=3\n"
                      "AIProxyClientKey sk-other-0001")
    wait_for_fresh_minute()
    seen = []
    for i in range(3):
        st, hdrs, _ = post_json(gw.url(CHAT), chat("gpt-a"), bearer("sk-limited-001"))
        assert st == 200
        seen.append(hdrs["x-ratelimit-remaining-requests"])
        assert hdrs["x-ratelimit-limit-requests"] == "3"
        assert hdrs["x-ratelimit-reset-requests"].endswith("s")
    assert seen == ["2", "1", "0"]
    st, hdrs, body = post_json(gw.url(CHAT), chat("gpt-a"), bearer("sk-limited-001"))
    assert st == 429, body
    assert json.loads(body)["error"]["code"] == "rate_limit_exceeded"
    assert 1 <= int(hdrs["retry-after"]) <= 60
    assert hdrs["x-ratelimit-remaining-requests"] == "0"
    assert "x-ratelimit-limit-tokens" not in hdrs
    # other keys are not affected; the model list is not counted
    assert post_json(gw.url(CHAT), chat("gpt-a"), bearer("sk-other-0001"))[0] == 200
    assert get(gw.url("/v1/models"), bearer("sk-limited-001"))[0] == 200


def test_requests_counted_across_children(make_gateway, mock):
    """Concurrent requests land in several children; the limit holds for their sum."""
    from concurrent.futures import ThreadPoolExecutor
    gw = make_gateway(upstreams(mock) + "\nAIProxyClientKey sk-shared-001 rpm=10")
    wait_for_fresh_minute()
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(
            lambda _: post_json(gw.url(CHAT), chat("gpt-a", "x [mock:slow=200]"),
                                bearer("sk-shared-001"))[0], range(16)))
    assert statuses.count(200) == 10 and statuses.count(429) == 6


def test_tokens_per_minute(make_gateway, mock):
    gw = make_gateway(upstreams(mock) + "\nAIProxyClientKey sk-tokens-001 tpm=5")
    wait_for_fresh_minute()
    st, hdrs, body = post_json(gw.url(CHAT), chat("gpt-a"), bearer("sk-tokens-001"))
    assert st == 200 and hdrs["x-ratelimit-limit-tokens"] == "5"
    assert hdrs["x-ratelimit-remaining-tokens"] == "5"
    usage = json.loads(body)["usage"]
    assert usage["prompt_tokens"] + usage["completion_tokens"] >= 5
    time.sleep(0.3)  # the tokens are counted when the request is logged, after the answer
    st, hdrs, body = post_json(gw.url(CHAT), chat("gpt-a"), bearer("sk-tokens-001"))
    assert st == 429, body
    assert hdrs["x-ratelimit-remaining-tokens"] == "0" and b"tokens per minute" in body


@pytest.mark.parametrize("line, message", [
    ("AIProxyClientKey rpm=3", "needs a key before it"),
    ("AIProxyClientKey sk-key-000001 rpm=0", "whole number"),
    ("AIProxyClientKey sk-key-000001 tpm=x", "whole number"),
    ("AIProxyClientKey sk-key-000001\nAIProxyClientKey rpm=3", "needs a key before it"),
])
def test_bad_settings_are_refused(make_gateway, mock, line, message):
    from harness import HttpdError
    with pytest.raises(HttpdError, match=message):
        make_gateway(upstreams(mock) + "\n" + line)


def test_yaml_api_key_objects(make_gateway, mock, tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(f"""api-key:
  - plain-key-0001
  - key: scoped-key-0002
    models: [gpt-a]
    rpm: 2
upstreams:
  - name: u
    base_url: {mock.base_url('openai')}
    api_type: openai
    token: tok-u
    available_models: [gpt-a, gpt-b]
""")
    gw = make_gateway(f'AIProxyConfigFile "{path}"')
    wait_for_fresh_minute()
    assert post_json(gw.url(CHAT), chat("gpt-b"), bearer("plain-key-0001"))[0] == 200
    assert post_json(gw.url(CHAT), chat("gpt-b"), bearer("scoped-key-0002"))[0] == 404
    assert post_json(gw.url(CHAT), chat("gpt-a"), bearer("scoped-key-0002"))[0] == 200
    assert post_json(gw.url(CHAT), chat("gpt-a"), bearer("scoped-key-0002"))[0] == 429
