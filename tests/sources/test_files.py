"""The local file sandbox: only regular files under the roots, judged after resolving."""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openrouter_image_mcp.errors import ErrorCode, ToolFailure
from openrouter_image_mcp.settings import Settings
from openrouter_image_mcp.sources import ImageLoader
from openrouter_image_mcp.sources.files import FileSandbox
from tests.sources.conftest import MakeLoader
from tests.sources.fakes import PNG

CAP = 64 * 1024
_os_open = os.open  # tests below replace os.open; the FIFO watchdog must not use theirs


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """tmp/root (the allowed root) with images and links, plus siblings outside it."""
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    (tmp_path / "root2").mkdir()
    (root / "cat.png").write_bytes(PNG)
    (root / "sub" / "dog.png").write_bytes(PNG[::-1])
    (tmp_path / "outside" / "secret.png").write_bytes(b"secret")
    (tmp_path / "root2" / "secret.png").write_bytes(b"secret")
    (root / "alias.png").symlink_to("sub/dog.png")
    (root / "escape.png").symlink_to(tmp_path / "outside" / "secret.png")
    (root / "escape_dir").symlink_to(tmp_path / "outside")
    return root


async def _failure(pending: Awaitable[object]) -> ToolFailure:
    with pytest.raises(ToolFailure) as failure:
        await pending
    return failure.value


@pytest.mark.parametrize(
    ("relative", "expected"),
    [("cat.png", PNG), ("sub/dog.png", PNG[::-1]), ("alias.png", PNG[::-1]),
     ("sub/../cat.png", PNG)],
)  # fmt: skip
async def test_reads_files_inside_the_root(
    make_loader: MakeLoader, tree: Path, relative: str, expected: bytes
) -> None:
    loader = make_loader(file_roots=[tree])
    image = await loader.load(str(tree / relative))
    assert (image.kind, image.data) == ("file", expected)


@pytest.mark.parametrize(
    "relative", ["../outside/secret.png", "escape.png", "escape_dir/secret.png",
                 "../root2/secret.png", "../outside/missing.png", "/etc/passwd"],
)  # fmt: skip
async def test_paths_resolving_outside_the_root_are_unsafe(
    make_loader: MakeLoader, tree: Path, relative: str
) -> None:
    failure = await _failure(make_loader(file_roots=[tree]).load(str(tree / relative)))
    assert failure.code == ErrorCode.UNSAFE_PATH
    assert "IMAGE_MCP_FILE_ROOTS" in failure.message
    assert "outside/secret.png" not in failure.message.replace(relative, "")  # no link target


async def test_relative_paths_and_file_uris_resolve_against_the_cwd_root(
    make_loader: MakeLoader, tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tree / "my cat.png").write_bytes(PNG)
    monkeypatch.chdir(tree)
    loader = make_loader()  # stdio with no roots set: the working directory
    assert (await loader.load("cat.png")).data == PNG
    assert (await loader.load("./sub/dog.png")).data == PNG[::-1]
    assert (await loader.load(f"file://{tree}/my%20cat.png")).data == PNG
    assert (await loader.load(f"file://localhost{tree}/cat.png")).data == PNG
    assert (await loader.load(f"file:{tree}/cat.png")).data == PNG
    (tree / "a:b.png").write_bytes(PNG)  # a colon is fine in a POSIX name
    assert (await loader.load(f"{tree}/a:b.png")).data == PNG


async def test_home_directory_is_expanded(
    make_loader: MakeLoader, tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tree))
    assert (await make_loader(file_roots=[tree]).load("~/sub/dog.png")).data == PNG[::-1]


@pytest.mark.parametrize(
    ("make_path", "code", "phrase"),
    [
        (lambda root: str(root / "missing.png"), ErrorCode.INVALID_INPUT, "no file at"),
        (lambda root: str(root / "cat.png" / "x.png"), ErrorCode.INVALID_INPUT, "no file at"),
        # A directory is the caller's mistake, not a safety problem.
        (lambda root: str(root / "sub"), ErrorCode.INVALID_INPUT, "is a directory"),
        (lambda root: "C:\\Users\\me\\cat.png", ErrorCode.INVALID_INPUT, "Windows path"),
        (lambda root: "c:/Users/me/cat.png", ErrorCode.INVALID_INPUT, "Windows path"),
        (lambda root: "file:///C:/Users/me/cat.png", ErrorCode.INVALID_INPUT, "Windows path"),
        (lambda root: "file://fileserver/share/cat.png", ErrorCode.UNSAFE_PATH, "another"),
        (lambda root: "/c/Users/me/cat.png", ErrorCode.UNSAFE_PATH, "MSYS"),
        (lambda root: f"{root}/cat\0.png", ErrorCode.INVALID_INPUT, "NUL"),
        (lambda root: "~\0/cat.png", ErrorCode.INVALID_INPUT, "NUL"),
        (lambda root: f"file://{root}/cat%00.png", ErrorCode.INVALID_INPUT, "NUL"),
        (lambda root: "file://[/cat.png", ErrorCode.INVALID_INPUT, "malformed"),
    ],
)
async def test_unreadable_paths_say_what_to_do(
    make_loader: MakeLoader, tree: Path, make_path: object, code: ErrorCode, phrase: str
) -> None:
    path = make_path(tree)  # type: ignore[operator]
    failure = await _failure(make_loader(file_roots=[tree]).load(path))
    assert (failure.code, phrase in failure.message) == (code, True)
    if phrase == "no file at":
        assert path in failure.message


OUTSIDE_INPUTS = {
    "traversal": "{via}/../outside/secret.png",
    "symlink escape": "{via}/escape.png",
    "symlinked directory": "{via}/escape_dir/secret.png",
    "sibling root": "{via}/../root2/secret.png",
    "relative traversal": "../outside/secret.png",
    "absolute": "/etc/passwd",
    "file URI": "file://{via}/escape.png",
}


@pytest.mark.parametrize("transport", ["http", "stdio"])
@pytest.mark.parametrize("template", list(OUTSIDE_INPUTS.values()), ids=list(OUTSIDE_INPUTS))
async def test_refusals_name_server_paths_only_over_stdio(
    tree: Path, transport: str, template: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The root is configured through a symlink, so its resolved form differs from any
    # spelling the caller used: only a message built from resolved paths could contain it.
    via = tree.parent / "via"
    via.symlink_to(tree, target_is_directory=True)
    monkeypatch.chdir(tree)
    image_path = template.format(via=via)
    settings = Settings(transport=transport, file_roots=[via])  # type: ignore[arg-type]
    async with ImageLoader(settings) as loader:
        failure = await _failure(loader.load(image_path))
    assert failure.code == ErrorCode.UNSAFE_PATH
    assert image_path in failure.message  # the caller's own string, as given
    beyond_the_echo = failure.message.replace(image_path, "<input>")
    assert str(tree.parent / "outside") not in beyond_the_echo  # where the input led
    assert "/etc" not in beyond_the_echo
    if transport == "http":
        assert "<input> is outside the allowed directories;" in beyond_the_echo
        assert "IMAGE_MCP_FILE_ROOTS" in beyond_the_echo  # what the operator would change
        assert str(tree) not in beyond_the_echo
    else:  # the user's own machine: the message may say which directories are allowed
        assert f"(IMAGE_MCP_FILE_ROOTS: {tree})" in beyond_the_echo


@pytest.mark.parametrize(
    "settings", [{"file_roots": []}, {"transport": "http"}], ids=["empty-roots", "http-default"]
)
async def test_file_input_can_be_off(tree: Path, settings: dict[str, object]) -> None:
    async with ImageLoader(Settings(**{"transport": "stdio", **settings})) as loader:
        failure = await _failure(loader.load(str(tree / "cat.png")))
    assert failure.code == ErrorCode.UNSAFE_PATH
    assert "IMAGE_MCP_FILE_ROOTS" in failure.message


@pytest.fixture
def fifo_watchdog() -> Iterator[tuple[list[Path], list[bool]]]:
    """Unblocks any reader stuck on a listed FIFO after 5 s and records that it had to."""
    fifos: list[Path] = []
    fired: list[bool] = []

    def release() -> None:
        for fifo in fifos:
            try:
                os.close(_os_open(fifo, os.O_WRONLY | os.O_NONBLOCK))
                fired.append(True)
            except OSError:
                pass  # nobody was waiting on it

    timer = threading.Timer(5, release)
    timer.start()
    yield fifos, fired
    timer.cancel()


async def test_fifo_is_refused_without_hanging(
    make_loader: MakeLoader, tree: Path, fifo_watchdog: tuple[list[Path], list[bool]]
) -> None:
    fifos, fired = fifo_watchdog
    os.mkfifo(tree / "pipe.png")
    fifos.append(tree / "pipe.png")
    failure = await _failure(make_loader(file_roots=[tree]).load(str(tree / "pipe.png")))
    assert (failure.code, fired) == (ErrorCode.UNSAFE_PATH, [])


async def test_devices_are_refused_even_inside_a_root(make_loader: MakeLoader) -> None:
    failure = await _failure(make_loader(file_roots=["/dev"]).load("/dev/zero"))
    assert failure.code == ErrorCode.UNSAFE_PATH
    assert "not a regular file" in failure.message


async def test_size_is_checked_before_reading(make_loader: MakeLoader, tree: Path) -> None:
    (tree / "exact.png").write_bytes(b"\0" * CAP)
    with (tree / "huge.png").open("wb") as huge:  # sparse: 8 GiB that would take long to read
        huge.truncate(8 << 30)
    loader = make_loader(file_roots=[tree], max_image_bytes=CAP)
    assert len((await loader.load(str(tree / "exact.png"))).data) == CAP
    failure = await _failure(loader.load(str(tree / "huge.png")))
    assert failure.code == ErrorCode.RESOURCE_TOO_LARGE


def _swap_before_open(monkeypatch: pytest.MonkeyPatch, swap: Callable[[], None]) -> None:
    def swapping_open(path: str, flags: int, *args: int) -> int:
        swap()
        return _os_open(path, flags, *args)

    monkeypatch.setattr(os, "open", swapping_open)


def test_directory_swapped_for_a_link_after_the_check_is_caught(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outside = tree.parent / "outside"
    (outside / "dog.png").write_bytes(b"secret")

    def swap() -> None:
        (tree / "sub").rename(tree / "sub_old")
        (tree / "sub").symlink_to(outside)

    _swap_before_open(monkeypatch, swap)
    with pytest.raises(ToolFailure) as failure:
        FileSandbox((tree,), CAP).read_sync(str(tree / "sub" / "dog.png"))
    assert failure.value.code == ErrorCode.UNSAFE_PATH


def test_file_swapped_for_a_fifo_after_the_check_is_caught(
    tree: Path, monkeypatch: pytest.MonkeyPatch, fifo_watchdog: tuple[list[Path], list[bool]]
) -> None:
    fifos, fired = fifo_watchdog
    fifos.append(tree / "cat.png")

    def swap() -> None:
        (tree / "cat.png").unlink()
        os.mkfifo(tree / "cat.png")

    _swap_before_open(monkeypatch, swap)
    with pytest.raises(ToolFailure) as failure:
        FileSandbox((tree,), CAP).read_sync(str(tree / "cat.png"))
    assert (failure.value.code, fired) == (ErrorCode.UNSAFE_PATH, [])


def test_permission_denied_is_reported_as_unsafe(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def denied(path: str, flags: int, *args: int) -> int:
        raise PermissionError(errno.EACCES, "Permission denied", path)

    monkeypatch.setattr(os, "open", denied)
    with pytest.raises(ToolFailure) as failure:
        FileSandbox((tree,), CAP).read_sync(str(tree / "cat.png"))
    assert failure.value.code == ErrorCode.UNSAFE_PATH
    assert "not permitted to read" in failure.value.message


SEGMENTS = ["..", ".", "sub", "cat.png", "alias.png", "escape.png", "escape_dir", "root",
            "root2", "outside", "secret.png", "dog.png", "loop"]  # fmt: skip


@pytest.fixture(scope="module")
def judged_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("judge")
    root = base / "root"
    (root / "sub").mkdir(parents=True)
    for directory in ("outside", "root2"):
        (base / directory).mkdir()
        (base / directory / "secret.png").write_bytes(b"secret")
    (root / "cat.png").write_bytes(PNG)
    (root / "sub" / "dog.png").write_bytes(PNG)
    (root / "alias.png").symlink_to("sub/dog.png")
    (root / "sub" / "escape.png").symlink_to("../../outside/secret.png")
    (root / "escape_dir").symlink_to("../outside")
    (root / "sub" / "root").symlink_to("..")  # a link to the root itself, from inside
    (root / "loop").symlink_to("loop")
    return root


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=6))
def test_paths_are_judged_by_where_they_really_lead(judged_tree: Path, parts: list[str]) -> None:
    path = os.path.join(judged_tree, *parts)
    sandbox = FileSandbox((judged_tree,), CAP)
    try:
        os.stat(path)  # the kernel's verdict first: realpath alone is lexical about "." and ".."
        real = Path(os.path.realpath(path, strict=True))
    except OSError:  # missing, a loop, a file used as a directory: unreadable either way
        with pytest.raises(ToolFailure) as failure:
            sandbox.read_sync(path)
        assert failure.value.code in (ErrorCode.INVALID_INPUT, ErrorCode.UNSAFE_PATH)
        return
    inside = real.is_relative_to(judged_tree)
    if inside and real.is_file():
        assert sandbox.read_sync(path) == real.read_bytes()
        return
    with pytest.raises(ToolFailure) as failure:
        sandbox.read_sync(path)
    # Inside but not a file is a directory here: the caller's mistake, not a safety problem.
    assert failure.value.code == (ErrorCode.INVALID_INPUT if inside else ErrorCode.UNSAFE_PATH)
