"""On glibc the server tells the allocator to return image-sized buffers when freed."""

from __future__ import annotations

import platform

import pytest

from openrouter_image_mcp.allocator import return_large_buffers_to_the_system


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt tuning is glibc-only")
def test_glibc_accepts_the_tuning() -> None:
    assert return_large_buffers_to_the_system() is True
