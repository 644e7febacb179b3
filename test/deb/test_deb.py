"""`make test-deb`: the package built by `make deb`, installed on this system with dpkg,
enabled with a2enmod, serving through the system's own apache2 (on a free port, next to
whatever the system already serves), then removed again. It changes the system, so it is not
part of `make test`; it needs root."""

import glob
import os
import pathlib
import subprocess
import time

import pytest

from harness import REPO, MockUpstream, free_port, port_answers, post_json

PACKAGE = "libapache2-mod-aiproxy"
SITE = pathlib.Path("/etc/apache2/sites-available/aiproxy-test-deb.conf")
MODULES = ["aiproxy_translate", "aiproxy", "aiproxy_oauth"]
ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}


def run(*cmd):
    result = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=120)
    assert result.returncode == 0, f"{' '.join(cmd)}:\n{result.stdout}{result.stderr}"
    return result.stdout + result.stderr


def apache_running():
    return subprocess.run(["pgrep", "-x", "apache2"], capture_output=True).returncode == 0


@pytest.fixture
def installed():
    if os.geteuid() != 0:
        pytest.fail("make test-deb installs a package: run it as root")
    debs = [d for d in glob.glob(str(REPO / "out/deb" / f"{PACKAGE}_*.deb"))]
    assert len(debs) == 1, f"make deb first: {debs}"
    was_running = apache_running()
    run("dpkg", "-i", debs[0])
    try:
        yield was_running
    finally:
        subprocess.run(["a2dissite", "-q", SITE.stem], env=ENV, capture_output=True)
        SITE.unlink(missing_ok=True)
        subprocess.run(["a2dismod", "-q", "-f", *reversed(MODULES)], env=ENV,
                       capture_output=True)
        if not was_running:
            subprocess.run(["apache2ctl", "stop"], env=ENV, capture_output=True)
        else:
            subprocess.run(["apache2ctl", "graceful"], env=ENV, capture_output=True)
        run("dpkg", "--purge", PACKAGE)
        assert not pathlib.Path("/usr/lib/apache2/modules/mod_aiproxy.so").exists()


def test_package_installs_enables_serves_and_removes(installed):
    out = run("dpkg", "-L", PACKAGE)
    for path in ("/usr/lib/apache2/modules/mod_aiproxy.so",
                 "/etc/apache2/mods-available/aiproxy.load",
                 "/etc/apache2/sites-available/aiproxy-example.conf",
                 "/usr/share/doc/libapache2-mod-aiproxy/copyright"):
        assert path in out
    run("a2enmod", "-q", *MODULES)
    # a2enmod followed the .load files' "Depends:" lines
    for dep in ("proxy", "proxy_http", "proxy_balancer", "slotmem_shm", *MODULES):
        assert pathlib.Path(f"/etc/apache2/mods-enabled/{dep}.load").exists(), dep

    mock = MockUpstream(names=["openai"])
    mock.start()
    try:
        port = free_port()
        SITE.write_text(
            f"Listen 127.0.0.1:{port}\n<VirtualHost 127.0.0.1:{port}>\n"
            f"    AIProxyUpstream mock {mock.base_url('openai')} api=openai token=t "
            "models=deb-model\n"
            '    <Location "/">\n        SetHandler aiproxy\n    </Location>\n</VirtualHost>\n')
        run("a2ensite", "-q", SITE.stem)
        assert "Syntax OK" in run("apache2ctl", "configtest")
        run("apache2ctl", "graceful" if installed else "start")
        deadline = time.monotonic() + 15
        while not port_answers(port) and time.monotonic() < deadline:
            time.sleep(0.1)
        status, headers, body = post_json(
            f"http://127.0.0.1:{port}/v1/chat/completions",
            {"model": "deb-model", "messages": [{"role": "user", "content": "from the package"}]})
        assert status == 200, body
        assert b"echo: from the package" in body
        assert headers["x-aiproxy-upstream"] == "mock"
    finally:
        mock.stop()
        mock.cleanup()
