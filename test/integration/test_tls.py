"""https upstreams: verified by default against a CA, refused when the peer cannot be trusted
(the attempt fails over and the error log says why), SNI, reused TLS connections, the opt-outs
(tls_verify=off, the administrator's own SSLProxy* directives), and startup without mod_ssl.

The upstream is the project's mock behind mod_ssl, with certificates of a private test CA
(tls_certs.py): one vhost per kind of certificate a provider could present."""

import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from conftest import GATEWAY_MODULES, Gateway, ensure_built
from harness import (MINIMAL_ENV, REPO, HttpdError, MockUpstream, free_port, get, post_json,
                     stream_sse)
from tls_certs import TestPKI

FIXTURES = REPO / "test" / "fixtures"
MESSAGES = "/v1/messages"
CHAT = "/v1/chat/completions"
# Certificates the TLS mock presents, one vhost each ("plain" answers http).
KINDS = ("good", "wrongname", "expired", "unknownca")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return TestPKI(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def tls_mock(pki, tmp_path_factory):
    stranger = TestPKI(tmp_path_factory.mktemp("stranger"), ca_name="unknown test CA")
    certs = {
        "good": pki.leaf("good"),
        "wrongname": pki.leaf("wrongname", hosts=("other.example",)),
        "expired": pki.leaf("expired", expired=True),
        "unknownca": stranger.leaf("unknownca"),
    }
    ensure_built("mod_aiproxy_mock.so", *GATEWAY_MODULES)
    upstream = MockUpstream(names=list(KINDS) + ["plain"], tls=certs)
    upstream.start()
    yield upstream
    upstream.stop()
    upstream.cleanup()


@pytest.fixture
def tls_gateway():
    started = []

    def start(body, ssl=True, **kwargs):
        gw = Gateway(body, ssl=ssl, **kwargs)
        started.append(gw)
        gw.start()
        return gw

    yield start
    for gw in started:
        gw.stop()
        gw.cleanup()


def upstream(name, url, extra="", api="anthropic", models="m"):
    return f"AIProxyUpstream {name} {url} api={api} token=tok-{name} models={models} {extra}"


def ask(gw, text="hello", model="m"):
    return post_json(gw.url(MESSAGES), {"model": model, "max_tokens": 16,
                                         "messages": [{"role": "user", "content": text}]})


def test_trusted_ca_serves_json_and_streams_with_sni(tls_gateway, tls_mock, pki):
    gw = tls_gateway(upstream("good", tls_mock.base_url("good", "localhost"),
                              f'tls_ca="{pki.ca_file}"'))
    status, headers, body = ask(gw)
    assert status == 200, body
    assert json.loads(body)["type"] == "message"
    assert headers["x-aiproxy-upstream"] == "good"

    with stream_sse(gw.url(MESSAGES), {"model": "m", "max_tokens": 16, "stream": True,
                                       "messages": [{"role": "user", "content": "hi"}]}) as s:
        events = s.events()
    assert s.status == 200
    assert events[0][0] == "message_start" and events[-1][0] == "message_stop"

    log = tls_mock.tls_log("good")
    assert log and all(entry[0] == "localhost" for entry in log), log  # SNI sent
    assert all(entry[1].startswith("TLSv1.") for entry in log)


def test_translated_request_over_tls(tls_gateway, tls_mock, pki):
    """An OpenAI client answered by an https Anthropic upstream: translation rides on TLS."""
    gw = tls_gateway(upstream("good", tls_mock.base_url("good", "localhost"),
                              f"tls_ca={pki.ca_file}"))
    status, _, body = post_json(gw.url(CHAT), {"model": "m", "messages": [
        {"role": "user", "content": "hi"}]})
    assert status == 200, body
    assert json.loads(body)["object"] == "chat.completion"


@pytest.mark.parametrize("kind, why", [
    ("unknownca", "unable to get local issuer certificate"),
    ("wrongname", "does not match for hostname"),
    ("expired", "certificate has expired"),
])
def test_untrusted_peer_is_refused_and_the_log_says_why(tls_gateway, tls_mock, pki, kind, why):
    gw = tls_gateway(upstream(kind, tls_mock.base_url(kind, "localhost"),
                              f"tls_ca={pki.ca_file}"), log_level="warn ssl:info")
    tls_mock.clear()
    status, _, body = ask(gw)
    assert status == 502, body
    err = json.loads(body)
    assert err["type"] == "error" and "no upstream could be reached" in err["error"]["message"]
    assert tls_mock.requests(kind) == []  # nothing was sent: no API key left the gateway
    assert why in gw.error_log(), gw.error_log()[-3000:]


@pytest.mark.parametrize("kind", ["unknownca", "wrongname", "expired"])
def test_untrusted_peer_fails_over_to_the_next_upstream(tls_gateway, tls_mock, pki, kind):
    gw = tls_gateway("\n".join([
        upstream(kind, tls_mock.base_url(kind, "localhost"), f"tls_ca={pki.ca_file} weight=100"),
        upstream("good", tls_mock.base_url("good", "localhost"), f"tls_ca={pki.ca_file}"),
    ]), log_level="warn ssl:info")
    status, headers, body = ask(gw)
    assert status == 200, body
    assert headers["x-aiproxy-upstream"] == "good"
    assert "SSL Proxy" in gw.error_log() or "Certificate Verification" in gw.error_log()


def test_verification_is_on_by_default(tls_gateway, tls_mock):
    """No tls_ca: the system CA bundle, which does not know the test CA, so it is refused."""
    gw = tls_gateway(upstream("good", tls_mock.base_url("good", "localhost")),
                     log_level="warn ssl:info")
    status, _, body = ask(gw)
    assert status == 502, body
    assert "unable to get local issuer certificate" in gw.error_log()


def test_tls_verify_off_connects_and_warns(tls_gateway, tls_mock):
    gw = tls_gateway(upstream("anyone", tls_mock.base_url("unknownca", "localhost"),
                              "tls_verify=off"))
    status, _, body = ask(gw)
    assert status == 200, body
    assert "upstream anyone" in gw.error_log() and "tls_verify=off" in gw.error_log()


def test_admin_sslproxy_ca_file_is_respected(tls_gateway, tls_mock, pki):
    """The administrator's own SSLProxyCACertificateFile for the virtual host applies to the
    gateway's upstreams (the system bundle default steps aside)."""
    gw = tls_gateway(f'SSLProxyCACertificateFile "{pki.ca_file}"\n'
                     + upstream("good", tls_mock.base_url("good", "localhost")))
    status, _, body = ask(gw)
    assert status == 200, body


def test_admin_sslproxy_verify_none_is_respected_unless_the_upstream_says(tls_gateway, tls_mock,
                                                                          pki):
    gw = tls_gateway("SSLProxyVerify none\nSSLProxyCheckPeerName off\n"
                     + upstream("lax", tls_mock.base_url("unknownca", "localhost"))
                     + "\n" + upstream("strict", tls_mock.base_url("unknownca", "localhost"),
                                       f"tls_verify=on tls_ca={pki.ca_file}", models="s"))
    assert ask(gw)[0] == 200
    assert ask(gw, model="s")[0] == 502


def test_tls_connections_are_reused(tls_gateway, tls_mock, pki):
    gw = tls_gateway(upstream("good", tls_mock.base_url("good", "localhost"),
                              f"tls_ca={pki.ca_file}"))
    before = len(tls_mock.tls_log("good"))
    for _ in range(6):
        assert ask(gw)[0] == 200
    log = tls_mock.tls_log("good")[before:]
    assert len(log) == 6
    # %k: requests already served on the connection; reuse means most are above 0
    assert sum(1 for entry in log if int(entry[3]) > 0) >= 4, log


def test_https_without_mod_ssl_refuses_to_start(tls_mock):
    gw = Gateway(upstream("provider", tls_mock.base_url("good", "localhost")), ssl=False)
    try:
        with pytest.raises(HttpdError) as failure:
            gw.start()
        text = str(failure.value)
        assert "AIProxyUpstream provider: the https:// base URL needs mod_ssl" in text, text
    finally:
        gw.stop()
        gw.cleanup()


def test_tls_settings_on_http_upstream_are_refused(tls_mock, pki):
    gw = Gateway(upstream("plain", tls_mock.base_url("plain"), f"tls_ca={pki.ca_file}"))
    try:
        with pytest.raises(HttpdError) as failure:
            gw.start()
        assert "tls_ca= is for https:// upstreams" in str(failure.value)
    finally:
        gw.stop()
        gw.cleanup()


def test_client_address_is_not_forwarded_unless_asked(tls_gateway, tls_mock):
    gw = tls_gateway("\n".join([
        upstream("quiet", tls_mock.base_url("plain")),
        upstream("told", tls_mock.base_url("plain"), "forwarded_headers=on", models="t"),
    ]), ssl=False)
    tls_mock.clear()
    assert ask(gw)[0] == 200
    headers = tls_mock.last("plain")["headers"]
    assert not [h for h in headers if h.startswith("x-forwarded-")], headers
    assert ask(gw, model="t")[0] == 200
    assert tls_mock.last("plain")["headers"].get("x-forwarded-for") == "127.0.0.1"


def test_models_list_over_https_gateway_unaffected(tls_gateway, tls_mock, pki):
    gw = tls_gateway(upstream("good", tls_mock.base_url("good", "localhost"),
                              f"tls_ca={pki.ca_file}"))
    status, _, body = get(gw.url("/v1/models"))
    assert status == 200 and "m" in [m["id"] for m in json.loads(body)["data"]]


# ---- config.yaml and make run CONFIG= ----------------------------------------------------------


def yaml_upstream(name, url, extra=""):
    return (f"  - name: {name}\n    base_url: \"{url}\"\n    api_type: anthropic\n"
            f"    token: tok-{name}\n    available_models: [m]\n{extra}")


def write_config(tmp_path, text):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    os.chmod(tmp_path, 0o755)
    os.chmod(path, 0o644)
    return path


def test_yaml_tls_ca_file_top_level_and_per_upstream(tls_gateway, tls_mock, pki, tmp_path):
    """tls_ca_file at the top level applies to every https upstream (and not to http ones);
    an upstream's own wins; relative paths are below the file's directory."""
    shutil.copy(pki.ca_file, tmp_path / "ca.pem")
    stranger = TestPKI(tmp_path / "stranger", ca_name="other CA")
    text = ("tls_ca_file: ca.pem\nupstreams:\n"
            + yaml_upstream("good", tls_mock.base_url("good", "localhost"))
            + yaml_upstream("plain", tls_mock.base_url("plain")).replace("[m]", "[p]")
            + yaml_upstream("own", tls_mock.base_url("good", "localhost"),
                            f"    tls_ca_file: {stranger.ca_file}\n").replace("[m]", "[o]")
            + yaml_upstream("lax", tls_mock.base_url("unknownca", "localhost"),
                            "    tls_verify: false\n").replace("[m]", "[l]"))
    gw = tls_gateway(f'AIProxyConfigFile "{write_config(tmp_path, text)}"')
    assert ask(gw)[0] == 200
    assert ask(gw, model="p")[0] == 200
    assert ask(gw, model="o")[0] == 502  # its own CA does not know the good certificate
    assert ask(gw, model="l")[0] == 200
    assert "upstream lax" in gw.error_log() and "tls_verify=off" in gw.error_log()


def test_yaml_https_without_mod_ssl_names_file_line_and_upstream(tls_mock, tmp_path):
    text = "upstreams:\n" + yaml_upstream("Provider", tls_mock.base_url("good", "localhost"))
    path = write_config(tmp_path, text)
    gw = Gateway(f'AIProxyConfigFile "{path}"', ssl=False)
    try:
        with pytest.raises(HttpdError) as failure:
            gw.start()
        text = str(failure.value)
        assert f"{path}:2:5: upstream 'Provider': the https:// base URL needs mod_ssl" in text, text
    finally:
        gw.stop()
        gw.cleanup()


def run_demo(config, port):
    """build/run-demo.sh (what `make run CONFIG=` runs) in the background -> (proc, root)."""
    subprocess.run(["make", "-C", str(REPO), "out/aiproxy-yaml-listen"], check=True,
                   capture_output=True)
    root = pathlib.Path(tempfile.mkdtemp(prefix="aiproxy-demo-", dir="/tmp"))
    os.chmod(root, 0o755)
    env = dict(MINIMAL_ENV, MOCK_PORT=str(free_port()), DEMO_ROOT=str(root))
    proc = subprocess.Popen([str(REPO / "build" / "run-demo.sh"), "8080", str(config)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            get(f"http://127.0.0.1:{port}/v1/models", timeout=2)
            return proc, root
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"run-demo did not answer: {proc.stdout.read()}")


def stop_demo(proc, root):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    shutil.rmtree(root, ignore_errors=True)


def test_make_run_config_with_https_upstream(tls_mock, pki, tmp_path):
    port = free_port()
    text = (f"listen: ':{port}'\ntls_ca_file: {pki.ca_file}\nupstreams:\n"
            + yaml_upstream("provider", tls_mock.base_url("good", "localhost")))
    proc, root = run_demo(write_config(tmp_path, text), port)
    try:
        status, headers, body = post_json(f"http://127.0.0.1:{port}/v1/messages", {
            "model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]})
        assert status == 200, body
        assert headers["x-aiproxy-upstream"] == "provider"
    finally:
        stop_demo(proc, root)


def test_make_run_config_seed_example_starts(tmp_path):
    """The seed's example config (https base URLs of real providers) starts under `make run
    CONFIG=`: upstreams verified against the system CAs. No request goes to a provider here
    (this machine has no network); the model list is the gateway's own."""
    port = free_port()
    text = (FIXTURES / "seed-example.yaml").read_text()
    text = re.sub(r"(?m)^listen:.*$", f"listen: ':{port}'", text)
    if f":{port}" not in text:
        text = f"listen: ':{port}'\n" + text
    proc, root = run_demo(write_config(tmp_path, text), port)
    try:
        status, _, body = get(f"http://127.0.0.1:{port}/v1/models")
        assert status == 200 and "claude-3-opus" in body.decode()
        log = (root / "logs" / "error.log").read_text()
        assert "[ssl:emerg]" not in log and "AH00526" not in log, log
    finally:
        stop_demo(proc, root)


def test_graceful_restart_keeps_tls_upstreams_verified(tls_gateway, tls_mock, pki):
    gw = tls_gateway(upstream("good", tls_mock.base_url("good", "localhost"),
                              f"tls_ca={pki.ca_file}") + "\n"
                     + upstream("bad", tls_mock.base_url("unknownca", "localhost"),
                                f"tls_ca={pki.ca_file}", models="b"))
    assert ask(gw)[0] == 200 and ask(gw, model="b")[0] == 502
    gw.graceful()
    assert ask(gw)[0] == 200 and ask(gw, model="b")[0] == 502
