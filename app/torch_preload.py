"""Load torch's shared libraries without holding the GIL, before ``import torch``.

The engine thread imports torch while the window is already open.  Python's
import opens an extension's shared library with the GIL held, and torch's
(``libtorch_cpu.so`` and friends, hundreds of MiB of relocations) took
600–1000 ms to open here: every start-up froze the window for that long right
after its first frame (issue #18).  ``dlopen`` called through ctypes runs with
the GIL released, so opening the same libraries that way first costs the GUI
thread nothing, and the import that follows finds them already loaded.  The
flags match torch's own (its global dependencies global, the rest local).
Anything unexpected (another platform, another torch layout) just skips the
preload: the import then works as before, only with the stall.
"""

from __future__ import annotations

import ctypes
import importlib.util
import logging
import os
import sys
from pathlib import Path

log = logging.getLogger(__name__)

LIBRARIES = (
    ("libtorch_global_deps.so", os.RTLD_GLOBAL),
    ("libtorch_cpu.so", os.RTLD_LOCAL),
    ("libtorch.so", os.RTLD_LOCAL),
    ("libtorch_python.so", os.RTLD_LOCAL),
)


def torch_libraries() -> list[tuple[Path, int]]:
    """The shared libraries ``import torch`` opens first, with their dlopen flags (none found: [])."""
    if not sys.platform.startswith("linux") or "torch" in sys.modules:
        return []
    spec = importlib.util.find_spec("torch")
    if spec is None or spec.origin is None:
        return []
    package = Path(spec.origin).parent
    found = [(package / "lib" / name, mode) for name, mode in LIBRARIES if (package / "lib" / name).is_file()]
    found += [(path, os.RTLD_LOCAL) for path in sorted(package.glob("_C.*.so"))]
    return found


def preload_torch() -> int:
    """Open torch's libraries with the GIL released; returns how many were opened."""
    try:
        libraries = torch_libraries()
        if not libraries:
            return 0
        libc = ctypes.CDLL(None)  # a foreign call: ctypes releases the GIL for its duration
        libc.dlopen.restype = ctypes.c_void_p
        libc.dlopen.argtypes = [ctypes.c_char_p, ctypes.c_int]
    except (OSError, AttributeError, ValueError, ImportError):
        log.debug("torch's libraries are not preloaded", exc_info=True)
        return 0
    opened = 0
    for path, mode in libraries:
        if libc.dlopen(os.fsencode(path), os.RTLD_NOW | mode):
            opened += 1
        else:
            log.debug("could not preload %s; the import opens it", path)
    return opened
