"""Read local image files, only from inside the configured roots (IMAGE_MCP_FILE_ROOTS).

A path is judged twice by the same rules: first by its resolved path (so nothing outside the
roots, and no FIFO or device, is ever opened), then by what was actually opened (the open
descriptor's real path and fstat), so swapping a symlink between the two changes nothing.
Opening is non-blocking, so a FIFO swapped in cannot hang the open; the size is checked before
anything is read and at most the cap plus one byte is read.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote, urlsplit

import anyio.to_thread

from ..errors import ErrorCode, ToolFailure
from .classify import is_windows_path
from .messages import shorten, too_large

_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_MIN_READ = 64 * 1024
_MSYS_PATH = re.compile(r"/[A-Za-z]/")
_ROOTS_VAR = "IMAGE_MCP_FILE_ROOTS"


class FileSandbox:
    """Reads whole image files that lie inside `roots` (resolved directories).

    Messages echo the caller's own path string, never what it resolved to; the roots are
    named only with `reveal_paths` (stdio, where the caller is the machine's user).
    """

    def __init__(
        self, roots: tuple[Path, ...], max_bytes: int, *, reveal_paths: bool = False
    ) -> None:
        self._roots = roots
        self._max_bytes = max_bytes
        self._reveal_paths = reveal_paths

    async def read(self, image_path: str) -> bytes:
        return await anyio.to_thread.run_sync(self.read_sync, image_path)

    def read_sync(self, image_path: str) -> bytes:
        if not self._roots:
            raise ToolFailure(
                ErrorCode.UNSAFE_PATH,
                f"reading local files is turned off on this server; set {_ROOTS_VAR} to the "
                "directories to allow (over http it is off by default), or pass the image as "
                "a URL, data URL or base64",
            )
        path = _local_path(image_path)
        real = os.path.realpath(path)
        self._check_inside(real, image_path)
        with _os_errors(image_path):
            self._check_file(os.stat(real), image_path)
            fd = os.open(path, _OPEN_FLAGS)
        try:
            with _os_errors(image_path):
                st = os.fstat(fd)
                self._check_inside(_opened_path(fd, path), image_path)
                self._check_file(st, image_path)
                return self._read_capped(fd, st.st_size, image_path)
        finally:
            os.close(fd)

    def _check_inside(self, real: str, image_path: str) -> None:
        if not any(Path(real).is_relative_to(root) for root in self._roots):
            raise self._outside(image_path)

    def _check_file(self, st: os.stat_result, image_path: str) -> None:
        if stat.S_ISDIR(st.st_mode):
            raise ToolFailure(
                ErrorCode.INVALID_INPUT,
                f"{shorten(image_path)} is a directory; pass the path of an image file",
            )
        if not stat.S_ISREG(st.st_mode):
            raise ToolFailure(
                ErrorCode.UNSAFE_PATH,
                f"{shorten(image_path)} is not a regular file (a FIFO, device or socket); "
                "pass the path of an image file",
            )
        if st.st_size > self._max_bytes:
            raise too_large(f"the file {shorten(image_path)}", self._max_bytes)

    def _outside(self, image_path: str) -> ToolFailure:
        hint = ""
        if _MSYS_PATH.match(image_path):
            hint = " (it looks like an MSYS/Git Bash path such as /c/Users/...; this server "
            hint += "reads paths of its own machine)"
        if self._reveal_paths:
            roots = ", ".join(str(root) for root in self._roots)
            where = f"the directories this server may read ({_ROOTS_VAR}: {roots})"
            todo = f"move the image under one of them, add its directory to {_ROOTS_VAR}, or"
        else:
            where = "the allowed directories"
            todo = f"ask the server's operator to add its directory to {_ROOTS_VAR}, or"
        return ToolFailure(
            ErrorCode.UNSAFE_PATH,
            f"{shorten(image_path)} is outside {where}{hint}; {todo} pass the image as a URL, "
            "data URL or base64",
        )

    def _read_capped(self, fd: int, size: int, image_path: str) -> bytes:
        # The file may grow after fstat: read one byte past the cap to notice.
        remaining = self._max_bytes + 1
        chunks: list[bytes] = []
        while remaining > 0:
            chunk = os.read(fd, min(remaining, max(size + 1, _MIN_READ)))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        if remaining <= 0:
            raise too_large(f"the file {shorten(image_path)}", self._max_bytes)
        return b"".join(chunks)


def _local_path(image_path: str) -> str:
    """The filesystem path `image_path` names (file:// URI, `~`, relative or absolute)."""
    if image_path[:5].lower() == "file:":
        path = _file_uri_path(image_path)
        windows = is_windows_path(path.removeprefix("/"))  # file:///C:/...
    else:
        path = os.path.expanduser(_without_nul(image_path))
        windows = is_windows_path(path)
    if windows:
        raise ToolFailure(
            ErrorCode.INVALID_INPUT,
            f"{shorten(image_path)} is a Windows path, which this server (running on Linux) "
            "cannot read; pass the image as a URL, data URL or base64, or a path on the "
            "server's machine",
        )
    return path


def _file_uri_path(uri: str) -> str:
    try:
        parts = urlsplit(uri)
    except ValueError:
        raise ToolFailure(
            ErrorCode.INVALID_INPUT,
            "the file URI is malformed; use file:///absolute/path for a file on this server",
        ) from None
    if parts.netloc.lower() not in ("", "localhost"):
        raise ToolFailure(
            ErrorCode.UNSAFE_PATH,
            f"file URIs naming another machine ({shorten(parts.netloc, 60)}) are refused; "
            "use file:///absolute/path for a file on this server",
        )
    return _without_nul(unquote(parts.path))


def _without_nul(path: str) -> str:
    if "\0" in path:
        raise ToolFailure(
            ErrorCode.INVALID_INPUT, "the file path contains a NUL character; pass a real path"
        )
    return path


def _opened_path(fd: int, path: str) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:  # no /proc: the best remaining answer, though not race-free
        return os.path.realpath(path)


@contextmanager
def _os_errors(image_path: str) -> Iterator[None]:
    """Turn a failed file system call into a failure that says what to do."""
    shown = shorten(image_path)
    try:
        yield
    except (FileNotFoundError, NotADirectoryError):
        raise ToolFailure(
            ErrorCode.INVALID_INPUT, f"no file at {shown}; check the path and the file name"
        ) from None
    except PermissionError:
        raise ToolFailure(
            ErrorCode.UNSAFE_PATH,
            f"the server is not permitted to read {shown}; make the file readable by the "
            "user the server runs as, or pass the image another way",
        ) from None
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else type(exc).__name__
        raise ToolFailure(
            ErrorCode.INVALID_INPUT, f"{shown} cannot be read ({reason}); check the path"
        ) from None
