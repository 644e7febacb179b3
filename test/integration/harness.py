"""Integration-test harness: private httpd instances, the mock upstream, HTTP/SSE helpers.

Standard library only (http.client, socket, subprocess, ctypes for zstd/brotli).

    REPO, OUT                 repository root, REPO/out (pathlib.Path)
    free_port()               a free TCP port on 127.0.0.1
    Httpd(name, conf_body, listen, extra_modules=(), log_level="warn", env=None, mpm=None)
                              a private httpd; "@ROOT@" in conf_body becomes its ServerRoot
                              (threads_per_child=16: event MPM, 4 children at most; env:
                              more environment for apache2, e.g. LD_PRELOAD; mpm: MPM
                              directive lines instead of that sizing)
    MockUpstream(names=[...], require_keys={name: [keys]}, tls={name: (cert, key)},
                 oauth={name: dialect}, issued_tokens={name: [{...}]}, token_control={name: {...}})
                              an Httpd with mod_aiproxy_mock, one vhost (and port) per name;
                              the vhosts named in tls answer https (mod_ssl) and log each
                              request's SNI, TLS protocol and client port (tls_log(name));
                              those in oauth issue tokens (token_state, update_tokens,
                              set_token_control, token_requests)
    make_jwt(claims) / jwt_claims(token)
                              an unsigned JWT like the mock's Codex tokens, and its payload
    SSL_MODULES               mod_ssl and what it needs, as extra_modules pairs
    request / post_json / get one HTTP exchange -> (status, headers, body)
    stream_sse / stream_chunks
                              iterate a streamed reply as it arrives
    compress / decompress     gzip, deflate, zstd, br bodies
    npm_ci(directory, what, stamp_name, timeout)
                              `npm ci` once per package-lock (a stamp in node_modules); skips
                              the test when node/npm or the registry is missing
"""

import base64
import contextlib
import ctypes
import ctypes.util
import fcntl
import gzip
import hashlib
import http.client
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
import zlib

REPO = pathlib.Path(__file__).resolve().parents[2]
OUT = REPO / "out"

APACHE2 = shutil.which("apache2", path="/usr/sbin:/usr/bin:/sbin:/bin") or "/usr/sbin/apache2"
STOCK_MODULE_DIR = pathlib.Path("/usr/lib/apache2/modules")
# (module name, file) in load order; mod_unixd is built in and must not be loaded.
STOCK_MODULES = [
    ("mpm_event_module", "mod_mpm_event.so"),
    ("authz_core_module", "mod_authz_core.so"),
    ("mime_module", "mod_mime.so"),
    ("slotmem_shm_module", "mod_slotmem_shm.so"),
    ("proxy_module", "mod_proxy.so"),
    ("proxy_http_module", "mod_proxy_http.so"),
    ("proxy_balancer_module", "mod_proxy_balancer.so"),
    ("lbmethod_byrequests_module", "mod_lbmethod_byrequests.so"),
    ("request_module", "mod_request.so"),
    ("status_module", "mod_status.so"),
    ("headers_module", "mod_headers.so"),
]
# mod_ssl for https upstreams (gateway side) and TLS mock vhosts (mod_log_config, built in,
# writes their logs).
SSL_MODULES = [
    ("socache_shmcb_module", STOCK_MODULE_DIR / "mod_socache_shmcb.so"),
    ("ssl_module", STOCK_MODULE_DIR / "mod_ssl.so"),
]
MINIMAL_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
# Sanitizer runs: AIPROXY_HTTPD_LD_PRELOAD etc. are passed to apache2 as LD_PRELOAD etc.
for _key in ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
    if os.environ.get("AIPROXY_HTTPD_" + _key):
        MINIMAL_ENV[_key] = os.environ["AIPROXY_HTTPD_" + _key]
READY_LINE = "resuming normal operations"
START_TIMEOUT = 10.0

_handed_out_ports = set()


def free_port():
    """A TCP port on 127.0.0.1 that is free now (never the same one twice per session)."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _handed_out_ports:
            _handed_out_ports.add(port)
            return port
    raise RuntimeError("no free port found")


def port_answers(port):
    """Does something accept TCP connections on 127.0.0.1:port?"""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _module_name_from_file(path):
    """mod_aiproxy_mock.so -> aiproxy_mock_module"""
    stem = pathlib.Path(path).name
    if stem.endswith(".so"):
        stem = stem[:-3]
    if stem.startswith("mod_"):
        stem = stem[4:]
    return stem + "_module"


class HttpdError(RuntimeError):
    pass


class Httpd:
    """A private Apache httpd with its own ServerRoot under /tmp.

    conf_body is appended to the generated httpd.conf; "@ROOT@" in it is replaced by the
    ServerRoot. extra_modules are absolute .so paths (module name derived from the file name:
    mod_x.so -> x_module) or (module_name, path) pairs.
    """

    def __init__(self, name, conf_body, listen, extra_modules=(), log_level="warn",
                 threads_per_child=16, env=None, mpm=None):
        self.name = name
        self.mpm = mpm  # MPM directive lines replacing the default sizing (benchmarks)
        self.env = dict(MINIMAL_ENV, **(env or {}))  # apache2's environment (sanitizer runs)
        self.threads_per_child = int(threads_per_child)
        self.listen = [int(p) for p in listen]
        self.extra_modules = list(extra_modules)
        self.log_level = log_level
        self.root = pathlib.Path(tempfile.mkdtemp(prefix=f"aiproxy-{name}-", dir="/tmp"))
        os.chmod(self.root, 0o755)
        for sub, mode in (("run", 0o777), ("logs", 0o755), ("htdocs", 0o755)):
            (self.root / sub).mkdir()
            os.chmod(self.root / sub, mode)
        self.conf_path = self.root / "httpd.conf"
        self.pid_file = self.root / "run" / "httpd.pid"
        self.error_log_path = self.root / "logs" / "error.log"
        self.conf_body = conf_body.replace("@ROOT@", str(self.root))
        self.write_conf()

    # -- configuration --

    def _module_lines(self):
        lines = []
        for mod, so in STOCK_MODULES:
            lines.append(f"LoadModule {mod} {STOCK_MODULE_DIR / so}")
        for extra in self.extra_modules:
            if isinstance(extra, (tuple, list)):
                mod, path = extra
            else:
                mod, path = _module_name_from_file(extra), extra
            lines.append(f'LoadModule {mod} "{os.path.abspath(path)}"')
        return lines

    def conf_text(self):
        root = self.root
        tpc = self.threads_per_child
        lines = [
            f'ServerRoot "{root}"',
            "ServerName 127.0.0.1",
        ]
        if os.geteuid() == 0:
            lines += ["User nobody", "Group nogroup"]
        lines += [f"Listen 127.0.0.1:{port}" for port in self.listen]
        lines += [
            f"PidFile {root}/run/httpd.pid",
            f"DefaultRuntimeDir {root}/run",
            f"Mutex default:{root}/run",
            f"ErrorLog {root}/logs/error.log",
            f"LogLevel {self.log_level}",
            "",
        ]
        lines += self._module_lines()
        lines += [
            "",
            "TypesConfig /etc/mime.types",
            f"DocumentRoot {root}/htdocs",
        ]
        # event MPM: up to 4 children of threads_per_child threads each
        lines += self.mpm or [
            "StartServers 1",
            "ServerLimit 4",
            f"ThreadLimit {tpc}",
            f"ThreadsPerChild {tpc}",
            f"MaxRequestWorkers {4 * tpc}",
            f"MinSpareThreads {tpc}",
            f"MaxSpareThreads {4 * tpc}",
        ]
        lines += [
            "",
            "# ---- test configuration ----",
            self.conf_body,
            "",
        ]
        return "\n".join(lines)

    def write_conf(self, conf_body=None):
        """(Re)write httpd.conf, optionally with a new body; use graceful() to apply it."""
        if conf_body is not None:
            self.conf_body = conf_body.replace("@ROOT@", str(self.root))
        self.conf_path.write_text(self.conf_text())
        os.chmod(self.conf_path, 0o644)

    # -- lifecycle --

    def _apachectl(self, action):
        return subprocess.run(
            [APACHE2, "-f", str(self.conf_path), "-k", action],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=30,
        )

    def _ready_count(self):
        return self.error_log().count(READY_LINE)

    def _wait_ready(self, ready_before, what):
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if (
                self.pid_file.exists()
                and self._ready_count() > ready_before
                and all(port_answers(p) for p in self.listen)
            ):
                return
            if time.monotonic() > deadline:
                raise HttpdError(f"httpd {self.name}: not ready {what}\n{self.error_log()}")
            time.sleep(0.02)

    def pid(self):
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def children(self):
        """The pids of the parent's children (the MPM's worker processes), from /proc."""
        parent, kids = self.pid(), []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = pathlib.Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2:].split()[1]) == parent:
                kids.append(int(entry))
        return kids

    def start(self):
        ready_before = self._ready_count()
        result = self._apachectl("start")
        if result.returncode != 0:
            raise HttpdError(
                f"httpd {self.name}: start failed ({result.returncode})\n"
                f"{result.stdout}{result.stderr}\n{self.error_log()}"
            )
        self._wait_ready(ready_before, "after start")
        return self

    def graceful(self):
        """Re-read httpd.conf; returns once the new generation is configured."""
        ready_before = self._ready_count()
        result = self._apachectl("graceful")
        if result.returncode != 0:
            raise HttpdError(
                f"httpd {self.name}: graceful failed\n{result.stdout}{result.stderr}\n"
                f"{self.error_log()}"
            )
        self._wait_ready(ready_before, "after graceful")

    def stop(self):
        pid = self.pid()
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + START_TIMEOUT
        while self.pid_file.exists() or any(port_answers(p) for p in self.listen):
            if time.monotonic() > deadline:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                break
            time.sleep(0.02)

    def cleanup(self):
        """Remove the ServerRoot (kept when AIPROXY_KEEP_TMP is set)."""
        if not os.environ.get("AIPROXY_KEEP_TMP"):
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        self.cleanup()
        return False

    # -- inspection --

    def error_log(self):
        try:
            return self.error_log_path.read_text(errors="replace")
        except OSError:
            return ""

    def url(self, port, path="/"):
        return f"http://127.0.0.1:{port}{path}"


class MockUpstream(Httpd):
    """mod_aiproxy_mock in one httpd: a vhost per name, each on its own port, all recording to
    one file. requests() returns the records (dicts, see docs/mock-upstream.md) plus a "json"
    key holding the parsed body (None when it is not JSON)."""

    def __init__(self, names=("anthropic", "openai", "responses", "gemini"), require_keys=None,
                 scenarios=None,
                 log_level="warn", module=None, threads_per_child=64, tls=None,
                 oauth=None, issued_tokens=None, token_control=None, path_scenarios=None):
        self.names = list(names)
        self.ports = {name: free_port() for name in self.names}
        require_keys = require_keys or {}
        scenarios = scenarios or {}
        self.tls = dict(tls or {})
        self.oauth = dict(oauth or {})
        vhosts = []
        for name in self.names:
            keys = "".join(
                f'    AIProxyMockRequireKey "{key}"\n' for key in require_keys.get(name, ())
            )
            if name in scenarios:  # markers applied to every request of this vhost
                keys += f'    AIProxyMockScenario "{scenarios[name]}"\n'
            # {prefix: markers}: for the requests under a path prefix of this vhost
            for prefix, markers in (path_scenarios or {}).get(name, {}).items():
                keys += f'    AIProxyMockPathScenario "{prefix}" "{markers}"\n'
            if name in self.oauth:
                keys += _oauth_directives(self.oauth[name], (issued_tokens or {}).get(name, ()),
                                          (token_control or {}).get(name))
            if name in self.tls:
                cert, key = self.tls[name]
                keys += (
                    "    SSLEngine on\n"
                    f'    SSLCertificateFile "{cert}"\n'
                    f'    SSLCertificateKeyFile "{key}"\n'
                    f'    CustomLog "@ROOT@/logs/tls-{name}.log" '
                    '"%{SSL_TLS_SNI}x %{SSL_PROTOCOL}x %{remote}p %k %U"\n'
                )
            vhosts.append(
                f"<VirtualHost 127.0.0.1:{self.ports[name]}>\n"
                f'    AIProxyMockName "{name}"\n'
                f'    AIProxyMockRecordFile "@ROOT@/requests.jsonl"\n'
                f"{keys}"
                f'    <Location "/">\n'
                f"        SetHandler aiproxy-mock\n"
                f"    </Location>\n"
                f"</VirtualHost>\n"
            )
        module = module or os.environ.get("AIPROXY_MOCK_SO") or (OUT / "mod_aiproxy_mock.so")
        # like the real APIs, keep pooled connections open
        server = "KeepAlive On\nMaxKeepAliveRequests 0\nKeepAliveTimeout 60\n\n"
        extra = [("aiproxy_mock_module", module)]
        if self.tls:
            extra = SSL_MODULES + extra
            server += "SSLSessionCache shmcb:@ROOT@/run/ssl_scache(512000)\n\n"
        super().__init__(
            "mock",
            server + "\n".join(vhosts),
            listen=list(self.ports.values()),
            extra_modules=extra,
            log_level=log_level,
            threads_per_child=threads_per_child,
        )
        self.record_file = self.root / "requests.jsonl"
        self.record_file.touch()
        os.chmod(self.record_file, 0o666)
        self.token_store = self.root / "oauth"
        self.token_store.mkdir()
        os.chmod(self.token_store, 0o777)

    def port(self, name):
        return self.ports[name]

    def base_url(self, name, host="127.0.0.1"):
        scheme = "https" if name in self.tls else "http"
        return f"{scheme}://{host}:{self.ports[name]}"

    def tls_log(self, name):
        """(sni, protocol, client_port, keepalive_count, path) per request to a TLS vhost."""
        try:
            text = (self.root / "logs" / f"tls-{name}.log").read_text()
        except OSError:
            return []
        return [tuple(line.split(" ")) for line in text.splitlines() if line.strip()]

    def requests(self, upstream=None):
        records = []
        try:
            text = self.record_file.read_text()
        except OSError:
            return records
        for line in text.splitlines():
            if not line.strip():
                continue
            rec = json.loads(line)
            if upstream is not None and rec.get("upstream") != upstream:
                continue
            try:
                rec["json"] = json.loads(rec["body"]) if rec.get("body") is not None else None
            except ValueError:
                rec["json"] = None
            records.append(rec)
        return records

    def last(self, upstream=None):
        records = self.requests(upstream)
        return records[-1] if records else None

    def clear(self):
        os.truncate(self.record_file, 0)

    # -- AIProxyMockOAuth vhosts: the token store (see docs/mock-upstream.md) --

    @contextlib.contextmanager
    def _token_lock(self, name, exclusive):
        with open(self.token_store / f"{name}.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            try:
                yield self.token_store / f"{name}.json"
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def token_state(self, name):
        """The store of an OAuth vhost: {"control": {...}, "credentials": [...]}."""
        with self._token_lock(name, False) as path:
            return json.loads(path.read_text())

    def update_tokens(self, name, change):
        """change(state) edits the store in place, under the lock the mock takes."""
        with self._token_lock(name, True) as path:
            state = json.loads(path.read_text())
            change(state)
            tmp = path.with_name(f"{path.name}.harness.tmp")
            tmp.write_text(json.dumps(state, indent=1))
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
            return state

    def set_token_control(self, name, **control):
        """Change the controls while the server runs; a None value removes the key."""
        def change(state):
            for key, value in control.items():
                if value is None:
                    state["control"].pop(key, None)
                else:
                    state["control"][key] = value
        self.update_tokens(name, change)

    def credential(self, name, label):
        """One credential of the store, by label."""
        for cred in self.token_state(name)["credentials"]:
            if cred["label"] == label:
                return cred
        raise KeyError(label)

    def update_credential(self, name, label, **fields):
        """Change fields of one credential (expires_at, revoked, scenario, ...)."""
        def change(state):
            for cred in state["credentials"]:
                if cred["label"] == label:
                    cred.update(fields)
                    return
            raise KeyError(label)
        self.update_tokens(name, change)

    def token_requests(self, upstream=None):
        """The records of token-endpoint calls (each with its "oauth" object)."""
        return [rec for rec in self.requests(upstream)
                if (rec.get("oauth") or {}).get("endpoint") == "token"]


def _oauth_directives(dialect, issued, control):
    """The AIProxyMockOAuth lines of one vhost: dialect, store, seeded credentials, controls."""
    def words(fields):
        return " ".join(f'"{key}={_directive_value(value)}"' for key, value in fields.items())
    lines = f"    AIProxyMockOAuth {dialect}\n" '    AIProxyMockTokenStore "@ROOT@/oauth"\n'
    for cred in issued:
        lines += f"    AIProxyMockIssuedToken {words(cred)}\n"
    if control:
        lines += f"    AIProxyMockTokenControl {words(control)}\n"
    return lines


def _directive_value(value):
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


_MASK64 = (1 << 64) - 1


def _splitmix64(x):
    """splitmix64 finaliser, as test/mock/mock_util.c mock_mix()."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def mock_vector(text, dims=8):
    """The embedding the mock answers for text (test/mock/mock_embed.c): dims values k/1024,
    exact in JSON and in float32."""
    h = 0xCBF29CE484222325
    for byte in text.encode():
        h = ((h ^ byte) * 0x100000001B3) & _MASK64
    return [((_splitmix64((h + i) & _MASK64) % 2049) - 1024) / 1024 for i in range(dims)]


def make_jwt(claims):
    """An unsigned JWT (RS256-looking header, opaque signature), as the mock issues for Codex."""
    header = {"alg": "RS256", "kid": "mock", "typ": "JWT"}
    return ".".join([_b64url(json.dumps(header).encode()), _b64url(json.dumps(claims).encode()),
                     _b64url(os.urandom(32))])


def jwt_claims(token):
    """The payload of a JWT, signature not checked."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


# ---- HTTP helpers ----------------------------------------------------------------------------


def _split_url(url):
    u = urllib.parse.urlsplit(url)
    path = u.path or "/"
    if u.query:
        path += "?" + u.query
    return u.hostname, u.port or 80, path


def _headers_dict(resp):
    headers = {}
    for key, value in resp.getheaders():
        key = key.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers


def _encode_body(obj):
    if obj is None:
        return None
    if isinstance(obj, (bytes, bytearray)):
        return bytes(obj)
    if isinstance(obj, str):
        return obj.encode()
    return json.dumps(obj).encode()


def request(method, url, body=None, headers=None, timeout=30):
    """One HTTP exchange -> (status, headers with lower-cased names, body bytes).

    body: dict/list (sent as JSON), str or bytes (sent as is), or None."""
    host, port, path = _split_url(url)
    data = _encode_body(body)
    hdrs = dict(headers or {})
    if data is not None and not any(k.lower() == "content-type" for k in hdrs):
        hdrs["Content-Type"] = "application/json"
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        payload = resp.read()
        return resp.status, _headers_dict(resp), payload
    finally:
        conn.close()


def post_json(url, obj, headers=None, timeout=30):
    return request("POST", url, obj, headers, timeout)


def get(url, headers=None, timeout=30):
    return request("GET", url, None, headers, timeout)


class _Stream:
    """A streamed reply: status and headers are available at once; iterate for the body."""

    def __init__(self, url, obj, headers=None, timeout=30, method="POST"):
        host, port, path = _split_url(url)
        data = _encode_body(obj)
        hdrs = dict(headers or {})
        if data is not None and not any(k.lower() == "content-type" for k in hdrs):
            hdrs["Content-Type"] = "application/json"
        self.started = time.monotonic()
        self._conn = http.client.HTTPConnection(host, port, timeout=timeout)
        self._conn.request(method, path, body=data, headers=hdrs)
        self._resp = self._conn.getresponse()
        self.status = self._resp.status
        self.headers = _headers_dict(self._resp)
        self.truncated = False  # the body ended without its proper end (cut connection)
        self.raw = bytearray()  # every byte received

    def _chunks(self):
        try:
            while True:
                try:
                    data = self._resp.read1(65536)
                except (http.client.IncompleteRead, ConnectionError, http.client.HTTPException):
                    self.truncated = True
                    return
                if not data:
                    # a Content-Length body that ended early
                    if self._resp.length:
                        self.truncated = True
                    return
                self.raw.extend(data)
                yield time.monotonic(), bytes(data)
        finally:
            self.close()

    def close(self):
        self._conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


class SSEStream(_Stream):
    """Iterating yields (arrival_time, event_name, data) per event, as events arrive.

    Parsing follows the SSE spec: lines end in CRLF, LF or CR; "event:" names the event (None
    when absent), "data:" lines are joined with "\\n", a blank line dispatches, lines starting
    with ":" are comments (kept in .comments), an event with no data is not dispatched, an
    unterminated event at the end is dropped. Arrival times are time.monotonic()."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.comments = []

    def __iter__(self):
        buf = ""
        event, data = None, []
        for arrived, chunk in self._chunks():
            buf += chunk.decode("utf-8", errors="replace")
            while True:
                line, sep, rest = _split_line(buf)
                if sep is None:
                    break
                buf = rest
                if line == "":
                    if data:
                        yield arrived, event, "\n".join(data)
                    event, data = None, []
                elif line.startswith(":"):
                    self.comments.append(line[1:])
                else:
                    field, _, value = line.partition(":")
                    if value.startswith(" "):
                        value = value[1:]
                    if field == "event":
                        event = value
                    elif field == "data":
                        data.append(value)

    def events(self):
        """All events as a list of (event_name, data)."""
        return [(name, data) for _, name, data in self]


def _split_line(buf):
    """(line, separator, rest) for the first complete line of buf, or (None, None, buf). A CR at
    the very end waits for more data, since an LF may follow. str.find, not a loop over the
    characters: buf is searched again whenever data arrives, and a line can be megabytes (a
    Responses stream's closing events repeat its whole text)."""
    lf, cr = buf.find("\n"), buf.find("\r")
    if lf == -1 and cr == -1:
        return None, None, buf
    if cr == -1 or (lf != -1 and lf < cr):
        return buf[:lf], "\n", buf[lf + 1:]
    if cr + 1 == len(buf):
        return None, None, buf
    if buf[cr + 1] == "\n":
        return buf[:cr], "\r\n", buf[cr + 2:]
    return buf[:cr], "\r", buf[cr + 1:]


class ChunkStream(_Stream):
    """Iterating yields (arrival_time, bytes) as the body arrives (e.g. Gemini's JSON array)."""

    def __iter__(self):
        return self._chunks()


def stream_sse(url, obj, headers=None, timeout=30):
    """POST obj and return an SSEStream: .status, .headers, .truncated, .raw; iterate it for
    (arrival_time, event_name, data_str) as events arrive."""
    return SSEStream(url, obj, headers, timeout)


def stream_chunks(url, obj, headers=None, timeout=30):
    """POST obj and return a ChunkStream; iterate it for (arrival_time, bytes)."""
    return ChunkStream(url, obj, headers, timeout)


# ---- Content-Encoding ------------------------------------------------------------------------

_libs = {}


def _lib(name):
    if name not in _libs:
        path = ctypes.util.find_library(name) or f"lib{name}.so.1"
        _libs[name] = ctypes.CDLL(path)
    return _libs[name]


def _zstd_compress(data, level=3):
    z = _lib("zstd")
    z.ZSTD_compressBound.restype = ctypes.c_size_t
    z.ZSTD_compressBound.argtypes = [ctypes.c_size_t]
    z.ZSTD_compress.restype = ctypes.c_size_t
    z.ZSTD_compress.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p,
                                ctypes.c_size_t, ctypes.c_int]
    z.ZSTD_isError.restype = ctypes.c_uint
    z.ZSTD_isError.argtypes = [ctypes.c_size_t]
    cap = z.ZSTD_compressBound(len(data))
    out = ctypes.create_string_buffer(cap)
    n = z.ZSTD_compress(out, cap, data, len(data), level)
    if z.ZSTD_isError(n):
        raise ValueError("zstd compression failed")
    return out.raw[:n]


def _zstd_decompress(data):
    z = _lib("zstd")
    z.ZSTD_decompress.restype = ctypes.c_size_t
    z.ZSTD_decompress.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p,
                                  ctypes.c_size_t]
    z.ZSTD_isError.restype = ctypes.c_uint
    z.ZSTD_isError.argtypes = [ctypes.c_size_t]
    cap = max(1024, len(data) * 8)
    while cap <= 1 << 30:
        out = ctypes.create_string_buffer(cap)
        n = z.ZSTD_decompress(out, cap, data, len(data))
        if not z.ZSTD_isError(n):
            return out.raw[:n]
        cap *= 4
    raise ValueError("zstd decompression failed")


def _brotli_compress(data, quality=5):
    b = _lib("brotlienc")
    b.BrotliEncoderMaxCompressedSize.restype = ctypes.c_size_t
    b.BrotliEncoderMaxCompressedSize.argtypes = [ctypes.c_size_t]
    b.BrotliEncoderCompress.restype = ctypes.c_int
    b.BrotliEncoderCompress.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int,
                                        ctypes.c_size_t, ctypes.c_char_p,
                                        ctypes.POINTER(ctypes.c_size_t), ctypes.c_void_p]
    cap = b.BrotliEncoderMaxCompressedSize(len(data)) or len(data) + 1024
    out = ctypes.create_string_buffer(cap)
    size = ctypes.c_size_t(cap)
    if not b.BrotliEncoderCompress(quality, 22, 0, len(data), data, ctypes.byref(size), out):
        raise ValueError("brotli compression failed")
    return out.raw[: size.value]


def _brotli_decompress(data):
    b = _lib("brotlidec")
    b.BrotliDecoderDecompress.restype = ctypes.c_int
    b.BrotliDecoderDecompress.argtypes = [ctypes.c_size_t, ctypes.c_char_p,
                                          ctypes.POINTER(ctypes.c_size_t), ctypes.c_void_p]
    cap = max(1024, len(data) * 8)
    while cap <= 1 << 30:
        out = ctypes.create_string_buffer(cap)
        size = ctypes.c_size_t(cap)
        if b.BrotliDecoderDecompress(len(data), data, ctypes.byref(size), out) == 1:
            return out.raw[: size.value]
        cap *= 4
    raise ValueError("brotli decompression failed")


def compress(data, coding):
    """Encode bytes with a Content-Encoding: gzip, deflate (zlib), zstd, br, identity."""
    if isinstance(data, str):
        data = data.encode()
    coding = coding.lower()
    if coding in ("gzip", "x-gzip"):
        return gzip.compress(data)
    if coding == "deflate":
        return zlib.compress(data)
    if coding in ("zstd", "x-zstd"):
        return _zstd_compress(data)
    if coding == "br":
        return _brotli_compress(data)
    if coding in ("", "identity"):
        return data
    raise ValueError(f"unknown coding {coding}")


def decompress(data, coding):
    """Decode bytes of a Content-Encoding (the inverse of compress)."""
    coding = coding.lower()
    if coding in ("gzip", "x-gzip"):
        return gzip.decompress(data)
    if coding == "deflate":
        return zlib.decompress(data)
    if coding in ("zstd", "x-zstd"):
        return _zstd_decompress(data)
    if coding == "br":
        return _brotli_decompress(data)
    if coding in ("", "identity"):
        return data
    raise ValueError(f"unknown coding {coding}")


# ---- npm packages the tests run (test/sdk, test/cli) ----------------------------------------

NPM_NETWORK_ERRORS = ("ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED", "ECONNRESET", "ETIMEDOUT",
                      "ENETUNREACH", "EHOSTUNREACH", "network", "socket hang up")


def _lock_digest(directory):
    h = hashlib.sha256()
    for name in ("package.json", "package-lock.json"):
        h.update((directory / name).read_bytes())
    return h.hexdigest()


def npm_ci(directory, what, stamp_name, timeout):
    """Install directory/node_modules with `npm ci`, skipped while its stamp matches
    package.json and package-lock.json. Returns the node binary. Skips the calling test when
    node or npm is missing or the registry cannot be reached; fails it on other npm errors."""
    import pytest  # the harness itself runs without pytest (bench.py)

    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip(f"node and npm are needed for the {what} "
                    f"(node: {node or 'missing'}, npm: {npm or 'missing'})")
    stamp = directory / "node_modules" / stamp_name
    digest = _lock_digest(directory)
    if stamp.exists() and stamp.read_text().strip() == digest:
        return node
    rel = directory.relative_to(REPO)
    try:
        result = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=directory,
                                capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.skip(f"npm ci in {rel} timed out (is the npm registry reachable?)")
    if result.returncode != 0:
        log = result.stdout + result.stderr
        if any(marker in log for marker in NPM_NETWORK_ERRORS):
            pytest.skip(f"npm registry unreachable, {what} not installed:\n{log[-2000:]}")
        pytest.fail(f"npm ci in {rel} failed ({result.returncode}):\n{log[-4000:]}")
    stamp.write_text(digest + "\n")
    return node
