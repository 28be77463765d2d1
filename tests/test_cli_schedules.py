"""``maghub schedules list|add|pause|resume|delete`` against a real maghub process."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator

import httpx2
import pytest
from graph_samples import agent, graph

from maghub.testing.process import MAGHUB_COMMAND, MaghubProcess, env_without_maghub_settings


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MaghubProcess]:
    process = MaghubProcess(tmp_path_factory.mktemp("cli-schedules") / "data")
    process.wait_ready()
    model = {"name": "m", "base_url": "http://127.0.0.1:9/v1", "api_key": "sk-test-123456", "model": "x"}
    assert httpx2.post(f"{process.url}/models", json=model).status_code == 200
    saved = httpx2.post(f"{process.url}/graphs", json=graph("nightly", agent("A", ["start"], ["end"])))
    assert saved.status_code == 200, saved.text
    yield process
    process.stop()


def schedules_cli(server_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MAGHUB_COMMAND, "schedules", *args, "--url", server_url],
        capture_output=True,
        check=False,
        text=True,
        timeout=60,
        env=env_without_maghub_settings(COLUMNS="250"),
    )


def test_add_list_pause_resume_delete(server: MaghubProcess) -> None:
    added = schedules_cli(server.url, "add", "nightly", "the report", "--cron", "0 2 * * *", "--tz", "Europe/Berlin")
    assert added.returncode == 0, added.stderr
    (schedule_id,) = re.findall(r"added schedule (\w+)", added.stdout)
    assert "T02:00:00+01:00" in added.stdout  # the next run, in its time zone (December: CET)

    listed = schedules_cli(server.url, "list")
    assert listed.returncode == 0, listed.stderr
    assert schedule_id in listed.stdout and "cron 0 2 * * * (Europe/Berlin)" in listed.stdout
    assert "enabled" in listed.stdout

    assert schedules_cli(server.url, "pause", schedule_id).returncode == 0
    assert "paused" in schedules_cli(server.url, "list").stdout
    resumed = schedules_cli(server.url, "resume", schedule_id)
    assert resumed.returncode == 0 and "next run" in resumed.stdout

    assert schedules_cli(server.url, "delete", schedule_id).returncode == 0
    assert "No schedules" in schedules_cli(server.url, "list").stdout
    gone = schedules_cli(server.url, "pause", schedule_id)
    assert gone.returncode == 2 and "no schedule" in gone.stderr.lower()


def test_bad_input_exits_with_the_servers_message(server: MaghubProcess) -> None:
    bad_cron = schedules_cli(server.url, "add", "nightly", "x", "--cron", "every night")
    assert bad_cron.returncode == 2 and "not a valid cron expression" in bad_cron.stderr
    short = schedules_cli(server.url, "add", "nightly", "x", "--every", "0.2")
    assert short.returncode == 2 and "at least 1" in short.stderr
    neither = schedules_cli(server.url, "add", "nightly", "x")
    assert neither.returncode == 2 and "--cron" in neither.stderr
