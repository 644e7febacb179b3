"""The openai npm SDK on the forwarded routes: images.generate, images.edit and
audio.transcriptions.create with real files (the SDK's own multipart encoding, whose `model`
field the gateway finds and maps), and audio.speech.create (a binary answer). test/sdk/
run_forward.mjs makes the calls; the SDKs are installed as for test_sdk.py (skipped without
node, npm or a reachable registry)."""

import json
import struct
import subprocess

import pytest

from conftest import GATEWAY_MODULES, Gateway, ensure_built
from harness import REPO, npm_ci

SDK_DIR = REPO / "test" / "sdk"
SCRIPT = SDK_DIR / "run_forward.mjs"
CLIENT_KEY = "sk-sdk-forward-key"


@pytest.fixture(scope="module")
def node():
    return npm_ci(SDK_DIR, "SDK tests", ".aiproxy-sdk-stamp", timeout=600)


def wav_file(path, seconds=1, rate=8000):
    """A real (silent) PCM WAV file."""
    frames = b"\x00\x00" * (seconds * rate)
    header = b"RIFF" + struct.pack("<I", 36 + len(frames)) + b"WAVEfmt " + struct.pack(
        "<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16) + b"data" + struct.pack("<I", len(frames))
    path.write_bytes(header + frames)
    return path


def test_openai_sdk_forwarded_calls(node, mock, tmp_path):
    ensure_built(*GATEWAY_MODULES)
    gw = Gateway("\n".join([
        f"AIProxyUpstream oa {mock.base_url('openai')} api=openai token=up-key "
        "models=gpt-image-1,whisper-1,tts-1 map=whisper-1=whisper-upstream",
        f"AIProxyClientKey {CLIENT_KEY}",
    ]))
    gw.start()
    try:
        audio = wav_file(tmp_path / "speech.wav")
        image = tmp_path / "fox.png"
        image.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
        args = {"baseURL": gw.url("").rstrip("/"), "apiKey": CLIENT_KEY,
                "audioFile": str(audio), "imageFile": str(image)}
        mock.clear()
        out = subprocess.run([node, str(SCRIPT), json.dumps(args)], cwd=SDK_DIR,
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        results = {r["call"]: r for r in map(json.loads, out.stdout.splitlines())}
    finally:
        gw.stop()
        gw.cleanup()
    assert results["images.generate"] == {"call": "images.generate",
                                          "image": "mock image: a red fox",
                                          "model": "gpt-image-1"}
    assert results["images.edit"]["file"] == "fox.png"
    assert results["images.edit"]["bytes"] == image.stat().st_size
    tr = results["audio.transcriptions.create"]
    assert tr.get("model") == "whisper-upstream", tr  # the SDK's multipart model, mapped
    assert tr["bytes"] == audio.stat().st_size
    speech = results["audio.speech.create"]
    assert speech["type"] == "audio/mpeg" and speech["length"] == 4 * 2048
    assert speech["head"] == [0, 1, 2, 3]
    paths = [r["path"] for r in mock.requests()]
    assert sorted(paths) == sorted(["/v1/images/generations", "/v1/images/edits",
                                    "/v1/audio/transcriptions", "/v1/audio/speech"])
