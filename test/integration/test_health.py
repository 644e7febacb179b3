"""GET /livez and GET /readyz: unauthenticated, JSON, readiness per configured model (an
upstream in rotation: enabled, with a usable credential, circuit closed)."""

import json

from harness import get, post_json, request

CHAT = "/v1/chat/completions"
KEYED = "AIProxyClientKey sk-client-123456"


def upstream(name, mock_or_url, models, proto="openai"):
    url = mock_or_url if isinstance(mock_or_url, str) else mock_or_url.base_url(proto)
    return f"AIProxyUpstream {name} {url} api={proto} token=tok-{name} models={models}"


def test_livez_needs_no_key(make_gateway, mock):
    gw = make_gateway("\n".join([upstream("u", mock, "m"), KEYED]))
    st, hdrs, body = get(gw.url("/livez"))
    assert st == 200 and hdrs["content-type"].startswith("application/json")
    assert json.loads(body) == {"status": "ok"}
    # the generation routes still want the key
    assert post_json(gw.url(CHAT), {"model": "m", "messages": []})[0] == 401
    assert request("POST", gw.url("/livez"), {})[0] == 405


def test_readyz_ready_and_mounted_below_a_prefix(make_gateway, mock):
    gw = make_gateway("\n".join([upstream("u", mock, "m1,m2"), KEYED]))
    st, hdrs, body = get(gw.url("/readyz"))
    assert st == 200, body
    assert json.loads(body) == {"status": "ok", "models": []}
    assert hdrs.get("cache-control") == "no-store"
    assert get(gw.url("/some/prefix/readyz"))[0] == 200


def test_readyz_lists_models_whose_circuits_are_open(make_gateway, mock):
    """m1 has a live upstream; m2 only a dead one, whose circuit opens after 3 failures."""
    gw = make_gateway("\n".join([
        upstream("good", mock, "m1"),
        upstream("dead", "http://127.0.0.1:9", "m2"),
        "AIProxyCircuitBreaker 2 600",
    ]))
    assert get(gw.url("/readyz"))[0] == 200
    for _ in range(2):
        post_json(gw.url(CHAT), {"model": "m2", "messages": [{"role": "user", "content": "x"}]})
    st, _, body = get(gw.url("/readyz"))
    assert st == 503, body
    assert json.loads(body) == {"status": "unavailable", "models": ["m2"]}
    assert get(gw.url("/livez"))[0] == 200


def test_readyz_without_usable_credential(make_gateway, mock, tmp_path):
    """An OAuth upstream whose auth files are all missing has no usable credential."""
    gw = make_gateway("\n".join([
        upstream("good", mock, "m1"),
        f"AIProxyUpstream sub {mock.base_url('anthropic')} api=claudecode "
        f"auth_file={tmp_path}/missing.json models=m3",
    ]))
    st, _, body = get(gw.url("/readyz"))
    assert st == 503, body
    assert json.loads(body)["models"] == ["m3"]
