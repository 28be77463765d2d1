"""The ``maghub`` command as a user runs it: real processes, real ports."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from maghub import __version__
from maghub.testing.process import MAGHUB_COMMAND, MaghubProcess, env_without_maghub_settings, free_port


def run_cli(*args: str, timeout: float = 30, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MAGHUB_COMMAND, *args],
        capture_output=True,
        check=False,
        text=True,
        timeout=timeout,
        env=env_without_maghub_settings(**env),
    )


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[type[MaghubProcess]]:
    started: list[MaghubProcess] = []

    def factory(*extra: str, env: dict[str, str] | None = None) -> MaghubProcess:
        server = MaghubProcess(tmp_path / "data", *extra, env=env)
        started.append(server)
        return server

    yield factory  # type: ignore[misc]
    for server in started:
        server.stop()


def test_version() -> None:
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"maghub {__version__}"


def test_help_lists_serve_options() -> None:
    result = run_cli("serve", "--help")
    assert result.returncode == 0
    for option in ("--host", "--port", "--data-dir", "--demo", "--database-url"):
        assert option in result.stdout


def test_port_in_use_is_reported_clearly(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_cli("serve", "--port", str(port), "--data-dir", str(tmp_path / "d"))
    assert result.returncode == 2
    assert f"Port {port} on 127.0.0.1 is already in use" in result.stderr
    assert "Traceback" not in result.stderr


def test_unwritable_data_dir_is_reported_clearly(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = run_cli("serve", "--port", "0", "--data-dir", str(blocker / "data"))
    assert result.returncode == 2
    assert "is not writable" in result.stderr and "--data-dir" in result.stderr
    assert "Traceback" not in result.stderr


def test_public_host_refused_without_auth(tmp_path: Path) -> None:
    result = run_cli("serve", "--host", "0.0.0.0", "--port", "0", "--data-dir", str(tmp_path / "d"))
    assert result.returncode == 2
    assert "Refusing to listen on 0.0.0.0" in result.stderr
    assert not (tmp_path / "d").exists()


def test_invalid_settings_are_reported_clearly(tmp_path: Path) -> None:
    result = run_cli("serve", "--data-dir", str(tmp_path / "d"), MAGHUB_PORT="eighty")
    assert result.returncode == 2 and "Invalid settings: port" in result.stderr
    bad_db = run_cli("serve", "--port", "0", "--data-dir", str(tmp_path / "d"), "--database-url", "mysql://x/y")
    assert bad_db.returncode == 2 and "Unsupported database URL scheme" in bad_db.stderr
    unreachable = run_cli(
        "serve",
        "--port",
        "0",
        "--data-dir",
        str(tmp_path / "d"),
        "--database-url",
        f"postgresql+asyncpg://nobody@127.0.0.1:{free_port()}/none",
    )
    assert unreachable.returncode == 2 and "Cannot connect to the database" in unreachable.stderr
    assert "Traceback" not in unreachable.stderr


def test_bad_secret_settings_are_reported_clearly(tmp_path: Path) -> None:
    bad_key = run_cli("serve", "--port", "0", "--data-dir", str(tmp_path / "d"), MAGHUB_SECRET_KEY="not-a-fernet-key")
    assert bad_key.returncode == 2 and "not a valid Fernet key" in bad_key.stderr
    short_jwt = run_cli("serve", "--port", "0", "--data-dir", str(tmp_path / "d"), MAGHUB_JWT_SECRET="short")
    assert short_jwt.returncode == 2 and "jwt_secret: Value error, must be at least 32 bytes" in short_jwt.stderr
    for result in (bad_key, short_jwt):
        assert "Traceback" not in result.stderr


def test_env_settings_apply_and_flags_override(tmp_path: Path, server_factory) -> None:
    env_dir = tmp_path / "from-env"
    server = server_factory(env={"MAGHUB_DATA_DIR": str(env_dir), "MAGHUB_LOG_FORMAT": "json"})
    # --data-dir given by the fixture wins over MAGHUB_DATA_DIR
    server.wait_ready()
    assert not env_dir.exists()
    assert (tmp_path / "data" / "maghub.db").exists()


def test_serve_then_graceful_shutdown(server_factory) -> None:
    server = server_factory()
    server.wait_ready()
    response = httpx2.post(f"{server.url}/api/system/shutdown", timeout=5)
    assert response.status_code == 200
    assert response.json() == {"status": "success", "message": "服务关闭过程已启动", "active_sessions": 0}
    assert server.proc.wait(timeout=15) == 0
    with pytest.raises(httpx2.ConnectError):
        httpx2.get(f"{server.url}/health", timeout=1)
