"""The forwarded routes (images, audio, rerank) and /passthrough/{upstream}/{rest}, against the
mock upstream: bodies forwarded unchanged but for the model (JSON, or the multipart `model`
field), answers passed through (speech streamed as it comes), failover on 5xx before the first
byte for routed requests, and the passthrough's answers, errors included, returned as they
are."""

import base64
import json
import uuid

import pytest

from conftest import ensure_built, GATEWAY_MODULES
from harness import MockUpstream, compress, decompress, get, post_json, request, stream_chunks, stream_sse

MOCK_NAMES = ["openai", "backup", "broken", "cohere", "jina"]
TOKENS = {name: f"key-{name}" for name in MOCK_NAMES}


@pytest.fixture(scope="module")
def fmock():
    ensure_built("mod_aiproxy_mock.so")
    upstream = MockUpstream(names=MOCK_NAMES, scenarios={"broken": "[mock:status=503]"})
    upstream.start()
    yield upstream
    upstream.stop()
    upstream.cleanup()


def upstream(fmock, name, api, models, extra=""):
    return (f"AIProxyUpstream {name} {fmock.base_url(name)} api={api} token={TOKENS[name]} "
            f"models={models} {extra}")


@pytest.fixture(scope="module")
def gw(fmock):
    from conftest import Gateway
    ensure_built(*GATEWAY_MODULES)
    gateway = Gateway("\n".join([
        upstream(fmock, "openai", "openai",
                 "gpt-image-1,whisper-1,tts-1,oa-rerank,gpt-chat",
                 "map=whisper-1=whisper-large-upstream map=tts-1=tts-1"),
        upstream(fmock, "cohere", "cohere", "rerank-v3.5"),
        upstream(fmock, "jina", "jina", "jina-reranker-v2"),
        # failover: the broken upstream first (heavier), the backup after it
        upstream(fmock, "broken", "openai", "fo-image,fo-whisper,fo-speech,fo-rerank",
                 "weight=100"),
        upstream(fmock, "backup", "openai", "fo-image,fo-whisper,fo-speech,fo-rerank",
                 "weight=1"),
    ]))
    gateway.start()
    yield gateway
    gateway.stop()
    gateway.cleanup()


def multipart(fields, files=(), boundary=None):
    """A multipart/form-data body as the OpenAI SDK sends it -> (bytes, content type)."""
    boundary = boundary or f"----aiproxytest{uuid.uuid4().hex}"
    out = bytearray()
    for name, value in fields:
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n"
                f"{value}\r\n").encode()
    for name, filename, ctype, data in files:
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; "
                f"filename=\"{filename}\"\r\nContent-Type: {ctype}\r\n\r\n").encode()
        out += data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


# Audio bytes holding what a careless scanner would stumble on: CRLFs, dashes, NULs.
AUDIO = b"RIFF\x00\x01\r\n--\r\n--fake\r\n\r\n" + bytes(range(256)) * 64


def sent_body(rec):
    """The body an upstream received, its Content-Encoding undone (the gateway compresses
    request bodies on the upstream leg, uploads too)."""
    raw = base64.b64decode(rec["body_b64"])
    coding = rec.get("content_encoding")
    return decompress(raw, coding) if coding else raw


def openai_error(body):
    err = json.loads(body)["error"]
    assert set(err) >= {"message", "type"}, err
    return err


# ---- images -----------------------------------------------------------------------------------


def test_images_generations_forwarded(gw, fmock):
    fmock.clear()
    raw = json.dumps({"model": "gpt-image-1", "prompt": "a red fox", "n": 1, "size": "1024x1024",
                      "x_unknown": {"kept": True}})
    status, headers, body = request("POST", gw.url("/v1/images/generations"), raw,
                                    {"Authorization": "Bearer client-key"})
    assert status == 200, body
    answer = json.loads(body)
    assert base64.b64decode(answer["data"][0]["b64_json"]) == b"mock image: a red fox"
    rec = fmock.last()
    assert rec["upstream"] == "openai" and rec["path"] == "/v1/images/generations"
    assert rec["body"] == raw  # same model: the client's bytes
    assert rec["headers"]["authorization"] == "Bearer key-openai"
    assert headers["x-aiproxy-upstream"] == "openai"


def test_images_edits_multipart(gw, fmock):
    fmock.clear()
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
    body, ctype = multipart([("prompt", "add a hat"), ("model", "gpt-image-1")],
                            [("image", "fox.png", "image/png", png)])
    status, _, answer = request("POST", gw.url("/v1/images/edits"), body,
                                {"Content-Type": ctype})
    assert status == 200, answer
    item = json.loads(answer)["data"][0]
    assert item["edited_file"] == "fox.png" and item["edited_bytes"] == len(png)
    rec = fmock.last()
    assert rec["path"] == "/v1/images/edits"
    assert rec["headers"]["content-type"] == ctype
    assert sent_body(rec) == body
    assert rec["content_encoding"] == "zstd"  # compression applies to uploads too


# ---- audio ------------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ["transcriptions", "translations"])
def test_audio_upload_model_mapped_in_place(gw, fmock, route):
    """The multipart model is mapped by rewriting only its field's bytes."""
    fmock.clear()
    body, ctype = multipart([("model", "whisper-1"), ("language", "en")],
                            [("file", "speech.wav", "audio/wav", AUDIO)])
    status, headers, answer = request("POST", gw.url(f"/v1/audio/{route}"), body,
                                      {"Content-Type": ctype})
    assert status == 200, answer
    got = json.loads(answer)
    assert got["model"] == "whisper-large-upstream"  # the mock echoes the model it read
    assert got["file_bytes"] == len(AUDIO)
    rec = fmock.last()
    assert rec["path"] == f"/v1/audio/{route}"
    assert sent_body(rec) == body.replace(
        b"\r\n\r\nwhisper-1\r\n", b"\r\n\r\nwhisper-large-upstream\r\n")
    assert headers["content-type"].startswith("application/json")


def test_audio_speech_streams_binary(gw, fmock):
    """The speech answer is binary and leaves as it arrives: with the mock pausing between its
    frames, the first bytes reach the client long before the last."""
    fmock.clear()
    with stream_chunks(gw.url("/v1/audio/speech"),
                       {"model": "tts-1", "input": "hello [mock:slow=400]",
                        "voice": "alloy"}) as s:
        assert s.status == 200
        assert s.headers["content-type"] == "audio/mpeg"
        assert s.headers.get("x-accel-buffering") == "no"
        assert "content-length" not in s.headers
        chunks = list(s)
    data = b"".join(c for _, c in chunks)
    expected = b"".join(bytes((i + f * 7) & 0xff for i in range(2048)) for f in range(4))
    assert data == expected
    assert chunks[-1][0] - chunks[0][0] > 0.8  # 3 pauses of 0.4 s after the first frame
    assert fmock.last()["path"] == "/v1/audio/speech"


def test_audio_upload_errors(gw):
    body, ctype = multipart([("language", "en")], [("file", "a.wav", "audio/wav", AUDIO)])
    status, _, answer = request("POST", gw.url("/v1/audio/transcriptions"), body,
                                {"Content-Type": ctype})
    assert status == 400 and "'model' is required" in openai_error(answer)["message"]
    status, _, answer = request("POST", gw.url("/v1/audio/transcriptions"), body[:-10],
                                {"Content-Type": ctype})
    assert status == 400 and "not well-formed" in openai_error(answer)["message"]
    status, _, answer = post_json(gw.url("/v1/audio/transcriptions"), {"model": "whisper-1"})
    assert status == 415, answer
    openai_error(answer)
    body, ctype = multipart([("model", "nobody-serves-this")],
                            [("file", "a.wav", "audio/wav", AUDIO)])
    status, _, answer = request("POST", gw.url("/v1/audio/transcriptions"), body,
                                {"Content-Type": ctype})
    assert status == 404 and openai_error(answer)["code"] == "model_not_found"
    status, headers, answer = get(gw.url("/v1/audio/speech"))
    assert status == 405 and headers["allow"] == "POST"


def test_upload_size_bounded(make_gateway, fmock):
    gw = make_gateway(upstream(fmock, "openai", "openai", "whisper-1") +
                      "\nAIProxyMaxBodySize 4096")
    body, ctype = multipart([("model", "whisper-1")], [("file", "a.wav", "audio/wav", AUDIO)])
    status, _, answer = request("POST", gw.url("/v1/audio/transcriptions"), body,
                                {"Content-Type": ctype})
    assert status == 413, answer
    assert "AIProxyMaxBodySize" in openai_error(answer)["message"]


# ---- rerank -----------------------------------------------------------------------------------


@pytest.mark.parametrize("model,name,path", [
    ("rerank-v3.5", "cohere", "/v2/rerank"),
    ("jina-reranker-v2", "jina", "/v1/rerank"),
    ("oa-rerank", "openai", "/v1/rerank"),
])
def test_rerank_per_api_type(gw, fmock, model, name, path):
    fmock.clear()
    status, _, body = post_json(gw.url("/v1/rerank"), {
        "model": model, "query": "capital of France", "documents": ["Paris", "Berlin", "Rome"],
        "top_n": 2})
    assert status == 200, body
    answer = json.loads(body)
    assert [r["index"] for r in answer["results"]] == [0, 1, 2]
    rec = fmock.last()
    assert (rec["upstream"], rec["path"]) == (name, path)
    assert rec["headers"]["authorization"] == f"Bearer {TOKENS[name]}"
    assert rec["json"]["top_n"] == 2


def test_rerank_only_api_types_refuse_chat(gw):
    status, _, body = post_json(gw.url("/v1/chat/completions"), {
        "model": "rerank-v3.5", "messages": [{"role": "user", "content": "hi"}]})
    assert status == 400, body
    assert "serves only /v1/rerank" in openai_error(body)["message"]


# ---- failover ---------------------------------------------------------------------------------


def test_failover_on_5xx_json_route(gw, fmock):
    fmock.clear()
    status, headers, body = post_json(gw.url("/v1/images/generations"),
                                      {"model": "fo-image", "prompt": "x"})
    assert status == 200, body
    assert [r["upstream"] for r in fmock.requests()] == ["broken", "backup"]
    assert headers["x-aiproxy-upstream"] == "backup"


def test_failover_on_5xx_multipart_route(gw, fmock):
    """Both attempts send the same upload: the body was read once and replayed."""
    fmock.clear()
    body, ctype = multipart([("model", "fo-whisper")], [("file", "a.wav", "audio/wav", AUDIO)])
    status, _, answer = request("POST", gw.url("/v1/audio/transcriptions"), body,
                                {"Content-Type": ctype})
    assert status == 200, answer
    recs = fmock.requests()
    assert [r["upstream"] for r in recs] == ["broken", "backup"]
    assert all(sent_body(r) == body for r in recs)


def test_failover_speech_and_rerank(gw, fmock):
    fmock.clear()
    with stream_chunks(gw.url("/v1/audio/speech"), {"model": "fo-speech", "input": "x"}) as s:
        assert s.status == 200
        assert len(b"".join(c for _, c in s)) == 4 * 2048
    status, _, body = post_json(gw.url("/v1/rerank"),
                                {"model": "fo-rerank", "query": "q", "documents": ["a"]})
    assert status == 200, body
    assert [r["upstream"] for r in fmock.requests()] == ["broken", "backup"] * 2


def test_all_upstreams_failing_gives_the_last_status(make_gateway, fmock):
    gw = make_gateway(upstream(fmock, "broken", "openai", "m"))
    status, _, body = post_json(gw.url("/v1/images/generations"), {"model": "m", "prompt": "x"})
    assert status == 503, body
    openai_error(body)


# ---- passthrough ------------------------------------------------------------------------------


def test_passthrough_get_with_query_and_own_credentials(gw, fmock):
    fmock.clear()
    status, headers, body = get(gw.url("/passthrough/jina/v1/models?limit=2&after=x"),
                                {"Authorization": "Bearer client-key", "X-Custom": "kept"})
    assert status == 200, body
    assert json.loads(body)["object"] == "list"
    rec = fmock.last()
    assert rec["upstream"] == "jina" and rec["method"] == "GET"
    assert rec["path"] == "/v1/models" and rec["query"] == "limit=2&after=x"
    assert rec["headers"]["authorization"] == "Bearer key-jina"
    assert rec["headers"]["x-custom"] == "kept"


def test_passthrough_keeps_the_client_key_out_of_the_query(gw, fmock):
    """A Gemini-style ?key= is the client's credential for the gateway: it goes to no
    provider, in any spelling, and the rest of the query goes on unchanged."""
    for query, kept in (("key=client-key&limit=2", "limit=2"), ("k%65y=client-key", None),
                        ("a=1&key=client-key&b=2", "a=1&b=2")):
        fmock.clear()
        status, _, body = get(gw.url(f"/passthrough/jina/v1/models?{query}"))
        assert status == 200, body
        rec = fmock.last()
        assert rec["query"] == kept, (query, rec["query"])
        assert "client-key" not in json.dumps(rec)


def test_passthrough_errors_unchanged(gw, fmock):
    """The one route whose upstream errors reach the client as they are: no failover, no
    re-enveloping."""
    fmock.clear()
    raw = json.dumps({"model": "anything-at-all",
                      "messages": [{"role": "user", "content": "[mock:status=429]"}]})
    status, headers, body = request("POST", gw.url("/passthrough/openai/v1/chat/completions"),
                                    raw)
    assert status == 429
    err = json.loads(body)["error"]
    assert err["type"] == "requests" and err["code"] == "rate_limit_exceeded"
    rec = fmock.last()
    assert rec["body"] == raw and len(fmock.requests()) == 1
    # an unknown path on the upstream: its own 404 body
    status, _, body = post_json(gw.url("/passthrough/openai/v9/nothing"), {"a": 1})
    assert status == 404 and json.loads(body)["error"]["type"] == "not_found_error"


def test_passthrough_stream_is_live(gw, fmock):
    with stream_sse(gw.url("/passthrough/openai/v1/chat/completions"), {
            "model": "m", "stream": True,
            "messages": [{"role": "user", "content": "hi [mock:slow=300]"}]}) as s:
        assert s.status == 200
        assert s.headers["content-type"].startswith("text/event-stream")
        events = list(s)
    assert events[-1][2] == "[DONE]"
    assert events[-1][0] - events[0][0] > 0.6  # events arrived one by one, not at the end
    text = "".join(json.loads(d)["choices"][0]["delta"].get("content") or ""
                   for _, _, d in events[:-1] if json.loads(d)["choices"])
    assert text == "echo: hi [mock:slow=300]"


def test_passthrough_refusals(gw, fmock):
    fmock.clear()
    status, _, body = get(gw.url("/passthrough/nosuch/v1/models"))
    assert status == 404 and openai_error(body)["code"] == "unknown_upstream"
    for path in ["/passthrough/openai/%2e%2e/admin", "/passthrough/openai/v1/a%0d%0aX:%201",
                 "/passthrough/openai/.%2e/x", "/passthrough/openai/a%255c",
                 "/passthrough/openai/v1/a%5cb", "/passthrough/openai/../x"]:
        status, _, body = get(gw.url(path))
        assert status == 400, (path, status, body)
        assert "must not hold" in openai_error(body)["message"]
    # an encoded slash: httpd itself refuses it (AllowEncodedSlashes Off)
    status, _, _ = get(gw.url("/passthrough/openai/a%2fb"))
    assert status == 404
    assert fmock.requests() == []


def test_passthrough_needs_the_client_key(make_gateway, fmock):
    gw = make_gateway(upstream(fmock, "openai", "openai", "m") + "\nAIProxyClientKey sk-client-1")
    status, headers, body = get(gw.url("/passthrough/openai/v1/models"))
    assert status == 401, body
    fmock.clear()
    status, _, body = get(gw.url("/passthrough/openai/v1/models"),
                          {"Authorization": "Bearer sk-client-1"})
    assert status == 200, body
    assert fmock.last()["headers"]["authorization"] == "Bearer key-openai"


def test_passthrough_unreachable_or_disabled_upstream(make_gateway, fmock):
    gw = make_gateway("\n".join([
        "AIProxyUpstream dead http://127.0.0.1:9 api=openai token=t models=m",
        upstream(fmock, "openai", "openai", "m", "enabled=off"),
    ]))
    status, _, body = get(gw.url("/passthrough/dead/v1/models"))
    assert status in (502, 503), body
    openai_error(body)
    fmock.clear()
    status, _, body = get(gw.url("/passthrough/openai/v1/models"))
    assert status == 503 and "out of service" in openai_error(body)["message"]
    assert fmock.requests() == []


def test_passthrough_client_body_coding_undone(gw, fmock):
    """A gzip body from the client is decoded once; the upstream gets the plain bytes (a small
    body is not coded again), never a stale Content-Encoding."""
    fmock.clear()
    raw = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).encode()
    status, _, body = request("POST", gw.url("/passthrough/openai/v1/chat/completions"),
                              compress(raw, "gzip"),
                              {"Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert status == 200, body
    rec = fmock.last()
    assert rec["content_encoding"] is None and "content-encoding" not in rec["headers"]
    assert rec["body"] == raw.decode()


def test_token_rotation_and_key_scope_on_forwarded_routes(make_gateway):
    """A refused key is retried with the upstream's next key; a client key limited to models
    is held to its scope on these routes too."""
    keyed = MockUpstream(names=["openai"], require_keys={"openai": ["good-key"]})
    keyed.start()
    try:
        gw = make_gateway("\n".join([
            f"AIProxyUpstream oa {keyed.base_url('openai')} api=openai token=bad-key "
            "token=good-key models=gpt-image-1,whisper-1",
            "AIProxyClientKey sk-images-only models=gpt-image-1 sk-all-models",
        ]))
        status, _, body = post_json(gw.url("/v1/images/generations"),
                                    {"model": "gpt-image-1", "prompt": "x"},
                                    {"Authorization": "Bearer sk-images-only"})
        assert status == 200, body
        assert [r["headers"]["authorization"] for r in keyed.requests()] == [
            "Bearer bad-key", "Bearer good-key"]
        audio, ctype = multipart([("model", "whisper-1")], [("file", "a.wav", "audio/wav", AUDIO)])
        status, _, body = request("POST", gw.url("/v1/audio/transcriptions"), audio,
                                  {"Content-Type": ctype, "Authorization": "Bearer sk-images-only"})
        assert status == 404 and openai_error(body)["code"] == "model_not_found"
        status, _, body = get(gw.url("/passthrough/oa/v1/models"),
                              {"Authorization": "Bearer sk-images-only"})
        assert status == 403 and openai_error(body)["code"] == "permission_denied"
        status, _, body = request("POST", gw.url("/v1/audio/transcriptions"), audio,
                                  {"Content-Type": ctype,
                                   "Authorization": "Bearer sk-all-models"})
        assert status == 200, body
    finally:
        keyed.stop()
        keyed.cleanup()


def test_streamed_transcription_is_live(gw, fmock):
    """A forwarded upload answered with events (stream=true) leaves event by event."""
    body, ctype = multipart([("model", "whisper-1"), ("stream", "true"),
                             ("prompt", "[mock:slow=300]")],
                            [("file", "a.wav", "audio/wav", AUDIO)])
    with stream_sse(gw.url("/v1/audio/transcriptions"), body, {"Content-Type": ctype}) as s:
        assert s.status == 200
        assert s.headers["content-type"].startswith("text/event-stream")
        assert s.headers.get("x-accel-buffering") == "no"  # committed as a stream
        events = [(t, json.loads(d)) for t, _, d in s]
    assert [e["type"] for _, e in events] == ["transcript.text.delta"] * 3 + [
        "transcript.text.done"]
    assert events[-1][1]["model"] == "whisper-large-upstream"
    assert events[-1][0] - events[0][0] > 0.6


def test_upload_default_is_larger_than_json_default(gw, fmock):
    """Without AIProxyMaxBodySize an upload may pass the 32 MiB JSON default (up to 64 MiB);
    a JSON body of the same size is refused."""
    big = bytes(range(256)) * (33 * 1024 * 4)  # 33 MiB
    body, ctype = multipart([("model", "whisper-1")], [("file", "big.wav", "audio/wav", big)])
    fmock.clear()
    status, _, answer = request("POST", gw.url("/v1/audio/transcriptions"), body,
                                {"Content-Type": ctype}, timeout=120)
    assert status == 200, answer[:300]
    assert json.loads(answer)["file_bytes"] == len(big)
    raw = json.dumps({"model": "gpt-image-1", "prompt": "x" * len(big)})
    status, _, answer = request("POST", gw.url("/v1/images/generations"), raw, timeout=120)
    assert status == 413, answer[:300]
    big = b"\0" * (65 * 1024 * 1024)
    body, ctype = multipart([("model", "whisper-1")], [("file", "huge.wav", "audio/wav", big)])
    status, _, answer = request("POST", gw.url("/v1/audio/transcriptions"), body,
                                {"Content-Type": ctype}, timeout=120)
    assert status == 413, answer[:300]


@pytest.mark.parametrize("method", ["DELETE", "PUT", "PATCH"])
def test_passthrough_other_methods(gw, fmock, method):
    fmock.clear()
    raw = b'{"purpose": "batch"}' if method != "DELETE" else None
    status, _, body = request(method, gw.url("/passthrough/openai/v1/files/file-abc?x=1"), raw)
    # the mock serves no such endpoint: its own 404 comes back as it is
    assert status == 404 and json.loads(body)["error"]["type"] == "not_found_error"
    rec = fmock.last()
    assert (rec["method"], rec["path"], rec["query"]) == (method, "/v1/files/file-abc", "x=1")
    if raw:
        assert rec["body"] == raw.decode()


def test_passthrough_opens_the_circuit_of_an_unreachable_upstream(make_gateway):
    gw = make_gateway("AIProxyUpstream dead http://127.0.0.1:9 api=openai token=t models=m\n"
                      "AIProxyCircuitBreaker 2 60")
    for _ in range(2):
        status, _, body = get(gw.url("/passthrough/dead/v1/models"))
        assert status in (502, 503) and "out of service" not in body.decode(), body
    status, _, body = get(gw.url("/passthrough/dead/v1/models"))
    assert status == 503 and "out of service" in openai_error(body)["message"]
