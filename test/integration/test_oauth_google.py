"""Gemini CLI and Antigravity subscription upstreams (api=geminicli, api=antigravity) through the
whole gateway: Google OAuth files (gemini-cli's oauth_creds.json, the proxies' files with a
project_id), the Code Assist project found with loadCodeAssist or onboardUser and cached for every
child, the v1internal envelope both ways for every client protocol, JSON and streams, Google
refreshes, and RESOURCE_EXHAUSTED answers cooling a credential down (research/oauth.md §3-4).

The mock's google OAuth vhosts check the bearer tokens, serve Code Assist's setup calls and
answer only a request that names the account's project (docs/mock-upstream.md). The real SDKs
of test/sdk run against both upstreams too (skipped when npm cannot install them)."""

import calendar
import json
import time

import pytest

from conftest import GATEWAY_MODULES, ensure_built
from harness import REPO, MockUpstream, npm_ci, post_json, stream_sse
from test_gateway import answer_text, client_request, delta_text
from test_oauth import HOUR, OAuthGateway, TokenDir, env, provider_requests  # noqa: F401
from test_sdk import SDKS, assert_mock_answer, case_id, run_batches

PROTOCOLS = ["anthropic", "openai", "responses", "gemini"]
MODELS = {"gcli": "sub-gemini", "agy": "sub-antigravity", "gfile": "sub-gemini-file"}
UPSTREAM_MODEL = {"gcli": "gemini-2.5-pro", "agy": "gemini-3-pro-high", "gfile": "gemini-2.5-pro"}
GEMINI_CLIENT_ID = "681255809395-oo8ft2oprdrnp9e3aqf6av3hmdib135j.apps.googleusercontent.com"


def gemini_cli_file(access, refresh, expires_at_s):
    """~/.gemini/oauth_creds.json: google-auth-library Credentials, expiry_date in epoch ms, no
    project."""
    return {"access_token": access, "refresh_token": refresh, "scope":
            "https://www.googleapis.com/auth/cloud-platform", "token_type": "Bearer",
            "expiry_date": int(expires_at_s * 1000)}


def cpa_gemini_file(access, refresh, expires_at_s, project):
    """CLIProxyAPI's Gemini file: an oauth2.Token under "token", the project beside it."""
    expiry = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expires_at_s))
    return {"token": {"access_token": access, "token_type": "Bearer", "refresh_token": refresh,
                      "expiry": expiry}, "project_id": project, "email": "f@example.invalid",
            "auto": False, "checked": True, "type": "gemini"}


def antigravity_file(access, refresh, expires_at_s):
    """The proxies' flat Antigravity file, here without a project_id (discovered)."""
    expiry = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expires_at_s))
    return {"type": "antigravity", "access_token": access, "refresh_token": refresh,
            "expires_in": 3599, "timestamp": int(time.time() * 1000), "expired": expiry,
            "email": "a@example.invalid"}


def setup_calls(mock, name, action):
    return [r for r in mock.requests(name) if r["path"].endswith("/v1internal:" + action)]


def sent_body(record):
    body = record["body"]
    return json.loads(body) if isinstance(body, str) else body


def upstreams(mock, files, name, api, model, extra=""):
    base = mock.base_url(name)
    auth = " ".join(f"auth_file={f}" for f in files)
    return (f"AIProxyUpstream {name}-sub {base} api={api} {auth} token_url={base}/token "
            f"models={model} map={model}={UPSTREAM_MODEL.get(name, model)} {extra}\n")


@pytest.fixture(scope="module")
def setup():
    ensure_built(*GATEWAY_MODULES, "mod_aiproxy_mock.so")
    now = int(time.time())
    tokens = TokenDir()
    mock = MockUpstream(
        names=["gcli", "agy"], oauth={"gcli": "google", "agy": "google"},
        issued_tokens={
            # g1 has a tier: loadCodeAssist names its project; g2's file names the project
            "gcli": [{"label": "g1", "access": "ya29.g1", "refresh": "1//g1", "expires_in": HOUR,
                      "tier": "standard-tier", "project": "proj-gcli"},
                     {"label": "g2", "access": "ya29.g2", "refresh": "1//g2", "expires_in": HOUR,
                      "tier": "free-tier", "project": "proj-from-file"}],
            # a1 has no tier: onboarded, done only at the second onboardUser
            "agy": [{"label": "a1", "access": "ya29.a1", "refresh": "1//a1", "expires_in": HOUR,
                     "onboard_polls": 1}]})
    mock.start()
    g1 = tokens.write("oauth_creds.json", gemini_cli_file("ya29.g1", "1//g1", now + HOUR))
    g2 = tokens.write("gemini-f.json", cpa_gemini_file("ya29.g2", "1//g2", now + HOUR,
                                                       "proj-from-file"))
    a1 = tokens.write("antigravity.json", antigravity_file("ya29.a1", "1//a1", now + HOUR))
    gb = mock.base_url("gcli")
    gw = OAuthGateway(
        upstreams(mock, [g1], "gcli", "geminicli", MODELS['gcli'])
        + f"AIProxyUpstream gfile-sub {gb} api=geminicli auth_file={g2} token_url={gb}/token "
          f"models={MODELS['gfile']} map={MODELS['gfile']}={UPSTREAM_MODEL['gfile']}\n"
        + upstreams(mock, [a1], "agy", "antigravity", MODELS['agy']))
    gw.start()
    yield gw, mock
    gw.stop()
    gw.cleanup()
    mock.stop()
    mock.cleanup()


def ask(gw, proto, upstream, text, stream):
    """The answer text of one request to the model of upstream (or to a model name)."""
    path, body = client_request(proto, text, stream=stream, model=MODELS.get(upstream, upstream))
    if not stream:
        status, _, payload = post_json(gw.url(path), body)
        assert status == 200, payload
        return answer_text(proto, json.loads(payload))
    with stream_sse(gw.url(path), body) as s:
        assert s.status == 200, s.raw
        events = s.events()
    assert not s.truncated
    return "".join(delta_text(proto, name, data) for name, data in events)


def last_generate(mock, name, credential):
    calls = [r for r in provider_requests(mock, name)
             if "Content" in r["path"] and r["oauth"]["credential"] == credential]
    assert calls, mock.requests(name)
    return calls[-1]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("proto", PROTOCOLS)
@pytest.mark.parametrize("upstream", ["gcli", "agy", "gfile"])
def test_every_protocol(setup, upstream, proto, stream):
    """The client's answer comes through the {"response": ...} envelope; the request reached
    v1internal in the Code Assist envelope naming the account's project."""
    gw, mock = setup
    text = f"{upstream} {proto} {stream}"
    assert ask(gw, proto, upstream, text, stream) == "echo: " + text
    name = "agy" if upstream == "agy" else "gcli"
    credential = {"gcli": "g1", "gfile": "g2", "agy": "a1"}[upstream]
    sent = last_generate(mock, name, credential)
    assert sent["oauth"]["outcome"] == "ok"
    if stream:
        assert sent["path"].endswith("/v1internal:streamGenerateContent")
        assert "alt=sse" in (sent["query"] or "")
    else:
        assert sent["path"].endswith("/v1internal:generateContent")
    body = sent_body(sent)
    assert body["project"] == {"gcli": "proj-gcli", "gfile": "proj-from-file",
                               "agy": "mock-project-a1"}[upstream]
    assert body["model"] == UPSTREAM_MODEL[upstream]
    assert text in json.dumps(body["request"]["contents"])
    headers = {k.lower(): v for k, v in sent["headers"].items()}
    assert "x-goog-api-key" not in headers
    if upstream == "agy":
        assert body["userAgent"] == "antigravity" and body["requestId"].startswith("agent-")
        assert headers["user-agent"].startswith("antigravity/")
    else:
        assert "user_prompt_id" in body
        assert headers["user-agent"].startswith("GeminiCLI/")


def test_project_discovery(setup):
    """One discovery per credential for every child: loadCodeAssist alone for an account with
    a tier, loadCodeAssist then onboardUser polled until done for one without; none for a file
    that names its project."""
    gw, mock = setup
    for upstream in ("gcli", "agy", "gfile"):
        for i in range(6):
            assert ask(gw, "openai", upstream, f"again {i}", False) == f"echo: again {i}"
    loads = setup_calls(mock, "gcli", "loadCodeAssist")
    assert [r["oauth"]["credential"] for r in loads] == ["g1"], loads
    assert sent_body(loads[0])["metadata"]["ideType"] == "IDE_UNSPECIFIED"
    assert not setup_calls(mock, "gcli", "onboardUser")
    agy_loads = setup_calls(mock, "agy", "loadCodeAssist")
    assert len(agy_loads) == 1 and sent_body(agy_loads[0])["metadata"]["ideType"] == "ANTIGRAVITY"
    onboards = setup_calls(mock, "agy", "onboardUser")
    assert len(onboards) == 2, onboards  # done: false, then done: true
    assert all(sent_body(r)["tierId"] == "free-tier" for r in onboards)
    assert mock.credential("agy", "a1")["tier"] == "free-tier"


def test_google_refresh_then_discovery(env):
    """An expired gemini-cli file is refreshed at the Google token endpoint (form, the public
    client id and secret), written back in its own shape, and its project discovered."""
    now = int(time.time())
    mock = env.mock(names=["gcli"], oauth={"gcli": "google"},
                    issued_tokens={"gcli": [{"label": "r", "access": "ya29.old", "refresh": "1//r",
                                             "expires_in": 1, "tier": "standard-tier",
                                             "project": "proj-r"}]})
    path = env.tokens.write("oauth_creds.json", gemini_cli_file("ya29.old", "1//r", now - 60))
    gw = env.gateway(upstreams(mock, [path], "gcli", "geminicli", "sub-gemini"))
    status, _, body = post_json(gw.url("/v1/chat/completions"),
                                {"model": "sub-gemini",
                                 "messages": [{"role": "user", "content": "hi"}]})
    assert status == 200, body
    refresh = mock.token_requests("gcli")
    assert len(refresh) == 1
    oauth = refresh[0]["oauth"]
    assert oauth["format"] == "form" and oauth["client_id"] == GEMINI_CLIENT_ID
    assert oauth["client_secret"].startswith("GOCSPX-") and oauth["refresh_token"] == "1//r"
    written = env.tokens.read("oauth_creds.json")
    assert written["access_token"] != "ya29.old"
    assert written["access_token"] == mock.credential("gcli", "r")["access"]
    assert written["refresh_token"] == "1//r"  # Google does not rotate it
    assert written["expiry_date"] > now * 1000
    assert setup_calls(mock, "gcli", "loadCodeAssist")[0]["oauth"]["credential"] == "r"
    assert sent_body(last_generate(mock, "gcli", "r"))["project"] == "proj-r"


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("scenario,reason,seconds", [
    ("[mock:quota=7200]", "QUOTA_EXHAUSTED", 7200),
    ("[mock:status=429][mock:retry-after=40]", "RATE_LIMIT_EXCEEDED", 40),
], ids=["quota", "rate"])
def test_resource_exhausted_cools_the_credential(env, scenario, reason, seconds, stream):
    """RESOURCE_EXHAUSTED (QUOTA_EXHAUSTED with quotaResetDelay, or a RetryInfo retryDelay)
    cools the file down until the stated reset; the next file serves meanwhile, before the
    first byte of a stream reaches the client."""
    now = int(time.time())
    mock = env.mock(names=["agy"], oauth={"agy": "google"},
                    issued_tokens={"agy": [
                        {"label": "q1", "access": "ya29.q1", "refresh": "1//q1",
                         "expires_in": HOUR, "tier": "free-tier", "scenario": scenario},
                        {"label": "q2", "access": "ya29.q2", "refresh": "1//q2",
                         "expires_in": HOUR, "tier": "free-tier"}]})
    f1 = env.tokens.write("q1.json", antigravity_file("ya29.q1", "1//q1", now + HOUR))
    f2 = env.tokens.write("q2.json", antigravity_file("ya29.q2", "1//q2", now + HOUR))
    gw = env.gateway(upstreams(mock, [f1, f2], "agy", "antigravity", "sub-agy"))
    for i in range(4):
        assert ask(gw, "openai", "sub-agy", f"turn {i}", stream) == f"echo: turn {i}"
    used = [r["oauth"]["credential"] for r in provider_requests(mock, "agy")
            if "Content" in r["path"]]
    assert used.count("q1") == 1 and used.count("q2") == 4, used
    states = gw.credentials("agy-sub")
    assert states["q2.json"]["state"] == "ok"
    q1 = states["q1.json"]
    assert q1["state"] == "cooling down", q1
    until = calendar.timegm(time.strptime(q1["until"][:19], "%Y-%m-%dT%H:%M:%S"))
    assert now + seconds - 5 <= until <= int(time.time()) + seconds + 5, (q1, seconds)
    assert reason in gw.error_log()


def test_another_account_after_a_refresh_is_discovered_again(env):
    """A file rewritten with another account's login (another email) drops the project found
    for the old one: the next use finds the new account's project."""
    now = int(time.time())
    mock = env.mock(names=["agy"], oauth={"agy": "google"},
                    issued_tokens={"agy": [
                        {"label": "x1", "access": "ya29.x1", "refresh": "1//x1",
                         "expires_in": HOUR, "tier": "free-tier", "project": "proj-x1"},
                        {"label": "x2", "access": "ya29.x2", "refresh": "1//x2",
                         "expires_in": HOUR, "tier": "free-tier", "project": "proj-x2"}]})
    path = env.tokens.write("agy.json", antigravity_file("ya29.x1", "1//x1", now + HOUR))
    gw = env.gateway(upstreams(mock, [path], "agy", "antigravity", "sub-agy"))

    def ask_once(text):
        status, _, body = post_json(gw.url("/v1/chat/completions"),
                                    {"model": "sub-agy",
                                     "messages": [{"role": "user", "content": text}]})
        assert status == 200, body

    ask_once("first")
    assert sent_body(last_generate(mock, "agy", "x1"))["project"] == "proj-x1"
    # the user logs in again with another account; the old token stops working upstream
    other = antigravity_file("ya29.x2", "1//x2", now + HOUR)
    other["email"] = "b@example.invalid"
    env.tokens.write("agy.json", other)
    mock.update_credential("agy", "x1", expires_at=now - 1)
    ask_once("second")
    assert sent_body(last_generate(mock, "agy", "x2"))["project"] == "proj-x2"
    loads = [r["oauth"]["credential"] for r in setup_calls(mock, "agy", "loadCodeAssist")]
    assert loads == ["x1", "x2"], loads


# ---- the real SDKs (test/sdk) against both Code Assist upstreams ------------------------------

SDK_UPSTREAMS = ["gcli", "agy"]
SDK_SCENARIOS = ["plain", "tool", "think"]


@pytest.fixture(scope="module")
def sdk_results(setup):
    """Every SDK of test/sdk (openai chat and responses, @anthropic-ai/sdk 1.x and 0.x,
    @google/genai) against the geminicli and antigravity models, JSON and its stream helper."""
    node = npm_ci(REPO / "test" / "sdk", "SDK tests", ".aiproxy-sdk-stamp", timeout=600)
    gw, _ = setup
    base = gw.url("").rstrip("/")
    return run_batches(node, {sdk: [
        {"id": case_id(sdk, MODELS[up], scenario, stream), "sdk": sdk, "baseURL": base,
         "model": MODELS[up], "scenario": scenario, "stream": stream}
        for up in SDK_UPSTREAMS for scenario in SDK_SCENARIOS for stream in (False, True)]
        for sdk in SDKS})


SDK_MATRIX = [pytest.param(sdk, up, scenario, stream,
                           id=f"{sdk}/{up}/{scenario}/{'stream' if stream else 'json'}")
              for sdk in SDKS for up in SDK_UPSTREAMS for scenario in SDK_SCENARIOS
              for stream in (False, True)]


@pytest.mark.parametrize("sdk,upstream,scenario,stream", SDK_MATRIX)
def test_sdk(sdk_results, sdk, upstream, scenario, stream):
    """The SDK's own parse of an answer that came through the Code Assist envelope: text, tool
    call, thinking, stop reason, usage."""
    res = sdk_results[case_id(sdk, MODELS[upstream], scenario, stream)]
    assert_mock_answer(res, sdk, scenario, stream, json.dumps(res))


def test_discovery_refused_token_is_refreshed_and_retried(env):
    """loadCodeAssist answering 401 to a token the file still believes valid: the token is
    refreshed and the discovery tried again within the same request."""
    now = int(time.time())
    mock = env.mock(names=["gcli"], oauth={"gcli": "google"},
                    issued_tokens={"gcli": [{"label": "e", "access": "ya29.e", "refresh": "1//e",
                                             "expires_in": -1, "tier": "standard-tier",
                                             "project": "proj-e"}]})
    path = env.tokens.write("oauth_creds.json", gemini_cli_file("ya29.e", "1//e", now + HOUR))
    gw = env.gateway(upstreams(mock, [path], "gcli", "geminicli", "sub-gemini"))
    assert ask(gw, "anthropic", "sub-gemini", "hello", False) == "echo: hello"
    loads = setup_calls(mock, "gcli", "loadCodeAssist")
    assert [r["oauth"]["outcome"] for r in loads] == ["expired", "ok"], loads
    assert len(mock.token_requests("gcli")) == 1
    assert sent_body(last_generate(mock, "gcli", "e"))["project"] == "proj-e"
