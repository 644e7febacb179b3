"""conf/examples/: every example file passes `apache2 -t` with the modules (and mod_ssl, for
their https:// upstreams) loaded, as an administrator would Include it."""

import subprocess

import pytest

from conftest import GATEWAY_MODULES, ensure_built
from harness import APACHE2, OUT, REPO, SSL_MODULES, STOCK_MODULE_DIR, Httpd, free_port

EXAMPLES = sorted((REPO / "conf" / "examples").glob("*.conf"))


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_example_passes_configtest(example):
    ensure_built(*GATEWAY_MODULES)
    httpd = Httpd("example", f'Define APACHE_LOG_DIR "@ROOT@/logs"\nInclude "{example}"',
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
    assert {"aiproxy-example.conf", "tenant-acme.conf"} <= names
