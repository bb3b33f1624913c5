"""Desktop conventions: one ID for the desktop file, the AppStream component and the running window."""

from __future__ import annotations

import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from engine.identity import APP_ID

ROOT = Path(__file__).resolve().parents[1]
PACKAGING = ROOT / "packaging"
DESKTOP = PACKAGING / f"{APP_ID}.desktop"
METAINFO = PACKAGING / f"{APP_ID}.metainfo.xml"


def test_desktop_file_id_is_the_appstream_id_and_the_windows_desktop_file_name():
    component = ET.parse(METAINFO).getroot()
    assert DESKTOP.is_file() and component.findtext("id") == APP_ID
    assert component.findtext("launchable") == DESKTOP.name
    assert component.findtext("icon") == APP_ID
    assert "setDesktopFileName(APP_ID)" in (ROOT / "app" / "main.py").read_text(encoding="utf-8")
    assert sorted(p.name for p in PACKAGING.glob("*.desktop")) == [DESKTOP.name]


def test_png_icons_are_the_size_their_name_says():
    sizes = []
    for png in sorted(PACKAGING.glob("icons/*.png")):
        header = png.read_bytes()[:24]
        assert header[:8] == b"\x89PNG\r\n\x1a\n", png
        width, height = struct.unpack(">II", header[16:24])
        assert width == height == int(png.stem), png
        sizes.append(width)
    assert sorted(sizes) == [16, 24, 32, 48, 64, 128, 256, 512]


@pytest.mark.skipif(shutil.which("desktop-file-validate") is None, reason="desktop-file-utils not installed")
def test_desktop_file_validate_passes():
    command = ["desktop-file-validate", str(DESKTOP)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "error" not in result.stdout, result.stdout


@pytest.mark.skipif(shutil.which("appstreamcli") is None, reason="appstream not installed")
def test_appstreamcli_validate_passes():
    result = subprocess.run(
        ["appstreamcli", "validate", "--no-net", str(METAINFO)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
