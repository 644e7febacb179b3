"""Every `apache` example in README.md and docs/*.md is valid configuration: each block is
taken from the Markdown as written and checked by `apache2 -t` with the project's modules, so
the documentation and the code cannot drift apart.

What an example cannot carry is supplied here and nowhere else: ${VARIABLES} are Defined,
`modules/` becomes the real module directory (out/ for the project's own), and the few files
an example names on a real server (a config.yaml, a CA file, a log directory) are mapped to
test files below."""

import pathlib
import re
import subprocess

import pytest

from conftest import GATEWAY_MODULES, ensure_built
from harness import (APACHE2, MINIMAL_ENV, OUT, REPO, SSL_MODULES, STOCK_MODULE_DIR, Httpd,
                     free_port)
from tls_certs import TestPKI

DOCS = [REPO / "README.md"] + sorted((REPO / "docs").glob("*.md"))
FENCE = re.compile(r"^```apache\n(.*?)^```", re.M | re.S)


def examples():
    for doc in DOCS:
        text = doc.read_text()
        for match in FENCE.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            yield pytest.param(doc, match.group(1), id=f"{doc.name}:{line}")


@pytest.fixture(scope="module")
def real_files(tmp_path_factory):
    """Paths examples name on a real server -> files that exist here."""
    root = tmp_path_factory.mktemp("docs")
    root.chmod(0o755)
    (root / "logs").mkdir()
    pki = TestPKI(root / "pki")
    shared_key = root / "aiproxy-shared.key"
    shared_key.write_text("4f" * 16 + "a1" * 16 + "\n")  # as `openssl rand -hex 32` writes
    return {
        "/etc/apache2/aiproxy-shared.key": str(shared_key),
        "/etc/aiproxy/config.yaml": str(REPO / "test" / "fixtures" / "seed-example.yaml"),
        "/etc/ssl/corp-root.pem": str(pki.ca_file),
        "/path/to/out/": f"{OUT}/",
        "/tmp/x/requests.jsonl": str(root / "requests.jsonl"),
        "/var/log/aiproxy/": f"{root}/logs/",
    }


def module_path(match):
    name = match.group(1)
    where = OUT if name.startswith("mod_aiproxy") else STOCK_MODULE_DIR
    return str(where / name)


def as_config(example, real_files):
    """The example as a configuration body: LoadModule lines at the top level, the rest in a
    virtual host unless the example has its own."""
    text = re.sub(r"\bmodules/(mod_[a-z0-9_]+\.so)", module_path, example)
    for path, real in real_files.items():
        text = text.replace(path, real)
    defines = sorted(set(re.findall(r"\$\{([A-Za-z0-9_]+)\}", text)))
    top = [f"Define {name} value-of-{name.lower()}" for name in defines]
    body = []
    for line in text.splitlines():
        (top if line.lstrip().startswith("LoadModule") else body).append(line)
    body = "\n".join(body)
    if "<VirtualHost" not in body and "Listen" not in body:
        body = f"<VirtualHost 127.0.0.1:{free_port()}>\n{body}\n</VirtualHost>"
    return "\n".join(top) + "\n" + body


@pytest.mark.parametrize("doc,example", examples())
def test_example_is_valid_configuration(doc, example, real_files):
    ensure_built(*GATEWAY_MODULES, "mod_aiproxy_mock.so")
    modules = (SSL_MODULES + [("authz_host_module", STOCK_MODULE_DIR / "mod_authz_host.so")]
               + [OUT / m for m in GATEWAY_MODULES] + [OUT / "mod_aiproxy_mock.so"])
    # the examples' own LoadModule lines come after these and are skipped as duplicates
    httpd = Httpd("docs", as_config(example, real_files), listen=[free_port()],
                  extra_modules=modules)
    try:
        result = subprocess.run([APACHE2, "-t", "-f", str(httpd.conf_path)], env=MINIMAL_ENV,
                                capture_output=True, text=True, timeout=30)
        output = result.stdout + result.stderr
        assert result.returncode == 0 and "Syntax OK" in output, (
            f"{doc.name} example fails `apache2 -t`:\n{example}\n---\n{output}")
    finally:
        httpd.cleanup()


def test_examples_were_found():
    found = [p for p in examples()]
    assert len(found) >= 15, [p.id for p in found]
    assert {pathlib.Path(p.values[0]).name for p in found} >= {
        "README.md", "directives.md", "migration.md", "mock-upstream.md"}
