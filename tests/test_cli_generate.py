"""``maghub generate graph|tool`` against a real ``maghub serve --demo`` process: the design streams to
the terminal, more messages continue it, and ``finish`` saves it."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator

import httpx2
import pytest

from maghub.testing.process import MAGHUB_COMMAND, MaghubProcess, env_without_maghub_settings


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MaghubProcess]:
    process = MaghubProcess(tmp_path_factory.mktemp("cli-generate") / "data", "--demo")
    process.wait_ready()
    yield process
    process.stop()


def generate_cli(server: MaghubProcess, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MAGHUB_COMMAND, "generate", *args, "--url", server.url],
        input=stdin,
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env=env_without_maghub_settings(COLUMNS="200"),
    )


def test_a_graph_is_designed_over_two_messages_and_saved(server: MaghubProcess) -> None:
    done = generate_cli(server, "graph", "Explain tides", stdin="continue\nfinish\n")

    assert done.returncode == 0, done.stderr
    assert "<graph_name>demo_explain_tides_" in done.stdout and "<end_template>{writer}</end_template>" in done.stdout
    name = re.search(r"Saved (demo_explain_tides_\w+) \(version 1\)", done.stderr)
    assert name is not None, done.stderr
    assert name.group(1) in httpx2.get(f"{server.url}/graphs").json()


def test_a_stopped_design_is_finished_later_and_problems_are_listed(server: MaghubProcess) -> None:
    started = generate_cli(server, "graph", "Plan a trip", stdin="\n")
    conversation = re.search(r"conversation (gen_\w+)", started.stderr)
    assert started.returncode == 0 and conversation is not None, started.stderr
    assert f"--conversation {conversation.group(1)}" in started.stderr

    early = generate_cli(server, "graph", "--conversation", conversation.group(1), "--finish")

    assert early.returncode == 1
    assert "Not saved yet" in early.stderr and "writer" in early.stderr


def test_bad_input_is_refused_with_a_message(server: MaghubProcess) -> None:
    unknown = generate_cli(server, "graph", "x", "--model", "no-such-model")
    assert unknown.returncode == 2 and "no-such-model" in unknown.stderr and "HTTP 404" in unknown.stderr
    finish_alone = generate_cli(server, "tool", "--finish")
    assert finish_alone.returncode == 2 and "--conversation" in finish_alone.stderr
    nothing = generate_cli(server, "graph")
    assert nothing.returncode == 2 and "Say what to design" in nothing.stderr
