"""Several servers, one view (issue 13): AIProxySharedState shares open circuits between
gateways through a real redis-server (mod_socache_redis); a store that goes away leaves every
gateway serving on its own state, with one warning."""

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from conftest import Gateway, ensure_built, GATEWAY_MODULES
from harness import HttpdError, MockUpstream, free_port, get, post_json
from test_soak import asan_build  # noqa: F401 - the fixture: `make asan-modules`

CHAT = "/v1/chat/completions"
ADMIN = '<Location "/aiproxy-admin">\n    SetHandler aiproxy-admin\n</Location>'
SOCACHE_DIR = "/usr/lib/apache2/modules"
SOCACHE_REDIS = ("socache_redis_module", f"{SOCACHE_DIR}/mod_socache_redis.so")
SOCACHE_MEMCACHE = ("socache_memcache_module", f"{SOCACHE_DIR}/mod_socache_memcache.so")
WARNING = "AIP03102"

BREAKER_ID = "aiproxy:v1:breaker:failing:m"

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None,
                                reason="redis-server (build/install-deps.sh test) is missing")


def store_key(shared_id):
    """The key socache stores an id under: its namespace, then the id in hex."""
    return "aiproxy:" + shared_id.encode().hex()


def exchange(port, payload, done):
    """Send payload, read until done(answer) says the answer is complete."""
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(payload.encode())
        answer = b""
        while not done(answer):
            chunk = s.recv(65536)
            if not chunk:
                break
            answer += chunk
        return answer.decode(errors="replace")


class Store:
    """A private redis-server or memcached on a free loopback port, nothing persisted."""

    def __init__(self, kind):
        self.kind = kind
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix=f"aiproxy-{kind}-")
        self.proc = None

    @property
    def directive(self):
        return f"AIProxySharedState {self.kind} 127.0.0.1:{self.port}"

    def command_line(self):
        if self.kind == "redis":
            return ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save",
                    "", "--appendonly", "no", "--dir", self.dir]
        user = ["-u", "nobody"] if os.geteuid() == 0 else []
        return ["memcached", "-l", "127.0.0.1", "-p", str(self.port), "-U", "0"] + user

    def ping(self):
        if self.kind == "redis":
            return exchange(self.port, "PING\r\n", lambda a: a.endswith(b"\r\n")) == "+PONG\r\n"
        return exchange(self.port, "version\r\n", lambda a: a.endswith(b"\r\n")).startswith(
            "VERSION")

    def start(self):
        self.proc = subprocess.Popen(self.command_line(), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if self.ping():
                    return self
            except OSError:
                pass
            assert self.proc.poll() is None, f"{self.kind} exited"
            time.sleep(0.05)
        raise RuntimeError(f"{self.kind} did not answer")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)

    def get(self, shared_id):
        """The value stored for a shared id, or None."""
        key = store_key(shared_id)
        if self.kind == "redis":
            answer = exchange(self.port, f"GET {key}\r\n",
                              lambda a: a.startswith(b"$-1\r\n") or a.count(b"\r\n") >= 2)
            return None if answer.startswith("$-1") else answer.split("\r\n")[1]
        answer = exchange(self.port, f"get {key}\r\n", lambda a: a.endswith(b"END\r\n"))
        return answer.split("\r\n")[1] if answer.startswith("VALUE") else None


def start_store(kind):
    if shutil.which({"redis": "redis-server", "memcache": "memcached"}[kind]) is None:
        pytest.skip(f"{kind} server missing (build/install-deps.sh test)")
    return Store(kind).start()


@pytest.fixture(params=["redis", "memcache"])
def store(request):
    s = start_store(request.param)
    yield s
    s.stop()
    shutil.rmtree(s.dir, ignore_errors=True)


@pytest.fixture
def redis():
    s = start_store("redis")
    yield s
    s.stop()
    shutil.rmtree(s.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def failing_mock():
    m = MockUpstream(names=["s503"], scenarios={"s503": "[mock:status=503]"})
    m.start()
    yield m
    m.stop()
    m.cleanup()


def upstream_lines(failing_mock, mock, models="models=m"):
    """models="": upstreams that serve every model, none named in the configuration."""
    return "\n".join([
        f"AIProxyUpstream failing {failing_mock.base_url('s503')} api=anthropic token=f "
        f"{models} weight=100",
        f"AIProxyUpstream healthy {mock.base_url('openai')} api=openai token=tok-h {models}",
    ])


def yaml_config(directory, store_url, failing_mock, mock):
    """The same two upstreams in a seed-format config.yaml with shared_state at its top."""
    path = os.path.join(directory, "config.yaml")
    with open(path, "w") as f:
        f.write(f"""shared_state: {store_url}
upstreams:
  - name: failing
    base_url: {failing_mock.base_url('s503')}
    api_type: anthropic
    token: f
    weight: 100
    available_models: [m]
  - name: healthy
    base_url: {mock.base_url('openai')}
    api_type: openai
    token: tok-h
    available_models: [m]
""")
    os.chmod(directory, 0o755)
    os.chmod(path, 0o644)
    return path


@pytest.fixture
def start_gateway():
    """Start a gateway with the socache modules loaded; stopped after the test."""
    ensure_built(*GATEWAY_MODULES)
    started = []

    def start(body, modules=(SOCACHE_REDIS, SOCACHE_MEMCACHE)):
        gw = Gateway(body)
        gw.extra_modules = list(gw.extra_modules) + list(modules)
        gw.write_conf()
        started.append(gw)
        gw.start()
        return gw

    yield start
    for gw in started:
        gw.stop()
        gw.cleanup()


@pytest.fixture
def shared_gateway(start_gateway, mock, failing_mock):
    """A gateway with a failing heavy upstream and a healthy one, sharing state through the
    given store line (or none)."""
    return lambda store_line: start_gateway(
        "\n".join([store_line, upstream_lines(failing_mock, mock), ADMIN]))


def chat(gw, text="hi"):
    status, headers, body = post_json(gw.url(CHAT), {
        "model": "m", "messages": [{"role": "user", "content": text}]})
    assert status == 200, body
    return headers.get("x-aiproxy-upstream")


def breaker(gw):
    status, _, body = get(gw.url("/aiproxy-admin/breakers"))
    assert status == 200, body
    for b in json.loads(body)["breakers"]:
        if b["upstream"] == "failing" and b.get("model") == "m":
            return b
    return None


def wait_for(what, check, timeout=10):
    """Poll check() until it returns something true; that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def open_circuit(gw):
    """Requests until gw's circuit of (failing, m) is open (3 failures, weight 100 to 1)."""
    for _ in range(30):
        chat(gw)
        b = breaker(gw)
        if b and b["open"]:
            return b
    raise AssertionError("the circuit never opened")


def share_and_check(a, b, lone, store, failing_mock, warm=False):
    """a opens the circuit of (failing, m); b, sharing the store, then never calls failing;
    lone, sharing nothing, does. warm: b serves m first (a model no configuration names is
    watched once a request asks for it)."""
    if warm:
        chat(b, "before")
    state = open_circuit(a)
    assert state["failures"] >= 3
    value = wait_for("a's write", lambda: store.get(BREAKER_ID))
    assert value.startswith("v1 "), value
    opened_until = int(value.split()[1])
    assert 0 < opened_until - time.time() <= 1800 + 1, value
    # within a read interval b has copied the circuit (its thread watches the configured
    # models), without a request of its own
    shared = wait_for("b to adopt the circuit", lambda: (breaker(b) or {}).get("open") and breaker(b))
    assert shared["failures"] >= 3 and 0 < shared["seconds_to_reset"] <= 1800, shared
    failing_mock.clear()
    for i in range(10):
        assert chat(b, f"b{i}") == "healthy"
    assert failing_mock.requests() == [], "gateway B called the upstream A found broken"
    # the control: a gateway without the store still calls the broken upstream
    for i in range(5):
        chat(lone, f"c{i}")
    assert failing_mock.requests(), "the lone gateway should have tried the failing upstream"


def test_other_gateway_skips_an_upstream_one_gateway_opened(store, shared_gateway, failing_mock):
    a = shared_gateway(store.directive)
    b = shared_gateway(store.directive)
    share_and_check(a, b, shared_gateway("AIProxySharedState none"), store, failing_mock)


def test_unnamed_model_is_shared_once_asked_for(redis, start_gateway, mock, failing_mock):
    body = "\n".join([redis.directive, upstream_lines(failing_mock, mock, models=""), ADMIN])
    lone = "\n".join([upstream_lines(failing_mock, mock, models=""), ADMIN])
    share_and_check(start_gateway(body), start_gateway(body), start_gateway(lone), redis,
                    failing_mock, warm=True)


def test_shared_state_from_the_yaml(redis, shared_gateway, start_gateway, mock, failing_mock,
                                    tmp_path):
    path = yaml_config(str(tmp_path), f"redis://127.0.0.1:{redis.port}", failing_mock, mock)
    a = start_gateway(f'AIProxyConfigFile "{path}"\n{ADMIN}')
    b = start_gateway(f'AIProxyConfigFile "{path}"\n{ADMIN}')
    share_and_check(a, b, shared_gateway(""), redis, failing_mock)


def test_reset_on_one_gateway_removes_the_entry(store, shared_gateway):
    a = shared_gateway(store.directive)
    open_circuit(a)
    wait_for("the entry", lambda: store.get(BREAKER_ID))
    status, _, body = post_json(a.url("/aiproxy-admin/breakers/reset?upstream=failing&model=m"), {})
    assert status == 200, body
    wait_for("the entry to go", lambda: store.get(BREAKER_ID) is None)


def test_store_stopped_mid_test_both_keep_serving(store, shared_gateway):
    a = shared_gateway(store.directive)
    b = shared_gateway(store.directive)
    chat(a)
    chat(b)
    store.stop()
    for i in range(20):
        assert chat(a, f"a{i}") == "healthy"
        assert chat(b, f"b{i}") == "healthy"
    for gw in (a, b):
        wait_for("the warning", lambda: WARNING in gw.error_log())
    for i in range(20):
        assert chat(a, f"a{i}") == "healthy"
        assert chat(b, f"b{i}") == "healthy"
    for gw in (a, b):
        # one warning per child at most (the harness runs up to 4), none per request
        count = gw.error_log().count(WARNING)
        assert 1 <= count <= 4, gw.error_log()[-3000:]
    # both still run their own breakers: a's circuit opened locally without the store
    assert breaker(a)["open"]


def test_store_back_sharing_resumes(redis, shared_gateway, failing_mock):
    """redis restarted on its port: after the pause, an opening is shared again."""
    a = shared_gateway(redis.directive)
    b = shared_gateway(redis.directive)
    redis.stop()
    chat(a)  # the store fails: both run on their own state for a few seconds
    redis.start()
    chat(b)  # b watches the key

    def reopen_until_written():
        post_json(a.url("/aiproxy-admin/breakers/reset?upstream=failing&model=m"), {})
        open_circuit(a)
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            if redis.get(BREAKER_ID):
                return True
            time.sleep(0.05)
        return False

    wait_for("a to write to the store again", reopen_until_written, timeout=40)
    wait_for("b to adopt the circuit", lambda: (breaker(b) or {}).get("open"))
    failing_mock.clear()
    for i in range(5):
        assert chat(b, f"b{i}") == "healthy"
    assert failing_mock.requests() == []


def test_token_cooldown_is_shared(redis, start_gateway):
    """A token refused on gateway A sits out on gateway B too: B never sends it."""
    keyed = MockUpstream(names=["openai"], require_keys={"openai": ["good-key"]})
    keyed.start()
    try:
        body = "\n".join([
            redis.directive,
            f"AIProxyUpstream keyed {keyed.base_url('openai')} api=openai "
            "token=bad-1 token=good-key models=m",
            ADMIN,
        ])
        a = start_gateway(body)
        b = start_gateway(body)
        for i in range(4):
            chat(a, f"a{i}")
        used = [r["headers"]["authorization"] for r in keyed.requests()]
        assert used.count("Bearer bad-1") == 1, used  # refused once, then benched on A
        # the token's position, never its value
        value = wait_for("a's write", lambda: redis.get("aiproxy:v1:token:keyed:0"))
        assert value.endswith(" 401"), value
        # b's thread reads every rotated token's key from its start: no request needed
        wait_for("b to bench the token", lambda: token_benched(b, 0))
        keyed.clear()
        for i in range(6):
            chat(b, f"b{i}")
        used = [r["headers"]["authorization"] for r in keyed.requests()]
        assert used == ["Bearer good-key"] * 6, used
    finally:
        keyed.stop()
        keyed.cleanup()


def token_benched(gw, index):
    status, _, body = get(gw.url("/aiproxy-admin/breakers"))
    assert status == 200, body
    return any(b.get("token") == index and b["open"] for b in json.loads(body)["breakers"])


def test_memcache_unreachable_still_serves(start_gateway, mock, failing_mock):
    """Nothing listens at the memcache address from the start: requests are answered anyway."""
    port = free_port()
    gw = start_gateway("\n".join([f"AIProxySharedState memcache 127.0.0.1:{port}",
                                   upstream_lines(failing_mock, mock), ADMIN]),
                       modules=(SOCACHE_MEMCACHE,))
    for i in range(10):
        assert chat(gw, f"m{i}") == "healthy"
    assert breaker(gw)["open"]


def test_missing_socache_module_refused_at_startup(start_gateway, mock, failing_mock):
    with pytest.raises(HttpdError) as failed:
        start_gateway("\n".join(["AIProxySharedState redis 127.0.0.1:6379",
                                  upstream_lines(failing_mock, mock)]), modules=())
    assert "AIProxySharedState redis needs mod_socache_redis" in str(failed.value)


@pytest.mark.parametrize("line,message", [
    ("AIProxySharedState redis", "redis needs an address host:port"),
    ("AIProxySharedState etcd 127.0.0.1:1", "unknown store 'etcd'"),
    ("AIProxySharedState none 127.0.0.1:1", "none takes no address"),
])
def test_bad_directive_refused(start_gateway, line, message):
    with pytest.raises(HttpdError) as failed:
        start_gateway(line)
    assert message in str(failed.value)


def test_bad_yaml_shared_state_refused(start_gateway, tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("shared_state: redis://user:secret@127.0.0.1:6379\n")
    os.chmod(tmp_path, 0o755)
    os.chmod(path, 0o644)
    with pytest.raises(HttpdError) as failed:
        start_gateway(f'AIProxyConfigFile "{path}"')
    assert f"{path}:1:15: shared_state: credentials in the URL are not supported" in str(
        failed.value)


def test_hanging_store_costs_at_most_its_timeout(start_gateway, mock, failing_mock):
    """A store that accepts connections and never answers (mod_socache_redis gives apr_redis
    its timeout in the wrong unit, so RedisTimeout does not bound the wait): only each child's
    store thread waits; every request is answered at once, on the gateway's own state, and
    the gateway stops cleanly."""
    import threading
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        gw = start_gateway("\n".join([
            f"AIProxySharedState redis 127.0.0.1:{listener.getsockname()[1]}",
            upstream_lines(failing_mock, mock), ADMIN]))
        began = time.monotonic()
        for i in range(20):
            assert chat(gw, f"h{i}") == "healthy"
        elapsed = time.monotonic() - began
        assert elapsed < 10, elapsed  # 40 local requests; a request waiting on the store: 30 s
        wait_for("the store thread to reach the store", lambda: held)
        assert breaker(gw)["open"]  # its own circuits work as ever
        began = time.monotonic()
        gw.stop()
        assert time.monotonic() - began < 20, "a child waited for its store thread"
    finally:
        stop.set()
        thread.join(timeout=5)
        for conn in held:
            conn.close()
        listener.close()


def test_store_thread_under_sanitizers(redis, mock, failing_mock, asan_build):
    """The store thread and the requests that feed it, under ASan and UBSan: two gateways,
    concurrent clients, circuits opened and reset, the store stopped and started again."""
    import threading
    from test_soak import libasan
    body = "\n".join([redis.directive, upstream_lines(failing_mock, mock), ADMIN])
    gateways = []
    for _ in range(2):
        gw = Gateway(body, module_dir=asan_build, env={
            "LD_PRELOAD": libasan(),
            "ASAN_OPTIONS": "detect_leaks=0:log_path=@LOG@/asan",
            "UBSAN_OPTIONS": "print_stacktrace=1:log_path=@LOG@/ubsan",
        })
        gw.extra_modules = list(gw.extra_modules) + [SOCACHE_REDIS]
        gw.write_conf()
        logs = gw.root / "logs"
        gw.env = {k: v.replace("@LOG@", str(logs)) for k, v in gw.env.items()}
        gateways.append(gw)
    stop, problems = threading.Event(), []

    def client(gw, n):
        i = 0
        while not stop.is_set():
            try:
                if i % 7 == 6:
                    post_json(gw.url("/aiproxy-admin/breakers/reset?upstream=failing&model=m"), {})
                else:
                    assert chat(gw, f"{n}-{i}") == "healthy"
            except Exception as exc:  # noqa: BLE001 - every failure counts
                problems.append(f"{type(exc).__name__}: {exc}")
            i += 1

    try:
        for gw in gateways:
            gw.start()
        threads = [threading.Thread(target=client, args=(gw, n))
                   for n, gw in enumerate(gateways * 3)]
        for t in threads:
            t.start()
        wait_for("an entry", lambda: redis.get(BREAKER_ID), timeout=30)
        redis.stop()
        wait_for("the warning", lambda: all(WARNING in gw.error_log() for gw in gateways),
                 timeout=30)
        redis.start()
        wait_for("an entry again", lambda: redis.get(BREAKER_ID), timeout=90)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
        for gw in gateways:
            gw.stop()
    for gw in gateways:
        logs = gw.root / "logs"
        reports = sorted(p.name for p in logs.iterdir() if p.name.startswith(("asan", "ubsan")))
        assert not reports, "\n".join((logs / r).read_text(errors="replace")[:3000]
                                      for r in reports)
        assert "AddressSanitizer" not in gw.error_log(), gw.error_log()[-3000:]
        gw.cleanup()
    assert not problems, problems[:5]
