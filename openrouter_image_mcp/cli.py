"""The `openrouter-image-mcp` command: streamable HTTP by default, stdio on request."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from .allocator import return_large_buffers_to_the_system
from .listen import ListenFailure
from .logs import configure_logging
from .settings import Settings, load_settings

EXIT_INVALID_SETTINGS = 2
EXIT_CANNOT_LISTEN = 3

# FastMCP's update check would reach for the network at start-up; this machine has none.
os.environ.setdefault("FASTMCP_CHECK_FOR_UPDATES", "off")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="openrouter-image-mcp",
        description="MCP server for image analysis through OpenRouter vision models.",
        epilog="Every option can also be set in the environment; see the README.",
    )
    parser.add_argument("--transport", choices=["http", "stdio"], help="default: http")
    parser.add_argument("--host", help="address to bind for http (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port for http (default 8000)")
    return parser.parse_args(argv)


def describe_invalid_settings(error: ValidationError) -> str:
    """One line per bad setting, naming the variable; never the values (they may be secrets)."""
    return "\n".join(
        f"invalid configuration: {env_name(problem['loc'])}"
        + problem["msg"].removeprefix("Value error, ")
        for problem in error.errors(include_input=False, include_url=False)
    )


def env_name(location: tuple[int | str, ...]) -> str:
    if not location:
        return ""
    field = str(location[0])
    return f"{field}: " if field.isupper() else f"IMAGE_MCP_{field.upper()}: "


def read_settings(args: argparse.Namespace) -> Settings:
    overrides = {k: v for k, v in vars(args).items() if v is not None}
    return load_settings(**overrides)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        settings = read_settings(args)
    except ValidationError as error:
        print(describe_invalid_settings(error), file=sys.stderr)
        return EXIT_INVALID_SETTINGS
    configure_logging(settings)
    return_large_buffers_to_the_system()
    from .serve import serve  # imported late: FastMCP takes a second to import

    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve(settings))
    except ListenFailure as failure:
        logging.getLogger(__name__).error("%s", failure)
        return EXIT_CANNOT_LISTEN
    return 0


if __name__ == "__main__":
    sys.exit(main())
