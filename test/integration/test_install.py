"""`make install` puts the modules where apxs says and a2enmod files into mods-available, and
those files work the Debian way: `a2enmod aiproxy` (run against a private copy of
/etc/apache2, through a2enmod's own APACHE_CONFDIR variables) enables the modules with their
dependencies, and a configuration that includes mods-enabled/*.load then *.conf, as Debian's
apache2.conf does, loads them and accepts their directives."""

import os
import re
import shutil
import subprocess

import pytest

from harness import APACHE2, MINIMAL_ENV, REPO, free_port

MODULES = ["mod_aiproxy_translate.so", "mod_aiproxy.so", "mod_aiproxy_oauth.so"]
SYSTEM_MODS = "/etc/apache2/mods-available"


def apxs_query(name):
    return subprocess.run(["apxs", "-q", name], capture_output=True, text=True,
                          check=True).stdout.strip()


def make_install(*variables):
    result = subprocess.run(["make", "--no-print-directory", "-C", str(REPO), "install",
                             *variables], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def load_module_paths(mods_available):
    """module name -> the path its LoadModule line names, from the installed files."""
    paths = {}
    for conf in sorted(mods_available.iterdir()):
        for name, path in re.findall(r"^\s*LoadModule\s+(\S+)\s+(\S+)", conf.read_text(), re.M):
            paths[name] = path
    return paths


def test_install_into_destdir(tmp_path):
    make_install(f"DESTDIR={tmp_path}")
    libexecdir = apxs_query("LIBEXECDIR")
    for module in MODULES:
        assert (tmp_path / libexecdir.lstrip("/") / module).is_file()
    if not os.path.isdir(SYSTEM_MODS):
        pytest.skip("no Debian layout here: no a2enmod files installed")
    mods = tmp_path / SYSTEM_MODS.lstrip("/")
    assert sorted(p.name for p in mods.iterdir()) == [
        "aiproxy.conf", "aiproxy.load", "aiproxy_oauth.load", "aiproxy_translate.conf",
        "aiproxy_translate.load"]
    # the files name the real module directory, not the staging one
    assert load_module_paths(mods) == {
        "aiproxy_module": f"{libexecdir}/mod_aiproxy.so",
        "aiproxy_oauth_module": f"{libexecdir}/mod_aiproxy_oauth.so",
        "aiproxy_translate_module": f"{libexecdir}/mod_aiproxy_translate.so"}


@pytest.mark.skipif(not shutil.which("a2enmod", path=MINIMAL_ENV["PATH"])
                    or not os.path.isdir(SYSTEM_MODS), reason="needs Debian's a2enmod layout")
def test_a2enmod_aiproxy_loads_the_modules(tmp_path):
    confdir, moddir, root = tmp_path / "apache2", tmp_path / "modules", tmp_path / "root"
    shutil.copytree(SYSTEM_MODS, confdir / "mods-available", symlinks=True)
    (confdir / "mods-enabled").mkdir()
    for sub in ("logs", "run", "state"):
        (root / sub).mkdir(parents=True)
    make_install(f"LIBEXECDIR={moddir}", f"MODS_AVAILABLE={confdir}/mods-available")

    env = dict(MINIMAL_ENV, APACHE_CONFDIR=str(confdir),
               APACHE_STATE_DIRECTORY=str(root / "state"))
    result = subprocess.run(["a2enmod", "aiproxy", "mpm_event", "authz_core"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    enabled = {p.name for p in (confdir / "mods-enabled").iterdir()}
    assert {"aiproxy.load", "aiproxy.conf", "aiproxy_translate.load", "aiproxy_translate.conf",
            "proxy.load", "proxy_http.load", "proxy_balancer.load"} <= enabled

    conf = confdir / "apache2.conf"
    conf.write_text(f"""ServerRoot "{root}"
ServerName 127.0.0.1
PidFile "{root}/run/httpd.pid"
DefaultRuntimeDir "{root}/run"
Mutex file:{root}/run
ErrorLog "{root}/logs/error.log"
IncludeOptional "{confdir}/mods-enabled/*.load"
IncludeOptional "{confdir}/mods-enabled/*.conf"
Listen 127.0.0.1:{free_port()}
<VirtualHost *:*>
    AIProxyUpstream demo http://127.0.0.1:9 api=anthropic token=test-key models=demo-model
    <Location "/">
        SetHandler aiproxy
    </Location>
    <Location "/translated/">
        AIProxyTranslate openai anthropic
        ProxyPass "http://127.0.0.1:9/v1/messages"
    </Location>
</VirtualHost>
""")
    def apache2(*args):
        result = subprocess.run([APACHE2, *args, "-f", str(conf)], env=MINIMAL_ENV,
                                capture_output=True, text=True, timeout=30)
        return result.returncode, result.stdout + result.stderr

    status, output = apache2("-t")
    assert status == 0 and "Syntax OK" in output, output
    assert "already loaded" not in output, output
    status, output = apache2("-M")
    assert status == 0, output
    assert "aiproxy_module (shared)" in output and "aiproxy_translate_module (shared)" in output
