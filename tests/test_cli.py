"""The command line as a newcomer uses it: real processes, real ports, the official SDK."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import openai
import pytest
import trio

from gomodel.testing import MockUpstream, serve_mock_upstream

SECRET = "sk-this-is-a-long-secret-key-1234"


def _env(**extra: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    keep.pop("GOMODEL_MASTER_KEY", None)
    return {**keep, **extra}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gomodel", *args],
        cwd=cwd,
        env=_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_check_config_masks_secrets(tmp_path: Path) -> None:
    """check-config prints the effective configuration without the secrets themselves."""
    result = _run(["check-config"], tmp_path, OPENAI_API_KEY=SECRET, GOMODEL_MASTER_KEY=SECRET)
    assert result.returncode == 0, result.stderr
    assert "openai" in result.stdout
    assert SECRET not in result.stdout + result.stderr


def test_check_config_shows_no_piece_of_a_secret(tmp_path: Path) -> None:
    """check-config shows no 5 characters of a key or of a password, from env or file."""
    secrets = {
        "master": "gm-Qx7RvK2mPz9LwT4nBc8Y9876",
        "openai": "sk-Hq4WtZ6rNv2JkM8pXd",
        "local": "vl-Wd3Hs8Lq2Zr6Ty1Vb5Nm",
        "url": "Hunter2Pass7",
        "db": "Xq7vR2mK9pL4",
        "ssl": "Jf6Gy3Bt8Ue1",
    }
    (tmp_path / "config.yaml").write_text(
        "providers:\n  local:\n    type: vllm\n"
        f"    api_key: '{secrets['local']}'\n"
        f"    base_url: 'http://gw:{secrets['url']}@gpu-box:8000/v1'\n"
    )
    result = _run(
        ["check-config"],
        tmp_path,
        GOMODEL_MASTER_KEY=secrets["master"],
        OPENAI_API_KEY=secrets["openai"],
        STORAGE_TYPE="postgresql",
        POSTGRES_URL=f"postgresql://gw:{secrets['db']}@db/usage?sslpassword={secrets['ssl']}",
    )
    assert result.returncode == 0, result.stderr
    assert "  local:\n    type: vllm" in result.stdout
    shown = result.stdout + result.stderr
    for name, secret in secrets.items():
        pieces = {secret[i : i + 5] for i in range(len(secret) - 4)}
        assert not {p for p in pieces if p in shown}, name


@pytest.mark.parametrize(
    ("env", "setting"),
    [
        ({"PORT": "eighty"}, "PORT"),
        ({"BODY_SIZE_LIMIT": "10X"}, "BODY_SIZE_LIMIT"),
        ({"HTTP_TIMEOUT": "-3"}, "HTTP_TIMEOUT"),
        ({"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": "ftp://x"}, "OPENAI_BASE_URL"),
    ],
)
def test_bad_setting_exits_2_naming_it(tmp_path: Path, env: dict[str, str], setting: str) -> None:
    """A bad value stops the gateway with status 2 and a message naming the setting."""
    result = _run(["serve"], tmp_path, **env)
    assert result.returncode == 2
    assert setting in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_config_file_exits_2(tmp_path: Path) -> None:
    """--config naming a missing file is a configuration error, not a traceback."""
    result = _run(["check-config", "--config", str(tmp_path / "nope.yaml")], tmp_path)
    assert result.returncode == 2
    assert "nope.yaml" in result.stderr


async def _wait_healthy(url: str) -> None:
    with trio.fail_after(30):
        async with httpx.AsyncClient() as client:
            while True:
                try:
                    if (await client.get(url + "/health")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await trio.sleep(0.1)


async def _stop(process: trio.Process) -> int:
    process.send_signal(signal.SIGTERM)
    with trio.fail_after(30):
        return await process.wait()


async def test_demo_answers_the_sdk(tmp_path: Path) -> None:
    """`gomodel demo` as the README runs it (no key, no address) starts a gateway and a mock
    provider on this machine only (127.0.0.1, not every interface); the SDK gets an answer;
    SIGTERM stops it cleanly."""
    port = _free_port()
    stdout = tmp_path / "stdout"
    with stdout.open("wb") as out:
        process = await trio.lowlevel.open_process(
            [sys.executable, "-m", "gomodel", "demo", "--port", str(port)],
            cwd=tmp_path,
            env=_env(),
            stdout=out,
            stderr=subprocess.DEVNULL,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        await _wait_healthy(url)
        assert f"gateway on {url}," in stdout.read_text()

        def ask() -> str | None:
            with openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0) as sdk:
                answer = sdk.chat.completions.create(
                    model="demo/gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
                )
                return answer.choices[0].message.content

        assert await trio.to_thread.run_sync(ask) == "Mock response to: hi"
    finally:
        code = await _stop(process)
    assert code == 0


async def test_demo_with_a_fault_fails_over(tmp_path: Path) -> None:
    """`gomodel demo --fault flaky`: every other request fails on demo.primary and is served
    by demo.backup; the client always gets its answer and sees which deployment gave it."""
    port = _free_port()
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "gomodel", "demo", "--port", str(port), "--fault", "flaky"],
        cwd=tmp_path,
        env=_env(GOMODEL_HOST="127.0.0.1"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        await _wait_healthy(url)

        def ask() -> list[tuple[str | None, str, str]]:
            seen = []
            with openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0) as sdk:
                for _ in range(4):
                    raw = sdk.chat.completions.with_raw_response.create(
                        model="demo/gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
                    )
                    seen.append(
                        (
                            raw.parse().choices[0].message.content,
                            raw.headers["x-gomodel-attempts"],
                            raw.headers["x-gomodel-route"],
                        )
                    )
            return seen

        answers = await trio.to_thread.run_sync(ask)
    finally:
        code = await _stop(process)
    assert code == 0
    assert {content for content, _, _ in answers} == {"Mock response to: hi"}
    assert [attempts for _, attempts, _ in answers] == ["1", "2", "1", "2"]
    assert answers[1][2].endswith("target=demo.backup/gpt-4o-mini; pick=failover")


@pytest.mark.parametrize(
    "command",
    [
        ["-m", "hypercorn", "--worker-class", "trio", "gomodel.asgi:app"],
        ["-m", "gomodel", "serve", "--workers", "2"],
    ],
    ids=["hypercorn", "workers"],
)
async def test_served_from_environment(
    nursery: trio.Nursery, tmp_path: Path, command: list[str]
) -> None:
    """hypercorn with gomodel.asgi:app, and serve --workers 2, take their configuration from the
    environment, proxy to the configured provider and log each request like one process does."""
    mock = MockUpstream(models=("gpt-4o",))
    upstream = await nursery.start(serve_mock_upstream, mock)
    port = _free_port()
    stderr = (tmp_path / "stderr").open("wb")
    bind = (
        ["--bind", f"127.0.0.1:{port}"]
        if "hypercorn" in command
        else ["--host", "127.0.0.1", "--port", str(port)]
    )
    process = await trio.lowlevel.open_process(
        [sys.executable, *command, *bind],
        cwd=tmp_path,
        env=_env(OPENAI_API_KEY="k", OPENAI_BASE_URL=upstream, GOMODEL_MASTER_KEY="mk"),
        stdout=subprocess.DEVNULL,
        stderr=stderr,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        await _wait_healthy(url)
        async with httpx.AsyncClient(headers={"authorization": "Bearer mk"}) as client:
            with trio.fail_after(30):
                models = await client.get(url + "/v1/models")
                chat = await client.post(
                    url + "/v1/chat/completions",
                    json={"model": "gpt-4o", "messages": [{"role": "user", "content": "yo"}]},
                )
        assert [m["id"] for m in models.json()["data"]] == ["openai/gpt-4o"]
        assert chat.json()["choices"][0]["message"]["content"] == "Mock response to: yo"
    finally:
        await _stop(process)
        stderr.close()
    logged = (tmp_path / "stderr").read_text()
    assert " INFO gomodel.requests: /v1/chat/completions request_id=" in logged
    assert "Traceback" not in logged and "Logging error" not in logged
    assert "model=gpt-4o route=passthrough stream=False status=200" in logged


async def test_workers_stop_accepting_at_sigterm(tmp_path: Path) -> None:
    """serve --workers 2: at SIGTERM the listening socket closes at once, while the workers are
    still in their grace period with a request in flight (a proxy then moves on to another
    replica instead of having its connection accepted and later reset). Shown by order, not by
    time: a connect is refused while the process is still running."""
    port = _free_port()
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "gomodel", "serve", "--workers", "2", "--port", str(port)],
        cwd=tmp_path,
        env=_env(SHUTDOWN_GRACE_PERIOD="30", GOMODEL_MASTER_KEY="mk"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        await _wait_healthy(url)
        # A request in flight: its body never completes, so its worker stays in the grace period.
        held = await trio.open_tcp_stream("127.0.0.1", port)
        await held.send_all(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer mk\r\n"
            b"Content-Length: 100\r\n\r\n{"
        )
        process.send_signal(signal.SIGTERM)
        with trio.fail_after(20):
            while True:
                try:
                    probe = await trio.open_tcp_stream("127.0.0.1", port)
                except OSError:
                    break  # refused
                await probe.aclose()
                await trio.sleep(0.05)
        assert process.returncode is None  # still in the grace period
        await held.aclose()
    finally:
        code = await _stop(process)
    assert code == 0
