"""mod_aiproxy_oauth against the mock's OAuth vhosts: Codex and Claude Code subscription
upstreams read from auth files, refreshed once across all httpd children, written back, rotated
on quota answers, taken out on permanent refresh failures, and never leaking a token.

Each test starts its own mock (AIProxyMockOAuth vhosts: token endpoint and bearer-checked
provider endpoints, docs/mock-upstream.md) and its own gateway with four children, with
base_url= and token_url= pointing at the mock on 127.0.0.1."""

import concurrent.futures
import json
import os
import pathlib
import pwd
import stat
import tempfile
import time

import pytest

from conftest import GATEWAY_MODULES, ensure_built
from harness import OUT, Httpd, MockUpstream, free_port, get, make_jwt, post_json

MODEL = "sub-model"
HOUR = 3600


def _owner():
    """The uid/gid httpd's children run as (the harness sets User nobody when root)."""
    if os.geteuid() != 0:
        return None
    entry = pwd.getpwnam("nobody")
    return entry.pw_uid, entry.pw_gid


class TokenDir:
    """A private directory of auth files the gateway's children may rewrite."""

    def __init__(self):
        self.path = pathlib.Path(tempfile.mkdtemp(prefix="aiproxy-tokens-", dir="/tmp"))
        os.chmod(self.path, 0o700)
        owner = _owner()
        if owner:
            os.chown(self.path, *owner)

    def write(self, name, content):
        path = self.path / name
        path.write_text(json.dumps(content, indent=2) + "\n")
        os.chmod(path, 0o600)
        owner = _owner()
        if owner:
            os.chown(path, *owner)
        return path

    def read(self, name):
        return json.loads((self.path / name).read_text())


def codex_file(access, refresh, account, exp, extra=None):
    """A Codex CLI auth.json: the access token's JWT exp is the expiry."""
    content = {
        "auth_mode": "chatgpt",
        "OPENAI_API_KEY": None,
        "tokens": {
            "id_token": make_jwt({"email": "a@example.invalid", "exp": exp,
                                  "https://api.openai.com/auth": {"chatgpt_account_id": account}}),
            "access_token": access,
            "refresh_token": refresh,
            "account_id": account,
        },
        "last_refresh": "2026-01-01T00:00:00Z",
    }
    content.update(extra or {})
    return content


def codex_access(exp, account):
    return make_jwt({"exp": exp, "https://api.openai.com/auth": {"chatgpt_account_id": account}})


def claude_file(access, refresh, expires_at_s):
    return {"claudeAiOauth": {"accessToken": access, "refreshToken": refresh,
                              "expiresAt": int(expires_at_s * 1000), "scopes": ["user:inference"],
                              "subscriptionType": "max"},
            "someOtherTool": {"kept": True}}


class OAuthGateway(Httpd):
    """The gateway with four children from the start, an admin location, and an access log
    naming the child (%P) that served each request."""

    def __init__(self, upstreams, extra=""):
        self.port = free_port()
        body = (
            "StartServers 4\nMinSpareThreads 64\n"
            'LogFormat "%P %>s %U" oauthpid\n'
            'CustomLog "@ROOT@/logs/access.log" oauthpid\n'
            f"{extra}\n"
            f"<VirtualHost 127.0.0.1:{self.port}>\n{upstreams}\n"
            '<Location "/">\n    SetHandler aiproxy\n</Location>\n'
            '<Location "/admin">\n    SetHandler aiproxy-admin\n</Location>\n'
            "</VirtualHost>\n"
        )
        super().__init__("oauth-gw", body, listen=[self.port],
                         extra_modules=[OUT / m for m in GATEWAY_MODULES], log_level="info")

    def url(self, path="/"):  # noqa: D102
        return f"http://127.0.0.1:{self.port}{path}"

    def access_log(self):
        try:
            return (self.root / "logs" / "access.log").read_text()
        except OSError:
            return ""

    def admin(self):
        status, _, body = get(self.url("/admin/breakers"))
        assert status == 200, body
        return body.decode()

    def credentials(self, upstream):
        for entry in json.loads(self.admin())["credentials"]:
            if entry["upstream"] == upstream:
                return {c["label"]: c for c in entry["credentials"]}
        raise KeyError(upstream)


def chat(gw, text="hello", headers=None):
    return post_json(gw.url("/v1/chat/completions"),
                     {"model": MODEL, "messages": [{"role": "user", "content": text}]},
                     headers=headers)


@pytest.fixture
def env():
    """Starts mocks and gateways on demand; stops and removes them after the test."""
    started = []

    class Env:
        tokens = TokenDir()

        def mock(self, **kwargs):
            m = MockUpstream(**kwargs)
            m.start()
            started.append(m)
            return m

        def gateway(self, upstreams, extra=""):
            gw = OAuthGateway(upstreams, extra)
            started.append(gw)
            gw.start()
            return gw

        def own(self, server):
            """A server the test builds itself, stopped and removed with the others."""
            started.append(server)
            return server

    ensure_built(*GATEWAY_MODULES, "mod_aiproxy_mock.so")
    e = Env()
    yield e
    for server in reversed(started):
        server.stop()
        server.cleanup()


def codex_upstream(mock, files, extra=""):
    base = mock.base_url("codex")
    auth = " ".join(f"auth_file={f}" for f in files)
    return (f"AIProxyUpstream codex-sub {base} api=codex {auth} token_url={base}/oauth/token "
            f"models={MODEL} {extra}")


def provider_requests(mock, name):
    return [r for r in mock.requests(name) if (r.get("oauth") or {}).get("endpoint") == "provider"]


def test_concurrent_requests_on_an_expired_token_refresh_once(env):
    now = int(time.time())
    old_access = codex_access(now - 60, "acct-a")
    mock = env.mock(names=["codex"], oauth={"codex": "codex"},
                    issued_tokens={"codex": [{"label": "a", "access": old_access,
                                              "refresh": "rt-old-a", "account": "acct-a",
                                              "expires_in": -60}]},
                    token_control={"codex": {"delay_ms": 800}})
    path = env.tokens.write("codex-a.json", codex_file(old_access, "rt-old-a", "acct-a", now - 60,
                                                       {"unknownField": {"x": [1, 2]}}))
    gw = env.gateway(codex_upstream(mock, [path]))

    with concurrent.futures.ThreadPoolExecutor(max_workers=48) as pool:
        results = list(pool.map(lambda i: chat(gw, f"hello {i}"), range(48)))
    assert [status for status, _, _ in results] == [200] * 48, results[0]

    refreshes = mock.token_requests()
    assert len(refreshes) == 1, refreshes
    assert refreshes[0]["oauth"]["outcome"] == "issued"
    served = provider_requests(mock, "codex")
    assert len(served) == 48 and all(r["oauth"]["outcome"] == "ok" for r in served)
    pids = {line.split()[0] for line in gw.access_log().splitlines() if " 200 " in line}
    assert len(pids) >= 2, "the requests should have been served by several children"

    # write-back: new tokens, every other field kept, mode 0600
    written = env.tokens.read("codex-a.json")
    cred = mock.credential("codex", "a")
    assert written["tokens"]["access_token"] == cred["access"]
    assert written["tokens"]["refresh_token"] == cred["refresh"] != "rt-old-a"
    assert written["unknownField"] == {"x": [1, 2]}
    assert written["auth_mode"] == "chatgpt" and written["OPENAI_API_KEY"] is None
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    state = gw.credentials("codex-sub")["codex-a.json"]
    assert state["state"] == "ok" and state["fingerprint"].startswith("sha256:")
    _assert_no_token_leaks(gw, mock, "codex")


def test_upstream_401_on_a_token_believed_valid_refreshes_and_retries(env):
    now = int(time.time())
    access = codex_access(now + 10 * HOUR, "acct-b")
    # the file says valid for hours; the mock already considers it expired
    mock = env.mock(names=["codex"], oauth={"codex": "codex"},
                    issued_tokens={"codex": [{"label": "b", "access": access, "refresh": "rt-b",
                                              "account": "acct-b", "expires_in": -5}]})
    path = env.tokens.write("codex-b.json", codex_file(access, "rt-b", "acct-b", now + 10 * HOUR))
    gw = env.gateway(codex_upstream(mock, [path]))

    status, _, body = chat(gw)
    assert status == 200, body
    outcomes = [r["oauth"]["outcome"] for r in provider_requests(mock, "codex")]
    assert outcomes == ["expired", "ok"]
    assert len(mock.token_requests()) == 1
    _assert_no_token_leaks(gw, mock, "codex")


def test_quota_answer_moves_to_the_next_file(env):
    now = int(time.time())
    a, b = codex_access(now + HOUR, "acct-q1"), codex_access(now + HOUR, "acct-q2")
    mock = env.mock(names=["codex"], oauth={"codex": "codex"},
                    issued_tokens={"codex": [
                        {"label": "q1", "access": a, "refresh": "rt-q1", "account": "acct-q1",
                         "expires_in": HOUR, "scenario": "[mock:quota=7200]"},
                        {"label": "q2", "access": b, "refresh": "rt-q2", "account": "acct-q2",
                         "expires_in": HOUR}]})
    f1 = env.tokens.write("q1.json", codex_file(a, "rt-q1", "acct-q1", now + HOUR))
    f2 = env.tokens.write("q2.json", codex_file(b, "rt-q2", "acct-q2", now + HOUR))
    gw = env.gateway(codex_upstream(mock, [f1, f2]))

    for i in range(4):
        status, _, body = chat(gw, f"turn {i}")
        assert status == 200, body
    used = [r["oauth"]["credential"] for r in provider_requests(mock, "codex")]
    # q1 answers 429 usage_limit_reached at most once, then cools down; q2 serves the rest
    assert used.count("q1") == 1 and used.count("q2") == 4, used
    states = gw.credentials("codex-sub")
    if used.count("q1"):
        assert states["q1.json"]["state"] == "cooling down" and "until" in states["q1.json"]
    assert states["q2.json"]["state"] == "ok"


def no_credential_error(status, headers, body, proto, model, upstream, retry_after):
    """The message of the 503 a client gets when the model's upstreams have no usable
    credential, after checking proto's error envelope and that Retry-After says about
    retry_after seconds (None: no header)."""
    assert status == 503, body
    err = json.loads(body)["error"]
    if proto == "anthropic":
        assert json.loads(body)["type"] == "error" and err["type"] == "overloaded_error", body
    elif proto == "gemini":
        assert err["code"] == 503 and err["status"] == "UNAVAILABLE", body
    else:
        assert err["type"] == "server_error" and err["code"] == "service_unavailable", body
    if retry_after is None:
        assert "retry-after" not in headers, headers
    else:
        assert retry_after - 10 <= int(headers["retry-after"]) <= retry_after, headers
    assert err["message"] == (f"no usable credential for model '{model}' right now: upstream "
                              f"{upstream} has none (see the error log)"), err
    return err["message"]


def test_every_file_cooling_down_answers_503(env):
    """The only file out of quota for two hours: the request it refused gets the upstream's 429;
    later ones skip the upstream before any attempt, and the client hears that the model is
    served but not now (503 with Retry-After to the quota's reset, which clients retry), in its
    own envelope, not that it does not exist; a model nothing serves is still 404."""
    now = int(time.time())
    a = codex_access(now + HOUR, "acct-c1")
    mock = env.mock(names=["codex"], oauth={"codex": "codex"},
                    issued_tokens={"codex": [
                        {"label": "c1", "access": a, "refresh": "rt-c1", "account": "acct-c1",
                         "expires_in": HOUR, "scenario": "[mock:quota=7200]"}]})
    path = env.tokens.write("c1.json", codex_file(a, "rt-c1", "acct-c1", now + HOUR))
    gw = env.gateway(codex_upstream(mock, [path]))

    status, _, body = chat(gw, "refused")
    assert status == 429, body
    status, headers, body = post_json(gw.url("/v1/messages"),
                                      {"model": MODEL, "max_tokens": 20,
                                       "messages": [{"role": "user", "content": "later"}]})
    no_credential_error(status, headers, body, "anthropic", MODEL, "codex-sub", 7200)
    status, headers, body = chat(gw, "later still")
    no_credential_error(status, headers, body, "openai", MODEL, "codex-sub", 7200)
    assert len(provider_requests(mock, "codex")) == 1  # nothing more was sent
    status, _, body = post_json(gw.url("/v1/chat/completions"),
                                {"model": "no-such-model",
                                 "messages": [{"role": "user", "content": "x"}]})
    assert status == 404 and json.loads(body)["error"]["code"] == "model_not_found", body
    said = [line for line in gw.error_log().splitlines() if "AIP00205" in line]
    assert len(said) == 2 and all(":info]" in line for line in said), said
    assert (f"nothing tried for model '{MODEL}': upstream codex-sub has none; answering 503, "
            "Retry-After ") in said[0], said


def wait_for(predicate, seconds=20.0):
    """Poll predicate until it holds (True) or seconds pass (False)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def test_watchdog_refreshes_ahead_of_expiry(env):
    """A token within AIProxyOAuthRefreshSkew of its expiry is refreshed in the background,
    once, with no request asking for it; the file and the admin view follow."""
    now = int(time.time())
    access = codex_access(now + 60, "acct-w")
    mock = env.mock(names=["codex"], oauth={"codex": "codex"},
                    issued_tokens={"codex": [{"label": "w", "access": access, "refresh": "rt-w",
                                              "account": "acct-w", "expires_in": 60}]})
    path = env.tokens.write("w.json", codex_file(access, "rt-w", "acct-w", now + 60,
                                                  extra={"kept": "as it was"}))
    gw = env.gateway(codex_upstream(mock, [path]))

    def refreshed():
        return [r for r in mock.token_requests("codex") if r["oauth"]["outcome"] == "issued"]

    assert wait_for(lambda: refreshed() and env.tokens.read("w.json")["tokens"]["access_token"]
                    != access), mock.token_requests("codex")
    assert len(refreshed()) == 1
    written = env.tokens.read("w.json")
    assert written["tokens"]["access_token"] == mock.credential("codex", "w")["access"]
    assert written["kept"] == "as it was"
    state = gw.credentials("codex-sub")["w.json"]
    assert state["state"] == "ok" and state.get("last_refresh")
    assert provider_requests(mock, "codex") == []  # no request was needed for it
    assert chat(gw)[0] == 200
    assert len(refreshed()) == 1
    _assert_no_token_leaks(gw, mock, "codex")


def test_claudecode_rate_limit_moves_to_the_next_file(env):
    """Anthropic's 429 rate_limit_error with anthropic-ratelimit-unified-reset cools that
    account down until the reset; the next file serves meanwhile."""
    mock = env.mock(names=["claude"], oauth={"claude": "claude"},
                    issued_tokens={"claude": [
                        {"label": "r1", "access": "sk-ant-oat01-r1", "refresh": "sk-ant-ort01-r1",
                         "expires_in": HOUR, "scenario": "[mock:quota=7200]"},
                        {"label": "r2", "access": "sk-ant-oat01-r2", "refresh": "sk-ant-ort01-r2",
                         "expires_in": HOUR}]})
    now = int(time.time())
    f1 = env.tokens.write("r1.json", claude_file("sk-ant-oat01-r1", "sk-ant-ort01-r1", now + HOUR))
    f2 = env.tokens.write("r2.json", claude_file("sk-ant-oat01-r2", "sk-ant-ort01-r2", now + HOUR))
    base = mock.base_url("claude")
    gw = env.gateway(f"AIProxyUpstream claude-sub {base} api=claudecode auth_file={f1} "
                     f"auth_file={f2} token_url={base}/v1/oauth/token models={MODEL}")

    for i in range(4):
        status, _, body = post_json(gw.url("/v1/messages"),
                                    {"model": MODEL, "max_tokens": 20,
                                     "messages": [{"role": "user", "content": f"turn {i}"}]})
        assert status == 200, body
    used = [r["oauth"]["credential"] for r in provider_requests(mock, "claude")]
    assert used.count("r1") <= 1 and used.count("r2") == 4, used
    states = gw.credentials("claude-sub")
    if used.count("r1"):
        assert states["r1.json"]["state"] == "cooling down", states
    assert states["r2.json"]["state"] == "ok"
    _assert_no_token_leaks(gw, mock, "claude")


def test_disabled_file_is_skipped(env):
    now = int(time.time())
    a, b = codex_access(now + HOUR, "acct-d1"), codex_access(now + HOUR, "acct-d2")
    mock = env.mock(names=["codex"], oauth={"codex": "codex"},
                    issued_tokens={"codex": [
                        {"label": "d1", "access": a, "refresh": "rt-d1", "account": "acct-d1",
                         "expires_in": HOUR},
                        {"label": "d2", "access": b, "refresh": "rt-d2", "account": "acct-d2",
                         "expires_in": HOUR}]})
    f1 = env.tokens.write("d1.json", codex_file(a, "rt-d1", "acct-d1", now + HOUR,
                                                {"disabled": True}))
    f2 = env.tokens.write("d2.json", codex_file(b, "rt-d2", "acct-d2", now + HOUR))
    gw = env.gateway(codex_upstream(mock, [f1, f2]))

    for i in range(3):
        assert chat(gw, f"turn {i}")[0] == 200
    assert {r["oauth"]["credential"] for r in provider_requests(mock, "codex")} == {"d2"}
    states = gw.credentials("codex-sub")
    assert states["d1.json"]["state"] == "disabled" and "disabled" in states["d1.json"]["why"]


def test_permanent_refresh_failure_takes_the_file_out(env):
    now = int(time.time())
    dead, good = codex_access(now - 60, "acct-p1"), codex_access(now + HOUR, "acct-p2")
    mock = env.mock(names=["codex"], oauth={"codex": "codex"},
                    issued_tokens={"codex": [
                        {"label": "p1", "access": dead, "refresh": "rt-p1", "account": "acct-p1",
                         "expires_in": -60, "revoked": True},
                        {"label": "p2", "access": good, "refresh": "rt-p2", "account": "acct-p2",
                         "expires_in": HOUR}]})
    f1 = env.tokens.write("p1.json", codex_file(dead, "rt-p1", "acct-p1", now - 60))
    f2 = env.tokens.write("p2.json", codex_file(good, "rt-p2", "acct-p2", now + HOUR))
    gw = env.gateway(codex_upstream(mock, [f1, f2]))

    for i in range(4):
        status, _, body = chat(gw, f"turn {i}")
        assert status == 200, body
    time.sleep(2.5)  # the watchdog's next round must not try it again
    refreshes = mock.token_requests()
    assert len(refreshes) == 1 and refreshes[0]["oauth"]["outcome"] == "revoked", refreshes
    lines = [l for l in gw.error_log().splitlines() if "out of rotation" in l and "p1.json" in l]
    assert len(lines) == 1 and "codex-sub" in lines[0], lines
    state = gw.credentials("codex-sub")["p1.json"]
    assert state["state"] == "failed" and "refresh refused" in state["why"]
    _assert_no_token_leaks(gw, mock, "codex")


def test_transient_refresh_failure_keeps_the_valid_token_and_retries(env):
    now = int(time.time())
    access = codex_access(now + 120, "acct-t")  # within the default 300 s skew
    mock = env.mock(names=["codex"], oauth={"codex": "codex"},
                    issued_tokens={"codex": [{"label": "t", "access": access, "refresh": "rt-t",
                                              "account": "acct-t", "expires_in": 120}]},
                    token_control={"codex": {"fail": 503, "fail_times": 1}})
    path = env.tokens.write("t.json", codex_file(access, "rt-t", "acct-t", now + 120))
    gw = env.gateway(codex_upstream(mock, [path]))

    status, _, body = chat(gw)
    assert status == 200, body

    def written_back():
        # the mock records the refresh before the gateway has the answer: wait for the file
        current = env.tokens.read("t.json")["tokens"]["access_token"]
        return current != access and current == mock.credential("codex", "t")["access"]

    assert wait_for(written_back), mock.token_requests()
    outcomes = [r["oauth"]["outcome"] for r in mock.token_requests()]
    assert outcomes[0] == "failed" and outcomes[-1] == "issued", outcomes
    assert "refreshing auth file" in gw.error_log()
    assert chat(gw)[0] == 200
    _assert_no_token_leaks(gw, mock, "codex")


def test_claudecode_headers_and_refresh(env):
    now = int(time.time())
    mock = env.mock(names=["claude"], oauth={"claude": "claude"},
                    issued_tokens={"claude": [{"label": "c", "access": "sk-ant-oat01-mock-c",
                                               "refresh": "sk-ant-ort01-mock-c",
                                               "expires_in": -30}]})
    path = env.tokens.write("claude.json", claude_file("sk-ant-oat01-mock-c",
                                                       "sk-ant-ort01-mock-c", now - 30))
    base = mock.base_url("claude")
    gw = env.gateway(f"AIProxyUpstream claude-sub {base} api=claudecode auth_file={path} "
                     f"token_url={base}/v1/oauth/token models={MODEL}")

    status, _, body = post_json(gw.url("/v1/messages"),
                                {"model": MODEL, "max_tokens": 50,
                                 "messages": [{"role": "user", "content": "hi"}]},
                                headers={"anthropic-beta": "client-beta-1", "x-api-key": "client"})
    assert status == 200, body
    served = provider_requests(mock, "claude")
    assert [r["oauth"]["outcome"] for r in served] == ["ok"]
    h = served[0]["headers"]
    assert "x-api-key" not in h
    assert h["authorization"] == "Bearer " + mock.credential("claude", "c")["access"]
    betas = h["anthropic-beta"].split(",")
    assert "oauth-2025-04-20" in betas and "client-beta-1" in betas
    assert h["anthropic-version"] and h["user-agent"].startswith("claude-cli/")
    written = env.tokens.read("claude.json")
    assert written["someOtherTool"] == {"kept": True}
    assert written["claudeAiOauth"]["expiresAt"] > now * 1000
    _assert_no_token_leaks(gw, mock, "claude")


def test_codex_identity_headers(env):
    now = int(time.time())
    access = codex_access(now + HOUR, "acct-h")
    mock = env.mock(names=["codex"], oauth={"codex": "codex"},
                    issued_tokens={"codex": [{"label": "h", "access": access, "refresh": "rt-h",
                                              "account": "acct-h", "expires_in": HOUR}]})
    path = env.tokens.write("h.json", codex_file(access, "rt-h", "acct-h", now + HOUR))
    gw = env.gateway(codex_upstream(mock, [path]),
                     extra="AIProxyOAuthHeader codex version 9.9.9")
    assert chat(gw)[0] == 200
    h = provider_requests(mock, "codex")[0]["headers"]
    assert h["chatgpt-account-id"] == "acct-h"
    assert h["originator"] == "codex_cli_rs" and h["version"] == "9.9.9"
    assert h["user-agent"].startswith("codex_cli_rs/")


def _assert_no_token_leaks(gw, mock, name):
    """No access or refresh token, old or new, in the gateway's logs or admin output."""
    secrets = set()
    for cred in mock.token_state(name)["credentials"]:
        secrets.update(filter(None, [cred.get("access"), cred.get("refresh")]))
        secrets.update(cred.get("used_refresh") or [])
        secrets.update(old["token"] for old in cred.get("rotated_access") or [])
    texts = {"error log": gw.error_log(), "access log": gw.access_log(), "admin": gw.admin()}
    for where, text in texts.items():
        for secret in secrets:
            assert secret not in text, f"a token appears in the {where}"


def test_seed_yaml_token_url_and_auth_files(env):
    now = int(time.time())
    old_access = codex_access(now - 60, "acct-y")
    mock = env.mock(names=["codex"], oauth={"codex": "codex"},
                    issued_tokens={"codex": [{"label": "y", "access": old_access,
                                              "refresh": "rt-y", "account": "acct-y",
                                              "expires_in": -60}]})
    path = env.tokens.write("y.json", codex_file(old_access, "rt-y", "acct-y", now - 60))
    base = mock.base_url("codex")
    config = env.tokens.path / "config.yaml"
    config.write_text(
        "upstreams:\n"
        "  - name: codex-yaml\n"
        "    api_type: codex\n"
        f"    base_url: {base}\n"
        f"    token_url: {base}/oauth/token\n"
        f"    auth_files: [{path.name}]\n"
        f"    available_models: [{MODEL}]\n")
    os.chmod(config, 0o644)
    gw = env.gateway(f"AIProxyConfigFile {config}")
    status, _, body = chat(gw)
    assert status == 200, body
    assert [r["oauth"]["outcome"] for r in mock.token_requests()] == ["issued"]
    assert gw.credentials("codex-yaml")["y.json"]["state"] == "ok"
