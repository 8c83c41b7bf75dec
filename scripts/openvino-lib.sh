#!/usr/bin/env bash
# The PyPI `openvino` wheel ships its C library versioned only (openvino/libs/libopenvino_c.so.2641), while the
# `openvino` crate's finder (OPENVINO_INSTALL_DIR, LD_LIBRARY_PATH, …) looks for the unversioned
# libopenvino_c.so. This adds that symlink next to the versioned file in the repository's .venv (idempotent)
# and prints the directory: the value for `[backends.openvino] library` or OPENVINO_INSTALL_DIR.
# edge-infer itself also accepts the versioned file or its directory directly.
#
#   bash scripts/openvino-lib.sh            # after scripts/setup-python.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

shopt -s nullglob
libs=("$ROOT"/.venv/lib/python3*/site-packages/openvino/libs)
[ ${#libs[@]} -gt 0 ] || { echo "openvino-lib: no openvino wheel in $ROOT/.venv (run scripts/setup-python.sh)" >&2; exit 1; }
dir="${libs[0]}"
versioned=("$dir"/libopenvino_c.so.*)
[ ${#versioned[@]} -gt 0 ] || { echo "openvino-lib: no libopenvino_c.so.* in $dir" >&2; exit 1; }
target="$(basename "${versioned[-1]}")"
if [ "$(readlink "$dir/libopenvino_c.so" 2>/dev/null || true)" != "$target" ]; then
    ln -sfn "$target" "$dir/libopenvino_c.so"
    echo "openvino-lib: $dir/libopenvino_c.so -> $target" >&2
fi
echo "$dir"
