"""The README's client snippets, run the way a user runs them: the desktop (stdio) config and
the Python client. Each is read from the README itself, so the README cannot drift from what
works."""

from __future__ import annotations

import json
import re
import sys
import textwrap
from pathlib import Path
from typing import Any

from fastmcp import Client
from fastmcp.client.transports import StdioTransport

from tests.app.helpers import ALICE_TOKEN, TOKENS, serving
from tests.fake_openrouter import FakeOpenRouter
from tests.helpers import data_url, png_bytes, text_of

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
TOOLS = {"analyze_image", "analyze_webpage_screenshot", "analyze_mobile_app_screenshot"}


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", README, re.M | re.S)


def stdio_servers() -> list[dict[str, Any]]:
    """Every server entry of the README's `mcpServers` configs that the client starts itself."""
    configs = [json.loads(block) for block in code_blocks("json") if '"mcpServers"' in block]
    servers = [server for config in configs for server in config["mcpServers"].values()]
    return [server for server in servers if "command" in server]


def test_every_stdio_config_asks_for_stdio() -> None:
    servers = stdio_servers()
    assert len(servers) >= 3  # absolute path, uvx, docker
    for server in servers:
        assert server["args"][-2:] == ["--transport", "stdio"], server
        assert set(server["env"]) >= {"OPENROUTER_API_KEY"}, server


async def test_the_desktop_config_starts_a_server_that_answers(
    fake: FakeOpenRouter, tmp_path: Path
) -> None:
    (server,) = [s for s in stdio_servers() if s["command"].startswith("/")]
    # The snippet names the console script inside a clone's virtualenv: this is ours.
    assert server["command"].endswith("/.venv/bin/openrouter-image-mcp")
    command = Path(sys.executable).parent / "openrouter-image-mcp"
    assert command.is_file()

    # Replace what is the user's own (key, directories); keep every name and argument.
    env = dict(server["env"])
    assert env.pop("OPENROUTER_API_KEY") == "sk-or-..."
    roots = [tmp_path / Path(root).name for root in env.pop("IMAGE_MCP_FILE_ROOTS").split(",")]
    assert not env, f"the test does not know {set(env)}"
    for root in roots:
        root.mkdir()
    (roots[-1] / "screen.png").write_bytes(png_bytes(64, 48))
    env = {
        "OPENROUTER_API_KEY": fake.api_key,
        "IMAGE_MCP_FILE_ROOTS": ",".join(map(str, roots)),
        "OPENROUTER_BASE_URL": fake.base_url,  # the fake stands in for openrouter.ai
        "PATH": "/usr/bin:/bin",  # a desktop app's, without the virtualenv
    }

    # Started from / as desktop apps do, with the snippet's arguments verbatim.
    transport = StdioTransport(
        command=str(command), args=server["args"], env=env, cwd="/", log_file=tmp_path / "log"
    )
    async with Client(transport) as client:
        tools = {tool.name for tool in await client.list_tools()}
        result = await client.call_tool(
            "analyze_image", {"image_path": str(roots[-1] / "screen.png")}, raise_on_error=False
        )
    assert tools == TOOLS
    assert text_of(result) == "I see a PNG image, 64x48 pixels."
    assert fake.api_key not in (tmp_path / "log").read_text()


async def test_the_python_client_snippet_runs(fake: FakeOpenRouter) -> None:
    (snippet,) = code_blocks("python")
    async with serving(fake.settings(auth_tokens=TOKENS, shutdown_grace_s=1)) as url:
        # No internet here: the example URL becomes the same kind of image, inline.
        code = (
            snippet.replace("http://127.0.0.1:8000", url)
            .replace("<token>", ALICE_TOKEN)
            .replace("https://example.com/cat.png", data_url(png_bytes(30, 20)))
        )
        namespace: dict[str, Any] = {}
        body = textwrap.indent(code + "return result\n", "    ")
        exec(compile(f"async def snippet():\n{body}", "README.md", "exec"), namespace)  # noqa: S102
        result = await namespace["snippet"]()
    assert not result.is_error
    assert text_of(result) == "I see a PNG image, 30x20 pixels."
