"""conf/examples/: every example file passes `apache2 -t` with the modules (and mod_ssl, for
their https:// upstreams and the TLS front) loaded, as an administrator would Include it."""

import os
import subprocess

import pytest

from conftest import GATEWAY_MODULES, ensure_built
from harness import APACHE2, OUT, REPO, SSL_MODULES, STOCK_MODULE_DIR, Httpd, free_port
from tls_certs import TestPKI

EXAMPLES = sorted((REPO / "conf" / "examples").glob("*.conf"))


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_example_passes_configtest(example, tmp_path):
    ensure_built(*GATEWAY_MODULES)
    # the TLS front's certificate, as an administrator would Define it (mod_ssl reads it)
    cert, key = TestPKI(tmp_path).leaf("ai.example.com", hosts=("ai.example.com",))
    # the shared-state key, as `openssl rand -hex 32` writes it
    shared_key = tmp_path / "aiproxy-shared.key"
    shared_key.write_text(os.urandom(32).hex() + "\n")
    httpd = Httpd("example", f'Define APACHE_LOG_DIR "@ROOT@/logs"\n'
                  f'Define AIPROXY_TLS_CERT "{cert}"\nDefine AIPROXY_TLS_KEY "{key}"\n'
                  f'Define AIPROXY_SHARED_KEY "{shared_key}"\n'
                  f'Include "{example}"',
                  listen=[free_port()],
                  # Debian's default modules the examples use besides the stock test set
                  extra_modules=[("authz_host_module", STOCK_MODULE_DIR / "mod_authz_host.so")]
                  + SSL_MODULES + [OUT / m for m in GATEWAY_MODULES])
    try:
        result = subprocess.run([APACHE2, "-t", "-f", str(httpd.conf_path)], env=httpd.env,
                                capture_output=True, text=True, timeout=30)
        assert result.returncode == 0 and "Syntax OK" in result.stderr, result.stderr
    finally:
        httpd.cleanup()


def test_examples_exist():
    names = {e.name for e in EXAMPLES}
    assert {"aiproxy-example.conf", "tenant-acme.conf", "tls-front.conf",
            "shared-redis.conf"} <= names
