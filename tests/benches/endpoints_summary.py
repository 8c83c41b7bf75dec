#!/usr/bin/env python3
"""Prints the tables of BENCHMARKS.md from the last `cargo bench -p edge-infer-tests --bench endpoints` run:
criterion's medians (target/criterion/<group>/<row>/new/estimates.json) and the Python onnxruntime timings the
bench wrote beside them (target/criterion/python/<group>.json), in milliseconds, with the ratios.

Usage: python3 tests/benches/endpoints_summary.py [TARGET_DIR]   (default: target)
"""

import json
import pathlib
import sys

target = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target") / "criterion"
BACKENDS = ["tract", "onnxruntime", "openvino"]


def median_ms(group, row):
    if row == "python_onnxruntime":
        path = target / "python" / f"{group}.json"
        return json.loads(path.read_text())["median_us"] / 1e3 if path.exists() else None
    path = target / group / row / "new" / "estimates.json"
    return json.loads(path.read_text())["median"]["point_estimate"] / 1e6 if path.exists() else None


def fmt(value, digits=2):
    return "–" if value is None else f"{value:.{digits}f}"


def ratio(a, b):
    return None if a is None or b is None else a / b


def table(prefix, title):
    groups = sorted(p.name for p in target.glob(f"{prefix}_*") if p.is_dir())
    if not groups:
        return
    print(f"### {title}\n")
    head = ["node tract", "native tract", "node ORT", "native ORT", "Python ORT", "node OpenVINO", "native OpenVINO"]
    print(f"| {prefix} | " + " | ".join(head) + " | node/native tract | node/native ORT | node ORT / Python ORT | node/native OpenVINO |")
    print("|---|" + "---:|" * (len(head) + 4))
    for group in groups:
        m = {f"{kind}_{b}": median_ms(group, f"{kind}_{b}") for b in BACKENDS for kind in ("node", "native")}
        python = median_ms(group, "python_onnxruntime")
        cells = [m["node_tract"], m["native_tract"], m["node_onnxruntime"], m["native_onnxruntime"], python,
                 m["node_openvino"], m["native_openvino"]]
        ratios = [ratio(m["node_tract"], m["native_tract"]), ratio(m["node_onnxruntime"], m["native_onnxruntime"]),
                  ratio(m["node_onnxruntime"], python), ratio(m["node_openvino"], m["native_openvino"])]
        name = group.removeprefix(f"{prefix}_")
        print(f"| {name} | " + " | ".join(fmt(c) for c in cells) + " | " + " | ".join(fmt(r, 3) for r in ratios) + " |")
    print()


table("endpoint", "Example endpoints: one request, end to end (median ms)")
table("model", "Per model: one run through the `tensor` guest vs natively (median ms)")
