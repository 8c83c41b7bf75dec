"""Times onnxruntime called natively from Python on the model runs one benchmark case recorded.

Called by `tests/benches/endpoints.rs` after each case's rows, so that its numbers sit beside them in one run:

    .venv/bin/python tests/benches/native_onnxruntime.py RUNS_JSON OUT_JSON [SECONDS]

RUNS_JSON lists model runs (an ONNX file and raw little-endian input files with name, type and shape). One
iteration replays every run in order, as the request did. Sessions are set up like the node's onnxruntime
backend: one intra-op thread, one inter-op thread, no spinning, default graph optimisations. OUT_JSON gets the
median, quartiles and mean in microseconds over about SECONDS (default 4) of iterations.
"""

import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

DTYPES = {"f32": np.float32, "f64": np.float64, "i64": np.int64, "i32": np.int32, "u8": np.uint8, "bool": np.bool_}


def session(path: str, cache: dict) -> ort.InferenceSession:
    if path not in cache:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        cache[path] = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    return cache[path]


def main() -> None:
    runs_json, out_json = Path(sys.argv[1]), Path(sys.argv[2])
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 4.0
    case = json.loads(runs_json.read_text())
    sessions: dict = {}
    runs = []
    for run in case["runs"]:
        feeds = {
            i["name"]: np.fromfile(i["file"], dtype=DTYPES[i["type"]]).reshape(i["shape"]) for i in run["inputs"]
        }
        runs.append((session(run["model"], sessions), feeds))

    def once() -> None:
        for sess, feeds in runs:
            sess.run(None, feeds)

    warm_until = time.perf_counter() + 1.0
    while time.perf_counter() < warm_until:
        once()
    times = []
    stop = time.perf_counter() + seconds
    while time.perf_counter() < stop or len(times) < 10:
        start = time.perf_counter_ns()
        once()
        times.append((time.perf_counter_ns() - start) / 1000)
    q1, median, q3 = statistics.quantiles(times, n=4)
    result = {
        "case": case["case"],
        "row": "python_onnxruntime",
        "onnxruntime": ort.__version__,
        "iterations": len(times),
        "median_us": median,
        "q1_us": q1,
        "q3_us": q3,
        "mean_us": statistics.fmean(times),
    }
    out_json.parent.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps(result, indent=1))
    print(f"{case['case']}/python_onnxruntime: median {median:.1f} µs over {len(times)} iterations")


if __name__ == "__main__":
    main()
