#!/usr/bin/env python3
"""Render deterministic document pages for the orientation tests.

    .venv/bin/python tests/reference/render_pages.py [OUT_DIR]      (default tests/data/generated/)

Writes a white 800x1000 RGB page with 30 lines of black English text (DejaVu Sans, from Debian's
fonts-dejavu-core), as:
    page_0.png    upright
    page_90.png   Image.transpose(ROTATE_90):  turned 90 degrees counter-clockwise (1000x800)
    page_180.png  Image.transpose(ROTATE_180)
    page_270.png  Image.transpose(ROTATE_270): turned 90 degrees clockwise (1000x800)
    page_0.jpg    the upright page as JPEG (quality 90, 4:2:0)
Transposes are lossless pixel permutations (no resampling, no cropping). The same Pillow, FreeType
and zlib/libjpeg give byte-identical files on every run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = ROOT / "tests" / "data" / "generated"
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
FONT_PACKAGE = "fonts-dejavu-core"

PAGE_W, PAGE_H = 800, 1000
MARGIN_X, MARGIN_TOP = 60, 70
FONT_SIZE = 20
LINE_STEP = 28  # 30 lines: 70 + 29*28 + ~20 = ~902 < 1000
N_LINES = 30

# Deterministic prose; lines are cut at varied widths so the right edge is ragged like real text.
TEXT = (
    "Edge inference moves the model to the data instead of moving the data to the model. "
    "Every node of the fleet keeps a copy of the tenant's models and serves requests from "
    "the nearest point of presence, which keeps latency low and traffic local. "
    "A document scanner, for example, sends a photographed page and receives the angle by "
    "which the page must be turned before the text can be read. "
    "The runtime loads each model once, shares it between requests, and runs the tenant's "
    "own pre-processing code in a sandbox that can neither read files nor open sockets. "
    "Quotas keep one busy customer from starving the others, and metrics show how long each "
    "stage of a request took. When a new version of a model is uploaded, every node picks it "
    "up within seconds and swaps it in without dropping the requests that are still running. "
    "Operators point all nodes at one artifact store and scrape the same metrics everywhere. "
    "The quick brown fox jumps over the lazy dog while the five boxing wizards jump quickly."
)
# target line widths in pixels (the page text area is 800 - 2*60 = 680 px), cycled; a 0 leaves an
# empty line (a paragraph break). Varied widths give a ragged right edge like real text.
WIDTHS = [660, 590, 675, 520, 640, 615, 0, 670, 560, 610, 680, 430, 0, 650, 600, 665, 540, 655, 380, 0,
          630, 672, 575, 645, 500]


def wrap_lines(font: ImageFont.FreeTypeFont) -> list[str]:
    words = TEXT.split()
    lines: list[str] = []
    i = 0
    k = 0
    while len(lines) < N_LINES:
        width = WIDTHS[k % len(WIDTHS)]
        k += 1
        if width == 0:
            lines.append("")
            continue
        line = ""
        while True:
            w = words[i % len(words)]
            candidate = f"{line} {w}" if line else w
            if line and font.getlength(candidate) > width:
                break
            line = candidate
            i += 1
        lines.append(line)
    return lines


def load_font(path: Path) -> ImageFont.FreeTypeFont:
    if not path.is_file():
        sys.exit(
            f"render_pages: error: font {path} not found; install the Debian package {FONT_PACKAGE} "
            f"(apt-get install {FONT_PACKAGE}) or pass --font"
        )
    return ImageFont.truetype(str(path), FONT_SIZE)


def render(font: ImageFont.FreeTypeFont) -> Image.Image:
    img = Image.new("RGB", (PAGE_W, PAGE_H), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    y = MARGIN_TOP
    for line in wrap_lines(font):
        if line:
            draw.text((MARGIN_X, y), line, fill=(0, 0, 0), font=font)
        y += LINE_STEP
    return img


def save_atomic(img: Image.Image, path: Path, **kw) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        img.save(tmp, **kw)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", nargs="?", type=Path, default=DEFAULT_OUT, help="output directory")
    ap.add_argument("--font", type=Path, default=FONT, help=f"TrueType font (default {FONT})")
    args = ap.parse_args(argv)

    font = load_font(args.font)
    args.out.mkdir(parents=True, exist_ok=True)
    page = render(font)
    variants = {
        "page_0.png": page,
        "page_90.png": page.transpose(Image.Transpose.ROTATE_90),
        "page_180.png": page.transpose(Image.Transpose.ROTATE_180),
        "page_270.png": page.transpose(Image.Transpose.ROTATE_270),
    }
    for name, img in variants.items():
        save_atomic(img, args.out / name, format="PNG", optimize=False, compress_level=6)
        print(f"render_pages: {args.out / name} {img.size[0]}x{img.size[1]}")
    save_atomic(page, args.out / "page_0.jpg", format="JPEG", quality=90, subsampling="4:2:0",
                optimize=False, progressive=False)
    print(f"render_pages: {args.out / 'page_0.jpg'} {page.size[0]}x{page.size[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
