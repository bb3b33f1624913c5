"""torch's shared libraries are opened with the GIL released before the engine imports torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from app.torch_preload import torch_libraries

ROOT = Path(__file__).resolve().parents[2]

CHILD = """
import sys
from app.torch_preload import preload_torch
opened = preload_torch()
maps = open("/proc/self/maps").read()
print(opened, "torch" in sys.modules, "libtorch_cpu.so" in maps)
"""


def test_preloading_opens_torchs_libraries_without_importing_torch():
    # A fresh process: this one may have imported torch already.
    out = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, cwd=ROOT, timeout=60, check=True
    ).stdout.split()
    assert int(out[0]) >= 4 and out[1:] == ["False", "True"], out


def test_nothing_is_preloaded_once_torch_is_imported(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", object())
    assert torch_libraries() == []
