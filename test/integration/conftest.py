"""Shared fixtures of the integration tests. harness.py holds the machinery; fixtures stay here.

Add gateway fixtures below the mock upstream section."""

import subprocess

import pytest

from harness import OUT, REPO, MockUpstream


def ensure_built(*modules):
    """Build out/ once (make all) when one of the named .so files is missing."""
    missing = [m for m in modules if not (OUT / m).exists()]
    if missing:
        subprocess.run(["make", "-C", str(REPO), "all"], check=False)
        missing = [m for m in modules if not (OUT / m).exists()]
        if missing:
            # fall back to the single targets, so one broken module does not block the rest
            for m in missing:
                subprocess.run(["make", "-C", str(REPO), f"out/{m}"], check=False)
    missing = [m for m in modules if not (OUT / m).exists()]
    if missing:
        pytest.fail(f"not built: {', '.join(missing)}")


# ---- mock upstream ---------------------------------------------------------------------------

MOCK_NAMES = ["anthropic", "openai", "responses", "gemini"]


@pytest.fixture(scope="session")
def mock():
    """One httpd running mod_aiproxy_mock with a vhost per provider name (see MOCK_NAMES)."""
    ensure_built("mod_aiproxy_mock.so")
    upstream = MockUpstream(names=MOCK_NAMES)
    upstream.start()
    yield upstream
    upstream.stop()
    upstream.cleanup()


# ---- gateway fixtures go below ---------------------------------------------------------------

from harness import SSL_MODULES, Httpd, free_port  # noqa: E402

GATEWAY_MODULES = ["mod_aiproxy_translate.so", "mod_aiproxy.so", "mod_aiproxy_oauth.so"]

# The demo models, each served by the mock vhost of its api type (as `make run` does).
DEMO_MODELS = {
    "anthropic": "demo-anthropic",
    "openai": "demo-openai",
    "responses": "demo-responses",
    "gemini": "demo-gemini",
}
UPSTREAM_TOKENS = {name: f"upstream-key-{name}" for name in MOCK_NAMES}


def upstream_lines(mock, extra=""):
    """AIProxyUpstream lines for the demo upstreams on the session mock. Each maps the demo
    model to an upstream name so tests can see the mapping happen."""
    lines = []
    for name in MOCK_NAMES:
        lines.append(
            f"AIProxyUpstream mock-{name} {mock.base_url(name)} api={name} "
            f"token={UPSTREAM_TOKENS[name]} models={DEMO_MODELS[name]} "
            f"map={DEMO_MODELS[name]}=upstream-{name}-model {extra}"
        )
    return "\n".join(lines)


class Gateway(Httpd):
    """A private httpd with mod_aiproxy serving `SetHandler aiproxy` at / on one port."""

    def __init__(self, body, log_level="warn", ssl=False, mount='<Location "/">',
                 module_dir=OUT, env=None):
        """mount: the section that sets `SetHandler aiproxy` (None: the body has its own);
        module_dir: where the modules are (out/asan for the sanitizer build)."""
        self.port = free_port()
        # <Location "/"> first: later <Location> sections in body (admin) override it.
        section = mount.split()[0][1:] if mount else ""
        handler = f"{mount}\n    SetHandler aiproxy\n</{section}>\n" if mount else ""
        conf = (
            f"<VirtualHost 127.0.0.1:{self.port}>\n"
            f"{handler}"
            '<Location "/balancer-manager">\n    SetHandler balancer-manager\n</Location>\n'
            f"{body}\n</VirtualHost>\n"
        )
        modules = [module_dir / m for m in GATEWAY_MODULES]
        super().__init__("gateway", conf, listen=[self.port],
                         extra_modules=(SSL_MODULES if ssl else []) + modules,
                         log_level=log_level, env=env)

    def url(self, path="/"):  # noqa: D102 - one port, so no port argument
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture(scope="session")
def gateway(mock):
    """The demo configuration on the session mock."""
    ensure_built(*GATEWAY_MODULES)
    gw = Gateway(upstream_lines(mock))
    gw.start()
    yield gw
    gw.stop()
    gw.cleanup()


@pytest.fixture
def make_gateway():
    """Start gateways with a custom configuration body; stopped after the test."""
    ensure_built(*GATEWAY_MODULES)
    started = []

    def start(body, **kwargs):
        gw = Gateway(body, **kwargs)
        gw.start()
        started.append(gw)
        return gw

    yield start
    for gw in started:
        gw.stop()
        gw.cleanup()
