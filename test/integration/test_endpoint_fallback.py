"""Endpoint fallback inside one upstream (fallback_base=, docs/oauth.md "Endpoint fallback"):
Kiro's older CodeWhisperer endpoint after a 429 or no answer, with its own content type and
X-Amz-Target; Antigravity's production host after the daily one, for requests and for the Code
Assist project discovery; both failing moves on to the next credential and then the client's
error; and Antigravity's short RATE_LIMIT_EXCEEDED waited out with the same credential. Both
bases point at the project's mock: one vhost, two path prefixes (AIProxyMockPathScenario fails
one of them), or a closed port for no answer at all."""

import calendar
import json
import os
import time

import pytest

from conftest import Gateway
from harness import free_port, post_json
from test_gateway import client_request
from test_oauth import (HOUR, env, no_credential_error, provider_requests,  # noqa: F401 (env)
                        wait_for)
from test_kiro import PROFILE, kiro_social_file, sent_body
from tls_certs import TestPKI

KIRO_MODEL = "kiro-sub"
AGY_MODEL = "sub-agy"
CW_TYPE = "application/x-amz-json-1.0"
CW_TARGET = "AmazonCodeWhispererStreamingService.GenerateAssistantResponse"



def chat(gw, model, text="hello", stream=False):
    body = {"model": model, "messages": [{"role": "user", "content": text}]}
    if stream:
        body["stream"] = True
    return post_json(gw.url("/v1/chat/completions"), body)


def answer_text(body):
    return json.loads(body)["choices"][0]["message"]["content"]


def closed_base():
    """A loopback address nothing listens on: the attempt gets no answer at all."""
    return f"http://127.0.0.1:{free_port()}"


# ---- Kiro ---------------------------------------------------------------------------------------


def kiro_mock(env, labels=("k",), path_scenarios=None):
    tokens = [{"label": label, "access": f"aoa-{label}", "refresh": f"aor-{label}",
               "account": PROFILE, "expires_in": HOUR} for label in labels]
    mock = env.mock(names=["kiro"], oauth={"kiro": "kiro"}, issued_tokens={"kiro": tokens},
                    path_scenarios={"kiro": path_scenarios or {}})
    files = [env.tokens.write(f"{label}.json",
                              kiro_social_file(f"aoa-{label}", f"aor-{label}",
                                               int(time.time()) + HOUR))
             for label in labels]
    return mock, files


def kiro_upstream(mock, files, base, fallback, name="kiro-sub", model=KIRO_MODEL):
    """fallback None: no fallback_base= at all."""
    auth = " ".join(f"auth_file={f}" for f in files)
    token_base = mock.base_url("kiro")
    fb = f" fallback_base={fallback}" if fallback else ""
    return (f"AIProxyUpstream {name} {base} api=kiro {auth} "
            f"token_url={token_base}/refreshToken{fb} "
            f"models={model} map={model}=claude-sonnet-4.5\n")


def kiro_calls(mock):
    return [r for r in provider_requests(mock, "kiro") if r["path"].endswith("AssistantResponse")]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_kiro_429_goes_to_the_codewhisperer_endpoint(env, stream):
    """A 429 from the configured base: the same credential at the fallback base, spoken to as
    CodeWhisperer (AWS JSON content type, X-Amz-Target), and the client gets its answer."""
    mock, files = kiro_mock(env, path_scenarios={"/q/": "[mock:status=429]"})
    base = mock.base_url("kiro")
    gw = env.gateway(kiro_upstream(mock, files, f"{base}/q", f"{base}/cw"),
                     extra="AIProxyCircuitBreaker 1000 1")

    status, _, body = chat(gw, KIRO_MODEL, "fall back", stream)
    assert status == 200, body
    if not stream:
        assert answer_text(body) == "echo: fall back"
    else:
        assert b"echo" in body and b"[DONE]" in body
    calls = kiro_calls(mock)
    assert [c["path"] for c in calls] == ["/q/generateAssistantResponse",
                                          "/cw/generateAssistantResponse"], calls
    first, second = calls
    assert first["headers"]["content-type"] == "application/json"
    assert "x-amz-target" not in first["headers"]
    assert second["headers"]["content-type"] == CW_TYPE
    assert second["headers"]["x-amz-target"] == CW_TARGET
    assert second["oauth"]["credential"] == first["oauth"]["credential"] == "k"
    # the body is the same Kiro IDE body, whose origin the CodeWhisperer target takes
    origin = sent_body(second)["conversationState"]["currentMessage"]["userInputMessage"]
    assert origin["origin"] == "AI_EDITOR"
    assert sent_body(second)["profileArn"] == PROFILE
    assert wait_for(lambda: "AIP00203" in gw.error_log())
    log = gw.error_log()
    assert f"{base}/q answered (429), trying its fallback base {base}/cw" in log
    # the credential was fine all along: no cooldown for it
    assert gw.credentials("kiro-sub")["k.json"]["state"] == "ok"


def test_kiro_no_answer_goes_to_the_fallback(env):
    """Nothing listening at the configured base: the fallback base answers."""
    mock, files = kiro_mock(env)
    base = mock.base_url("kiro")
    dead = closed_base()
    gw = env.gateway(kiro_upstream(mock, files, dead, f"{base}/cw"))

    status, _, body = chat(gw, KIRO_MODEL, "no answer")
    assert status == 200, body
    assert answer_text(body) == "echo: no answer"
    calls = kiro_calls(mock)
    assert [c["path"] for c in calls] == ["/cw/generateAssistantResponse"]
    assert calls[0]["headers"]["x-amz-target"] == CW_TARGET
    assert wait_for(lambda: f"{dead} did not answer (no response)" in gw.error_log())


def test_kiro_both_endpoints_failing_move_to_the_next_credential(env):
    """Base and fallback both fail with the first credential (no answer, then 429): the second
    credential walks both too; with every one failing the client gets the upstream's 429 in its
    own envelope. Each endpoint try counts as an attempt."""
    mock, files = kiro_mock(env, labels=("a", "b"), path_scenarios={"/cw/": "[mock:status=429]"})
    base = mock.base_url("kiro")
    dead = closed_base()
    gw = env.gateway(kiro_upstream(mock, files, dead, f"{base}/cw"),
                     extra='LogFormat "%{AIPROXY_ATTEMPTS}e" attempts\n'
                           'CustomLog "@ROOT@/logs/attempts.log" attempts')

    status, _, body = chat(gw, KIRO_MODEL)
    assert status == 429, body
    err = json.loads(body)["error"]  # OpenAI's envelope
    assert "kiro-sub" in err["message"] and "429" in err["message"]
    used = [c["oauth"]["credential"] for c in kiro_calls(mock)]
    assert sorted(used) == ["a", "b"], used
    assert gw.error_log().count("AIP00203") == 2
    # the chat request's line (the admin request below logs one too)
    assert wait_for(lambda: (gw.root / "logs" / "attempts.log").exists()
                    and (gw.root / "logs" / "attempts.log").read_text().split()[:1] == ["4"])
    states = gw.credentials("kiro-sub")
    assert states["a.json"]["state"] == states["b.json"]["state"] == "cooling down"


def test_kiro_both_endpoints_failing_move_to_the_next_upstream(env):
    """The upstream's endpoints exhausted, the request goes on to the next candidate."""
    mock, files = kiro_mock(env, labels=("a", "b"), path_scenarios={"/q/": "[mock:status=429]"})
    base = mock.base_url("kiro")
    dead = closed_base()
    first = kiro_upstream(mock, files[:1], f"{base}/q", dead, name="kiro-one")
    second = kiro_upstream(mock, files[1:], f"{base}/ok", "off", name="kiro-two",
                           model="kiro-other")
    gw = env.gateway(first + second, extra=f"AIProxyFallback {KIRO_MODEL} kiro-other")

    status, headers, body = chat(gw, KIRO_MODEL, "next upstream")
    assert status == 200, body
    assert headers["x-aiproxy-upstream"] == "kiro-two"
    paths = [c["path"] for c in kiro_calls(mock)]
    assert paths == ["/q/generateAssistantResponse", "/ok/generateAssistantResponse"], paths
    assert wait_for(lambda: f"{base}/q answered (429), trying its fallback base {dead}"
                    in gw.error_log())


def test_kiro_base_of_ones_own_has_no_fallback(env):
    """A base URL the administrator chose gets no fallback by itself: a 429 goes to the next
    credential (here: the client), not to the CodeWhisperer host."""
    mock, files = kiro_mock(env, path_scenarios={"/q/": "[mock:status=429]"})
    base = mock.base_url("kiro")
    gw = env.gateway(kiro_upstream(mock, files, f"{base}/q", None))

    status, _, body = chat(gw, KIRO_MODEL)
    assert status == 429, body
    assert [c["path"] for c in kiro_calls(mock)] == ["/q/generateAssistantResponse"]
    assert "AIP00203" not in gw.error_log()


def test_yaml_fallback_base_urls(env):
    """config.yaml's fallback_base_urls is fallback_base=: the listed bases, in order."""
    mock, files = kiro_mock(env, path_scenarios={"/cw1/": "[mock:status=429]"})
    base = mock.base_url("kiro")
    config = env.tokens.path / "config.yaml"
    config.write_text(
        "upstreams:\n"
        "  - name: kiro-yaml\n"
        "    api_type: kiro\n"
        f"    base_url: {closed_base()}\n"
        f"    fallback_base_urls: [{base}/cw1, {base}/cw2]\n"
        f"    token_url: {base}/refreshToken\n"
        f"    auth_files: [{files[0].name}]\n"
        f"    available_models: [{KIRO_MODEL}]\n"
        f"    model_mappings: {{{KIRO_MODEL}: claude-sonnet-4.5}}\n")
    os.chmod(config, 0o644)
    gw = env.gateway(f"AIProxyConfigFile {config}")
    status, _, body = chat(gw, KIRO_MODEL, "yaml")
    assert status == 200, body
    assert [c["path"] for c in kiro_calls(mock)] == ["/cw1/generateAssistantResponse",
                                                     "/cw2/generateAssistantResponse"]
    assert all(c["headers"]["x-amz-target"] == CW_TARGET for c in kiro_calls(mock))


# ---- Antigravity --------------------------------------------------------------------------------


def antigravity_file(label):
    expiry = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + HOUR))
    return {"type": "antigravity", "access_token": f"ya29.{label}", "refresh_token": f"1//{label}",
            "expires_in": 3599, "timestamp": int(time.time() * 1000), "expired": expiry,
            "email": f"{label}@example.invalid", "project_id": f"proj-{label}"}


def agy_setup(env, creds, path_scenarios=None):
    """A google mock with a credential per (label, scenario, scenario_times), each file naming
    its project (no discovery calls)."""
    tokens = []
    for label, scenario, times in creds:
        token = {"label": label, "access": f"ya29.{label}", "refresh": f"1//{label}",
                 "expires_in": HOUR, "tier": "free-tier", "project": f"proj-{label}"}
        if scenario:
            token["scenario"] = scenario
        if times is not None:
            token["scenario_times"] = times
        tokens.append(token)
    mock = env.mock(names=["agy"], oauth={"agy": "google"}, issued_tokens={"agy": tokens},
                    path_scenarios={"agy": path_scenarios or {}})
    files = [env.tokens.write(f"{label}.json", antigravity_file(label)) for label, _, _ in creds]
    return mock, files


def agy_upstream(mock, files, base, fallback=None):
    auth = " ".join(f"auth_file={f}" for f in files)
    token_base = mock.base_url("agy")
    fb = f" fallback_base={fallback}" if fallback else ""
    return (f"AIProxyUpstream agy-sub {base} api=antigravity {auth} "
            f"token_url={token_base}/token{fb} models={AGY_MODEL} "
            f"map={AGY_MODEL}=gemini-2.5-pro\n")


def generate_calls(mock):
    return [r for r in provider_requests(mock, "agy") if "Content" in r["path"]]


def bases(calls):
    """The base (path prefix before /v1internal) each Code Assist call went to."""
    return [c["path"].split("/v1internal")[0] for c in calls]


@pytest.mark.parametrize("failure,scenario", [
    ("429", "[mock:status=429]"),
    ("no capacity", "[mock:no-capacity]"),
], ids=["429", "no-capacity"])
def test_antigravity_daily_failure_goes_to_prod(env, failure, scenario):
    """The daily host answering 429, or 503 "No capacity available": the production host gets
    the same request with the same credential."""
    mock, files = agy_setup(env, [("g", None, None)], {"/daily/": scenario})
    base = mock.base_url("agy")
    gw = env.gateway(agy_upstream(mock, files, f"{base}/daily", f"{base}/prod"))

    status, _, body = chat(gw, AGY_MODEL, "to prod")
    assert status == 200, body
    assert answer_text(body) == "echo: to prod"
    calls = generate_calls(mock)
    assert bases(calls) == ["/daily", "/prod"]
    assert calls[0]["path"] == calls[1]["path"].replace("/prod", "/daily")
    assert sent_body(calls[1])["project"] == "proj-g"
    assert calls[1]["oauth"]["credential"] == "g"
    assert gw.credentials("agy-sub")["g.json"]["state"] == "ok"


def test_antigravity_other_503_does_not_fall_back(env):
    """A 503 that is not about capacity is the upstream's failure: no second host."""
    mock, files = agy_setup(env, [("g", None, None)], {"/daily/": "[mock:status=503]"})
    base = mock.base_url("agy")
    gw = env.gateway(agy_upstream(mock, files, f"{base}/daily", f"{base}/prod"))
    status, _, body = chat(gw, AGY_MODEL)
    assert status == 503, body
    assert bases(generate_calls(mock)) == ["/daily"]


def test_antigravity_no_answer_goes_to_prod(env):
    mock, files = agy_setup(env, [("g", None, None)])
    base = mock.base_url("agy")
    gw = env.gateway(agy_upstream(mock, files, closed_base(), f"{base}/prod"))
    status, _, body = chat(gw, AGY_MODEL, "prod")
    assert status == 200, body
    assert bases(generate_calls(mock)) == ["/prod"]


def ask_until_first(gw, mock, label, text):
    """Ask (at most twice: the files take turns) until label's file is the first one a
    request tries. Returns (that request's calls, its duration in seconds)."""
    for i in range(2):
        before = len(generate_calls(mock))
        started = time.monotonic()
        status, _, body = chat(gw, AGY_MODEL, f"{text} {i}")
        took = time.monotonic() - started
        assert status == 200, body
        assert answer_text(body) == f"echo: {text} {i}"
        calls = generate_calls(mock)[before:]
        if calls[0]["oauth"]["credential"] == label:
            return calls, took
    raise AssertionError(f"{label} was never tried first")


def test_short_rate_limit_retries_the_same_credential(env):
    """RESOURCE_EXHAUSTED, RATE_LIMIT_EXCEEDED, retryDelay 1s: the gateway waits it out and
    asks again with the same credential (once), which now answers; no cooldown, no switch."""
    mock, files = agy_setup(env, [("r1", "[mock:status=429][mock:retry-after=1]", 1),
                                  ("r2", None, None)])
    gw = env.gateway(agy_upstream(mock, files, mock.base_url("agy")),
                     extra="AIProxyCircuitBreaker 1000 1")

    calls, took = ask_until_first(gw, mock, "r1", "retry")
    assert [c["oauth"]["credential"] for c in calls] == ["r1", "r1"], calls
    assert took >= 1.0, took
    assert gw.credentials("agy-sub")["r1.json"]["state"] == "ok"
    assert wait_for(lambda: "AIP00204" in gw.error_log())


def test_short_rate_limit_twice_cools_down_and_switches(env):
    """A second short RATE_LIMIT_EXCEEDED for the same file in one request: no more waiting,
    the file cools down and the next one serves."""
    mock, files = agy_setup(env, [("t1", "[mock:status=429][mock:retry-after=1]", None),
                                  ("t2", None, None)])
    gw = env.gateway(agy_upstream(mock, files, mock.base_url("agy")),
                     extra="AIProxyCircuitBreaker 1000 1")

    calls, took = ask_until_first(gw, mock, "t1", "twice")
    assert [c["oauth"]["credential"] for c in calls] == ["t1", "t1", "t2"], calls
    assert 1.0 <= took < 4, took
    assert wait_for(lambda: "t1.json cools down" in gw.error_log())


def test_long_rate_limit_cools_down_and_switches(env):
    """retryDelay 10s is past the 3 s bound: cool the file down and switch, as before."""
    mock, files = agy_setup(env, [("l1", "[mock:status=429][mock:retry-after=10]", 1),
                                  ("l2", None, None)])
    base = mock.base_url("agy")
    gw = env.gateway(agy_upstream(mock, files, base), extra="AIProxyCircuitBreaker 1000 1")
    now = int(time.time())
    started = time.monotonic()
    for i in range(3):
        status, _, body = chat(gw, AGY_MODEL, f"long {i}")
        assert status == 200, body
    assert time.monotonic() - started < 8  # nothing waited for the 10 s
    used = [c["oauth"]["credential"] for c in generate_calls(mock)]
    assert used.count("l1") == 1 and used.count("l2") == 3, used
    state = gw.credentials("agy-sub")["l1.json"]
    assert state["state"] == "cooling down"
    until = calendar.timegm(time.strptime(state["until"][:19], "%Y-%m-%dT%H:%M:%S"))
    assert now + 5 <= until <= int(time.time()) + 15, state
    assert "AIP00204" not in gw.error_log()


# ---- Antigravity's project discovery -----------------------------------------------------------


def discovery_setup(env, path_scenarios=None):
    """One Antigravity login whose file names no project: loadCodeAssist finds no tier, so the
    account is onboarded (done at the second onboardUser) to its project proj-d."""
    token = {"label": "d", "access": "ya29.d", "refresh": "1//d", "expires_in": HOUR,
             "project": "proj-d", "onboard_polls": 1}
    mock = env.mock(names=["agy"], oauth={"agy": "google"}, issued_tokens={"agy": [token]},
                    path_scenarios={"agy": path_scenarios or {}})
    login = antigravity_file("d")
    del login["project_id"]
    return mock, [env.tokens.write("d.json", login)]


def setup_bases(mock, action):
    """The base (path prefix) of every Code Assist setup call of action, in order."""
    return bases(r for r in provider_requests(mock, "agy")
                 if r["path"].endswith("/v1internal:" + action))


@pytest.mark.parametrize("failing,scenario,loads,onboards,said", [
    ("loadCodeAssist", "[mock:status=429]", ["/daily", "/prod"], ["/prod", "/prod"],
     "answered (429)"),
    ("onboardUser", "[mock:no-capacity]", ["/daily"], ["/daily", "/prod", "/prod"],
     "answered (503)"),
], ids=["load-429", "onboard-no-capacity"])
def test_discovery_follows_the_fallback_base(env, failing, scenario, loads, onboards, said):
    """A setup call the daily host fails as an attempt would fall back (429, no capacity) goes
    to the production host with the same token; the discovery stays there for its further
    calls, finds the project, and the client's request (which the daily host serves) names
    it."""
    mock, files = discovery_setup(env, {f"/daily/v1internal:{failing}": scenario})
    base = mock.base_url("agy")
    gw = env.gateway(agy_upstream(mock, files, f"{base}/daily", f"{base}/prod"))

    status, _, body = chat(gw, AGY_MODEL, "discovered")
    assert status == 200, body
    assert answer_text(body) == "echo: discovered"
    assert setup_bases(mock, "loadCodeAssist") == loads
    assert setup_bases(mock, "onboardUser") == onboards
    calls = generate_calls(mock)
    assert bases(calls) == ["/daily"]
    assert sent_body(calls[0])["project"] == "proj-d"
    log = gw.error_log()
    assert (f"AIP02067: upstream agy-sub: auth file {files[0]}: v1internal:{failing}: "
            f"{base}/daily {said}, trying its fallback base {base}/prod") in log, log
    assert "Code Assist project proj-d (onboarded to free-tier)" in log
    assert gw.credentials("agy-sub")["d.json"]["state"] == "ok"


def test_discovery_with_no_answer_goes_to_the_fallback(env):
    """Nothing listening at the base URL: the setup calls, and then the request, are served by
    the fallback base; the switch is logged at warn (a network matter)."""
    mock, files = discovery_setup(env)
    base = mock.base_url("agy")
    dead = closed_base()
    gw = env.gateway(agy_upstream(mock, files, dead, f"{base}/prod"))

    status, _, body = chat(gw, AGY_MODEL, "no daily")
    assert status == 200, body
    assert setup_bases(mock, "loadCodeAssist") == ["/prod"]
    assert setup_bases(mock, "onboardUser") == ["/prod", "/prod"]
    assert bases(generate_calls(mock)) == ["/prod"]
    assert sent_body(generate_calls(mock)[0])["project"] == "proj-d"
    switch = [line for line in gw.error_log().splitlines() if "AIP02067" in line]
    assert len(switch) == 1, switch
    assert ":warn]" in switch[0]
    assert f"v1internal:loadCodeAssist: {dead} did not answer (" in switch[0]
    assert switch[0].endswith(f"trying its fallback base {base}/prod")


def test_discovery_other_failure_does_not_fall_back(env):
    """A 503 that is not about capacity is no reason for another host: the discovery fails
    as before (the file sits out), nothing goes to the fallback base, the client gets an
    error."""
    mock, files = discovery_setup(env, {"/daily/v1internal:loadCodeAssist": "[mock:status=503]"})
    base = mock.base_url("agy")
    gw = env.gateway(agy_upstream(mock, files, f"{base}/daily", f"{base}/prod"))

    status, headers, body = chat(gw, AGY_MODEL)
    # its only file out, the upstream has nothing to serve with
    no_credential_error(status, headers, body, "openai", AGY_MODEL, "agy-sub", 60)
    assert setup_bases(mock, "loadCodeAssist") == ["/daily"]
    assert setup_bases(mock, "onboardUser") == []
    assert generate_calls(mock) == []
    log = gw.error_log()
    assert "AIP02067" not in log
    assert (f"auth file {files[0]}: no Code Assist project (loadCodeAssist answered HTTP 503)"
            in log), log


@pytest.mark.parametrize("failing", ["load-500", "load-401"])
def test_failed_discovery_answers_503_in_every_protocol(env, failing):
    """The only login's discovery fails: the model is served, only not now, so every client
    protocol gets 503 in its own envelope (which clients retry), not 404. A 500 benches the file
    for the default 60 s, said in Retry-After, and later requests skip the upstream without
    asking again; a 401 that the refreshed token gets again leaves the file expired, with no
    known time to say, and every request tries it once more. A model nothing serves is still
    404."""
    scenario = "[mock:status=500]" if failing == "load-500" else "[mock:status=401]"
    mock, files = discovery_setup(env, {"/v1internal:loadCodeAssist": scenario})
    gw = env.gateway(agy_upstream(mock, files, mock.base_url("agy")))

    protocols = ["openai", "anthropic", "responses", "gemini"]
    for proto in protocols:
        path, body = client_request(proto, "hello", model=AGY_MODEL)
        status, headers, answer = post_json(gw.url(path), body)
        no_credential_error(status, headers, answer, proto, AGY_MODEL, "agy-sub",
                            60 if failing == "load-500" else None)
    loads = setup_bases(mock, "loadCodeAssist")
    assert len(loads) == (1 if failing == "load-500" else 2 * len(protocols)), loads
    assert generate_calls(mock) == []
    path, body = client_request("anthropic", "hello", model="no-such-model")
    status, _, answer = post_json(gw.url(path), body)
    assert status == 404 and json.loads(answer)["error"]["type"] == "not_found_error", answer
    said = [line for line in gw.error_log().splitlines() if "AIP00205" in line]
    assert len(said) == len(protocols) and all(":info]" in line for line in said), said


# ---- the fallback host under the upstream's TLS settings ----------------------------------------


@pytest.fixture
def kiro_tls(env, tmp_path):
    """A Kiro mock answering plain http on "kiro" and https (a leaf of a private test CA) on
    "kirotls"; both know the same login."""
    pki = TestPKI(tmp_path / "pki")
    token = {"label": "k", "access": "aoa-k", "refresh": "aor-k", "account": PROFILE,
             "expires_in": HOUR}
    mock = env.mock(names=["kiro", "kirotls"], oauth={"kiro": "kiro", "kirotls": "kiro"},
                    issued_tokens={"kiro": [token], "kirotls": [token]},
                    tls={"kirotls": pki.leaf("kirotls")})
    path = env.tokens.write("k.json", kiro_social_file("aoa-k", "aor-k", int(time.time()) + HOUR))
    return mock, path, pki


def tls_gateway(env, upstream):
    gw = env.own(Gateway(upstream, ssl=True, log_level="info ssl:info"))
    gw.start()
    return gw


def test_https_fallback_is_verified_with_the_upstreams_ca(env, kiro_tls):
    """tls_ca= of the upstream verifies its fallback host too: the https fallback answers
    (the base URL is plain http, nothing listening)."""
    mock, path, pki = kiro_tls
    fallback = mock.base_url("kirotls", "localhost")
    gw = tls_gateway(env, kiro_upstream(mock, [path], closed_base(), fallback).rstrip("\n")
                     + f' tls_ca="{pki.ca_file}"')
    status, _, body = chat(gw, KIRO_MODEL, "over tls")
    assert status == 200, body
    assert answer_text(body) == "echo: over tls"
    sent = [r for r in mock.requests("kirotls") if r["path"].endswith("AssistantResponse")]
    assert len(sent) == 1 and sent[0]["headers"]["x-amz-target"] == CW_TARGET
    # the access log line is written after the answer went out
    assert wait_for(lambda: mock.tls_log("kirotls"))
    assert mock.tls_log("kirotls")[0][0] == "localhost"  # SNI of the fallback host


def test_https_fallback_is_verified_by_default(env, kiro_tls):
    """Without tls_ca= the fallback host is checked against the system's CAs, which do not
    know the test CA: refused, nothing sent to it, the client gets its error."""
    mock, path, _ = kiro_tls
    fallback = mock.base_url("kirotls", "localhost")
    gw = tls_gateway(env, kiro_upstream(mock, [path], closed_base(), fallback))
    status, _, body = chat(gw, KIRO_MODEL)
    assert status == 502, body
    assert "no upstream could be reached" in json.loads(body)["error"]["message"]
    assert mock.requests("kirotls") == []
    assert "unable to get local issuer certificate" in gw.error_log()
