"""packaging/install.sh: a user install with a menu entry and icons, upgrades in place, a clean uninstall.

The quick tests run the real script (POSIX sh, under dash where there is one) in a temporary
HOME against a prepared environment whose ``python`` records pip's calls, so argument parsing,
placement and removal are checked in a second.  ``test_real_install_…`` installs for real
(CPU torch, every dependency): minutes, so it runs where DGCHAT_TEST_INSTALL=1 (CI sets it).
"""

from __future__ import annotations

import configparser
import os
import shutil
import stat
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from engine.identity import APP_ID, APP_NAME

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "packaging" / "install.sh"
SHELL = shutil.which("dash") or "sh"
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)

FAKE_PYTHON = """#!/bin/sh
if [ "$1" = -m ]; then shift; echo "$*" >> "$(dirname "$0")/../pip-calls.log"; exit 0; fi
case "$2" in *__version__*) echo 2.13.0+cpu ;; *) exit 1 ;; esac
"""
FAKE_DGCHAT = '#!/bin/sh\necho "dgchat 9.9.9 $*"\n'


class Home:
    """A temporary HOME with XDG folders, and the paths the installer writes in it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.prefix = self.data / APP_NAME / "env"
        self.launcher = root / ".local" / "bin" / "dgchat"
        self.desktop = self.data / "applications" / f"{APP_ID}.desktop"
        self.metainfo = self.data / "metainfo" / f"{APP_ID}.metainfo.xml"
        self.icons = [self.data / "icons/hicolor/scalable/apps" / f"{APP_ID}.svg"] + [
            self.data / f"icons/hicolor/{n}x{n}/apps/{APP_ID}.png" for n in ICON_SIZES
        ]
        self.chats = self.data / APP_NAME / "conversations.db"
        self.settings = root / "config" / APP_NAME / "settings.json"
        self.quantized = root / "cache" / APP_NAME / "nf4" / "model.safetensors"
        self.pasted = root / "cache" / APP_NAME / "pasted" / "image.png"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "DGCHAT_"))}
        env.update(
            HOME=str(self.root),
            XDG_DATA_HOME=str(self.data),
            XDG_CONFIG_HOME=str(self.root / "config"),
            XDG_CACHE_HOME=str(self.root / "cache"),
            XDG_STATE_HOME=str(self.root / "state"),
            DGCHAT_TORCH_INDEX="",
        )
        return env

    def run(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [SHELL, str(SCRIPT), *args],
            env=self.env(),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )

    def fake_environment(self) -> None:
        """An environment as a first run leaves it, with a python that only logs pip's calls."""
        bin_dir = self.prefix / "bin"
        bin_dir.mkdir(parents=True)
        (self.prefix / ".dgchat-install").write_text("made by packaging/install.sh\n")
        for name, text in (("python", FAKE_PYTHON), ("dgchat", FAKE_DGCHAT)):
            (bin_dir / name).write_text(text)
            (bin_dir / name).chmod(0o755)

    def user_files(self) -> list[Path]:
        files = [self.chats, self.settings, self.quantized, self.pasted]
        for path in files:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("kept")
        return files


@pytest.fixture
def home(tmp_path: Path) -> Home:
    return Home(tmp_path / "home")


def _install(home: Home, *extra: str) -> subprocess.CompletedProcess:
    result = home.run("--torch", "cpu", "--python", sys.executable, *extra)
    assert result.returncode == 0, result.stderr + result.stdout
    return result


def test_install_places_launcher_menu_entry_metadata_and_icons(home: Home):
    home.fake_environment()
    result = _install(home)
    calls = (home.prefix / "pip-calls.log").read_text().splitlines()
    assert calls == ["pip install --upgrade torch", f"pip install --upgrade {ROOT}"]
    mode = home.launcher.stat().st_mode
    assert mode & stat.S_IXUSR
    launched = subprocess.run([str(home.launcher), "--version"], capture_output=True, text=True, check=True)
    assert launched.stdout.strip() == "dgchat 9.9.9 --version"  # the environment's dgchat, arguments kept
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str
    entry.read(home.desktop, encoding="utf-8")
    section = entry["Desktop Entry"]
    assert section["Exec"] == f'"{home.launcher}" %F' and section["TryExec"] == str(home.launcher)
    assert section["Icon"] == APP_ID
    assert ET.parse(home.metainfo).getroot().findtext("id") == APP_ID
    assert all(icon.is_file() for icon in home.icons), [i for i in home.icons if not i.is_file()]
    assert (home.icons[1].read_bytes()[:8]) == b"\x89PNG\r\n\x1a\n"
    for path in (home.prefix, home.launcher, home.desktop):
        assert str(path) in result.stdout  # it says what it did and where
    if shutil.which("desktop-file-validate"):
        check = subprocess.run(["desktop-file-validate", str(home.desktop)], capture_output=True, text=True)
        assert check.returncode == 0 and "error" not in check.stdout, check.stdout


def test_running_again_upgrades_in_place(home: Home):
    home.fake_environment()
    _install(home)
    again = _install(home)
    assert f"Upgrading the environment in {home.prefix}" in again.stdout
    assert len((home.prefix / "pip-calls.log").read_text().splitlines()) == 4
    assert home.launcher.is_file() and home.desktop.is_file()


def test_a_folder_the_installer_did_not_make_is_never_used_or_removed(home: Home, tmp_path: Path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    result = home.run("--torch", "cpu", "--python", sys.executable, "--prefix", str(foreign))
    assert result.returncode == 1 and "was not made by this installer" in result.stderr
    result = home.run("--uninstall", "--prefix", str(foreign))
    assert result.returncode == 1 and (foreign / "notes.txt").is_file()


def test_uninstall_removes_what_it_installed_and_keeps_chats_settings_and_models(home: Home):
    home.fake_environment()
    _install(home)
    kept = home.user_files()
    result = home.run("--uninstall")
    assert result.returncode == 0, result.stderr
    for path in [home.prefix, home.launcher, home.desktop, home.metainfo, *home.icons]:
        assert not path.exists(), path
    assert all(path.read_text() == "kept" for path in kept)
    assert "Kept your chats" in result.stdout


def test_purge_lists_what_it_deletes_and_needs_a_yes(home: Home):
    home.fake_environment()
    _install(home)
    home.user_files()
    refused = home.run("--uninstall", "--purge")
    assert refused.returncode == 1 and "run again with --yes" in refused.stderr
    assert str(home.chats.parent) in refused.stdout and home.chats.is_file()
    purged = home.run("--uninstall", "--purge", "--yes")
    assert purged.returncode == 0, purged.stderr
    assert not home.chats.exists() and not home.settings.exists() and not home.pasted.exists()
    assert home.quantized.read_text() == "kept", "downloaded models are never purged"


def test_a_launcher_it_did_not_write_is_left_alone(home: Home):
    home.launcher.parent.mkdir(parents=True)
    home.launcher.write_text("#!/bin/sh\necho someone else's\n")
    result = home.run("--uninstall")
    assert result.returncode == 1 and "not written by this installer" in result.stderr
    assert home.launcher.is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--torch", "rocm"), "--torch must be auto, cuda or cpu"),
        (("--purge",), "--purge goes with --uninstall"),
        (("--frobnicate",), "unknown option --frobnicate"),
        (("--prefix",), "--prefix needs a folder"),
    ],
)
def test_bad_arguments_name_the_problem(home: Home, args: tuple[str, ...], message: str):
    result = home.run(*args)
    assert result.returncode == 1 and f"error: {message}" in result.stderr
    assert not home.root.exists() or not any(home.root.iterdir())


def test_help_describes_every_option(home: Home):
    result = home.run("--help")
    assert result.returncode == 0
    for option in ("--prefix", "--torch auto|cuda|cpu", "--uninstall", "--purge", "--yes", "uv"):
        assert option in result.stdout


@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("DGCHAT_TEST_INSTALL") != "1", reason="minutes; CI sets DGCHAT_TEST_INSTALL=1"
)
def test_real_install_runs_dgchat_through_the_launcher_and_uninstalls_cleanly(home: Home):
    python = shutil.which("python3.11") or sys.executable
    env_spec = os.environ.get("DGCHAT_TEST_TORCH_SPEC", "torch==2.13.0")
    result = subprocess.run(
        [SHELL, str(SCRIPT), "--torch", "cpu", "--python", python],
        env={**home.env(), "DGCHAT_TORCH_SPEC": env_spec},
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    version = subprocess.run([str(home.launcher), "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("dgchat ")
    engine = subprocess.run(
        [str(home.prefix / "bin" / "dgchat-engine"), "--help"], capture_output=True, text=True, check=True
    )
    assert "generate" in engine.stdout
    assert home.desktop.is_file() and all(icon.is_file() for icon in home.icons)
    removed = subprocess.run(
        [SHELL, str(SCRIPT), "--uninstall"], env=home.env(), capture_output=True, text=True, check=False
    )
    assert removed.returncode == 0, removed.stderr
    left = [p for p in [home.prefix, home.launcher, home.desktop, home.metainfo, *home.icons] if p.exists()]
    assert not left
