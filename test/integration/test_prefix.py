"""The handler mounted below a path prefix: every client route of every protocol (JSON and
streams, Gemini model paths, the model lists) answers under <Location "/ai/">, a deeper prefix
and a <LocationMatch>, as at the root; paths outside the mount are not the gateway's; an
unknown route under the prefix gets the client's own 404 envelope."""

import json

import pytest

from conftest import DEMO_MODELS, Gateway, ensure_built, GATEWAY_MODULES, upstream_lines
from harness import get, post_json, stream_sse
from test_gateway import answer_text, client_request, delta_text, error_message

PROTOCOLS = ["anthropic", "openai", "responses", "gemini"]
MOUNTS = {
    # name: (the section that mounts the handler, a prefix it serves)
    "root": ('<Location "/">', ""),
    "ai": ('<Location "/ai/">', "/ai"),
    "deep": ('<Location "/team/a/llm">', "/team/a/llm"),
    "match": ('<LocationMatch "^/t[0-9]+/">', "/t42"),
}


@pytest.fixture(scope="module", params=list(MOUNTS))
def mounted(request, mock):
    ensure_built(*GATEWAY_MODULES)
    section, prefix = MOUNTS[request.param]
    gw = Gateway(upstream_lines(mock), mount=section)
    gw.start()
    yield gw, prefix
    gw.stop()
    gw.cleanup()


@pytest.mark.parametrize("proto", PROTOCOLS)
def test_generation_routes_json_and_stream(mounted, proto):
    gw, prefix = mounted
    path, body = client_request(proto, "below a prefix")
    status, headers, payload = post_json(gw.url(prefix + path), body)
    assert status == 200, payload
    assert answer_text(proto, json.loads(payload)) == "echo: below a prefix"

    path, body = client_request(proto, "streamed below", stream=True)
    with stream_sse(gw.url(prefix + path), body) as s:
        text = "".join(delta_text(proto, name, data) for name, data in s.events())
    assert s.status == 200 and text == "echo: streamed below"


def test_gemini_v1_model_path_and_json_array_stream(mounted):
    gw, prefix = mounted
    body = {"contents": [{"role": "user", "parts": [{"text": "v1 path"}]}]}
    status, _, payload = post_json(
        gw.url(f"{prefix}/v1/models/{DEMO_MODELS['gemini']}:generateContent"), body)
    assert status == 200, payload
    status, _, payload = post_json(
        gw.url(f"{prefix}/v1beta/models/{DEMO_MODELS['gemini']}:streamGenerateContent"), body)
    assert status == 200, payload
    chunks = json.loads(payload)
    assert "".join(p.get("text", "") for c in chunks for p in c["candidates"][0]["content"]["parts"]) \
        == "echo: v1 path"


def test_model_lists(mounted):
    gw, prefix = mounted
    status, _, body = get(gw.url(prefix + "/v1/models"))
    assert status == 200
    assert set(DEMO_MODELS.values()) <= {m["id"] for m in json.loads(body)["data"]}
    status, _, body = get(gw.url(prefix + "/v1/models"), {"anthropic-version": "2023-06-01"})
    assert status == 200 and "has_more" in json.loads(body)
    status, _, body = get(gw.url(prefix + "/v1beta/models"))
    assert status == 200
    assert f"models/{DEMO_MODELS['gemini']}" in {m["name"] for m in json.loads(body)["models"]}


@pytest.mark.parametrize("proto, path", [
    ("anthropic", "/v1/messages/nope"),
    ("gemini", "/v1beta/models/x:nope"),
    ("openai", "/v1/nope"),
])
def test_unknown_route_under_prefix_gets_client_envelope(mounted, proto, path):
    gw, prefix = mounted
    headers = {"anthropic-version": "2023-06-01"} if proto == "anthropic" else {}
    status, _, body = post_json(gw.url(prefix + path), {}, headers)
    assert status == 404
    assert "no such endpoint" in error_message(proto, body)


def test_paths_outside_the_mount_are_not_served(mounted):
    gw, prefix = mounted
    if not prefix:
        pytest.skip("mounted at the root: every path is the gateway's")
    status, headers, _ = post_json(gw.url("/v1/messages"), {"model": "m"})
    assert status == 404 and "x-aiproxy-request-id" not in headers
