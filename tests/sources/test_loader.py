"""ImageLoader: one entry point for every form of image_path, and the transport it owns."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import threading
from pathlib import Path

import httpx2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openrouter_image_mcp.errors import ErrorCode, ToolFailure
from openrouter_image_mcp.settings import Settings
from openrouter_image_mcp.sources import ImageLoader, SourceImage
from tests.sources.conftest import MakeLoader
from tests.sources.fakes import PNG, PNG_B64, FakeResolver


class ClosingTransport(httpx2.MockTransport):
    closed = False

    async def aclose(self) -> None:
        self.closed = True


def _png_transport() -> ClosingTransport:
    return ClosingTransport(lambda _: httpx2.Response(200, stream=httpx2.ByteStream(PNG)))


@pytest.mark.parametrize(
    ("make_path", "kind"),
    [
        (lambda root: "https://img.test/cat.png", "url"),
        (lambda root: str(root / "cat.png"), "file"),
        (lambda root: (root / "cat.png").as_uri(), "file"),
        (lambda root: f"data:image/png;base64,{PNG_B64}", "data_url"),
        (lambda root: PNG_B64, "base64"),
        (lambda root: f"\n  {PNG_B64}  \n", "base64"),
        (lambda root: "  https://img.test/cat.png\n", "url"),
    ],
)
async def test_every_form_loads_the_same_bytes(
    make_loader: MakeLoader, tmp_path: Path, make_path: object, kind: str
) -> None:
    (tmp_path / "cat.png").write_bytes(PNG)
    loader = make_loader(
        file_roots=[tmp_path],
        resolver=FakeResolver.fixed(img_test="93.184.216.34"),
        transport=_png_transport(),
    )
    assert await loader.load(make_path(tmp_path)) == SourceImage(PNG, kind)  # type: ignore[operator,arg-type]


@pytest.mark.parametrize("text", ["", "   \n\t"])
async def test_blank_input_is_invalid(make_loader: MakeLoader, text: str) -> None:
    with pytest.raises(ToolFailure) as failure:
        await make_loader().load(text)
    assert failure.value.code == ErrorCode.INVALID_INPUT
    assert "empty" in failure.value.message


async def test_inline_size_limit_comes_from_settings(make_loader: MakeLoader) -> None:
    loader = make_loader(max_image_bytes=1024)
    with pytest.raises(ToolFailure) as failure:
        await loader.load(base64.b64encode(b"\x89PNG" + bytes(1024)).decode())
    assert failure.value.code == ErrorCode.RESOURCE_TOO_LARGE


async def test_file_reads_run_off_the_event_loop(
    make_loader: MakeLoader, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "cat.png").write_bytes(PNG)
    loader = make_loader(file_roots=[tmp_path])
    threads: list[threading.Thread] = []
    real_open = os.open

    def recording_open(path: str, flags: int, *args: int) -> int:
        threads.append(threading.current_thread())
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", recording_open)
    assert (await loader.load(str(tmp_path / "cat.png"))).data == PNG
    assert threads
    assert threading.main_thread() not in threads


async def test_closing_the_loader_closes_its_transport() -> None:
    transport = _png_transport()
    async with ImageLoader(Settings(transport="stdio"), transport=transport) as loader:
        assert not transport.closed
        assert loader is not None
    assert transport.closed


def _prefixed(*prefixes: str) -> st.SearchStrategy[str]:
    return st.tuples(st.sampled_from(prefixes), st.text(max_size=80)).map("".join)


@settings(max_examples=300, deadline=None)
@given(_prefixed("", "http://", "https://[", "data:", "data:image/png;base64,", "file://", "~"))
def test_any_input_gives_bytes_or_a_tool_failure(text: str) -> None:
    async def attempt() -> None:
        loader_settings = Settings(transport="stdio", file_roots=[Path(__file__).parent])
        async with ImageLoader(
            loader_settings, resolver=FakeResolver({}), transport=_png_transport()
        ) as loader:
            with contextlib.suppress(ToolFailure):  # anything else fails the test
                await loader.load(text)

    asyncio.run(attempt())
