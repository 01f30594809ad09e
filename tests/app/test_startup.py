"""What the command says at start: where it serves (once it does), what is missing, what is
off, and one clear line when the port is taken."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import httpx

from tests.app.processes import COMMAND, clean_env, running_server
from tests.fake_openrouter import FakeOpenRouter


def run_command(*args: str, cwd: Path | str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, *args],
        cwd=cwd,
        env=clean_env(**env),
        stdin=subprocess.DEVNULL,  # a stdio server ends at once; HTTP ignores it
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_port_in_use_is_one_clear_line_and_exit_status_3(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = run_command("--port", str(port), cwd=tmp_path, IMAGE_MCP_LOG_FORMAT="text")
    assert result.returncode == 3
    assert result.stdout == ""
    errors = [line for line in result.stderr.splitlines() if " ERROR " in line]
    assert len(errors) == 1, result.stderr
    assert f"cannot listen on 127.0.0.1:{port}: address already in use" in errors[0]
    assert "IMAGE_MCP_PORT" in errors[0]
    assert "Traceback" not in result.stderr
    # Refused before the app started, and never claimed to be serving.
    assert "Application startup" not in result.stderr
    assert "serving MCP at" not in result.stderr


async def test_serving_is_announced_once_bound_with_the_real_port(
    fake: FakeOpenRouter, tmp_path: Path
) -> None:
    with running_server(fake, tmp_path) as server:
        async with httpx.AsyncClient(base_url=server.url) as http:
            health = await http.get("/healthz")  # the announced port answers at once
        messages = [entry["msg"] for entry in server.log_entries()]
    assert health.status_code == 200
    announced = [m for m in messages if m.startswith("serving MCP at")]
    assert announced == [f"serving MCP at {server.url}/mcp"]
    assert messages.index(announced[0]) > messages.index("Application startup complete.")


def test_a_missing_api_key_is_a_warning_at_start(tmp_path: Path) -> None:
    result = run_command("--transport", "stdio", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert '"level":"warning"' in next(
        line for line in result.stderr.splitlines() if "OPENROUTER_API_KEY is not set" in line
    )


def test_a_configured_api_key_is_neither_warned_about_nor_logged(
    tmp_path: Path, fake: FakeOpenRouter
) -> None:
    result = run_command("--transport", "stdio", cwd=tmp_path, OPENROUTER_API_KEY=fake.api_key)
    assert result.returncode == 0, result.stderr
    assert "OPENROUTER_API_KEY" not in result.stderr
    assert fake.api_key not in result.stderr


def test_stdio_started_from_the_root_says_file_input_is_off_and_how_to_allow() -> None:
    result = run_command("--transport", "stdio", cwd="/", IMAGE_MCP_LOG_FORMAT="text")
    assert result.returncode == 0, result.stderr
    (line,) = [line for line in result.stderr.splitlines() if "local image files" in line]
    assert " WARNING " in line
    assert "are off: the working directory is the filesystem root" in line
    assert "set IMAGE_MCP_FILE_ROOTS" in line


def test_stdio_names_the_directory_it_reads_files_from(tmp_path: Path) -> None:
    result = run_command("--transport", "stdio", cwd=tmp_path, IMAGE_MCP_LOG_FORMAT="text")
    assert f"local image files are readable under {tmp_path.resolve()}" in result.stderr
