"""Tell glibc's allocator to give image-sized buffers back to the system when freed.

A decoded image is tens of megabytes. glibc serves such blocks with mmap and unmaps them on
free, but after the first free it raises its mmap threshold dynamically, so later images come
from the heap and stay resident after free: a burst of large images leaves the server holding
hundreds of megabytes while it waits on the model. A fixed 1 MiB threshold (which also stops
the dynamic raise) and two arenas for the image-worker threads keep the resident size close
to what the calls in progress actually use. Elsewhere than glibc this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

logger = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
MMAP_THRESHOLD_BYTES = 1 << 20
ARENAS = 2


def return_large_buffers_to_the_system() -> bool:
    """Apply the settings above; False where the C library is not glibc."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False
    applied = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1
    applied = mallopt(M_ARENA_MAX, ARENAS) == 1 and applied
    logger.debug("allocator tuning applied: %s", applied)
    return applied
