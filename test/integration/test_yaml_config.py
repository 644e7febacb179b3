"""AIProxyConfigFile: a seed-format config.yaml loaded by a real httpd.

The seed example pointed at the mock upstream loads and routes (weights, model mappings,
available_models, token lists, fallbacks, client keys, headers, timeouts); bad files stop httpd
at startup (and `apache2 -t`) with the file, line and column of the problem; `make run
CONFIG=...` serves a config.yaml on its own bind/listen."""

import json
import os
import pathlib
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from conftest import Gateway, ensure_built
from harness import APACHE2, MINIMAL_ENV, OUT, REPO, HttpdError, free_port, get, post_json

FIXTURES = REPO / "test" / "fixtures"


def write_yaml(tmp_path, text, name="config.yaml"):
    path = tmp_path / name
    path.write_text(text)
    os.chmod(tmp_path, 0o755)
    os.chmod(path, 0o644)
    return path


def seed_for_mock(tmp_path, mock):
    text = (FIXTURES / "seed-mock.yaml").read_text()
    text = text.replace("@ANTHROPIC@", mock.base_url("anthropic"))
    text = text.replace("@GEMINI@", mock.base_url("gemini"))
    return write_yaml(tmp_path, text)


def anthropic_call(gw, model, text="hello", headers=None):
    body = {"model": model, "max_tokens": 32, "messages": [{"role": "user", "content": text}]}
    return post_json(gw.url("/v1/messages"), body, headers)


def records_since(mock, before, upstream=None):
    return mock.requests(upstream)[before:]


def config_test(body, log_level="warn"):
    """`apache2 -t` (apachectl configtest) of a gateway configuration: (exit code, stderr).
    Messages logged while httpd reads its configuration go to the console (stderr) at start,
    to the error log on a graceful restart, and to stderr here."""
    ensure_built("mod_aiproxy_translate.so", "mod_aiproxy.so")
    gw = Gateway(body, log_level=log_level)
    try:
        result = subprocess.run([APACHE2, "-t", "-f", str(gw.conf_path)], env=MINIMAL_ENV,
                                capture_output=True, text=True, timeout=30)
    finally:
        gw.cleanup()
    return result.returncode, result.stderr


def upstream_one(base_url, extra=""):
    """A minimal upstreams: list with one anthropic upstream named a."""
    return (f"upstreams:\n"
            f"  - name: a\n"
            f"    base_url: {base_url}\n"
            f"    token: key-a\n{extra}")


# ---- a good file ------------------------------------------------------------------------------


def test_seed_example_loads_and_routes(make_gateway, mock, tmp_path):
    path = seed_for_mock(tmp_path, mock)
    gw = make_gateway(f'AIProxyConfigFile "{path}"')
    before = len(mock.requests("anthropic"))
    seen = []
    for i in range(6):
        status, headers, payload = anthropic_call(gw, "claude-3-opus", f"call {i}")
        assert status == 200, payload
        seen.append(headers["x-aiproxy-upstream"])
    records = records_since(mock, before, "anthropic")
    assert len(records) == 6
    primary = [r for r in records if r["path"].startswith("/primary/")]
    secondary = [r for r in records if r["path"].startswith("/secondary/")]
    # weights 10 and 5: both serve, primary twice as often
    assert len(primary) == 4 and len(secondary) == 2, seen
    assert set(seen) == {"primary", "secondary"}
    for r in primary:  # model_mappings of primary, its single token
        assert r["path"] == "/primary/v1/messages"
        assert r["json"]["model"] == "claude-3-opus-20240229"
        assert r["headers"]["x-api-key"] == "sk-ant-xxx"
    for r in secondary:  # no mapping; the token list rotates
        assert r["json"]["model"] == "claude-3-opus"
    assert {r["headers"]["x-api-key"] for r in secondary} == {"sk-ant-key1", "sk-ant-key2"}


def test_available_models_are_honoured(make_gateway, mock, tmp_path):
    """primary lists claude-3-opus and claude-3-sonnet only: other models go to secondary."""
    gw = make_gateway(f'AIProxyConfigFile "{seed_for_mock(tmp_path, mock)}"')
    before = len(mock.requests("anthropic"))
    for _ in range(3):
        status, headers, payload = anthropic_call(gw, "claude-opus-4-6")
        assert status == 200, payload
        assert headers["x-aiproxy-upstream"] == "secondary"
    records = records_since(mock, before, "anthropic")
    assert [r["path"] for r in records] == ["/secondary/v1/messages"] * 3
    assert all(r["json"]["model"] == "claude-opus-4-6" for r in records)


def test_gemini_upstream_mapping_and_name(make_gateway, mock, tmp_path):
    """The upstream named "Gemini API" is "Gemini-API" in httpd; its mapping reaches the
    path of the Gemini call."""
    path = seed_for_mock(tmp_path, mock)
    gw = make_gateway(f'AIProxyConfigFile "{path}"')
    before = len(mock.requests("gemini"))
    served = set()
    for _ in range(4):  # Gemini API and secondary (every model) share gemini-3-pro
        status, headers, payload = post_json(
            gw.url("/v1beta/models/gemini-3-pro:generateContent"),
            {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]})
        served.add(headers.get("x-aiproxy-upstream"))
    assert "Gemini-API" in served
    rec = records_since(mock, before, "gemini")[-1]
    assert rec["path"] == "/v1beta/models/gemini-3-pro-preview:generateContent"
    assert rec["headers"]["x-goog-api-key"] == "gemini-key"


def test_replaced_settings_are_explained(tmp_path, mock):
    """Notices: the renamed upstream, the log section (with the rotatelogs line that does the
    same), bind/listen."""
    path = seed_for_mock(tmp_path, mock)
    code, output = config_test(f'AIProxyConfigFile "{path}"', log_level="notice")
    assert code == 0, output
    assert f"{path}:48:11: upstream 'Gemini API' is called 'Gemini-API' in httpd" in output
    assert (f"{path}:16:3: log is not used: httpd's ErrorLog and CustomLog replace it; for the "
            'same rotation: CustomLog "|/usr/bin/rotatelogs -n 3 /var/log/aiproxy/aiproxy.log '
            '100M" aiproxy') in output
    assert f"{path}:10:9: bind and listen are not used by AIProxyConfigFile" in output


def test_fallback_client_keys_headers(make_gateway, mock, tmp_path):
    dead = free_port()  # nothing listens: the first model's only upstream fails to connect
    path = write_yaml(tmp_path, f"""
api-key:
  - client-key-one
  - client-key-two
model_fallback:
  m-main: m-next
upstreams:
  - name: dead
    base_url: http://127.0.0.1:{dead}
    token: dead-key
    available_models: m-main
  - name: live
    base_url: {mock.base_url("anthropic")}/live
    token: live-key
    available_models: [m-next]
    http_headers:
      x-tenant-id: tenant-7
""")
    gw = make_gateway(f'AIProxyConfigFile "{path}"')
    status, _, _ = anthropic_call(gw, "m-next")
    assert status == 401
    status, _, _ = anthropic_call(gw, "m-next", headers={"Authorization": "Bearer wrong-key-123"})
    assert status == 401
    before = len(mock.requests("anthropic"))
    status, headers, payload = anthropic_call(
        gw, "m-main", headers={"Authorization": "Bearer client-key-two"})
    assert status == 200, payload
    assert headers["x-aiproxy-upstream"] == "live"
    rec = records_since(mock, before, "anthropic")[-1]
    assert rec["json"]["model"] == "m-next"
    assert rec["headers"]["x-api-key"] == "live-key"
    assert rec["headers"]["x-tenant-id"] == "tenant-7"
    assert "client-key-two" not in str(rec)


def test_default_max_tokens(make_gateway, mock, tmp_path):
    """An OpenAI client without max_tokens, routed to an Anthropic upstream, which needs one."""
    path = write_yaml(tmp_path, "default_max_tokens: 777\n" +
                      upstream_one(mock.base_url("anthropic")))
    gw = make_gateway(f'AIProxyConfigFile "{path}"')
    before = len(mock.requests("anthropic"))
    status, _, payload = post_json(gw.url("/v1/chat/completions"),
                                   {"model": "m", "messages": [{"role": "user", "content": "x"}]})
    assert status == 200, payload
    assert records_since(mock, before, "anthropic")[-1]["json"]["max_tokens"] == 777


def test_disabled_upstream_gets_nothing(make_gateway, mock, tmp_path):
    base = mock.base_url("anthropic")
    path = write_yaml(tmp_path, f"""
upstreams:
  - name: off
    enabled: false
    base_url: {base}/off
    token: k
  - name: on
    base_url: {base}/on
    token: k
""")
    gw = make_gateway(f'AIProxyConfigFile "{path}"')
    before = len(mock.requests("anthropic"))
    for _ in range(3):
        status, headers, _ = anthropic_call(gw, "any-model")
        assert status == 200 and headers["x-aiproxy-upstream"] == "on"
    assert all(r["path"].startswith("/on/") for r in records_since(mock, before, "anthropic"))


def test_upstream_request_timeout(make_gateway, mock, tmp_path):
    """upstream_request_timeout becomes the member's timeout=: a reply slower than it fails."""
    path = write_yaml(tmp_path, "upstream_request_timeout: 1\n" +
                      upstream_one(mock.base_url("anthropic")))
    gw = make_gateway(f'AIProxyConfigFile "{path}"')
    started = time.monotonic()
    status, _, _ = anthropic_call(gw, "m", "slow [mock:slow=2500]")
    assert status >= 500
    assert time.monotonic() - started < 2.4
    status, _, _ = anthropic_call(gw, "m", "quick")
    assert status == 200


def test_yaml_and_directives_together(make_gateway, mock, tmp_path):
    """A config file adds to the vhost's AIProxyUpstream lines; names stay unique."""
    path = write_yaml(tmp_path, upstream_one(mock.base_url("anthropic") + "/yaml",
                                             "    available_models: from-yaml\n"))
    gw = make_gateway(
        f"AIProxyUpstream direct {mock.base_url('anthropic')}/direct token=k models=direct\n"
        f'AIProxyConfigFile "{path}"')
    assert anthropic_call(gw, "from-yaml")[1]["x-aiproxy-upstream"] == "a"
    assert anthropic_call(gw, "direct")[1]["x-aiproxy-upstream"] == "direct"


def test_unknown_keys_are_warnings(make_gateway, mock, tmp_path):
    path = write_yaml(tmp_path, "api-key: short\n" + upstream_one(
        mock.base_url("anthropic"), "    must_stream: true\n"))
    code, output = config_test(f'AIProxyConfigFile "{path}"')
    assert code == 0, output
    assert (f"{path}:6:5: upstreams[0]: unknown key 'must_stream' ignored: must_stream was "
            "removed") in output
    assert f"{path}:1:10: api-key: a key shorter than 8 characters" in output
    gw = make_gateway(f'AIProxyConfigFile "{path}"')
    assert anthropic_call(gw, "m", headers={"Authorization": "Bearer short"})[0] == 200


# ---- bad files stop httpd ---------------------------------------------------------------------

BAD_FILES = [
    # (yaml, line:column, message)
    (upstream_one("http://127.0.0.1:9", "    api_type: anthropik\n"), "5:15",
     "unknown api_type 'anthropik'"),
    (upstream_one("http://127.0.0.1:9", "    weight: 500\n"), "5:13",
     "upstream 'a': weight=500: expected a whole number from 1 to 100"),
    (upstream_one("http://127.0.0.1:9") + "  - name: A\n    base_url: http://h\n    token: t\n",
     "5:11", "duplicate upstream name 'A'"),
    ("upstreams:\n  - name: a\n    base_url: http://127.0.0.1:9\n", "2:5",
     "token is required for api_type anthropic"),
    ("upstreams:\n  - name: c\n    api_type: codex\n", "2:5", "api_type codex needs auth_files"),
    ("model_fallback:\n  a: b\n  b: a\n", "3:3", "model_fallback: b -> a closes a cycle"),
    ("upstreams:\n  - name: a\n   token: x\n", "3:4", "did not find expected '-' indicator"),
    (upstream_one("http://127.0.0.1:9", "    request_compression: lz4\n"), "5:26",
     "unknown request_compression 'lz4'"),
]


def start_failure(make_gateway, body):
    with pytest.raises(HttpdError) as failed:
        make_gateway(body)
    return str(failed.value)


@pytest.mark.parametrize("text,where,message", BAD_FILES)
def test_bad_file_refused_at_startup(make_gateway, tmp_path, text, where, message):
    path = write_yaml(tmp_path, text)
    output = start_failure(make_gateway, f'AIProxyConfigFile "{path}"')
    assert f"AIProxyConfigFile: {path}:{where}: " in output, output
    assert message in output, output


def test_seed_example_as_is_loads(make_gateway, tmp_path):
    """The seed example unchanged starts: its Gemini CLI upstream (OAuth) loads, its auth files
    (placeholder paths) out of rotation with a warning each; the API-key upstreams are balancer
    members; the models list shows every upstream's models."""
    path = FIXTURES / "seed-example.yaml"
    gw = make_gateway(f'AIProxyConfigFile "{path}"', ssl=True)  # https base URLs
    log = gw.error_log()
    for n in (1, 2):
        assert (f"upstream Gemini-CLI: auth file /path/to/geminicli-auth{n}.json is out of "
                "rotation: cannot read it") in log, log
    page = get(gw.url("/balancer-manager"))[2].decode()
    assert ">balancer://aiproxy-v1-gemini-cli<" in page  # endpoint from the api type
    assert "cloudcode-pa.googleapis.com" in page
    ids = {m["id"] for m in json.loads(get(gw.url("/v1/models"))[2])["data"]}
    # the Gemini CLI upstream is set up (only its files are missing), so its model is listed
    assert {"claude-3-opus", "gemini-3-pro"} <= ids


def test_missing_file_refused(make_gateway, tmp_path):
    output = start_failure(make_gateway, f'AIProxyConfigFile "{tmp_path}/nope.yaml"')
    assert f"AIProxyConfigFile: {tmp_path}/nope.yaml: cannot open" in output, output


def test_clash_with_a_directive_upstream(make_gateway, mock, tmp_path):
    path = write_yaml(tmp_path, upstream_one(mock.base_url("anthropic")))
    output = start_failure(
        make_gateway,
        f"AIProxyUpstream A {mock.base_url('anthropic')} token=k\nAIProxyConfigFile \"{path}\"")
    assert f"{path}:2:5: upstream 'a': an upstream of that name is already defined" in output


def test_config_test_reports_the_line(tmp_path):
    """`apache2 -t` (what `apachectl configtest` runs) names the file and line too."""
    path = write_yaml(tmp_path, upstream_one("http://127.0.0.1:9", "    weight: heavy\n"))
    code, output = config_test(f'AIProxyConfigFile "{path}"')
    assert code != 0
    assert f"{path}:5:13: upstreams[0].weight: 'heavy' is not a whole number" in output, output


# ---- make run CONFIG=... ------------------------------------------------------------------------


def test_make_run_with_config(tmp_path):
    """run-demo.sh with a config.yaml: the gateway on the file's listen port, the mock on the
    next one, and the file's upstreams pointing at the mock."""
    ensure_built("mod_aiproxy_translate.so", "mod_aiproxy.so", "mod_aiproxy_mock.so")
    subprocess.run(["make", "-C", str(REPO), "out/aiproxy-yaml-listen"], check=True,
                   capture_output=True)
    port = free_port()
    mock_port = free_port()
    text = (FIXTURES / "demo-config.yaml").read_text()
    text = text.replace(":8642", f":{port}").replace("127.0.0.1:8643", f"127.0.0.1:{mock_port}")
    path = write_yaml(tmp_path, text)
    # httpd's children (nobody) walk the DocumentRoot below DEMO_ROOT: not under tmp_path (0700)
    root = pathlib.Path(tempfile.mkdtemp(prefix="aiproxy-demo-", dir="/tmp"))
    os.chmod(root, 0o755)
    env = dict(MINIMAL_ENV, MOCK_PORT=str(mock_port), DEMO_ROOT=str(root))
    proc = subprocess.Popen([str(REPO / "build" / "run-demo.sh"), "8080", str(path)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 10
        status = None
        while time.monotonic() < deadline:
            try:
                status, headers, payload = post_json(
                    f"http://127.0.0.1:{port}/v1/messages",
                    {"model": "claude-demo", "max_tokens": 16,
                     "messages": [{"role": "user", "content": "hi"}]}, timeout=5)
                break
            except OSError:
                time.sleep(0.05)
        assert status == 200, (payload if status else proc.stdout)
        assert headers["x-aiproxy-upstream"] == "mock-anthropic"
        lines = (root / "logs" / "mock-requests.jsonl").read_text().splitlines()
        record = json.loads(lines[-1])
        assert record["path"] == "/anthropic/v1/messages"
        assert json.loads(record["body"])["model"] == "mock-claude"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(root, ignore_errors=True)


def test_make_run_rejects_a_bad_config(tmp_path):
    subprocess.run(["make", "-C", str(REPO), "out/aiproxy-yaml-listen"], check=True,
                   capture_output=True)
    path = write_yaml(tmp_path, "listen: ':http'\n")
    result = subprocess.run([str(REPO / "build" / "run-demo.sh"), "8080", str(path)],
                            env=dict(MINIMAL_ENV, DEMO_ROOT=str(tmp_path / "demo")),
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert f"{path}:1:9: listen ':http'" in result.stderr
    result = subprocess.run([str(REPO / "build" / "run-demo.sh"), "8080", "relative.yaml"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "absolute path" in result.stderr
