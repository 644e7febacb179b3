"""Model names (issue 12): upstream prefixes (prefix=, AIProxyForceModelPrefix), excluded
models, the names /v1/models lists in each client protocol's shape, the "-thinking" suffix
reaching every upstream protocol, provider presets and endpoint= templates on the mock, from
directives and from config.yaml."""

import json
import os

import pytest

from harness import get, post_json

CHAT = "/v1/chat/completions"
ANTHROPIC_HEADERS = {"anthropic-version": "2023-06-01"}


def chat(model, **extra):
    return {"model": model, "messages": [{"role": "user", "content": "hi"}], **extra}


def records_since(mock, before, upstream=None):
    return mock.requests(upstream)[before:]


def listed(gw, path="/v1/models", headers=None):
    """The names of a model list, in the shape the route and headers ask for."""
    status, _, body = get(gw.url(path), headers)
    assert status == 200, body
    payload = json.loads(body)
    if "models" in payload:  # Gemini
        return [m["name"].removeprefix("models/") for m in payload["models"]]
    if headers and "anthropic-version" in headers:
        assert all(m["type"] == "model" for m in payload["data"])
        assert payload["has_more"] is False
    else:
        assert payload["object"] == "list"
    return [m["id"] for m in payload["data"]]


def every_shape(gw):
    """The same list from OpenAI's, Anthropic's and Gemini's model routes."""
    shapes = [listed(gw), listed(gw, headers=ANTHROPIC_HEADERS), listed(gw, "/v1beta/models")]
    assert shapes[0] == shapes[1] == shapes[2], shapes
    return shapes[0]


def upstreams(mock):
    return "\n".join([
        f"AIProxyUpstream team {mock.base_url('openai')} api=openai token=t-team prefix=team "
        "models=m1,m2,secret-x exclude=secret-*",
        f"AIProxyUpstream other {mock.base_url('anthropic')} api=anthropic token=t-other "
        "models=m2,c1",
        "AIProxyFallback head c1",
    ])


def served_by(gw, model):
    status, headers, body = post_json(gw.url(CHAT), chat(model))
    return status, headers.get("x-aiproxy-upstream"), body


# ---- prefixes and exclusions ----------------------------------------------------------------

def test_prefix_lists_and_routes_both_names(make_gateway, mock):
    gw = make_gateway(upstreams(mock))
    assert every_shape(gw) == ["team/m1", "m1", "team/m2", "m2", "c1", "head"]
    before = len(mock.requests("openai"))
    for _ in range(4):  # the prefixed name reaches its upstream only, without the prefix
        status, who, body = served_by(gw, "team/m2")
        assert (status, who) == (200, "team"), body
    assert [r["json"]["model"] for r in records_since(mock, before, "openai")] == ["m2"] * 4
    assert served_by(gw, "m1")[:2] == (200, "team")
    # the bare shared name goes to both, in turn
    assert {served_by(gw, "m2")[1] for _ in range(4)} == {"team", "other"}
    assert served_by(gw, "head")[:2] == (200, "other")


def test_gemini_clients_call_prefixed_names(make_gateway, mock):
    """The Gemini list names "models/team/m1"; that name works in a Gemini URL as it is."""
    gw = make_gateway(upstreams(mock))
    assert "team/m1" in listed(gw, "/v1beta/models")
    before = len(mock.requests("openai"))
    status, headers, body = post_json(
        gw.url("/v1beta/models/team/m1:generateContent"),
        {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]})
    assert status == 200, body
    assert headers["x-aiproxy-upstream"] == "team"
    assert records_since(mock, before, "openai")[-1]["json"]["model"] == "m1"


def test_excluded_model_is_neither_routed_nor_listed(make_gateway, mock):
    gw = make_gateway(upstreams(mock))
    before = len(mock.requests("openai"))
    for name in ("secret-x", "team/secret-x"):
        status, _, body = served_by(gw, name)
        assert status == 404, body
        assert json.loads(body)["error"]["code"] == "model_not_found"
        assert name not in every_shape(gw)
    assert records_since(mock, before, "openai") == []
    # nor a model /readyz waits for
    status, _, body = get(gw.url("/readyz"))
    assert status == 200, body
    assert "secret-x" not in body.decode()


def test_excluded_glob_on_an_upstream_serving_every_model(make_gateway, mock):
    gw = make_gateway("\n".join([
        f"AIProxyUpstream all {mock.base_url('openai')} api=openai token=t exclude=o1-*,*-preview "
        "map=alias=gpt-x map=o1-alias=o1",
        f"AIProxyUpstream spare {mock.base_url('anthropic')} api=anthropic token=t "
        "models=o1-mini",
    ]))
    # serving every model, it lists the names it maps (but excluded ones)
    assert every_shape(gw) == ["alias", "o1-mini"]
    before = len(mock.requests("openai"))
    assert served_by(gw, "alias")[:2] == (200, "all")
    assert records_since(mock, before, "openai")[-1]["json"]["model"] == "gpt-x"
    assert served_by(gw, "gpt-x")[:2] == (200, "all")
    assert served_by(gw, "o1-mini")[:2] == (200, "spare")
    assert served_by(gw, "x-preview")[0] == 404


def test_forced_prefix(make_gateway, mock):
    gw = make_gateway(upstreams(mock) + "\nAIProxyForceModelPrefix on")
    assert every_shape(gw) == ["team/m1", "team/m2", "m2", "c1", "head"]
    assert served_by(gw, "team/m1")[:2] == (200, "team")
    assert served_by(gw, "m1")[0] == 404
    # the bare shared name is the unprefixed upstream's only
    assert {served_by(gw, "m2")[1] for _ in range(4)} == {"other"}


def test_prefixed_name_is_not_taken_by_a_catch_all(make_gateway, mock):
    """A name with a configured prefix picks that upstream; one serving every model does not
    get "team/x" as a model name too."""
    gw = make_gateway("\n".join([
        f"AIProxyUpstream team {mock.base_url('openai')} api=openai token=t prefix=team",
        f"AIProxyUpstream all {mock.base_url('anthropic')} api=anthropic token=t weight=100",
    ]))
    before = len(mock.requests("openai"))
    for _ in range(3):
        assert served_by(gw, "team/anything")[:2] == (200, "team")
    assert [r["json"]["model"] for r in records_since(mock, before, "openai")] == ["anything"] * 3
    assert served_by(gw, "vendor/model")[:2] == (200, "all")


def test_key_scope_applies_to_the_listed_names(make_gateway, mock):
    gw = make_gateway(upstreams(mock) + "\nAIProxyClientKey sk-team-only-1 models=team/*")
    headers = {"Authorization": "Bearer sk-team-only-1"}
    assert listed(gw, headers=headers) == ["team/m1", "team/m2"]
    assert post_json(gw.url(CHAT), chat("team/m1"), headers)[0] == 200
    assert post_json(gw.url(CHAT), chat("m1"), headers)[0] == 404


@pytest.mark.parametrize("body,message", [
    ("AIProxyUpstream a http://127.0.0.1:1 token=t prefix=a/b", "prefix=a/b"),
    ("AIProxyUpstream a http://127.0.0.1:1 token=t preset=nonesuch", "unknown provider preset"),
    ("AIProxyUpstream a http://127.0.0.1:1 token=t endpoint=v1/chat", "starting with /"),
    ("AIProxyForceModelPrefix maybe", "AIProxyForceModelPrefix"),
])
def test_bad_settings_refuse_startup(body, message):
    from conftest import Gateway
    gw = Gateway(body)
    try:
        with pytest.raises(Exception) as failure:
            gw.start()
        assert message in str(failure.value), str(failure.value)
    finally:
        gw.cleanup()


# ---- config.yaml ----------------------------------------------------------------------------

def write_yaml(tmp_path, text):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    os.chmod(tmp_path, 0o755)
    os.chmod(path, 0o644)
    return path


@pytest.mark.parametrize("spelling", ["underscore", "hyphen"])
def test_yaml_keys(make_gateway, mock, tmp_path, spelling):
    force, excluded = (("force_model_prefix", "excluded_models") if spelling == "underscore"
                       else ("force-model-prefix", "excluded-models"))
    path = write_yaml(tmp_path, f"""
{force}: true
upstreams:
  - name: team
    base_url: {mock.base_url("openai")}
    api_type: openai
    token: t-team
    prefix: team
    available_models: [m1, secret-x]
    {excluded}: ["secret-*"]
  - name: zai
    base_url: {mock.base_url("openai")}/zai
    preset: zhipu
    token: t-zai
    available_models: [glm-z]
""")
    gw = make_gateway(f'AIProxyConfigFile "{path}"')
    assert every_shape(gw) == ["team/m1", "glm-z"]
    assert served_by(gw, "team/m1")[:2] == (200, "team")
    assert served_by(gw, "m1")[0] == 404
    assert served_by(gw, "team/secret-x")[0] == 404
    before = len(mock.requests("openai"))
    assert served_by(gw, "glm-z")[:2] == (200, "zai")
    assert records_since(mock, before, "openai")[-1]["path"] == "/zai/api/paas/v4/chat/completions"


# ---- the -thinking suffix -------------------------------------------------------------------

def thinking_of(proto, sent):
    """What the upstream body says about thinking, reduced to comparable values."""
    if proto == "anthropic":
        return sent["thinking"]["type"], sent["thinking"]["budget_tokens"]
    if proto == "openai":
        return sent.get("reasoning_effort")
    if proto == "responses":
        return sent["reasoning"]["effort"], sent["reasoning"].get("summary")
    config = sent["generationConfig"]["thinkingConfig"]
    return config["thinkingBudget"], config.get("includeThoughts")


DEFAULT_THINKING = {
    "anthropic": ("enabled", 8192),
    "openai": "medium",
    "responses": ("medium", "auto"),
    "gemini": (8192, True),
}


@pytest.fixture
def thinking_gateway(make_gateway, mock):
    return make_gateway("\n".join(
        f"AIProxyUpstream up-{proto} {mock.base_url(proto)} api={proto} token=t "
        f"models=think-{proto},literal-thinking-{proto}" for proto in DEFAULT_THINKING))


@pytest.mark.parametrize("proto", list(DEFAULT_THINKING))
def test_thinking_suffix_reaches_every_upstream_protocol(thinking_gateway, mock, proto):
    before = len(mock.requests(proto))
    status, headers, body = post_json(thinking_gateway.url(CHAT), chat(f"think-{proto}-thinking"))
    assert status == 200, body
    assert headers["x-aiproxy-upstream"] == f"up-{proto}"
    rec = records_since(mock, before, proto)[-1]
    # the suffix is gone before routing and mapping
    if proto == "gemini":
        assert rec["path"].startswith(f"/v1beta/models/think-{proto}:")
    else:
        assert rec["json"]["model"] == f"think-{proto}"
    assert thinking_of(proto, rec["json"]) == DEFAULT_THINKING[proto]


@pytest.mark.parametrize("proto", list(DEFAULT_THINKING))
def test_thinking_suffix_from_a_gemini_client_and_streaming(thinking_gateway, mock, proto):
    before = len(mock.requests(proto))
    status, _, body = post_json(
        thinking_gateway.url(f"/v1beta/models/think-{proto}-thinking:streamGenerateContent"
                             "?alt=sse"),
        {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]})
    assert status == 200, body
    assert thinking_of(proto, records_since(mock, before, proto)[-1]["json"]) == \
        DEFAULT_THINKING[proto]


def test_thinking_to_the_same_protocol_keeps_the_rest(thinking_gateway, mock):
    """Only the thinking members change: what the client sent otherwise arrives as sent."""
    before = len(mock.requests("anthropic"))
    status, _, body = post_json(
        thinking_gateway.url("/v1/messages"),
        {"model": "think-anthropic-thinking", "max_tokens": 20000, "temperature": 0.3,
         "metadata": {"user_id": "u-1"}, "x_vendor_field": {"k": [1, 2]},
         "messages": [{"role": "user", "content": "hi"}]},
        ANTHROPIC_HEADERS)
    assert status == 200, body
    sent = records_since(mock, before, "anthropic")[-1]["json"]
    assert sent["model"] == "think-anthropic"
    assert thinking_of("anthropic", sent) == DEFAULT_THINKING["anthropic"]
    assert "temperature" not in sent  # Anthropic refuses it with thinking on
    assert sent["metadata"] == {"user_id": "u-1"}
    assert sent["x_vendor_field"] == {"k": [1, 2]}
    assert sent["max_tokens"] == 20000


def test_explicit_thinking_setting_wins(thinking_gateway, mock):
    before = len(mock.requests("openai"))
    status, _, body = post_json(thinking_gateway.url(CHAT),
                                chat("think-openai-thinking", reasoning_effort="low"))
    assert status == 200, body
    assert records_since(mock, before, "openai")[-1]["json"]["reasoning_effort"] == "low"


def test_no_suffix_no_thinking_and_literal_names_kept(thinking_gateway, mock):
    before = len(mock.requests("openai"))
    assert post_json(thinking_gateway.url(CHAT), chat("think-openai"))[0] == 200
    assert "reasoning_effort" not in records_since(mock, before, "openai")[-1]["json"]
    # a configured model whose name ends in -thinking is that model, sent as it is
    before = len(mock.requests("openai"))
    assert post_json(thinking_gateway.url(CHAT), chat("literal-thinking-openai"))[0] == 200
    sent = records_since(mock, before, "openai")[-1]["json"]
    assert sent["model"] == "literal-thinking-openai" and "reasoning_effort" not in sent


# ---- presets and endpoints ------------------------------------------------------------------

@pytest.mark.parametrize("preset,path", [
    ("zhipu", "/api/paas/v4/chat/completions"),
    ("doubao", "/api/v3/chat/completions"),
    ("openrouter", "/v1/chat/completions"),
])
def test_preset_with_base_url_override(make_gateway, mock, preset, path):
    gw = make_gateway(f"AIProxyUpstream p {mock.base_url('openai')}/base preset={preset} "
                      "token=t-preset models=pm")
    before = len(mock.requests("openai"))
    assert served_by(gw, "pm")[:2] == (200, "p")
    rec = records_since(mock, before, "openai")[-1]
    assert rec["path"] == "/base" + path
    assert rec["headers"]["authorization"] == "Bearer t-preset"


def test_preset_without_base_url_uses_its_own(make_gateway, mock):
    """preset=ollama alone is a whole upstream: its base URL is the preset's (shown by
    balancer-manager; nothing is sent to it here)."""
    gw = make_gateway("AIProxyUpstream local preset=ollama token=unused models=llama")
    page = get(gw.url("/balancer-manager"))[2].decode()
    assert "http://localhost:11434" in page


def test_explicit_api_beats_the_preset(make_gateway, mock):
    gw = make_gateway(f"AIProxyUpstream p {mock.base_url('anthropic')} preset=zhipu "
                      "api=anthropic token=t models=pm")
    before = len(mock.requests("anthropic"))
    assert served_by(gw, "pm")[:2] == (200, "p")
    assert records_since(mock, before, "anthropic")[-1]["path"] == "/v1/messages"


def test_endpoint_with_model_and_query(make_gateway, mock):
    """Azure OpenAI's deployment path: the upstream model in the path, api-version in the
    query; names that could change the URL's shape are encoded or refused."""
    gw = make_gateway(
        f"AIProxyUpstream az {mock.base_url('openai')} api=openai token=t "
        "endpoint=/openai/deployments/{model}/chat/completions?api-version=2024-10-21 "
        "map=gpt=gpt-4o-deploy")
    before = len(mock.requests("openai"))
    assert served_by(gw, "gpt")[:2] == (200, "az")
    rec = records_since(mock, before, "openai")[-1]
    assert rec["path"] == "/openai/deployments/gpt-4o-deploy/chat/completions"
    assert rec["query"] == "api-version=2024-10-21"
    # sent percent-encoded: the mock records the path as httpd decoded it, and '?' did not
    # start a query nor '#' a fragment
    assert served_by(gw, "a?b#c")[0] == 200
    rec = records_since(mock, before, "openai")[-1]
    assert (rec["path"], rec["query"]) == \
        ("/openai/deployments/a?b#c/chat/completions", "api-version=2024-10-21")
    count = len(mock.requests("openai"))
    for bad in ("../admin", "a/b", "..", "a\\b"):
        status, _, body = served_by(gw, bad)
        assert status == 400, (bad, body)
        assert json.loads(body)["error"]["message"]
    assert len(mock.requests("openai")) == count


def test_endpoint_with_method_for_gemini(make_gateway, mock):
    """Vertex AI express mode: the model and the method in the path, the key in the query."""
    gw = make_gateway(
        f"AIProxyUpstream vx {mock.base_url('gemini')} api=gemini token=t "
        "endpoint=/v1/publishers/google/models/{model}:{method}?key=vertex-key models=gem")
    before = len(mock.requests("gemini"))
    assert served_by(gw, "gem")[:2] == (200, "vx")
    rec = records_since(mock, before, "gemini")[-1]
    assert (rec["path"], rec["query"]) == \
        ("/v1/publishers/google/models/gem:generateContent", "key=vertex-key")
    status, _, _ = post_json(gw.url(CHAT), chat("gem", stream=True))
    assert status == 200
    rec = records_since(mock, before, "gemini")[-1]
    assert (rec["path"], rec["query"]) == \
        ("/v1/publishers/google/models/gem:streamGenerateContent", "key=vertex-key&alt=sse")


def test_forwarded_routes_keep_their_name_and_path(make_gateway, mock):
    """An images request is no generation: a name ending in -thinking is sent as it is, and an
    upstream's endpoint= (a chat path) does not replace the route's own path."""
    gw = make_gateway(f"AIProxyUpstream img {mock.base_url('openai')} api=openai token=t "
                      "endpoint=/custom/{model}/chat/completions")
    before = len(mock.requests("openai"))
    status, _, body = post_json(gw.url("/v1/images/generations"),
                                {"model": "painter-thinking", "prompt": "a red fox"})
    assert status == 200, body
    rec = records_since(mock, before, "openai")[-1]
    assert rec["path"] == "/v1/images/generations"
    assert rec["json"]["model"] == "painter-thinking"
    # while the chat route takes the endpoint
    assert served_by(gw, "painter")[:2] == (200, "img")
    assert records_since(mock, before, "openai")[-1]["path"] == "/custom/painter/chat/completions"
