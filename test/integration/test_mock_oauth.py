"""Tests of the mock upstream's OAuth mode (AIProxyMockOAuth, docs/mock-upstream.md): token
endpoints with rotation, the shared token store and its controls, bearer-checked provider
endpoints, quota answers."""

import concurrent.futures
import json
import time
import urllib.parse

import pytest

from harness import MockUpstream, jwt_claims, make_jwt, post_json, request, stream_sse

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
CODEX_CLIENT = "app_EMoamEEZ73f0CkXaXp7hrann"
CLAUDE_CLIENT = "9d1c250a-e61b-44d9-88ed-5944d1962f5e"
CLAUDE_BETA = "claude-code-20250219,oauth-2025-04-20"
NOW = int(time.time())
CODEX_ACCESS = make_jwt({"exp": NOW + 3600,
                         "https://api.openai.com/auth": {"chatgpt_account_id": "acct-a"}})

ISSUED = {
    "codex": [
        dict(label="a", access=CODEX_ACCESS, refresh="rt-a", account="acct-a",
             email="a@example.invalid"),
        dict(label="b", access="at-b", refresh="rt-b", account="acct-b"),
        dict(label="expired", access="at-old", refresh="rt-expired", account="acct-e",
             expires_in=-10),
        dict(label="gone", access="at-gone", refresh="rt-gone", account="acct-g", revoked=True),
        dict(label="busy", access="at-busy", refresh="rt-busy", account="acct-busy",
             scenario="[mock:quota=120]"),
    ],
    "claude": [
        dict(label="c", access="sk-ant-oat01-seed", refresh="sk-ant-ort01-seed",
             account="uuid-c"),
    ],
    "google": [dict(label="g", access="ya29.seed", refresh="1//seed")],
}


@pytest.fixture(scope="module")
def mock():
    m = MockUpstream(
        names=["codex", "claude", "google", "plain"],
        oauth={"codex": "codex", "claude": "claude", "google": "google"},
        issued_tokens=ISSUED,
        token_control={"claude": {"lifetime": 28800}},
    )
    m.start()
    yield m
    m.stop()


@pytest.fixture(autouse=True)
def fresh_controls(mock):
    """Every test starts with no failures or delay on demand."""
    for name in ("codex", "claude", "google"):
        mock.set_token_control(name, delay_ms=None, fail=None, fail_times=None,
                               retry_after=None, keep_rotated_access=None, client_id=None)
    yield


def seed(mock, name, label, **fields):
    """A credential added while the server runs (a test of its own, untouched by others)."""
    cred = {"label": label, "access": None, "refresh": None, "account": None, "email": None,
            "plan": None, "scenario": None, "expires_at": int(time.time()) + 3600,
            "generation": 0, "rotated_access": [], "used_refresh": [], "revoked": False}
    cred.update(fields)
    mock.update_tokens(name, lambda state: state["credentials"].append(cred))


def codex_refresh(mock, refresh, form=True, client_id=CODEX_CLIENT):
    fields = {"client_id": client_id, "grant_type": "refresh_token", "refresh_token": refresh}
    url = mock.base_url("codex") + "/oauth/token"
    if form:
        fields["scope"] = "openid profile email"
        return request("POST", url, urllib.parse.urlencode(fields), headers=FORM)
    return request("POST", url, fields)


def claude_refresh(mock, refresh):
    return request("POST", mock.base_url("claude") + "/v1/oauth/token",
                   {"grant_type": "refresh_token", "refresh_token": refresh,
                    "client_id": CLAUDE_CLIENT})


def codex_call(mock, token, account, text="hi", stream=False):
    body = {"model": "gpt-5-codex", "instructions": "", "input": [
        {"role": "user", "content": [{"type": "input_text", "text": text}]}],
        "stream": stream, "store": False}
    headers = {"Authorization": f"Bearer {token}", "Originator": "codex_cli_rs"}
    if account:
        headers["chatgpt-account-id"] = account
    return post_json(mock.base_url("codex") + "/backend-api/codex/responses", body, headers)


def claude_call(mock, token, beta=CLAUDE_BETA, text="hi", stream=False):
    body = {"model": "claude-sonnet-4-5", "max_tokens": 64, "stream": stream,
            "messages": [{"role": "user", "content": text}]}
    headers = {"Authorization": f"Bearer {token}", "anthropic-version": "2023-06-01"}
    if beta:
        headers["anthropic-beta"] = beta
    return post_json(mock.base_url("claude") + "/v1/messages?beta=true", body, headers)


# ---- token endpoints ---------------------------------------------------------------------------


@pytest.mark.parametrize("form", [True, False], ids=["form", "json"])
def test_codex_refresh_rotates_and_refuses_reuse(mock, form):
    label = f"rot-{'form' if form else 'json'}"
    seed(mock, "codex", label, access="at-0", refresh=f"rt-{label}", account=f"acct-{label}",
         email="r@example.invalid")
    status, _, body = codex_refresh(mock, f"rt-{label}", form=form)
    assert status == 200, body
    tokens = json.loads(body)
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 3600
    assert tokens["refresh_token"] != f"rt-{label}"
    for jwt in (tokens["access_token"], tokens["id_token"]):
        claims = jwt_claims(jwt)
        assert claims["https://api.openai.com/auth"]["chatgpt_account_id"] == f"acct-{label}"
        assert abs(claims["exp"] - (time.time() + 3600)) < 30
    assert jwt_claims(tokens["id_token"])["email"] == "r@example.invalid"

    cred = mock.credential("codex", label)
    assert cred["access"] == tokens["access_token"] and cred["generation"] == 1
    assert cred["used_refresh"] == [f"rt-{label}"]

    # the retired refresh token is refused for good, the new one works once
    status, _, body = codex_refresh(mock, f"rt-{label}", form=form)
    assert status == 401
    assert json.loads(body)["error"]["code"] == "refresh_token_reused"
    status, _, body = codex_refresh(mock, tokens["refresh_token"], form=form)
    assert status == 200 and json.loads(body)["refresh_token"] != tokens["refresh_token"]

    records = [r for r in mock.token_requests("codex")
               if r["oauth"].get("credential") == label]
    assert [r["oauth"]["outcome"] for r in records] == ["issued", "reused", "issued"]
    first = records[0]["oauth"]
    assert first["format"] == ("form" if form else "json")
    assert first["grant_type"] == "refresh_token" and first["client_id"] == CODEX_CLIENT
    assert first["refresh_token"] == f"rt-{label}"
    assert first["issued_access"] == tokens["access_token"]
    assert first["issued_refresh"] == tokens["refresh_token"]
    assert first["generation"] == 1 and first["status"] == 200
    assert records[0]["path"] == "/oauth/token"


def test_codex_unknown_and_revoked_refresh_tokens(mock):
    status, _, body = codex_refresh(mock, "rt-never-issued")
    assert status == 401 and json.loads(body)["error"]["code"] == "invalid_grant"
    assert mock.token_requests("codex")[-1]["oauth"]["outcome"] == "unknown"
    status, _, body = codex_refresh(mock, "rt-gone")
    assert status == 401 and json.loads(body)["error"]["code"] == "refresh_token_invalidated"
    assert mock.token_requests("codex")[-1]["oauth"]["outcome"] == "revoked"


def test_claude_refresh(mock):
    seed(mock, "claude", "c-rot", access="sk-ant-oat01-r0", refresh="sk-ant-ort01-r0",
         account="uuid-r", email="r@example.invalid")
    status, _, body = claude_refresh(mock, "sk-ant-ort01-r0")
    assert status == 200, body
    tokens = json.loads(body)
    assert tokens["access_token"].startswith("sk-ant-oat01-")
    assert tokens["refresh_token"].startswith("sk-ant-ort01-")
    assert tokens["refresh_token"] != "sk-ant-ort01-r0"
    assert tokens["expires_in"] == 28800  # AIProxyMockTokenControl lifetime=28800
    assert tokens["account"] == {"uuid": "uuid-r", "email_address": "r@example.invalid"}
    assert tokens["organization"]["uuid"]

    for refresh in ("sk-ant-ort01-r0", "sk-ant-ort01-unknown"):
        status, _, body = claude_refresh(mock, refresh)
        assert status == 400 and json.loads(body)["error"] == "invalid_grant"
    outcomes = [r["oauth"]["outcome"] for r in mock.token_requests("claude")[-3:]]
    assert outcomes == ["issued", "reused", "unknown"]
    assert mock.token_requests("claude")[-3]["path"] == "/v1/oauth/token"


def test_google_refresh_keeps_the_refresh_token(mock):
    url = mock.base_url("google") + "/token"
    form = urllib.parse.urlencode({"client_id": "x.apps.googleusercontent.com",
                                   "client_secret": "s", "grant_type": "refresh_token",
                                   "refresh_token": "1//seed"})
    accesses = set()
    for _ in range(2):
        status, _, body = request("POST", url, form, headers=FORM)
        assert status == 200, body
        tokens = json.loads(body)
        assert "refresh_token" not in tokens and tokens["access_token"].startswith("ya29.")
        accesses.add(tokens["access_token"])
    assert len(accesses) == 2
    assert mock.token_requests("google")[-1]["oauth"]["client_secret"] == "s"
    status, _, body = request("POST", url, form.replace("seed", "nope"), headers=FORM)
    assert status == 400 and json.loads(body)["error"] == "invalid_grant"


def test_bad_token_requests(mock):
    url = mock.base_url("codex") + "/oauth/token"
    status, _, body = request("POST", url, {"grant_type": "authorization_code", "code": "x"})
    assert status == 400 and json.loads(body)["error"] == "unsupported_grant_type"
    status, _, body = request("POST", url, "not json")
    assert status == 400 and json.loads(body)["error"] == "invalid_request"
    assert mock.token_requests("codex")[-1]["oauth"]["format"] == "invalid"


def test_concurrent_refreshes_issue_exactly_once(mock):
    seed(mock, "codex", "race", access="at-race", refresh="rt-race", account="acct-race")
    mock.set_token_control("codex", delay_ms=100)
    with concurrent.futures.ThreadPoolExecutor(24) as pool:
        results = list(pool.map(lambda _: codex_refresh(mock, "rt-race"), range(24)))
    statuses = sorted(status for status, _, _ in results)
    assert statuses == [200] + [401] * 23
    outcomes = [r["oauth"]["outcome"] for r in mock.token_requests("codex")
                if r["oauth"].get("credential") == "race"]
    assert outcomes.count("issued") == 1 and outcomes.count("reused") == 23
    assert mock.credential("codex", "race")["generation"] == 1


# ---- controls ------------------------------------------------------------------------------------


def test_delay_on_demand(mock):
    seed(mock, "codex", "slow", access="at-slow", refresh="rt-slow", account="acct-slow")
    mock.set_token_control("codex", delay_ms=400)
    start = time.monotonic()
    status, _, _ = codex_refresh(mock, "rt-slow")
    assert status == 200 and time.monotonic() - start >= 0.39
    assert mock.token_requests("codex")[-1]["oauth"]["delay_ms"] == 400


def test_transient_failures_then_success(mock):
    seed(mock, "codex", "flaky", access="at-flaky", refresh="rt-flaky", account="acct-flaky")
    mock.set_token_control("codex", fail=503, fail_times=2, retry_after=7)
    for _ in range(2):
        status, headers, body = codex_refresh(mock, "rt-flaky")
        assert status == 503 and headers["retry-after"] == "7"
        assert json.loads(body)["error"]["type"] == "server_error"
    assert mock.token_state("codex")["control"]["fail_times"] == 0
    # the failures did not consume the refresh token
    status, _, _ = codex_refresh(mock, "rt-flaky")
    assert status == 200
    outcomes = [r["oauth"]["outcome"] for r in mock.token_requests("codex")[-3:]]
    assert outcomes == ["failed", "failed", "issued"]


@pytest.mark.parametrize("name,refresh,status,field", [
    ("codex", "rt-b", 401, lambda b: b["error"]["code"]),
    ("claude", "sk-ant-ort01-seed", 400, lambda b: b["error"]),
])
def test_permanent_failure_on_demand(mock, name, refresh, status, field):
    mock.set_token_control(name, fail="invalid_grant")
    send = codex_refresh if name == "codex" else claude_refresh
    got, _, body = send(mock, refresh)
    assert got == status and field(json.loads(body)) == "invalid_grant"
    got, _, body = send(mock, refresh)
    assert got == status  # no fail_times: every call fails


def test_claude_transient_failure_uses_its_envelope(mock):
    mock.set_token_control("claude", fail=500, fail_times=1)
    status, _, body = claude_refresh(mock, "sk-ant-ort01-none")
    assert status == 500 and json.loads(body)["type"] == "error"


def test_client_id_check(mock):
    seed(mock, "codex", "client", access="at-client", refresh="rt-client", account="acct-c")
    mock.set_token_control("codex", client_id=CODEX_CLIENT)
    status, _, body = codex_refresh(mock, "rt-client", client_id="someone-else")
    assert status == 401 and json.loads(body)["error"] == "invalid_client"
    status, _, _ = codex_refresh(mock, "rt-client")
    assert status == 200


def test_short_lifetime_expires_issued_tokens(mock):
    seed(mock, "codex", "short", access="at-short", refresh="rt-short", account="acct-short")
    mock.set_token_control("codex", lifetime=1)
    try:
        status, _, body = codex_refresh(mock, "rt-short")
    finally:
        mock.set_token_control("codex", lifetime=None)
    token = json.loads(body)["access_token"]
    assert status == 200 and json.loads(body)["expires_in"] == 1
    assert codex_call(mock, token, "acct-short")[0] == 200
    time.sleep(2.1)
    status, _, body = codex_call(mock, token, "acct-short")
    assert status == 401 and json.loads(body)["error"]["code"] == "token_expired"


# ---- provider endpoints -----------------------------------------------------------------------


def test_codex_bearer_and_account(mock):
    status, _, body = codex_call(mock, CODEX_ACCESS, "acct-a")
    assert status == 200 and json.loads(body)["output"][0]["content"][0]["text"] == "echo: hi"
    rec = mock.last("codex")
    assert rec["oauth"] == {"endpoint": "provider", "dialect": "codex", "token": CODEX_ACCESS,
                            "credential": "a", "generation": 0, "outcome": "ok"}
    assert rec["path"] == "/backend-api/codex/responses"

    status, _, body = codex_call(mock, CODEX_ACCESS, "acct-b")
    assert status == 403 and json.loads(body)["error"]["code"] == "account_mismatch"
    status, _, body = codex_call(mock, CODEX_ACCESS, None)
    assert status == 403
    status, _, body = codex_call(mock, "at-who", "acct-a")
    assert status == 401 and json.loads(body)["error"]["code"] == "token_invalidated"
    assert mock.last("codex")["oauth"]["outcome"] == "unknown"
    status, _, body = request("POST", mock.base_url("codex") + "/backend-api/codex/responses",
                              {"model": "m", "input": "x"})
    assert status == 401 and mock.last("codex")["oauth"]["outcome"] == "missing"
    status, _, body = codex_call(mock, "at-old", "acct-e")
    assert status == 401 and json.loads(body)["error"]["code"] == "token_expired"
    status, _, body = codex_call(mock, "at-gone", "acct-g")
    assert status == 401 and mock.last("codex")["oauth"]["outcome"] == "revoked"


def test_codex_stream_with_fresh_token(mock):
    status, _, body = codex_refresh(mock, "rt-expired")
    fresh = json.loads(body)["access_token"]
    assert status == 200
    events = [e for e, _ in stream_sse(
        mock.base_url("codex") + "/backend-api/codex/responses",
        {"model": "gpt-5-codex", "input": "hi", "stream": True},
        {"Authorization": f"Bearer {fresh}", "chatgpt-account-id": "acct-e"}).events()]
    assert events[0] == "response.created" and events[-1] == "response.completed"
    assert mock.last("codex")["oauth"]["token"] == fresh
    assert mock.last("codex")["oauth"]["generation"] == 1


def test_rotated_access_token(mock):
    seed(mock, "codex", "old", access="at-old-0", refresh="rt-old-0", account="acct-o")
    assert codex_refresh(mock, "rt-old-0")[0] == 200
    status, _, _ = codex_call(mock, "at-old-0", "acct-o")
    assert status == 401 and mock.last("codex")["oauth"]["outcome"] == "rotated"
    assert mock.last("codex")["oauth"]["generation"] is None
    mock.set_token_control("codex", keep_rotated_access=True)
    assert codex_call(mock, "at-old-0", "acct-o")[0] == 200


def test_claude_bearer_and_beta(mock):
    status, _, body = claude_call(mock, "sk-ant-oat01-seed")
    assert status == 200 and json.loads(body)["content"][0]["text"] == "echo: hi"
    rec = mock.last("claude")
    assert rec["query"] == "beta=true" and rec["oauth"]["credential"] == "c"
    assert rec["headers"]["anthropic-beta"] == CLAUDE_BETA

    status, _, body = claude_call(mock, "sk-ant-oat01-seed", beta=None)
    assert status == 401
    assert json.loads(body)["error"] == {
        "type": "authentication_error",
        "message": "OAuth authentication is currently not supported."}
    assert mock.last("claude")["oauth"]["outcome"] == "beta_missing"

    mock.update_credential("claude", "c", expires_at=int(time.time()) - 1)
    try:
        status, _, body = claude_call(mock, "sk-ant-oat01-seed")
    finally:
        mock.update_credential("claude", "c", expires_at=int(time.time()) + 3600)
    assert status == 401 and "expired" in json.loads(body)["error"]["message"]

    events = [e for e, _ in stream_sse(
        mock.base_url("claude") + "/v1/messages?beta=true",
        {"model": "m", "max_tokens": 9, "stream": True,
         "messages": [{"role": "user", "content": "s"}]},
        {"Authorization": "Bearer sk-ant-oat01-seed", "anthropic-beta": CLAUDE_BETA}).events()]
    assert events[0] == "message_start" and events[-1] == "message_stop"


def test_count_tokens_needs_the_bearer_too(mock):
    url = mock.base_url("claude") + "/v1/messages/count_tokens?beta=true"
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
    assert post_json(url, body)[0] == 401
    status, _, reply = post_json(url, body, {"Authorization": "Bearer sk-ant-oat01-seed",
                                             "anthropic-beta": CLAUDE_BETA})
    assert status == 200 and "input_tokens" in json.loads(reply)


# ---- quota ---------------------------------------------------------------------------------------


def test_codex_usage_limit_marker(mock):
    status, headers, body = codex_call(mock, CODEX_ACCESS, "acct-a", text="[mock:quota=90]")
    assert status == 429
    err = json.loads(body)["error"]
    assert err["type"] == "usage_limit_reached" and err["resets_in_seconds"] == 90
    assert abs(err["resets_at"] - (time.time() + 90)) < 30
    assert headers["x-codex-primary-used-percent"] == "100"


def test_claude_rate_limit_marker(mock):
    status, headers, body = claude_call(mock, "sk-ant-oat01-seed", text="[mock:quota=300]")
    assert status == 429 and json.loads(body)["error"]["type"] == "rate_limit_error"
    assert headers["anthropic-ratelimit-unified-status"] == "rejected"
    assert headers["anthropic-ratelimit-unified-5h-status"] == "rejected"
    reset = int(headers["anthropic-ratelimit-unified-reset"])
    assert abs(reset - (time.time() + 300)) < 30 and headers["retry-after"] == "300"


def test_credential_scenario_applies_to_that_credential_only(mock):
    status, _, body = codex_call(mock, "at-busy", "acct-busy")
    assert status == 429 and json.loads(body)["error"]["resets_in_seconds"] == 120
    assert codex_call(mock, CODEX_ACCESS, "acct-a")[0] == 200
    mock.update_credential("codex", "busy", scenario=None)
    assert codex_call(mock, "at-busy", "acct-busy")[0] == 200


def test_quota_marker_on_key_vhosts(mock):
    status, _, body = post_json(
        mock.base_url("plain") + "/v1beta/models/gemini-x:generateContent",
        {"contents": [{"role": "user", "parts": [{"text": "[mock:quota=5]"}]}]})
    err = json.loads(body)["error"]
    assert status == 429 and err["status"] == "RESOURCE_EXHAUSTED"
    assert err["details"][0]["reason"] == "QUOTA_EXHAUSTED"
    assert err["details"][1]["retryDelay"] == "5s"


# ---- key-based vhosts and restarts -------------------------------------------------------------


def test_plain_vhost_is_untouched(mock):
    status, _, _ = request("POST", mock.base_url("plain") + "/oauth/token",
                           {"grant_type": "refresh_token", "refresh_token": "rt-a"})
    assert status == 404
    status, _, _ = post_json(mock.base_url("plain") + "/v1/responses",
                             {"model": "m", "input": "hi"})
    assert status == 200 and "oauth" not in mock.last("plain")


def test_store_survives_graceful_restart(mock):
    seed(mock, "codex", "keep", access="at-keep", refresh="rt-keep", account="acct-k")
    status, _, body = codex_refresh(mock, "rt-keep")
    assert status == 200
    mock.graceful()
    assert mock.credential("codex", "keep")["refresh"] == json.loads(body)["refresh_token"]
    # the seeded credentials were not reset either
    assert codex_call(mock, CODEX_ACCESS, "acct-a")[0] == 200
