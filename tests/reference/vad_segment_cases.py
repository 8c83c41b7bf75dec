#!/usr/bin/env python3
"""Cases for the `vad` guest's port of silero-vad's segment rules, answered by the package's own code.

    .venv/bin/python tests/reference/vad_segment_cases.py   # rewrites guest/examples/vad/src/segment_cases.json

Each case is a seeded, blocky sequence of speech probabilities (runs of silence, noise near the
thresholds, and speech), some parameters of `get_speech_timestamps`, and the segments that the package's
`get_speech_timestamps_from_probs` (models/files/silero_vad_utils_vad.py, extracted from the pinned wheel
by models/fetch.py) returns for them. The JSON is committed: the guest's unit tests read it natively,
without Python.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from vad_reference import ROOT, package_post_processing  # noqa: E402

OUT = ROOT / "guest" / "examples" / "vad" / "src" / "segment_cases.json"
WINDOWS = 240
PARAMS = [
    {},
    {"max_speech_duration_s": 1.5},
    {"max_speech_duration_s": 1.0, "use_max_poss_sil_at_max_speech": False},
    {"threshold": 0.4, "min_silence_duration_ms": 300, "speech_pad_ms": 100},
    {"threshold": 0.6, "neg_threshold": 0.5, "min_speech_duration_ms": 100},
    {"step": 3},
]


def probabilities(rng: np.random.Generator) -> list[float]:
    out: list[float] = []
    while len(out) < WINDOWS:
        run = int(rng.integers(1, 30))
        level = float(rng.choice([0.05, 0.3, 0.42, 0.6, 0.95]))
        out += [round(min(max(level + float(rng.normal(0, 0.05)), 0.0), 1.0), 3) for _ in range(run)]
    return out[:WINDOWS]


def main() -> int:
    timestamps = package_post_processing(ROOT / "models" / "files" / "silero_vad_utils_vad.py")
    rng = np.random.default_rng(20261129)
    cases = []
    for params in PARAMS:
        params = dict(params)
        step = params.pop("step", 1)
        probs = probabilities(rng)
        length = WINDOWS * 512 - 100
        found = timestamps(probs, sampling_rate=16000, audio_length_samples=length, step=step, **params)
        cases.append({
            "params": params,
            "step": step,
            "audio_length_samples": length,
            "probabilities": probs,
            "segments": [[int(s["start"]), int(s["end"])] for s in found],
        })
    OUT.write_text(json.dumps(cases, separators=(",", ":")) + "\n")
    print(f"vad_segment_cases: wrote {len(cases)} cases to {OUT.relative_to(ROOT)}: "
          + ", ".join(str(len(c["segments"])) for c in cases) + " segments")
    return 0


if __name__ == "__main__":
    sys.exit(main())
