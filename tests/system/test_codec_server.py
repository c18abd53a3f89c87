"""Encrypted jobs, readable where they should be (issue 17, point 3).

``durable-jobs codec-server`` serves the workers' keys over Temporal's codec server protocol:
the installed ``temporal`` CLI shows decrypted payloads through it and ciphertext without it;
a browser's CORS preflight gets the answers the web UI needs. The other commands read and
write encrypted instances with the same ``--key-file``.
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import os
import signal
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.testing import WorkflowEnvironment

from durable_jobs._servers import dev_server_path
from durable_jobs.codec import AesGcmCodec
from durable_jobs.codec_server import CodecServer
from durable_jobs.testing import JobsTestEnvironment
from tests.integration.helpers import eventually
from tests.system.test_cli import CLI, Counter, cli_for, jobs, run_cli
from tests.system.test_server_restart import free_port

SECRET = 73_519_604
"""A state value that must not appear in Temporal unless decrypted by a codec server."""

UI = "http://localhost:8233"


@pytest.fixture(scope="module")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two keys: 'old' (rotated out, still decrypts) and 'new' (encrypts)."""
    path = tmp_path_factory.mktemp("keys") / "keys.txt"
    old, new = (base64.b64encode(os.urandom(32)).decode() for _ in range(2))
    path.write_text(f"# the workers' keys\nold={old}\n\nnew={new}\n")
    return path


@pytest.fixture(scope="module")
def codec(key_file: Path) -> AesGcmCodec:
    return AesGcmCodec.from_key_file(key_file, key_id="new")


@pytest.fixture
async def encrypted(dev_env: WorkflowEnvironment, codec: AesGcmCodec) -> AsyncIterator[Any]:
    async with await JobsTestEnvironment.attach(dev_env, jobs, codec=codec) as env:
        yield env


@pytest.fixture(scope="module")
def codec_server(key_file: Path) -> Iterator[str]:
    """``durable-jobs codec-server`` as a process; yields its endpoint."""
    port = free_port()
    process = subprocess.Popen(
        [CLI, "--key-file", str(key_file), "--key-id", "new", "codec-server", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"

    async def up() -> bool:
        assert process.poll() is None, process.communicate()
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return False
        writer.close()
        return True

    assert asyncio.run(eventually(up, bool, timeout=20)), "the codec server did not listen"
    yield url
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=10)
    assert process.returncode == 0  # SIGTERM stops it like Ctrl-C
    assert f"codec server on {url}: keys new, old, 'new' encrypts" in out


def request(
    url: str, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], Any]:
    """One plain HTTP request: status, headers, and the body as JSON (or None)."""
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body))
    connection.request(method, path, body=data, headers=headers or {})
    response = connection.getresponse()
    raw = response.read()
    connection.close()
    return response.status, dict(response.getheaders()), json.loads(raw) if raw else None


def as_json(payload: Payload) -> dict[str, Any]:
    return {
        "metadata": {k: base64.b64encode(v).decode() for k, v in payload.metadata.items()},
        "data": base64.b64encode(payload.data).decode(),
    }


def temporal(env: JobsTestEnvironment, *args: str) -> str:
    """The installed ``temporal`` CLI against the test server; its stdout."""
    address = env.temporal_client.service_client.config.target_host
    done = subprocess.run(
        [dev_server_path(), *args, "--address", address],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def history_payloads(shown: str) -> list[dict[str, Any]]:
    """Every payload of ``temporal workflow show -o json`` output, wherever it is."""
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "metadata" in node and "encoding" in node["metadata"]:
                found.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(shown))
    return found


def encoding(payload: dict[str, Any]) -> str:
    return base64.b64decode(payload["metadata"]["encoding"]).decode()


async def test_temporal_cli_shows_decrypted_payloads_only_through_the_codec_server(
    encrypted: JobsTestEnvironment, codec_server: str, uid: str
) -> None:
    h = encrypted.client.continuous("ticker")
    await h.start(id=uid, input=Counter(n=SECRET))
    await h.trigger(uid)
    workflow = ["-w", f"continuous:ticker:{uid}"]

    plain = history_payloads(temporal(encrypted, "workflow", "show", *workflow, "-o", "json"))
    job_payloads = [p for p in plain if encoding(p) != "json/plain"]  # search attributes stay
    assert job_payloads and {encoding(p) for p in job_payloads} == {"binary/encrypted"}
    assert not any(str(SECRET).encode() in base64.b64decode(p["data"]) for p in plain)

    through = ["--codec-endpoint", codec_server]
    decoded = history_payloads(
        temporal(encrypted, "workflow", "show", *workflow, "-o", "json", *through)
    )
    assert "binary/encrypted" not in {encoding(p) for p in decoded}
    assert any(str(SECRET).encode() in base64.b64decode(p["data"]) for p in decoded)

    # The memo (the status summary) is encrypted as well, and decrypted the same way.
    assert "binary/encrypted" in temporal(encrypted, "workflow", "describe", *workflow)
    described = temporal(encrypted, "workflow", "describe", *workflow, *through)
    assert "binary/encrypted" not in described and '\\"status\\":\\"running\\"' in described


def test_cors_preflight_answers_the_web_ui_and_refuses_other_origins(codec_server: str) -> None:
    asks = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-namespace,authorization",
    }
    status, headers, _ = request(codec_server, "OPTIONS", "/decode", headers={"Origin": UI, **asks})
    assert status == 204
    assert headers["Access-Control-Allow-Origin"] == UI
    assert headers["Access-Control-Allow-Credentials"] == "true"
    assert "POST" in headers["Access-Control-Allow-Methods"]
    allowed = {h.strip().lower() for h in headers["Access-Control-Allow-Headers"].split(",")}
    assert {"content-type", "x-namespace", "authorization"} <= allowed
    assert headers["Vary"] == "Origin"

    evil = {"Origin": "http://evil.example", **asks}
    status, headers, body = request(codec_server, "OPTIONS", "/decode", headers=evil)
    assert status == 403 and "Access-Control-Allow-Origin" not in headers
    assert "origin 'http://evil.example' is not allowed" in body["error"]
    status, _, _ = request(codec_server, "POST", "/decode", {"payloads": []}, headers=evil)
    assert status == 403


async def test_encode_and_decode_over_http_with_rotated_keys(
    codec_server: str, key_file: Path
) -> None:
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'{"n": 1}')
    headers = {"Content-Type": "application/json", "Origin": UI, "X-Namespace": "default"}
    status, answer_headers, sealed = request(
        codec_server, "POST", "/encode", {"payloads": [as_json(plain)]}, headers
    )
    assert status == 200 and answer_headers["Access-Control-Allow-Origin"] == UI
    [one] = sealed["payloads"]
    assert encoding(one) == "binary/encrypted"
    assert base64.b64decode(one["metadata"]["encryption-key-id"]) == b"new"
    old_key = AesGcmCodec.from_key_file(key_file, key_id="old")
    [by_old] = await old_key.encode([plain])
    # Any prefix before the last path part is allowed (one endpoint per namespace, say).
    status, _, opened = request(
        codec_server,
        "POST",
        "/default/decode",
        {"payloads": [one, as_json(by_old)]},
        headers,
    )
    assert status == 200
    assert [base64.b64decode(p["data"]) for p in opened["payloads"]] == [b'{"n": 1}'] * 2

    status, _, body = request(codec_server, "POST", "/decode", b"{not json", headers)
    assert status == 400 and "body is not Payloads JSON" in body["error"]
    status, _, body = request(codec_server, "GET", "/", headers=headers)
    assert status == 404 and "expected POST .../encode or POST .../decode" in body["error"]


async def test_namespace_and_authorization_limits(
    encrypted: JobsTestEnvironment, codec: AesGcmCodec, uid: str
) -> None:
    with CodecServer(
        codec, port=0, namespaces={"default"}, authorization="Bearer s3cret"
    ) as server:
        body = {"payloads": []}
        right = {"Authorization": "Bearer s3cret", "X-Namespace": "default"}
        assert request(server.url, "POST", "/decode", body, right)[0] == 200
        assert request(server.url, "POST", "/decode", body, {"X-Namespace": "default"})[0] == 401
        wrong = {**right, "Authorization": "Bearer guess"}
        assert request(server.url, "POST", "/decode", body, wrong)[0] == 401
        status, _, refused = request(
            server.url, "POST", "/decode", body, {**right, "X-Namespace": "other"}
        )
        assert status == 403 and "namespace 'other' is not served" in refused["error"]

        # Temporal's CLI sends X-Namespace and --codec-auth as these headers.
        h = encrypted.client.continuous("ticker")
        await h.start(id=uid, input=Counter(n=SECRET))
        workflow = ["-w", f"continuous:ticker:{uid}", "--codec-endpoint", server.url]
        described = temporal(
            encrypted, "workflow", "describe", *workflow, "--codec-auth", "Bearer s3cret"
        )
        assert "binary/encrypted" not in described


async def test_the_cli_reads_and_writes_encrypted_jobs_with_the_key_file(
    encrypted: JobsTestEnvironment, key_file: Path, uid: str
) -> None:
    cli = cli_for(encrypted, "tests.system.test_cli")
    keys = ["--key-file", str(key_file), "--key-id", "new"]
    started = await cli(*keys, "--json", "start", "ticker", uid, json.dumps({"n": SECRET}))
    assert started.code == 0, started.err
    assert (await cli(*keys, "--json", "trigger", "ticker", uid)).json()["triggered"] is True
    state = await cli(*keys, "--json", "state", "ticker", uid)
    assert state.json()["state"] == {"n": SECRET + 1}
    # The environment variables work as the options do.
    from_env = {"DURABLE_JOBS_KEY_FILE": str(key_file), "DURABLE_JOBS_KEY_ID": "new"}
    assert (await cli("--json", "status", "ticker", uid, env=from_env)).json()["run_count"] == 1
    listed = await eventually(
        lambda: cli(*keys, "--json", "list", "ticker"),
        lambda r: r.code == 0 and uid in [row["id"] for row in r.json()],
        timeout=20,
    )
    [row] = [row for row in listed.json() if row["id"] == uid]
    assert row["status"] == "running"  # read from the encrypted memo

    for command in (["state", "ticker", uid], ["list", "ticker"]):
        without = await cli(*command, env={"DURABLE_JOBS_KEY_FILE": ""})
        assert without.code == 2, without
        assert without.err.strip() == (
            "error: the data is encrypted (binary/encrypted); expected the workers' keys: "
            "pass --key-file PATH (or set DURABLE_JOBS_KEY_FILE)"
        )


@pytest.mark.parametrize(
    ("content", "args", "says"),
    [
        ("k1=bm90IDMyIGJ5dGVz\n", [], "line 1: key 'k1' is 12 bytes; expected 32"),
        ("k1 is the key\n", [], "line 1: expected key_id=base64key"),
        (f"a={base64.b64encode(bytes(32)).decode()}\nb=" + "A" * 43 + "\n", [], "--key-id"),
        (f"a={base64.b64encode(bytes(32)).decode()}\n", ["--key-id", "z"], "key id 'z' is not"),
    ],
    ids=["short-key", "no-equals", "several-keys-no-id", "unknown-id"],
)
async def test_a_bad_key_file_is_bad_usage(
    tmp_path: Path, content: str, args: list[str], says: str
) -> None:
    path = tmp_path / "keys.txt"
    path.write_text(content)
    result = await run_cli(
        "--jobs",
        "tests.system.test_cli:jobs",
        "--key-file",
        str(path),
        *args,
        "status",
        "ticker",
        "u",
    )
    assert result.code == 2 and result.err.startswith("error: key") and says in result.err
    assert str(path) in result.err and len(result.err.strip().splitlines()) == 1


async def test_codec_server_needs_keys_and_a_free_port(key_file: Path) -> None:
    no_keys = await run_cli("codec-server", env={"DURABLE_JOBS_KEY_FILE": ""})
    assert no_keys.code == 2 and "codec-server needs the workers' keys" in no_keys.err
    with CodecServer(AesGcmCodec.from_key_file(key_file, "new"), port=0) as taken:
        busy = await run_cli(
            "--key-file",
            str(key_file),
            "--key-id",
            "new",
            "codec-server",
            "--port",
            str(taken.port),
        )
    assert busy.code == 1 and "expected a free port (--port N)" in busy.err
    assert f"127.0.0.1:{taken.port}" in busy.err
