#!/bin/sh
# DiffusionGemma Chat: install (or upgrade) for one user, with a menu entry; or uninstall.
#
#   sh packaging/install.sh [--prefix DIR] [--torch auto|cuda|cpu] [--python PY]
#   sh packaging/install.sh --uninstall [--purge] [--yes] [--prefix DIR]
#
# No root needed. It creates the app's own Python environment (default
# $XDG_DATA_HOME/diffusiongemma-chat/env), installs PyTorch for this machine and the app from
# the checkout this script is in, writes a `dgchat` launcher to ~/.local/bin, and puts the desktop
# entry, AppStream metadata and icons under $XDG_DATA_HOME. Running it again upgrades in place.
#
# PyTorch: --torch auto (the default) asks uv (installed from PyPI into the environment) for
# `--torch-backend=auto`, which picks the CUDA build matching the NVIDIA driver, or the CPU build
# without one. --torch cpu installs the CPU build with pip from $DGCHAT_TORCH_INDEX (default
# https://download.pytorch.org/whl/cpu; set it empty to use pip's own configuration).
# $DGCHAT_TORCH_SPEC pins the version (default: torch, the newest), e.g. torch==2.13.0.
# --torch cuda asks uv for the driver's CUDA build and fails when the result cannot use CUDA.
#
# --uninstall removes the environment, the launcher, the desktop entry, the metadata and the icons,
# and keeps chats, settings and models. --purge also deletes chats, settings, logs and pasted
# images (never downloaded models), after listing them; it asks first, or needs --yes.
set -eu

APP_ID=io.github.diffusiongemma_chat
APP_NAME=diffusiongemma-chat
MARKER=.dgchat-install
LAUNCHER_TAG="# dgchat launcher written by DiffusionGemma Chat's packaging/install.sh"
ICON_SIZES="16 24 32 48 64 128 256 512"

say() { printf '%s\n' "$*"; }
fail() { printf 'error: %s\n' "$*" >&2; exit 1; }

usage() {
    sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'
}

HERE=$(cd "$(dirname "$0")" && pwd)
SOURCE=$(cd "$HERE/.." && pwd)
[ -n "${HOME:-}" ] || fail "HOME is not set"
DATA_HOME=${XDG_DATA_HOME:-$HOME/.local/share}
CONFIG_HOME=${XDG_CONFIG_HOME:-$HOME/.config}
CACHE_HOME=${XDG_CACHE_HOME:-$HOME/.cache}
STATE_HOME=${XDG_STATE_HOME:-$HOME/.local/state}
BIN_DIR=$HOME/.local/bin
PREFIX=$DATA_HOME/$APP_NAME/env
TORCH=auto
PYTHON=python3
ACTION=do_install
PURGE=no
YES=no

while [ $# -gt 0 ]; do
    case $1 in
        --prefix) [ $# -ge 2 ] || fail "--prefix needs a folder"; PREFIX=$2; shift 2 ;;
        --prefix=*) PREFIX=${1#--prefix=}; shift ;;
        --torch) [ $# -ge 2 ] || fail "--torch needs auto, cuda or cpu"; TORCH=$2; shift 2 ;;
        --torch=*) TORCH=${1#--torch=}; shift ;;
        --python) [ $# -ge 2 ] || fail "--python needs an interpreter"; PYTHON=$2; shift 2 ;;
        --python=*) PYTHON=${1#--python=}; shift ;;
        --uninstall) ACTION=do_uninstall; shift ;;
        --purge) PURGE=yes; shift ;;
        --yes|-y) YES=yes; shift ;;
        -h|--help) usage; exit 0 ;;
        *) fail "unknown option $1 (see --help)" ;;
    esac
done
case $TORCH in auto|cuda|cpu) ;; *) fail "--torch must be auto, cuda or cpu, not '$TORCH'" ;; esac
[ "$PURGE" = no ] || [ "$ACTION" = do_uninstall ] || fail "--purge goes with --uninstall"
case $PREFIX in /*) ;; *) PREFIX=$(pwd)/$PREFIX ;; esac

DESKTOP_FILE=$DATA_HOME/applications/$APP_ID.desktop
METAINFO_FILE=$DATA_HOME/metainfo/$APP_ID.metainfo.xml
ICON_ROOT=$DATA_HOME/icons/hicolor
LAUNCHER=$BIN_DIR/dgchat
CHATS_DIR=${DGCHAT_DATA_DIR:-$DATA_HOME/$APP_NAME}

refresh_menus() {
    if command -v update-desktop-database >/dev/null 2>&1; then
        update-desktop-database -q "$DATA_HOME/applications" 2>/dev/null || true
        say "  refreshed the desktop database"
    fi
    if command -v gtk-update-icon-cache >/dev/null 2>&1 && [ -f "$ICON_ROOT/index.theme" ]; then
        gtk-update-icon-cache -q -t "$ICON_ROOT" 2>/dev/null || true
    fi
}

remove() {  # remove PATH... that exist, saying so
    for path in "$@"; do
        if [ -e "$path" ] || [ -L "$path" ]; then
            rm -rf -- "$path"
            say "  removed $path"
        fi
    done
}

do_uninstall() {
    say "Uninstalling DiffusionGemma Chat"
    if [ -d "$PREFIX" ]; then
        [ -f "$PREFIX/$MARKER" ] || fail "$PREFIX was not made by this installer; not removing it"
        remove "$PREFIX"
    fi
    if [ -f "$LAUNCHER" ]; then
        grep -qF "$LAUNCHER_TAG" "$LAUNCHER" || fail "$LAUNCHER was not written by this installer; not removing it"
        remove "$LAUNCHER"
    fi
    remove "$DESKTOP_FILE" "$METAINFO_FILE" "$ICON_ROOT/scalable/apps/$APP_ID.svg"
    for size in $ICON_SIZES; do
        remove "$ICON_ROOT/${size}x${size}/apps/$APP_ID.png"
    done
    rmdir "$DATA_HOME/$APP_NAME" 2>/dev/null || true  # only when nothing else (no chats) is left
    refresh_menus
    if [ "$PURGE" = yes ]; then
        purge
    else
        say "Kept your chats ($CHATS_DIR), settings ($CONFIG_HOME/$APP_NAME) and models"
        say "(the Hugging Face cache and $CACHE_HOME/$APP_NAME). --uninstall --purge deletes the chats too."
    fi
}

purge() {
    set -- "$CHATS_DIR" "$CONFIG_HOME/$APP_NAME" "$STATE_HOME/$APP_NAME" "$CACHE_HOME/$APP_NAME/pasted"
    say "--purge will delete your chats, settings, logs and pasted images:"
    for path in "$@"; do
        if [ -e "$path" ]; then say "  $path"; fi
    done
    say "Downloaded models are kept (the Hugging Face cache and 4-bit copies in $CACHE_HOME/$APP_NAME)."
    if [ "$YES" != yes ]; then
        [ -t 0 ] || fail "nothing deleted: run again with --yes to confirm"
        printf 'Delete them? [y/N] '
        read -r answer
        case $answer in y|Y|yes|YES) ;; *) say "Nothing deleted."; return 0 ;; esac
    fi
    remove "$@"
}

install_torch() {
    py=$PREFIX/bin/python
    spec=${DGCHAT_TORCH_SPEC:-torch}
    if [ "$TORCH" = cpu ]; then
        index=${DGCHAT_TORCH_INDEX-https://download.pytorch.org/whl/cpu}
        say "Installing PyTorch (CPU build) with pip${index:+ from $index}"
        if [ -n "$index" ]; then
            "$py" -m pip install --upgrade "$spec" --index-url "$index"
        else
            "$py" -m pip install --upgrade "$spec"
        fi
        return
    fi
    if "$py" -m pip install --upgrade uv >/dev/null 2>&1; then
        say "Installing PyTorch with uv's automatic backend (picks the CUDA build for your NVIDIA driver, else CPU)"
        "$PREFIX/bin/uv" pip install --python "$py" --upgrade "$spec" --torch-backend=auto
    else
        say "Could not install uv from PyPI; installing PyTorch with pip (PyPI's build for this platform)"
        "$py" -m pip install --upgrade "$spec"
    fi
    if [ "$TORCH" = cuda ] && ! "$py" -c "import sys, torch; sys.exit(torch.version.cuda is None)"; then
        fail "the PyTorch installed here has no CUDA support: is an NVIDIA driver installed (nvidia-smi)?"
    fi
}

do_install() {
    "$PYTHON" -c "import sys; sys.exit(sys.version_info < (3, 11))" 2>/dev/null \
        || fail "$PYTHON is not Python 3.11 or newer: pass --python /path/to/python3.11"
    [ -f "$SOURCE/pyproject.toml" ] || fail "run this script from a checkout of DiffusionGemma Chat"
    if [ -x "$PREFIX/bin/python" ] && [ -f "$PREFIX/$MARKER" ]; then
        say "Upgrading the environment in $PREFIX"
    elif [ -e "$PREFIX" ] && [ -n "$(ls -A "$PREFIX" 2>/dev/null)" ] && [ ! -f "$PREFIX/$MARKER" ]; then
        fail "$PREFIX exists and was not made by this installer: choose another --prefix"
    else
        say "Creating the environment in $PREFIX"
        mkdir -p "$PREFIX"
        "$PYTHON" -m venv "$PREFIX"
        printf 'made by packaging/install.sh of DiffusionGemma Chat\n' >"$PREFIX/$MARKER"
    fi
    py=$PREFIX/bin/python
    export PIP_DISABLE_PIP_VERSION_CHECK=1
    install_torch
    extra=
    if "$py" -c "import sys, torch; sys.exit(torch.version.cuda is None)" 2>/dev/null; then
        extra="[gpu]"  # Triton for the fused 4-bit kernel
    fi
    say "Installing DiffusionGemma Chat from $SOURCE"
    "$py" -m pip install --upgrade "$SOURCE$extra"

    mkdir -p "$BIN_DIR" "$DATA_HOME/applications" "$DATA_HOME/metainfo" "$ICON_ROOT/scalable/apps"
    tmp=$LAUNCHER.tmp.$$
    {
        printf '#!/bin/sh\n%s\n' "$LAUNCHER_TAG"
        printf 'exec "%s" "$@"\n' "$PREFIX/bin/dgchat"
    } >"$tmp"
    chmod 755 "$tmp"
    mv -f "$tmp" "$LAUNCHER"
    sed -e "s|^Exec=.*|Exec=\"$LAUNCHER\" %F|" -e "s|^TryExec=.*|TryExec=$LAUNCHER|" \
        "$HERE/$APP_ID.desktop" >"$DESKTOP_FILE"
    cp "$HERE/$APP_ID.metainfo.xml" "$METAINFO_FILE"
    cp "$SOURCE/resources/icons/dgchat.svg" "$ICON_ROOT/scalable/apps/$APP_ID.svg"
    for size in $ICON_SIZES; do
        mkdir -p "$ICON_ROOT/${size}x${size}/apps"
        cp "$HERE/icons/$size.png" "$ICON_ROOT/${size}x${size}/apps/$APP_ID.png"
    done
    say "Installed DiffusionGemma Chat $("$PREFIX/bin/dgchat" --version 2>/dev/null | sed 's/^dgchat //')"
    say "  environment   $PREFIX (PyTorch $("$py" -c 'import torch; print(torch.__version__)'))"
    say "  launcher      $LAUNCHER"
    say "  menu entry    $DESKTOP_FILE"
    say "  metadata      $METAINFO_FILE"
    say "  icons         $ICON_ROOT/{scalable,16x16,...,512x512}/apps/$APP_ID.{svg,png}"
    refresh_menus
    case ":$PATH:" in
        *":$BIN_DIR:"*) ;;
        *) say "Note: $BIN_DIR is not on your PATH; add it to start 'dgchat' from a terminal." ;;
    esac
    say "Start it from your desktop's menu or with 'dgchat'. Uninstall: sh $HERE/install.sh --uninstall"
}

"$ACTION"
