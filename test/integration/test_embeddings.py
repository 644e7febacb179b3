"""Embeddings on the gateway's request flow: POST /v1/embeddings (OpenAI clients) and Gemini's
:embedContent / :batchEmbedContents, served natively by upstreams of the client's protocol and
translated between OpenAI and Gemini; other upstream protocols answer 501 not_implemented in
the client's envelope. The mock's vectors depend only on text and size (harness.mock_vector)."""

import base64
import json
import struct

import pytest

from conftest import DEMO_MODELS
from harness import mock_vector, post_json, request

EMBED = "/v1/embeddings"


def from_base64(text):
    raw = base64.b64decode(text)
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


def openai_error(body):
    obj = json.loads(body)
    assert set(obj) == {"error"} and obj["error"]["type"], obj
    return obj["error"]


def gemini_error(body):
    obj = json.loads(body)
    assert set(obj) == {"error"} and obj["error"]["status"], obj
    return obj["error"]


def gemini_path(model, action):
    return f"/v1beta/models/{model}:{action}"


def gemini_content(text):
    return {"parts": [{"text": text}]}


# ---- OpenAI clients ----------------------------------------------------------------------------

def test_openai_upstream_gets_the_body_as_sent(gateway, mock):
    """Same protocol: the client's body with only the model mapped, every other member kept;
    the answer passes unchanged."""
    sent = {"model": DEMO_MODELS["openai"], "input": ["one", "two"], "dimensions": 4,
            "user": "u-1", "x_extra": {"kept": True}}
    mock.clear()
    status, headers, body = post_json(gateway.url(EMBED), sent)
    assert status == 200, body
    rec = mock.last()
    assert rec["path"] == "/v1/embeddings"
    assert rec["json"] == sent | {"model": "upstream-openai-model"}
    answer = json.loads(body)
    assert answer["object"] == "list"
    assert [d["embedding"] for d in answer["data"]] == [mock_vector("one", 4),
                                                        mock_vector("two", 4)]
    assert answer["usage"]["prompt_tokens"] == len(rec["body"]) // 4
    assert headers["x-aiproxy-upstream"] == "mock-openai"


def test_openai_base64_passes_to_openai_upstream(gateway, mock):
    status, _, body = post_json(gateway.url(EMBED), {"model": DEMO_MODELS["openai"],
                                                     "input": "hello", "encoding_format": "base64"})
    assert status == 200, body
    assert mock.last()["json"]["encoding_format"] == "base64"
    assert from_base64(json.loads(body)["data"][0]["embedding"]) == mock_vector("hello")


@pytest.mark.parametrize("inputs", ["a single text", ["first text", "second text", "third"]])
def test_openai_client_to_gemini_upstream(gateway, mock, inputs):
    """A string goes to :embedContent, an array to :batchEmbedContents (each request naming the
    URL's model); the vectors come back as OpenAI's list, in order."""
    mock.clear()
    status, headers, body = post_json(gateway.url(EMBED), {
        "model": DEMO_MODELS["gemini"], "input": inputs, "dimensions": 5})
    assert status == 200, body
    rec = mock.last()
    texts = [inputs] if isinstance(inputs, str) else inputs
    if isinstance(inputs, str):
        assert rec["path"] == gemini_path("upstream-gemini-model", "embedContent")
        assert rec["json"]["content"] == gemini_content(inputs)
        assert rec["json"]["outputDimensionality"] == 5
    else:
        assert rec["path"] == gemini_path("upstream-gemini-model", "batchEmbedContents")
        assert [r["content"] for r in rec["json"]["requests"]] == [gemini_content(t)
                                                                  for t in texts]
        assert {r["model"] for r in rec["json"]["requests"]} == {"models/upstream-gemini-model"}
        assert {r["outputDimensionality"] for r in rec["json"]["requests"]} == {5}
    answer = json.loads(body)
    assert answer["object"] == "list"
    assert answer["model"] == DEMO_MODELS["gemini"]
    assert [d["index"] for d in answer["data"]] == list(range(len(texts)))
    assert {d["object"] for d in answer["data"]} == {"embedding"}
    assert [d["embedding"] for d in answer["data"]] == [mock_vector(t, 5) for t in texts]
    # Gemini reports no usage for embeddings
    assert answer["usage"] == {"prompt_tokens": 0, "total_tokens": 0}
    assert headers["content-type"].startswith("application/json")


def test_openai_client_base64_from_gemini_upstream(gateway, mock):
    """encoding_format=base64 is written by the gateway when the upstream answers floats."""
    status, _, body = post_json(gateway.url(EMBED), {
        "model": DEMO_MODELS["gemini"], "input": ["x", "y"], "encoding_format": "base64"})
    assert status == 200, body
    assert "encoding_format" not in json.dumps(mock.last()["json"])
    data = json.loads(body)["data"]
    assert [from_base64(d["embedding"]) for d in data] == [mock_vector("x"), mock_vector("y")]


@pytest.mark.parametrize("proto", ["anthropic", "responses"])
def test_openai_client_no_embeddings_upstream(gateway, mock, proto):
    """An upstream protocol without embeddings: 501 not_implemented, nothing sent."""
    mock.clear()
    status, _, body = post_json(gateway.url(EMBED), {"model": DEMO_MODELS[proto], "input": "x"})
    assert status == 501, body
    err = openai_error(body)
    assert err["code"] == "not_implemented"
    assert "embeddings" in err["message"]
    assert mock.requests() == []


def test_unexpressible_upstream_is_skipped(make_gateway, mock):
    """A model served by an Anthropic and an OpenAI upstream: the Anthropic one cannot embed,
    so the OpenAI one serves even when it comes second."""
    gw = make_gateway("\n".join([
        f"AIProxyUpstream claude {mock.base_url('anthropic')} api=anthropic token=t models=m "
        "weight=100",
        f"AIProxyUpstream oai {mock.base_url('openai')} api=openai token=t models=m",
    ]))
    mock.clear()
    status, headers, body = post_json(gw.url(EMBED), {"model": "m", "input": "x"})
    assert status == 200, body
    assert headers["x-aiproxy-upstream"] == "oai"
    assert [r["upstream"] for r in mock.requests()] == ["openai"]


def test_embeddings_fail_over_before_the_first_byte(make_gateway, mock):
    """A dead upstream first: the next one (of another protocol) answers."""
    gw = make_gateway("\n".join([
        "AIProxyUpstream dead http://127.0.0.1:9 api=openai token=t models=m weight=100",
        f"AIProxyUpstream good {mock.base_url('gemini')} api=gemini token=t models=m",
    ]))
    mock.clear()
    status, headers, body = post_json(gw.url(EMBED), {"model": "m", "input": "x"})
    assert status == 200, body
    assert headers["x-aiproxy-upstream"] == "good"
    assert json.loads(body)["data"][0]["embedding"] == mock_vector("x")
    assert [r["upstream"] for r in mock.requests()] == ["gemini"]


def test_embeddings_upstream_error_in_openai_envelope(make_gateway, mock):
    gw = make_gateway(f"AIProxyUpstream g {mock.base_url('gemini')} api=gemini token=t models=m")
    status, _, body = post_json(gw.url(EMBED), {"model": "m", "input": "x [mock:status=429]"})
    assert status == 429
    assert "g answered 429" in openai_error(body)["message"]


def test_openai_bad_requests(gateway, mock):
    url = gateway.url(EMBED)
    status, _, body = post_json(url, {"model": DEMO_MODELS["openai"]})
    assert status == 400 and "input" in openai_error(body)["message"]
    status, _, body = post_json(url, {"model": DEMO_MODELS["openai"], "input": []})
    assert status == 400 and "input" in openai_error(body)["message"]
    status, _, body = post_json(url, {"model": DEMO_MODELS["openai"], "input": "x",
                                      "encoding_format": "hex"})
    assert status == 400 and "encoding_format" in openai_error(body)["message"]
    status, _, body = post_json(url, {"model": DEMO_MODELS["openai"], "input": "x",
                                      "dimensions": 0})
    assert status == 400 and "dimensions" in openai_error(body)["message"]
    status, _, body = post_json(url, {"input": "x"})
    assert status == 400 and "model" in openai_error(body)["message"]
    status, _, body = post_json(url, {"model": "no-such-model", "input": "x"})
    assert status == 404 and openai_error(body)["code"] == "model_not_found"
    status, headers, body = request("GET", url)
    assert status == 405 and headers["allow"] == "POST"


def test_token_arrays_only_to_openai_upstreams(gateway, mock):
    """Token ids pass to an OpenAI upstream; Gemini takes text only: a clear 400."""
    mock.clear()
    status, _, body = post_json(gateway.url(EMBED), {"model": DEMO_MODELS["openai"],
                                                     "input": [[1, 2, 3]]})
    # the mock itself refuses token arrays: what matters is that they reached it unchanged
    assert mock.last()["json"]["input"] == [[1, 2, 3]]
    mock.clear()
    status, _, body = post_json(gateway.url(EMBED), {"model": DEMO_MODELS["gemini"],
                                                     "input": [1, 2, 3]})
    assert status == 400, body
    assert "token" in openai_error(body)["message"]
    assert mock.requests() == []


# ---- Gemini clients ----------------------------------------------------------------------------

def test_gemini_client_to_gemini_upstream(gateway, mock):
    """Native: the body passes with the model of the URL mapped (and every batch request's)."""
    sent = {"content": gemini_content("native"), "taskType": "RETRIEVAL_QUERY",
            "outputDimensionality": 3}
    mock.clear()
    status, _, body = post_json(gateway.url(gemini_path(DEMO_MODELS["gemini"], "embedContent")),
                                sent)
    assert status == 200, body
    rec = mock.last()
    assert rec["path"] == gemini_path("upstream-gemini-model", "embedContent")
    assert rec["json"] == sent
    assert json.loads(body) == {"embedding": {"values": mock_vector("native", 3)}}

    batch = {"requests": [{"model": f"models/{DEMO_MODELS['gemini']}",
                           "content": gemini_content(t), "taskType": "CLUSTERING"}
                          for t in ("a", "b")]}
    status, _, body = post_json(
        gateway.url(gemini_path(DEMO_MODELS["gemini"], "batchEmbedContents")), batch)
    assert status == 200, body
    rec = mock.last()
    assert rec["path"] == gemini_path("upstream-gemini-model", "batchEmbedContents")
    assert [r["model"] for r in rec["json"]["requests"]] == ["models/upstream-gemini-model"] * 2
    assert [r["taskType"] for r in rec["json"]["requests"]] == ["CLUSTERING"] * 2
    assert json.loads(body) == {"embeddings": [{"values": mock_vector("a")},
                                               {"values": mock_vector("b")}]}


def test_gemini_client_to_openai_upstream(gateway, mock):
    model = DEMO_MODELS["openai"]
    mock.clear()
    status, _, body = post_json(gateway.url(gemini_path(model, "embedContent")),
                                {"content": {"parts": [{"text": "part one"},
                                                       {"text": "part two"}]},
                                 "outputDimensionality": 6})
    assert status == 200, body
    rec = mock.last()
    assert rec["path"] == "/v1/embeddings"
    assert rec["json"] == {"model": "upstream-openai-model", "input": "part one\npart two",
                           "dimensions": 6}
    assert json.loads(body) == {"embedding": {"values": mock_vector("part one\npart two", 6)}}

    status, _, body = post_json(gateway.url(gemini_path(model, "batchEmbedContents")),
                                {"requests": [{"model": f"models/{model}",
                                               "content": gemini_content(t)}
                                              for t in ("x", "y", "z")]})
    assert status == 200, body
    assert mock.last()["json"] == {"model": "upstream-openai-model", "input": ["x", "y", "z"]}
    assert json.loads(body) == {"embeddings": [{"values": mock_vector(t)} for t in "xyz"]}


@pytest.mark.parametrize("proto", ["anthropic", "responses"])
def test_gemini_client_no_embeddings_upstream(gateway, mock, proto):
    mock.clear()
    status, _, body = post_json(gateway.url(gemini_path(DEMO_MODELS[proto], "embedContent")),
                                {"content": gemini_content("x")})
    assert status == 501, body
    err = gemini_error(body)
    assert err["code"] == 501 and err["status"] == "UNIMPLEMENTED"
    assert mock.requests() == []


def test_gemini_bad_requests(gateway, mock):
    url = gateway.url(gemini_path(DEMO_MODELS["openai"], "embedContent"))
    status, _, body = post_json(url, {"contents": [gemini_content("x")]})
    assert status == 400 and "content" in gemini_error(body)["message"]
    batch = gateway.url(gemini_path(DEMO_MODELS["openai"], "batchEmbedContents"))
    status, _, body = post_json(batch, {"requests": []})
    assert status == 400 and "requests" in gemini_error(body)["message"]
    status, _, body = post_json(batch, {"requests": [{"model": "x"}]})
    assert status == 400 and "content" in gemini_error(body)["message"]
    # only text can be embedded through another protocol
    mock.clear()
    status, _, body = post_json(url, {"content": {"parts": [
        {"inlineData": {"mimeType": "image/png", "data": "AAAA"}}]}})
    assert status == 400 and "text" in gemini_error(body)["message"]
    assert mock.requests() == []
    status, _, body = post_json(gateway.url(gemini_path("no-such-model", "embedContent")),
                                {"content": gemini_content("x")})
    assert status == 404 and gemini_error(body)["status"] == "NOT_FOUND"


@pytest.mark.parametrize("client", ["openai", "gemini"])
def test_embedding_tokens_count_against_the_key(make_gateway, mock, client):
    """The upstream's input token count (passed through, or read from a translated answer)
    counts against the client key's tokens per minute."""
    gw = make_gateway(f"AIProxyUpstream u {mock.base_url('openai')} api=openai token=t "
                      "models=emb\nAIProxyClientKey sk-embed-tokens tpm=5")
    if client == "openai":
        url, body = gw.url(EMBED), {"model": "emb", "input": "count these tokens please"}
        headers = {"Authorization": "Bearer sk-embed-tokens"}
    else:
        url = gw.url(gemini_path("emb", "embedContent"))
        body = {"content": gemini_content("count these tokens please")}
        headers = {"x-goog-api-key": "sk-embed-tokens"}
    status, _, payload = post_json(url, body, headers)
    assert status == 200, payload
    assert mock.last()["json"]["input"] == "count these tokens please"
    # the tokens are counted when the request is logged, just after the answer
    for _ in range(50):
        status, headers_got, payload = post_json(url, body, headers)
        if status == 429:
            break
    assert status == 429, payload
    assert b"tokens per minute" in payload


# ---- faults: embeddings fail over before any byte reaches the client ---------------------------

FAULTS = ["reset", "silent", "status-503", "garbage", "short", "gzip-cut"]
# (client protocol, upstream protocol): passed through and translated both ways
PAIRS = [("openai", "openai"), ("openai", "gemini"), ("gemini", "openai"),
         ("gemini", "gemini")]


@pytest.fixture(scope="module")
def faults():
    from fault_upstream import FaultUpstream
    server = FaultUpstream().start()
    yield server
    server.stop()


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("client,upstream", PAIRS)
def test_fault_fails_over(make_gateway, mock, faults, client, upstream, fault):
    """An upstream that breaks, stalls, or answers garbage or half a body: the next upstream's
    vectors, and with nothing left the client's own error envelope."""
    gw = make_gateway("\n".join([
        f"AIProxyUpstream fault {faults.base_url()} api={upstream} token=f models=m "
        "weight=100 timeout=1",
        f"AIProxyUpstream solo {faults.base_url()} api={upstream} token=s models=solo timeout=1",
        f"AIProxyUpstream healthy {mock.base_url(upstream)} api={upstream} token=h models=m",
    ]))
    text = f"embed me [fault:{fault}]"

    def ask(model):
        if client == "openai":
            return post_json(gw.url(EMBED), {"model": model, "input": text}, timeout=15)
        return post_json(gw.url(gemini_path(model, "embedContent")),
                         {"content": gemini_content(text)}, timeout=15)

    status, headers, body = ask("m")
    assert status == 200, body
    assert headers["x-aiproxy-upstream"] == "healthy"
    answer = json.loads(body)
    vector = (answer["data"][0]["embedding"] if client == "openai"
              else answer["embedding"]["values"])
    assert vector == mock_vector(text)
    status, headers, body = ask("solo")
    assert status >= 500, body
    assert headers["content-type"].startswith("application/json")
    (openai_error if client == "openai" else gemini_error)(body)
