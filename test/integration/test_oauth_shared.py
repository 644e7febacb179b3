"""Several gateways, one set of OAuth credentials (issue 13): copies of the same auth files on
two gateways sharing a real redis-server (AIProxySharedState redis + AIProxySharedStateKey)
refresh a credential once between them, take the other's rotated tokens instead of refreshing
with a spent refresh token, share cooldowns, keep serving when Redis goes away, and never store
a token in clear."""

import concurrent.futures
import os
import shutil
import socket
import time

import pytest

from conftest import GATEWAY_MODULES, ensure_built
from harness import HttpdError, MockUpstream, post_json
from test_oauth import (HOUR, MODEL, OAuthGateway, TokenDir, chat, codex_access, codex_file,
                        provider_requests)
from test_oauth_google import cpa_gemini_file, upstreams as google_upstreams
from test_shared_state import SOCACHE_MEMCACHE, SOCACHE_REDIS, start_store

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None,
                                reason="redis-server (build/install-deps.sh test) is missing")

KEY = "5f0c3a1e9b7d24c68e1f0a3b5c7d9e2f4a6b8c0d1e3f5a7b9c2d4e6f8a0b1c3d"
WARNING = "AIP02060"


def resp_command(port, *args):
    """One Redis command over RESP; the answer as Python values (bytes for bulk strings)."""
    payload = f"*{len(args)}\r\n".encode()
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        payload += f"${len(data)}\r\n".encode() + data + b"\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(payload)
        reader = s.makefile("rb")

        def parse():
            line = reader.readline()[:-2]
            kind, rest = line[:1], line[1:]
            if kind in (b"+", b"-"):
                return rest.decode()
            if kind == b":":
                return int(rest)
            if kind == b"$":
                n = int(rest)
                if n < 0:
                    return None
                data = reader.read(n + 2)[:-2]
                return data
            if kind == b"*":
                return [parse() for _ in range(int(rest))]
            raise AssertionError(f"unexpected answer {line!r}")
        return parse()


def store_dump(redis):
    """Every key and its value (strings only) in the store."""
    return {key: resp_command(redis.port, "GET", key) for key in resp_command(redis.port, "KEYS", "*")}


def oauth_keys(redis):
    return {k: v for k, v in store_dump(redis).items() if k.startswith(b"aiproxy:v1:oauth:")}


def assert_no_secret_in_store(redis, mock, name, names=()):
    """No token, old or new, in any key or value; no file name in a key."""
    secrets = set()
    for cred in mock.token_state(name)["credentials"]:
        secrets.update(filter(None, [cred.get("access"), cred.get("refresh")]))
        secrets.update(cred.get("used_refresh") or [])
        secrets.update(old["token"] for old in cred.get("rotated_access") or [])
    dump = store_dump(redis)
    assert dump, "nothing was stored"
    for key, value in dump.items():
        for secret in secrets:
            assert secret.encode() not in key and secret.encode() not in (value or b""), key
        for word in names:
            assert word.encode() not in key, key


@pytest.fixture
def redis():
    s = start_store("redis")
    yield s
    s.stop()
    shutil.rmtree(s.dir, ignore_errors=True)


@pytest.fixture
def world(tmp_path):
    """Mocks, token directories and gateways made on demand; all stopped after the test."""
    ensure_built(*GATEWAY_MODULES, "mod_aiproxy_mock.so")
    started = []
    key_path = tmp_path / "aiproxy-shared.key"
    key_path.write_text(KEY + "\n")
    os.chmod(key_path, 0o600)

    class World:
        key = key_path

        def mock(self, **kwargs):
            m = MockUpstream(**kwargs)
            m.start()
            started.append(m)
            return m

        def tokens(self):
            return TokenDir()

        def gateway(self, upstreams, store=None, key=key_path, modules=(SOCACHE_REDIS,),
                    start=True):
            extra = ""
            if store:
                extra += f"{store}\n"
            if key:
                extra += f'AIProxySharedStateKey "{key}"\n'
            gw = OAuthGateway(upstreams, extra)
            gw.extra_modules = list(gw.extra_modules) + list(modules)
            gw.write_conf()
            started.append(gw)
            if start:
                gw.start()
            return gw

    yield World()
    for server in reversed(started):
        server.stop()
        server.cleanup()


def codex_upstream(mock, path):
    base = mock.base_url("codex")
    return (f"AIProxyUpstream codex-sub {base} api=codex auth_file={path} "
            f"token_url={base}/oauth/token models={MODEL}")


def expired_codex(world, mock_kwargs=None):
    """A mock whose only Codex credential is expired, and a copy of its file per gateway."""
    now = int(time.time())
    old = codex_access(now - 60, "acct-s")
    mock = world.mock(names=["codex"], oauth={"codex": "codex"},
                      issued_tokens={"codex": [{"label": "s", "access": old, "refresh": "rt-old-s",
                                                "account": "acct-s", "expires_in": -60}]},
                      **(mock_kwargs or {}))
    dirs = [world.tokens(), world.tokens()]
    paths = [d.write("codex-s.json", codex_file(old, "rt-old-s", "acct-s", now - 60))
             for d in dirs]
    return mock, dirs, paths, old


def issued(mock, name="codex"):
    return [r for r in mock.token_requests(name) if r["oauth"]["outcome"] == "issued"]


def test_two_gateways_refresh_once_under_concurrent_requests(world, redis):
    mock, dirs, paths, old = expired_codex(
        world, {"token_control": {"codex": {"delay_ms": 800}}})
    a = world.gateway(codex_upstream(mock, paths[0]), redis.directive)
    b = world.gateway(codex_upstream(mock, paths[1]), redis.directive)

    jobs = [(gw, i) for i in range(16) for gw in (a, b)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=32) as pool:
        results = list(pool.map(lambda job: chat(job[0], f"hello {job[1]}"), jobs))
    assert [status for status, _, _ in results] == [200] * len(jobs), results[0]

    refreshes = mock.token_requests("codex")
    assert len(refreshes) == 1, refreshes
    assert refreshes[0]["oauth"]["outcome"] == "issued"
    served = provider_requests(mock, "codex")
    assert len(served) == len(jobs) and all(r["oauth"]["outcome"] == "ok" for r in served)
    # both copies of the file hold the new tokens, the rotated refresh token too
    cred = mock.credential("codex", "s")
    for d in dirs:
        written = d.read("codex-s.json")
        assert written["tokens"]["access_token"] == cred["access"] != old
        assert written["tokens"]["refresh_token"] == cred["refresh"] != "rt-old-s"
    logs = a.error_log() + b.error_log()
    assert logs.count("AIP02014") == 1, logs[-3000:]  # one gateway refreshed ...
    assert "AIP02015" in logs  # ... the other took its tokens
    keys = oauth_keys(redis)
    assert any(k.endswith(b":tokens") for k in keys), keys
    assert not any(k.endswith(b":lease") for k in keys), "the lease was not released"
    assert_no_secret_in_store(redis, mock, "codex", names=("codex-s", "codex-sub", "/tmp"))


def test_rotated_refresh_token_is_taken_from_the_other_gateway(world, redis):
    """A refreshes (the mock rotates: rt-old-s is spent); B, whose file still holds rt-old-s,
    serves with A's tokens instead of refreshing. A gateway sharing nothing fails there."""
    mock, dirs, paths, _ = expired_codex(world)
    lone_dir = world.tokens()
    lone_path = lone_dir.write("codex-s.json", dirs[0].read("codex-s.json"))
    a = world.gateway(codex_upstream(mock, paths[0]), redis.directive)
    b = world.gateway(codex_upstream(mock, paths[1]), redis.directive)
    lone = world.gateway(codex_upstream(mock, lone_path), key=None)

    assert chat(a)[0] == 200
    assert len(issued(mock)) == 1
    for i in range(3):
        status, _, body = chat(b, f"b{i}")
        assert status == 200, body
    assert len(mock.token_requests("codex")) == 1, mock.token_requests("codex")
    assert dirs[1].read("codex-s.json")["tokens"]["refresh_token"] == \
        mock.credential("codex", "s")["refresh"]
    # the control: the spent refresh token is refused at the token endpoint
    assert chat(lone)[0] != 200
    outcomes = [r["oauth"]["outcome"] for r in mock.token_requests("codex")]
    assert outcomes == ["issued", "reused"], outcomes
    assert_no_secret_in_store(redis, mock, "codex")


def test_cooldown_found_on_one_gateway_is_kept_by_the_other(world, redis):
    now = int(time.time())
    q1, q2 = codex_access(now + HOUR, "acct-q1"), codex_access(now + HOUR, "acct-q2")
    mock = world.mock(names=["codex"], oauth={"codex": "codex"},
                      issued_tokens={"codex": [
                          {"label": "q1", "access": q1, "refresh": "rt-q1", "account": "acct-q1",
                           "expires_in": HOUR, "scenario": "[mock:quota=7200]"},
                          {"label": "q2", "access": q2, "refresh": "rt-q2", "account": "acct-q2",
                           "expires_in": HOUR}]})

    def upstream(d):
        f1 = d.write("q1.json", codex_file(q1, "rt-q1", "acct-q1", now + HOUR))
        f2 = d.write("q2.json", codex_file(q2, "rt-q2", "acct-q2", now + HOUR))
        base = mock.base_url("codex")
        return (f"AIProxyUpstream codex-sub {base} api=codex auth_file={f1} auth_file={f2} "
                f"token_url={base}/oauth/token models={MODEL}")

    a = world.gateway(upstream(world.tokens()), redis.directive)
    b = world.gateway(upstream(world.tokens()), redis.directive)
    for i in range(3):
        assert chat(a, f"a{i}")[0] == 200
    used = [r["oauth"]["credential"] for r in provider_requests(mock, "codex")]
    assert used.count("q1") == 1, used  # the 429 with its reset, then q1 sits out on A
    assert a.credentials("codex-sub")["q1.json"]["state"] == "cooling down"

    deadline = time.monotonic() + 15
    while b.credentials("codex-sub")["q1.json"]["state"] != "cooling down":
        assert time.monotonic() < deadline, b.credentials("codex-sub")
        time.sleep(0.1)
    until_a = a.credentials("codex-sub")["q1.json"]["until"]
    assert b.credentials("codex-sub")["q1.json"]["until"] == until_a
    mock.clear()
    for i in range(6):
        assert chat(b, f"b{i}")[0] == 200
    used = [r["oauth"]["credential"] for r in provider_requests(mock, "codex")]
    assert used == ["q2"] * 6, used
    assert "AIP02066" in b.error_log()
    assert_no_secret_in_store(redis, mock, "codex")


def test_redis_stopped_each_gateway_refreshes_on_its_own(world, redis):
    """Google refresh tokens do not rotate, so without the store each gateway refreshes by
    itself and both keep serving; each warns once, no request fails."""
    now = int(time.time())
    mock = world.mock(names=["gcli"], oauth={"gcli": "google"},
                      issued_tokens={"gcli": [{"label": "g", "access": "ya29.g0", "refresh": "1//g",
                                               "expires_in": HOUR, "tier": "standard-tier",
                                               "project": "proj-g"}]},
                      # as Google does: a refresh leaves the other gateway's token valid
                      token_control={"gcli": {"keep_rotated_access": True}})
    gws = []
    for _ in range(2):
        path = world.tokens().write("gemini-g.json",
                                    cpa_gemini_file("ya29.g0", "1//g", now + HOUR, "proj-g"))
        body = google_upstreams(mock, [path], "gcli", "geminicli", "sub-gemini")
        gws.append(world.gateway(body, redis.directive))

    def ask(gw, text):
        status, _, body = chat_model(gw, "sub-gemini", text)
        assert status == 200, body

    for gw in gws:
        ask(gw, "before")
    redis.stop()
    for i in range(3):
        for gw in gws:
            ask(gw, f"down {i}")
    # the access token stops working: each gateway refreshes by itself, Redis being away
    mock.update_credential("gcli", "g", expires_at=now - 10)
    for i in range(3):
        for gw in gws:
            ask(gw, f"expired {i}")
    assert len(issued(mock, "gcli")) == 2, mock.token_requests("gcli")
    for gw in gws:
        log = gw.error_log()
        assert 1 <= log.count(WARNING) <= 4, log[-3000:]  # once per child at most


def chat_model(gw, model, text):
    return post_json(gw.url("/v1/chat/completions"),
                     {"model": model, "messages": [{"role": "user", "content": text}]})


@pytest.mark.parametrize("content,message", [
    (None, "AIProxySharedStateKey: cannot read"),
    ("too short", "expected 32 random bytes"),
    ("0" * 64, "one byte repeated"),
])
def test_bad_key_file_is_a_startup_error(world, tmp_path, content, message):
    key = tmp_path / "bad.key"
    if content is not None:
        key.write_text(content)
    mock = world.mock(names=["codex"], oauth={"codex": "codex"})
    with pytest.raises(HttpdError) as failed:
        world.gateway(codex_upstream(mock, "/nonexistent/a.json"),
                      "AIProxySharedState redis 127.0.0.1:1", key=key)
    assert message in str(failed.value)
    assert KEY not in str(failed.value)


@pytest.mark.parametrize("store,key,number", [
    ("memcache", True, "AIP02062"),  # OAuth state is not shared with memcached
    ("redis", False, "AIP02063"),    # nor without a key
])
def test_what_is_not_shared_is_said_at_startup(world, redis, store, key, number):
    mock, _, paths, _ = expired_codex(world)
    line = redis.directive if store == "redis" else "AIProxySharedState memcache 127.0.0.1:1"
    gw = world.gateway(codex_upstream(mock, paths[0]), line, key=world.key if key else None,
                       modules=(SOCACHE_REDIS, SOCACHE_MEMCACHE))
    assert number in gw.error_log()
    assert chat(gw)[0] == 200
    assert oauth_keys(redis) == {}


def test_redis_that_never_answers_costs_a_bounded_wait(world):
    """A store that accepts connections and never answers: the refresh goes on locally after
    the 200 ms command timeout; the request is served, quickly, and the store is warned of."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # the kernel completes the handshakes; nothing ever reads or answers
    try:
        mock, _, paths, _ = expired_codex(world)
        gw = world.gateway(codex_upstream(mock, paths[0]),
                           f"AIProxySharedState redis 127.0.0.1:{silent.getsockname()[1]}")
        started = time.monotonic()
        status, _, body = chat(gw)
        assert status == 200, body
        assert time.monotonic() - started < 3
        assert len(issued(mock)) == 1
        assert WARNING in gw.error_log()
        for i in range(5):
            assert chat(gw, f"again {i}")[0] == 200
    finally:
        silent.close()


def test_store_named_in_the_seed_yaml(world, redis):
    """shared_state: redis://... at the top of config.yaml is the store OAuth state uses too
    (only the key is a directive): B takes the tokens A refreshed."""
    mock, dirs, paths, _ = expired_codex(world)
    base = mock.base_url("codex")
    gws = []
    for d, path in zip(dirs, paths):
        config = d.path / "config.yaml"
        config.write_text(
            f"shared_state: redis://127.0.0.1:{redis.port}\n"
            "upstreams:\n"
            "  - name: codex-yaml\n"
            "    api_type: codex\n"
            f"    base_url: {base}\n"
            f"    token_url: {base}/oauth/token\n"
            f"    auth_files: [{path.name}]\n"
            f"    available_models: [{MODEL}]\n")
        os.chmod(config, 0o644)
        gws.append(world.gateway(f"AIProxyConfigFile {config}"))
    for gw in gws:
        status, _, body = chat(gw)
        assert status == 200, body
    assert [r["oauth"]["outcome"] for r in mock.token_requests("codex")] == ["issued"]
    assert "AIP02015" in gws[1].error_log()
