"""Fuzzing the loader: whatever the input and whatever a server answers, the outcome is the
image bytes or a coded ToolFailure with a one-line message, never another exception (which
the tool layer would turn into INTERNAL and log with a traceback).

Everything runs against TinyServers on 127.0.0.1; the loader's allow list admits only that
address and the fake name img.test (which resolves to it), so no example reaches further.
Example counts are bounded, and a short fetch deadline bounds each example.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import unicodedata
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from openrouter_image_mcp.errors import ErrorCode, ToolFailure
from openrouter_image_mcp.settings import Settings
from openrouter_image_mcp.sources import ImageLoader
from tests.sources.fakes import JPEG_B64, PNG, PNG_B64, FakeResolver
from tests.sources.servers import TinyServer, image, redirect

FUZZ = settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
HOSTS = ("127.0.0.1", "img.test")
PORT = "{port}"  # replaced by the server's port when an example runs


@dataclass
class Scripted:
    """Raw answers by path, replaced before every example; unknown paths get a 404."""

    answers: dict[str, bytes] = field(default_factory=dict)

    def route(self, path: str):
        async def answer(writer: asyncio.StreamWriter) -> None:
            writer.write(self.answers.get(path, b"HTTP/1.1 404 Not Found\r\n\r\n"))
            await writer.drain()

        return answer


@dataclass(frozen=True)
class Rig:
    loader: ImageLoader
    server: TinyServer
    scripted: Scripted
    root: Path


HOPS = ("/h0", "/h1", "/h2")


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    scripted = Scripted()
    routes = {path: scripted.route(path) for path in HOPS}
    routes |= {"/cat.png": image(PNG), "/to-cat": redirect("/cat.png")}
    server = await TinyServer(routes).start()
    (tmp_path / "cat.png").write_bytes(PNG)
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.png").symlink_to("/etc/passwd")
    loader_settings = Settings(
        transport="stdio",
        allowed_hosts=list(HOSTS),
        file_roots=[tmp_path],
        max_image_bytes=64 * 1024,
        fetch_timeout_s=2,
        fetch_connect_timeout_s=1,
        max_redirects=3,
    )
    resolver = FakeResolver.fixed(img_test="127.0.0.1")
    async with ImageLoader(loader_settings, resolver=resolver) as loader:
        yield Rig(loader, server, scripted, tmp_path)
    await server.stop()


async def outcome(rig: Rig, image_path: str) -> bytes | ToolFailure:
    """The loaded bytes or the ToolFailure; any other exception propagates and fails."""
    try:
        async with asyncio.timeout(10):  # a hang is a failure too, not a stuck suite
            return (await rig.loader.load(image_path)).data
    except ToolFailure as failure:
        return failure


async def assert_bytes_or_coded_failure(rig: Rig, image_path: str) -> None:
    result = await outcome(rig, image_path)
    if isinstance(result, bytes):
        return
    assert result.code != ErrorCode.INTERNAL
    assert result.message, result
    assert not [char for char in result.message if _hidden(char)], result.message
    assert "Traceback" not in result.message
    assert len(result.message) < 600


def _hidden(char: str) -> bool:
    """Controls, format characters, surrogates and any whitespace but the plain space."""
    return unicodedata.category(char) in ("Cc", "Cf", "Cs") or (char.isspace() and char != " ")


# --- Inputs: arbitrary, and valid ones mutated --------------------------------------------------

VALID_INPUTS = [
    f"http://127.0.0.1:{PORT}/cat.png",
    f"http://img.test:{PORT}/to-cat",
    f"HTTP://[::ffff:127.0.0.1]:{PORT}/cat.png?x=1#f",
    f"data:image/png;base64,{PNG_B64}",
    f"data:image/jpeg;base64,{JPEG_B64}",
    PNG_B64,
    "{root}/cat.png",
    "file://{root}/cat.png",
    "{root}/link.png",
    "./cat.png",
]
PREFIXES = [
    "", "http://", "https://", "http://[", f"http://127.0.0.1:{PORT}/", f"http://img.test:{PORT}",
    "data:", "data:image/png;base64,", "data:image/png,", "file://", "file:///", "/", "./", "~",
    "\\\\", "C:", "javascript:", "//", "http://127.0.0.1:", "http://user@", "http://%",
]  # fmt: skip


@st.composite
def mutated(draw: st.DrawFn, text: str) -> str:
    """`text` with a few characters inserted, deleted or replaced at random places."""
    chars = list(text)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(chars)))
        edit = draw(st.sampled_from(["insert", "delete", "replace"]))
        char = draw(st.characters())
        if edit == "insert" or at == len(chars):
            chars.insert(at, char)
        elif edit == "delete":
            del chars[at]
        else:
            chars[at] = char
    return "".join(chars)


IMAGE_PATHS = st.one_of(
    st.text(max_size=200),
    st.tuples(st.sampled_from(PREFIXES), st.text(max_size=120)).map("".join),
    st.sampled_from(VALID_INPUTS).flatmap(mutated),
    st.binary(max_size=300).map(lambda raw: base64.b64encode(raw).decode()),
    st.binary(max_size=300).map(lambda raw: f"data:image/png;base64,{base64.b64encode(raw)!r}"),
)


@FUZZ
@given(image_path=IMAGE_PATHS)
async def test_any_image_path_gives_bytes_or_a_coded_failure(
    rig: Rig, image_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(rig.root)
    filled = image_path.replace(PORT, str(rig.server.port)).replace("{root}", str(rig.root))
    await assert_bytes_or_coded_failure(rig, filled)


# --- Answers: what a server may send back, well-formed or not ---------------------------------

LOCATIONS = [
    "/h1", "h2", "/cat.png", "//127.0.0.1:{port}/h1", "http://127.0.0.1:{port}/h2",
    "http://img.test:{port}/h1", "HTTP://[::ffff:127.0.0.1]:{port}/h1", "https://127.0.0.1:{port}/h1",
    "http://user:pw@127.0.0.1:{port}/h1", "http://10.0.0.1/", "http://elsewhere.test/",
    "data:image/png;base64,iVBORw0KGgo=", "javascript:alert(1)", "file:///etc/passwd",
    "ftp://127.0.0.1/x", "gopher://127.0.0.1:70/", "mailto:a@b", "about:blank", "http://[::1",
    "http://a b/", "http://127.0.0.1:99999/", "http://127.0.0.1:0/", "http:", "http:/h1", "?q=1",
    "#frag", "", " ", "\t", "http://\u00e9x.test/", "http://xn--/", "http://\u202eevil.test/",
    "\\\\evil.test\\x", "/\\evil.test/", "http://" + "a" * 300 + "/",
]  # fmt: skip
REDIRECT_CODES = [301, 302, 303, 307, 308]
STATUS_CODES = st.one_of(
    st.sampled_from([100, 101, 200, 204, 206, 300, 304, 305, 404, 500, *REDIRECT_CODES]),
    st.integers(-5, 1200),
)
LATIN1 = st.text(st.characters(codec="latin-1"), max_size=40)
# Locations as listed, mutated, or anything at all (non-ASCII is sent as UTF-8 bytes).
ANY_LOCATION = st.one_of(
    st.sampled_from(LOCATIONS), st.sampled_from(LOCATIONS).flatmap(mutated), st.text(max_size=60)
)
STATUS_LINES = st.one_of(
    st.builds(
        "{} {} {}".format,
        st.sampled_from(["HTTP/1.1", "HTTP/1.0", "HTTP/0.9", "HTTP/2", "ICY", "http/1.1"]),
        STATUS_CODES,
        LATIN1,
    ),
    st.builds("HTTP/1.1 {}".format, STATUS_CODES),
    LATIN1,
)
HEADER_VALUES = {
    "Content-Length": st.one_of(st.integers(-10, 1 << 40).map(str), LATIN1),
    "Content-Encoding": st.sampled_from(["identity", "gzip", "", "identity, br", "\x1b[31m"]),
    "Transfer-Encoding": st.sampled_from(["chunked", "gzip, chunked", "identity", "bogus"]),
    "Content-Type": st.sampled_from(["image/png", "text/html", "", "image/svg+xml"]),
    "Set-Cookie": st.just("session=secret; Path=/"),
    "Connection": st.sampled_from(["close", "keep-alive", "upgrade"]),
    "X-Junk": LATIN1,
}
HEADERS = st.lists(
    st.one_of(
        st.sampled_from(sorted(HEADER_VALUES)).flatmap(
            lambda name: HEADER_VALUES[name].map(lambda value: f"{name}: {value}")
        ),
        LATIN1,  # a line that is no header at all
    ),
    max_size=4,
)
BODIES = st.one_of(
    st.sampled_from([b"", PNG, PNG[:40], b"0\r\n\r\n", b"5\r\nhello\r\n0\r\n\r\n", b"zz\r\n"]),
    st.binary(max_size=300),
)


def _answer(status_line: str, headers: list[str], body: bytes) -> bytes:
    return "\r\n".join([status_line, *headers]).encode() + b"\r\n\r\n" + body


ENTRIES = [f"http://{host}:{PORT}/h0" for host in HOSTS]

# Redirects (most of what an attacker controls), answers that parse, and raw garbage.
ANSWERS = st.one_of(
    st.builds(
        lambda code, location, headers: _answer(
            f"HTTP/1.1 {code} Moved", [f"Location: {location}", *headers], b""
        ),
        st.sampled_from(REDIRECT_CODES),
        ANY_LOCATION,
        HEADERS,
    ),
    st.builds(
        _answer,
        st.builds("HTTP/1.1 {} {}".format, STATUS_CODES, LATIN1),
        st.lists(st.builds("Location: {}".format, ANY_LOCATION), max_size=1).flatmap(
            lambda location: HEADERS.map(lambda headers: location + headers)
        ),
        BODIES,
    ),
    st.builds(_answer, STATUS_LINES, HEADERS, BODIES),
)


@FUZZ
@given(
    hops=st.lists(ANSWERS, min_size=1, max_size=len(HOPS)),
    entry=st.sampled_from(ENTRIES),
)
@example(hops=[_answer("HTTP/1.1 302 Found", ["Location: data:,x"], b"")], entry=ENTRIES[0])
async def test_any_server_answer_gives_bytes_or_a_coded_failure(
    rig: Rig, hops: list[bytes], entry: str, caplog: pytest.LogCaptureFixture
) -> None:
    port = str(rig.server.port).encode()
    rig.scripted.answers = {
        path: answer.replace(PORT.encode(), port) for path, answer in zip(HOPS, hops, strict=False)
    }
    with caplog.at_level(logging.DEBUG, logger="openrouter_image_mcp"):
        await assert_bytes_or_coded_failure(rig, entry.replace(PORT, str(rig.server.port)))
    assert not [record for record in caplog.records if record.exc_info]
