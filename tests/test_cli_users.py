"""``maghub users list | disable | enable | delete | passwd``: on the database directly, with the server
stopped or running (a running server refuses a disabled user's token on the next request).

The commands run in-process through Typer's runner (in a worker thread: they start their own event
loop); ``maghub users create`` as a real subprocess is covered in ``test_auth.py``."""

from __future__ import annotations

from pathlib import Path

import anyio.to_thread
from typer.testing import CliRunner

from maghub.cli.app import app
from maghub.settings import Settings
from maghub.testing.harness import running_maghub


def users(data_dir: Path, *args: str, password: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(
        app, ["users", *args, "--data-dir", str(data_dir)], input=f"{password}\n" if password else None
    )
    return result.exit_code, result.output


def test_users_commands(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("MAGHUB_DATABASE_URL", raising=False)
    data_dir = tmp_path / "data"
    assert users(data_dir, "list") == (0, "No users. Create one with: maghub users create NAME --admin\n")
    assert users(data_dir, "create", "root", "--admin", password="root-password")[0] == 0
    assert users(data_dir, "create", "bob", password="bob-password")[0] == 0

    code, output = users(data_dir, "list")
    assert code == 0
    lines = output.splitlines()
    assert lines[0].split()[:3] == ["bob", "user", "enabled"] and lines[1].split()[:3] == ["root", "admin", "enabled"]
    assert "never" in lines[0] and "password" not in output

    assert users(data_dir, "disable", "bob") == (0, "Disabled 'bob'.\n")
    assert users(data_dir, "list")[1].splitlines()[0].split()[2] == "disabled"
    assert users(data_dir, "enable", "bob") == (0, "Enabled 'bob'.\n")
    assert users(data_dir, "passwd", "bob", password="a new password") == (0, "Changed the password of 'bob'.\n")

    code, output = users(data_dir, "passwd", "bob", password="short")
    assert code == 2 and "at least 8 characters" in output
    code, output = users(data_dir, "disable", "ghost")
    assert code == 2 and "User 'ghost' does not exist" in output
    code, output = users(data_dir, "disable", "root")
    assert code == 2 and "last enabled admin" in output
    code, output = users(data_dir, "delete", "root", "--yes")
    assert code == 2 and "last enabled admin" in output
    code, output = users(data_dir, "create", "bob", password="bob-password")
    assert code == 2 and "already exists" in output

    assert users(data_dir, "delete", "bob", "--yes") == (0, "Deleted 'bob'.\n")
    assert [line.split()[0] for line in users(data_dir, "list")[1].splitlines()] == ["root"]


async def test_a_running_server_sees_the_cli_changes(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("MAGHUB_DATABASE_URL", raising=False)
    data_dir = tmp_path / "data"
    async with running_maghub(Settings(data_dir=data_dir, port=0, auth_enabled=True)) as maghub:
        await maghub.runtime.users.create("bob", "bob-password")
        login = await maghub.client.post("/api/auth/login", json={"username": "bob", "password": "bob-password"})
        bob = {"Authorization": f"Bearer {login.json()['access_token']}"}
        assert (await maghub.client.get("/models", headers=bob)).status_code == 200

        assert (await anyio.to_thread.run_sync(users, data_dir, "disable", "bob"))[0] == 0
        assert (await maghub.client.get("/models", headers=bob)).status_code == 401
        assert (await anyio.to_thread.run_sync(users, data_dir, "enable", "bob"))[0] == 0
        assert (await maghub.client.get("/models", headers=bob)).status_code == 200
        changed = await anyio.to_thread.run_sync(lambda: users(data_dir, "passwd", "bob", password="a new password"))
        assert changed[0] == 0
        refused = await maghub.client.get("/models", headers=bob)
        assert refused.status_code == 401 and "password was changed" in refused.json()["detail"]
