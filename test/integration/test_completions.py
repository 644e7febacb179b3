"""Legacy text completions (POST /v1/completions) on the gateway's request flow: native on
OpenAI upstreams (the body passes with only the model mapped), through the IR for every other
protocol (the prompt as one user turn; the answer as text_completion objects or chunks)."""

import json

import pytest

from conftest import DEMO_MODELS
from harness import post_json, request, stream_sse

COMPLETIONS = "/v1/completions"

# Where each upstream protocol generates, and how the prompt reaches it as one user turn.
GENERATE_PATHS = {
    "anthropic": "/v1/messages",
    "responses": "/v1/responses",
    "gemini": "/v1beta/models/upstream-gemini-model:generateContent",
}


def user_turns(proto, sent):
    """The user texts of a generation request as the upstream got it."""
    if proto == "anthropic":
        return [m["content"] if isinstance(m["content"], str)
                else "".join(b["text"] for b in m["content"]) for m in sent["messages"]]
    if proto == "responses":
        items = sent["input"] if isinstance(sent["input"], list) else [sent["input"]]
        texts = []
        for item in items:
            content = item["content"] if isinstance(item, dict) else item
            texts.append(content if isinstance(content, str)
                         else "".join(part["text"] for part in content))
        return texts
    return ["".join(p["text"] for p in c["parts"]) for c in sent["contents"]]


def openai_error(body):
    obj = json.loads(body)
    assert set(obj) == {"error"} and obj["error"]["type"], obj
    return obj["error"]


def completion(body):
    obj = json.loads(body)
    assert obj["object"] == "text_completion", obj
    assert obj["id"].startswith("cmpl-")
    assert isinstance(obj["created"], int)
    return obj


def stream_completion(url, sent):
    """POST a stream request -> (chunks, raw events)."""
    with stream_sse(url, sent) as s:
        assert s.status == 200
        assert s.headers["content-type"].startswith("text/event-stream")
        events = s.events()
        assert not s.truncated
    assert events[-1] == (None, "[DONE]")
    chunks = [json.loads(data) for _, data in events[:-1]]
    for c in chunks:
        assert c["object"] == "text_completion", c
    return chunks


# ---- OpenAI upstreams: native --------------------------------------------------------------------

def test_openai_upstream_native_json(gateway, mock):
    sent = {"model": DEMO_MODELS["openai"], "prompt": ["first", "second"], "max_tokens": 7,
            "echo": False, "suffix": "!", "logprobs": None, "x_extra": 1}
    mock.clear()
    status, headers, body = post_json(gateway.url(COMPLETIONS), sent)
    assert status == 200, body
    rec = mock.last()
    assert rec["path"] == "/v1/completions"
    assert rec["json"] == sent | {"model": "upstream-openai-model"}
    answer = completion(body)
    # the upstream's own answer: one choice per prompt
    assert [c["text"] for c in answer["choices"]] == ["echo: first", "echo: second"]
    assert answer["usage"]["prompt_tokens"] == len(rec["body"]) // 4
    assert headers["x-aiproxy-upstream"] == "mock-openai"


def test_openai_upstream_native_stream(gateway, mock):
    sent = {"model": DEMO_MODELS["openai"], "prompt": "streamed", "stream": True,
            "stream_options": {"include_usage": True}}
    mock.clear()
    chunks = stream_completion(gateway.url(COMPLETIONS), sent)
    assert mock.last()["json"] == sent | {"model": "upstream-openai-model"}
    assert "".join(c["choices"][0]["text"] for c in chunks if c["choices"]) == "echo: streamed"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 3


# ---- other protocols: through the IR -----------------------------------------------------------

@pytest.mark.parametrize("proto", sorted(GENERATE_PATHS))
@pytest.mark.parametrize("prompt", ["say hi", ["say hi"]])
def test_translated_json(gateway, mock, proto, prompt):
    mock.clear()
    status, headers, body = post_json(gateway.url(COMPLETIONS), {
        "model": DEMO_MODELS[proto], "prompt": prompt, "max_tokens": 50, "temperature": 0.5})
    assert status == 200, body
    rec = mock.last()
    assert rec["path"] == GENERATE_PATHS[proto]
    assert user_turns(proto, rec["json"]) == ["say hi"]
    if proto == "anthropic":
        assert rec["json"]["max_tokens"] == 50 and rec["json"]["temperature"] == 0.5
    answer = completion(body)
    assert answer["model"] == DEMO_MODELS[proto]
    assert len(answer["choices"]) == 1
    choice = answer["choices"][0]
    assert choice["text"] == "echo: say hi"
    assert choice["index"] == 0 and choice["finish_reason"] == "stop"
    assert "logprobs" in choice and choice["logprobs"] is None
    usage = answer["usage"]
    assert usage["prompt_tokens"] == len(rec["body"]) // 4
    assert usage["completion_tokens"] == 3
    assert usage["total_tokens"] == usage["prompt_tokens"] + 3
    assert headers["content-type"].startswith("application/json")


@pytest.mark.parametrize("proto", sorted(GENERATE_PATHS))
@pytest.mark.parametrize("include_usage", [False, True])
def test_translated_stream(gateway, mock, proto, include_usage):
    sent = {"model": DEMO_MODELS[proto], "prompt": "stream me", "stream": True}
    if include_usage:
        sent["stream_options"] = {"include_usage": True}
    mock.clear()
    chunks = stream_completion(gateway.url(COMPLETIONS), sent)
    rec = mock.last()
    assert rec["path"].startswith(GENERATE_PATHS[proto].replace(":generateContent", ":stream"))
    assert user_turns(proto, rec["json"]) == ["stream me"]
    if proto == "anthropic":  # no max_tokens given: the legacy API's default of 16
        assert rec["json"]["max_tokens"] == 16
    text_chunks = [c for c in chunks if c["choices"]]
    assert "".join(c["choices"][0]["text"] for c in text_chunks) == "echo: stream me"
    assert len(text_chunks) >= 3  # the deltas arrive as they come, not as one piece
    finishes = [c["choices"][0]["finish_reason"] for c in text_chunks]
    assert finishes[-1] == "stop" and set(finishes[:-1]) == {None}
    assert len({c["id"] for c in chunks}) == 1
    assert {c["model"] for c in chunks} == {DEMO_MODELS[proto]}
    if include_usage:
        assert chunks[-1]["choices"] == []
        assert chunks[-1]["usage"]["completion_tokens"] == 3
        assert chunks[-1]["usage"]["prompt_tokens"] > 0
    else:
        assert all(c["choices"] for c in chunks)


def test_translated_refusals(gateway, mock):
    """What only an OpenAI upstream can do is refused clearly, never silently dropped."""
    url = gateway.url(COMPLETIONS)
    model = DEMO_MODELS["anthropic"]
    cases = [
        ({"prompt": [1, 2, 3]}, "token ids"),
        ({"prompt": [[1, 2], [3]]}, "token ids"),
        ({"prompt": ["one", "two"]}, "several prompts"),
        ({"prompt": "x", "echo": True}, "echo"),
        ({"prompt": "x", "suffix": "tail"}, "suffix"),
        ({"prompt": "x", "n": 2}, "'n'"),
        ({"prompt": "x", "best_of": 3}, "best_of"),
        ({"prompt": "x", "logprobs": 2}, "logprobs"),
        ({"prompt": "x", "logit_bias": {"50256": -100}}, "logit_bias"),
    ]
    mock.clear()
    for extra, word in cases:
        status, _, body = post_json(url, {"model": model} | extra)
        assert status == 400, (extra, body)
        assert word in openai_error(body)["message"], (extra, body)
    assert mock.requests() == []
    # defaults that ask for nothing pass
    status, _, body = post_json(url, {"model": model, "prompt": "x", "echo": False, "n": 1,
                                      "suffix": "", "logprobs": None, "best_of": 1})
    assert status == 200, body


def test_bad_requests(gateway):
    url = gateway.url(COMPLETIONS)
    status, _, body = post_json(url, {"model": DEMO_MODELS["openai"]})
    assert status == 400 and "prompt" in openai_error(body)["message"]
    for prompt in (5, [], None):
        status, _, body = post_json(url, {"model": DEMO_MODELS["openai"], "prompt": prompt})
        assert status == 400 and "prompt" in openai_error(body)["message"], body
    status, _, body = post_json(url, {"model": DEMO_MODELS["openai"], "prompt": "x",
                                      "stream": "yes"})
    assert status == 400 and "stream" in openai_error(body)["message"]
    status, _, body = post_json(url, {"model": "no-such-model", "prompt": "x"})
    assert status == 404 and openai_error(body)["code"] == "model_not_found"
    status, headers, body = request("GET", url)
    assert status == 405 and headers["allow"] == "POST"


def test_stream_fails_over_before_the_first_byte(make_gateway, mock):
    gw = make_gateway("\n".join([
        "AIProxyUpstream dead http://127.0.0.1:9 api=openai token=t models=m weight=100",
        f"AIProxyUpstream good {mock.base_url('anthropic')} api=anthropic token=t models=m",
    ]))
    with stream_sse(gw.url(COMPLETIONS), {"model": "m", "prompt": "hi", "stream": True}) as s:
        assert s.status == 200
        assert s.headers["x-aiproxy-upstream"] == "good"
        events = s.events()
    assert events[-1] == (None, "[DONE]")
    assert "".join(json.loads(d)["choices"][0]["text"] for _, d in events[:-1]) == "echo: hi"


@pytest.mark.parametrize("proto", ["openai", "gemini"])
def test_upstream_error_in_openai_envelope(make_gateway, mock, proto):
    gw = make_gateway(f"AIProxyUpstream u {mock.base_url(proto)} api={proto} token=t models=m")
    status, _, body = post_json(gw.url(COMPLETIONS), {"model": "m",
                                                      "prompt": "x [mock:status=503]"})
    assert status == 503
    assert "u answered 503" in openai_error(body)["message"]


# frames the mock sends before it cuts: two text deltas in (openai: text chunks; anthropic:
# message_start, ping, content_block_start, a delta)
@pytest.mark.parametrize("upstream,cut", [("openai", 2), ("anthropic", 4)])
def test_stream_broken_after_first_byte_ends_with_error(make_gateway, mock, upstream, cut):
    """Once committed, a cut upstream stream (passed through or translated) ends with an
    OpenAI error event, no [DONE]."""
    gw = make_gateway(f"AIProxyUpstream u {mock.base_url(upstream)} api={upstream} token=t "
                      "models=m")
    with stream_sse(gw.url(COMPLETIONS), {"model": "m", "prompt": f"x [mock:cut={cut}]",
                                          "stream": True}) as s:
        assert s.status == 200
        events = s.events()
    assert (None, "[DONE]") not in events
    assert "error" in json.loads(events[-1][1])


# ---- faults: a completion fails over before any byte reaches the client ----------------------

@pytest.fixture(scope="module")
def faults():
    from fault_upstream import FaultUpstream
    server = FaultUpstream().start()
    yield server
    server.stop()


@pytest.mark.parametrize("fault", ["reset", "silent", "status-503", "garbage", "short",
                                   "zstd-cut"])
@pytest.mark.parametrize("upstream", ["openai", "anthropic"])
def test_fault_fails_over(make_gateway, mock, faults, upstream, fault):
    """Native (openai) and translated (anthropic): the healthy upstream's completion, and with
    nothing left an OpenAI error envelope."""
    gw = make_gateway("\n".join([
        f"AIProxyUpstream fault {faults.base_url()} api={upstream} token=f models=m "
        "weight=100 timeout=1",
        f"AIProxyUpstream solo {faults.base_url()} api={upstream} token=s models=solo timeout=1",
        f"AIProxyUpstream healthy {mock.base_url(upstream)} api={upstream} token=h models=m",
    ]))
    prompt = f"complete me [fault:{fault}]"
    status, headers, body = post_json(gw.url(COMPLETIONS), {"model": "m", "prompt": prompt},
                                      timeout=15)
    assert status == 200, body
    assert headers["x-aiproxy-upstream"] == "healthy"
    assert completion(body)["choices"][0]["text"] == f"echo: {prompt}"
    status, headers, body = post_json(gw.url(COMPLETIONS), {"model": "solo", "prompt": prompt},
                                      timeout=15)
    assert status >= 500, body
    assert openai_error(body)
