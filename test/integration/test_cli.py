"""The real AI command-line clients against the gateway mounted below a prefix
(<Location "/ai/">, base URL http://127.0.0.1:PORT/ai), for every demo model: Claude Code
(`claude -p`), Gemini CLI (`gemini -p`) and Codex (`codex exec`). Each CLI talks to models served
by the anthropic, openai, responses and gemini mock upstreams, so this is same-protocol
passthrough and translation with the CLIs' real, large requests (system prompts, tools,
thinking settings; see shared research/clients.md) and their own stream parsers.

Each run puts a unique token in the prompt. The mock answers "echo: <last user text>", so the
token in what the CLI prints can only have come from the mock through the gateway. The mock's
record of the request carrying the token shows the path and protocol the gateway translated to.
Scenarios per CLI and model: plain, [mock:think] (thinking/reasoning translated into the
CLI's stream), [mock:status=400] (the CLI must fail showing the upstream's message) and, for
the anthropic and gemini upstreams, [mock:tool] (a tool call and the CLI's tool result, two
turns through the translation). The
gateway's access log shows what the CLIs sent below the prefix, and that nothing else failed.

Isolation (the CLIs phone home: telemetry, update checks, feature flags, login endpoints):
every CLI process runs in its own network namespace that has only a loopback interface
(netns_bridge.py), so nothing but loopback is reachable; the gateway's port is bridged in over a
Unix socket. Each run also gets a private HOME (and CODEX_HOME, XDG dirs, TMPDIR) in a temporary
directory, a minimal environment (no proxy variables, nothing of the user's), and the CLIs' own
switches for telemetry, error reporting and update checks are off.

The pinned CLIs are installed once with `npm ci` in test/cli (a stamp skips it while
package.json and package-lock.json are unchanged), as test_sdk.py does for the SDKs. Without
node/npm, without a reachable registry, or without network namespaces, the tests are skipped;
a CLI whose binary does not run here is skipped on its own, with the reason."""

import concurrent.futures
import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from conftest import (DEMO_MODELS, GATEWAY_MODULES, UPSTREAM_TOKENS, Gateway, ensure_built,
                      upstream_lines)
from harness import REPO, npm_ci
from netns_bridge import HostForwarder, netns_argv, netns_unavailable_reason

CLI_DIR = REPO / "test" / "cli"
BIN = CLI_DIR / "node_modules" / ".bin"

# cli -> (executable in node_modules/.bin, the client protocol it speaks)
CLIS = {
    "claude": ("claude", "anthropic"),   # @anthropic-ai/claude-code 2.1.330 (native binary)
    "gemini": ("gemini", "gemini"),      # @google/gemini-cli 0.61.0 (node bundle)
    "codex": ("codex", "responses"),     # @openai/codex 0.169.0 (native binary)
}
MODELS = list(DEMO_MODELS.values())
API_OF_MODEL = {model: api for api, model in DEMO_MODELS.items()}

# what the mock upstream of each api must have received: the path, and the mapped model
UPSTREAM_PATH = {
    "anthropic": "/v1/messages",
    "openai": "/v1/chat/completions",
    "responses": "/v1/responses",
    "gemini": "/v1beta/models/upstream-gemini-model:streamGenerateContent",
}

# scenario -> the mock marker appended to the prompt (docs/mock-upstream.md)
SCENARIO_MARKERS = {"plain": "", "think": " [mock:think]", "error": " [mock:status=400]",
                    "tool": " [mock:tool]"}
# The mock calls the request's first tool ({"arg": "mock"}, which every CLI refuses as invalid
# input and returns as a tool error, so nothing runs), then echoes once the last user message
# holds the tool result. That is true only where the tool result is a user turn (Anthropic,
# Gemini); an OpenAI or Responses upstream would be asked for the tool again and again.
TOOL_APIS = ("anthropic", "gemini")


def scenarios_for(model):
    return [s for s in SCENARIO_MARKERS if s != "tool" or API_OF_MODEL[model] in TOOL_APIS]


CLIENT_KEY = "sk-cli-test-client-key"
MOUNT = '<Location "/ai/">'
PREFIX = "/ai"
RUN_TIMEOUT = 120
CONCURRENCY = 6
# the gateway's access log: one JSON object per client request (not the subrequests)
ACCESS_LOG_FORMAT = ('{\\"method\\":\\"%m\\",\\"path\\":\\"%U\\",\\"query\\":\\"%q\\",'
                     '\\"status\\":%>s,\\"agent\\":\\"%{User-Agent}i\\"}')



# ---- installation and isolation -------------------------------------------------------------


@pytest.fixture(scope="module")
def netns():
    reason = netns_unavailable_reason()
    if reason:
        pytest.skip("the CLIs run only inside a loopback-only network namespace, and none can "
                    f"be made here: {reason}")


@pytest.fixture(scope="module")
def clis_installed():
    """test/cli/node_modules installed by `npm ci`."""
    npm_ci(CLI_DIR, "CLI tests", ".aiproxy-cli-stamp", timeout=900)


def base_env(home):
    """A minimal environment of its own: nothing of the machine's user, no proxies."""
    for sub in ("tmp", ".config", ".cache", ".local/share", ".local/state", "work"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    node_dir = os.path.dirname(shutil.which("node") or "/usr/bin/node")
    return {
        "PATH": f"{BIN}:{node_dir}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "USER": "cli-test",
        "LANG": "C.UTF-8",
        "TERM": "dumb",
        "NO_COLOR": "1",
        "TMPDIR": str(home / "tmp"),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_DATA_HOME": str(home / ".local/share"),
        "XDG_STATE_HOME": str(home / ".local/state"),
    }


# ---- how each CLI is pointed at the gateway -------------------------------------------------


def claude_invocation(home, base, model, prompt):
    env = base_env(home)
    env.update({
        "ANTHROPIC_BASE_URL": base,
        "ANTHROPIC_API_KEY": CLIENT_KEY,
        "ANTHROPIC_MODEL": model,
        # helper calls (titles, summaries, subagents) must also use a served model
        "ANTHROPIC_SMALL_FAST_MODEL": model,
        "ANTHROPIC_DEFAULT_HAIKU_MODEL": model,
        "ANTHROPIC_DEFAULT_SONNET_MODEL": model,
        "ANTHROPIC_DEFAULT_OPUS_MODEL": model,
        "CLAUDE_CODE_SUBAGENT_MODEL": model,
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "DISABLE_BUG_COMMAND": "1",
        "CLAUDE_CODE_ENABLE_TELEMETRY": "0",
    })
    argv = [str(BIN / "claude"), "-p", prompt, "--model", model, "--output-format", "text"]
    return argv, env


def gemini_invocation(home, base, model, prompt):
    env = base_env(home)
    env.update({
        "GOOGLE_GEMINI_BASE_URL": base,
        "GEMINI_API_KEY": CLIENT_KEY,
        "GEMINI_CLI_NO_RELAUNCH": "true",
    })
    settings = {
        "security": {"auth": {"selectedType": "gemini-api-key"},
                     "folderTrust": {"enabled": False}},
        "privacy": {"usageStatisticsEnabled": False},
        "telemetry": {"enabled": False},
        "general": {"disableAutoUpdate": True, "disableUpdateNag": True},
    }
    (home / ".gemini").mkdir(exist_ok=True)
    (home / ".gemini" / "settings.json").write_text(json.dumps(settings, indent=2))
    argv = [str(BIN / "gemini"), "-p", prompt, "-m", model, "--output-format", "text"]
    return argv, env


def codex_invocation(home, base, model, prompt):
    env = base_env(home)
    codex_home = home / ".codex"
    codex_home.mkdir(exist_ok=True)
    env.update({"CODEX_HOME": str(codex_home), "AIPROXY_GATEWAY_KEY": CLIENT_KEY})
    (codex_home / "config.toml").write_text(
        f'model = "{model}"\n'
        'model_provider = "aiproxy"\n'
        "check_for_update_on_startup = false\n"
        "\n[model_providers.aiproxy]\n"
        'name = "aiproxy gateway"\n'
        f'base_url = "{base}/v1"\n'
        'wire_api = "responses"\n'
        'env_key = "AIPROXY_GATEWAY_KEY"\n'
        "\n[analytics]\nenabled = false\n"
        "\n[feedback]\nenabled = false\n"
        '\n[otel]\nexporter = "none"\n')
    argv = [str(BIN / "codex"), "exec", "--skip-git-repo-check", "--ephemeral", "--color", "never",
            "-m", model, "-o", str(home / "last-message.txt"), prompt]
    return argv, env


INVOCATIONS = {"claude": claude_invocation, "gemini": gemini_invocation,
               "codex": codex_invocation}


# ---- running ---------------------------------------------------------------------------------


def run_isolated(argv, env, cwd, forwards, timeout=RUN_TIMEOUT):
    """Run argv in its own loopback-only network namespace; returns (status, stdout, stderr)."""
    proc = subprocess.Popen(netns_argv(argv, forwards), env=env, cwd=cwd,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        out, err = proc.communicate()
        return None, out, err + f"\n[timed out after {timeout}s]"
    return proc.returncode, out, err


def run_cli(cli, model, base, forwards, root, scenario="plain"):
    token = f"tok{uuid.uuid4().hex[:12]}"
    home = root / f"{cli}-{model}-{scenario}"
    home.mkdir()
    prompt = f"Reply with this token: {token}{SCENARIO_MARKERS[scenario]}"
    argv, env = INVOCATIONS[cli](home, base, model, prompt)
    started = time.monotonic()
    status, out, err = run_isolated(argv, env, home / "work", forwards)
    result = {"cli": cli, "model": model, "scenario": scenario, "token": token, "status": status, "stdout": out,
              "stderr": err, "seconds": round(time.monotonic() - started, 1)}
    last = home / "last-message.txt"
    if last.exists():
        result["last_message"] = last.read_text()
    return result


def cli_runs_here(cli, root, forwards):
    """None if `CLI --version` runs in the namespace, else why not."""
    home = root / f"version-{cli}"
    home.mkdir()
    env = base_env(home)
    status, out, err = run_isolated([str(BIN / CLIS[cli][0]), "--version"], env, home / "work",
                                    forwards, timeout=60)
    if status != 0:
        return f"`{cli} --version` failed ({status}): {(out + err).strip()[-800:]}"
    return None


@pytest.fixture(scope="module")
def cli_gateway(mock, netns, clis_installed):
    """The demo configuration mounted at /ai/, with a client key, bridged into namespaces."""
    ensure_built(*GATEWAY_MODULES)
    gw = Gateway(upstream_lines(mock) + f"\nAIProxyClientKey {CLIENT_KEY}\n"
                 f'CustomLog "@ROOT@/logs/access.log" "{ACCESS_LOG_FORMAT}"', mount=MOUNT)
    gw.start()
    root = Path(tempfile.mkdtemp(prefix="aiproxy-cli-"))
    sock = root / "gateway.sock"
    forwarder = HostForwarder(sock, gw.port).start()
    yield gw, {gw.port: str(sock)}, root
    forwarder.close()
    gw.stop()
    gw.cleanup()
    if not os.environ.get("AIPROXY_KEEP_TMP"):
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def runs(cli_gateway, mock):
    """Every CLI x demo model x scenario, run concurrently once; {(cli, model, scenario):
    result}. A CLI that does not run here maps to {"skip": reason}."""
    gw, forwards, root = cli_gateway
    base = gw.url(PREFIX)
    results = {}
    usable = []
    for cli in CLIS:
        reason = cli_runs_here(cli, root, forwards)
        if reason:
            for model in MODELS:
                for scenario in scenarios_for(model):
                    results[(cli, model, scenario)] = {"skip": reason}
        else:
            usable.append(cli)
    with concurrent.futures.ThreadPoolExecutor(CONCURRENCY) as pool:
        futures = {pool.submit(run_cli, cli, model, base, forwards, root, scenario):
                   (cli, model, scenario)
                   for cli in usable for model in MODELS for scenario in scenarios_for(model)}
        for future in concurrent.futures.as_completed(futures):
            results[futures[future]] = future.result()
    records = mock.requests()
    for result in results.values():
        if "token" in result:
            result["records"] = [r for r in records if result["token"] in (r.get("body") or "")]
    return results


@pytest.fixture(scope="module")
def access_log(runs, cli_gateway):
    """The gateway's access log records of all the runs (parsed)."""
    gw = cli_gateway[0]
    path = gw.root / "logs" / "access.log"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def ran(runs, cli, model, scenario):
    """The result of one run, or skip the test with the reason the CLI could not run."""
    result = runs[(cli, model, scenario)]
    if "skip" in result:
        pytest.skip(result["skip"])
    return result


def describe(result):
    keep = {k: v for k, v in result.items() if k != "records"}
    keep["stdout"] = keep.get("stdout", "")[-3000:]
    keep["stderr"] = keep.get("stderr", "")[-3000:]
    paths = [(r["upstream"], r["method"], r["path"]) for r in result.get("records", [])]
    return json.dumps(keep, indent=1) + f"\nupstream requests with the token: {paths}"


def _streamed(api, record):
    if api == "gemini":
        return record["path"].endswith(":streamGenerateContent") and record["query"] == "alt=sse"
    return record["json"].get("stream") is True


def check_upstream_requests(result):
    """Every upstream request of the run went to the model's upstream, in its protocol, with
    the model mapped and the gateway's upstream credential, never the CLI's key."""
    api = API_OF_MODEL[result["model"]]
    assert result["records"], "no upstream request carried the token\n" + describe(result)
    for record in result["records"]:
        assert record["upstream"] == api, describe(result)
        assert record["method"] == "POST"
        assert record["path"] == UPSTREAM_PATH[api], describe(result)
        assert _streamed(api, record), describe(result)
        if api != "gemini":
            assert record["json"]["model"] == f"upstream-{api}-model", describe(result)
        headers = record["headers"]
        sent = " ".join(headers.get(h, "") for h in ("authorization", "x-api-key",
                                                     "x-goog-api-key"))
        assert UPSTREAM_TOKENS[api] in sent and CLIENT_KEY not in sent, describe(result)


# ---- the tests -------------------------------------------------------------------------------

ANSWER_SCENARIOS = ["plain", "think"]


@pytest.mark.parametrize("scenario", ANSWER_SCENARIOS)
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("cli", list(CLIS))
def test_cli_prints_the_mock_answer(runs, cli, model, scenario):
    """plain: the echo; think: the same after a thinking block/reasoning item/thought part
    (with signature or encrypted content) that the gateway translated into the CLI's protocol."""
    result = ran(runs, cli, model, scenario)
    assert result["status"] == 0, describe(result)
    assert "echo:" in result["stdout"] and result["token"] in result["stdout"], describe(result)


@pytest.mark.parametrize("scenario", ANSWER_SCENARIOS)
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("cli", list(CLIS))
def test_one_translated_streamed_upstream_request_per_turn(runs, cli, model, scenario):
    """The CLI parsed the gateway's stream at once: no retry, no fallback to a JSON request
    (Claude Code resends with "stream": false when it cannot parse a stream)."""
    result = ran(runs, cli, model, scenario)
    check_upstream_requests(result)
    assert len(result["records"]) == 1, describe(result)


def test_codex_shows_the_translated_reasoning(runs):
    """Codex prints reasoning summaries: the mock's thinking reached it from every upstream."""
    for model in MODELS:
        result = ran(runs, "codex", model, "think")
        assert "mock thinking" in result["stderr"], describe(result)


# the mock's 400 message of each api, which the CLI must show
ERROR_MESSAGE = {"anthropic": "mock: invalid request", "openai": "mock: invalid request",
                 "responses": "mock: invalid request",
                 "gemini": "Request contains an invalid argument."}


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("cli", list(CLIS))
def test_cli_reports_the_upstream_error(runs, cli, model):
    """An upstream 400 reaches the CLI in its own protocol's error envelope: the CLI fails
    and shows the upstream's message. (Claude Code itself tries a 400 several times, also
    against the provider directly; the gateway adds no attempt of its own.)"""
    result = ran(runs, cli, model, "error")
    assert result["status"] not in (0, None), describe(result)
    output = result["stdout"] + result["stderr"]
    assert ERROR_MESSAGE[API_OF_MODEL[model]] in output and "400" in output, describe(result)
    check_upstream_requests(result)
    if cli != "claude":
        assert len(result["records"]) == 1, describe(result)


TOOL_MODELS = [m for m in MODELS if API_OF_MODEL[m] in TOOL_APIS]


def tool_round_trip(api, body):
    """(tool name called, its id, id the tool result answers, first tool of the request) from
    the second upstream request of a tool scenario."""
    if api == "anthropic":
        first_tool = body["tools"][0]["name"]
        calls = [b for m in body["messages"] if m["role"] == "assistant"
                 for b in m["content"] if isinstance(b, dict) and b.get("type") == "tool_use"]
        results = [b for m in body["messages"] if m["role"] == "user"
                   and isinstance(m["content"], list)
                   for b in m["content"] if b.get("type") == "tool_result"]
        assert len(calls) == 1 and len(results) == 1, body["messages"][-2:]
        assert calls[0]["input"] == {"arg": "mock"}
        return calls[0]["name"], calls[0]["id"], results[0]["tool_use_id"], first_tool
    first_tool = body["tools"][0]["functionDeclarations"][0]["name"]
    calls = [p["functionCall"] for c in body["contents"] if c.get("role") == "model"
             for p in c["parts"] if "functionCall" in p]
    results = [p["functionResponse"] for c in body["contents"] if c.get("role") == "user"
               for p in c["parts"] if "functionResponse" in p]
    assert len(calls) == 1 and len(results) == 1, body["contents"][-2:]
    assert calls[0]["args"] == {"arg": "mock"} and results[0]["name"] == calls[0]["name"]
    return calls[0]["name"], calls[0].get("id"), results[0].get("id"), first_tool


@pytest.mark.parametrize("model", TOOL_MODELS)
@pytest.mark.parametrize("cli", list(CLIS))
def test_tool_call_round_trip(runs, cli, model):
    """The mock's tool call reaches the CLI translated; the CLI answers it with a tool result
    for the same call id, which the gateway translates back: two upstream requests, the
    second holding the call and its result."""
    result = ran(runs, cli, model, "tool")
    assert result["status"] == 0, describe(result)
    assert "echo:" in result["stdout"], describe(result)
    check_upstream_requests(result)
    assert len(result["records"]) == 2, describe(result)
    second = max(result["records"], key=lambda r: len(r["body"]))
    name, call_id, answered_id, first_tool = tool_round_trip(API_OF_MODEL[model], second["json"])
    assert name == first_tool, describe(result)
    assert call_id and answered_id == call_id, describe(result)


def test_every_other_cli_request_was_answered_2xx(runs, access_log):
    """Nothing the CLIs sent to the gateway besides the error scenario's turns (helper calls,
    model lists, token counts) failed, and each answered client request made one upstream
    request."""
    answered = [r for (_, _, scenario), r in runs.items() if "token" in r and scenario != "error"]
    if not answered:
        pytest.skip("no CLI ran")
    assert all(200 <= e["status"] < 300 or e["status"] == 400 for e in access_log), \
        json.dumps(access_log, indent=1)
    ok = [e for e in access_log if 200 <= e["status"] < 300]
    assert len(ok) == sum(len(r["records"]) for r in answered), json.dumps(access_log, indent=1)
    errors = [r for (_, _, scenario), r in runs.items() if "token" in r and scenario == "error"]
    assert len(access_log) - len(ok) == sum(len(r["records"]) for r in errors)


# what each CLI sends to the gateway, told apart by its User-Agent
CLIENT_REQUEST = {
    "claude": ("claude-cli/", lambda model: (f"{PREFIX}/v1/messages", "?beta=true")),
    "gemini": ("GeminiCLI", lambda model: (f"{PREFIX}/v1beta/models/{model}:streamGenerateContent",
                                           "?alt=sse")),
    "codex": ("codex_exec/", lambda model: (f"{PREFIX}/v1/responses", "")),
}


@pytest.mark.parametrize("cli", list(CLIS))
def test_cli_sent_its_own_protocol_below_the_prefix(runs, access_log, cli):
    results = [r for (c, _, _), r in runs.items() if c == cli]
    if "skip" in results[0]:
        pytest.skip(results[0]["skip"])
    agent, expected = CLIENT_REQUEST[cli]
    seen = {(e["method"], e["path"], e["query"]) for e in access_log
            if e["agent"].startswith(agent)}
    assert seen == {("POST",) + expected(r["model"]) for r in results}, seen
