#!/usr/bin/env python3
"""Speech recordings for the `vad` example and Silero VAD's reference answers on them.

    .venv/bin/python tests/reference/vad_reference.py \\
        --model models/silero_vad_openvino_16k.onnx \\
        --utils models/files/silero_vad_utils_vad.py --dir tests/data/generated/vad

Recordings (written into --dir), all from the same two sentences spoken by Debian's `espeak-ng`
(22050 Hz mono), with silence and a little seeded noise around and between them:
  speech_22k.wav          the espeak-ng rate as it is: the endpoint must refuse it (400)
  speech_16k.wav          resampled to 16 kHz (FFT resampling), mono, 16-bit PCM
  speech_16k_f32.wav      the same samples as 32-bit IEEE float (WAVE_FORMAT_IEEE_FLOAT)
  speech_48k_stereo.wav   resampled to 48 kHz, two channels (right = 0.5 x left), 16-bit PCM

Reference (--dir/vad.json), for each recording but the 22 kHz one, exactly as the silero-vad package
does it (`get_speech_timestamps` with its defaults):
  - samples scaled to [-1, 1) (int16 / 32768), channels averaged, a rate that is a multiple of
    16000 decimated by `audio[::step]`;
  - the model run in a loop over 512-sample windows (the last one zero-padded), each input being the
    previous 64 samples (zeros at first) and the 512 new ones, f32[1,576], with the `state` tensor
    carried from one window to the next (the package's `OnnxWrapper.__call__`), on onnxruntime
    (CPUExecutionProvider, one thread);
  - segments from the package's own `get_speech_timestamps_from_probs`, whose source the models step
    extracts from the pinned wheel (models/files/silero_vad_utils_vad.py) and which this script runs
    verbatim: the rest of that module imports torch, which the tests do not install.
`probabilities` is one speech probability per window; `segments` are `{start, end}` in samples of the
recording's own rate. The script fails unless every recording yields exactly the two spoken sentences.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import typing
import wave
from pathlib import Path

import numpy as np
import onnxruntime as ort

ROOT = Path(__file__).resolve().parents[2]
SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Voice activity detection finds the speech in this recording.",
]
# Seconds of silence before, between and after the sentences.
GAPS = (0.8, 1.2, 0.7)
NOISE_RMS = 0.001  # about -60 dBFS, so that the "silence" is a real room and not digital zero
WINDOW, CONTEXT, RATE = 512, 64, 16000
RECORDINGS = ["speech_16k.wav", "speech_16k_f32.wav", "speech_48k_stereo.wav"]


def write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def espeak(text: str) -> tuple[np.ndarray, int]:
    """The sentence spoken by espeak-ng: float samples in [-1, 1) and the rate."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        sys.exit("vad_reference: error: espeak-ng is not installed (Debian: apt-get install espeak-ng)")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "s.wav"
        subprocess.run([exe, "-v", "en-us", "-s", "150", "-w", str(out), text], check=True)
        with wave.open(str(out), "rb") as w:
            assert w.getnchannels() == 1 and w.getsampwidth() == 2, "espeak-ng writes mono 16-bit"
            rate = w.getframerate()
            pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return pcm.astype(np.float64) / 32768.0, rate


def resample(x: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Band-limited resampling by the FFT (what scipy.signal.resample does)."""
    n_out = int(round(len(x) * rate_out / rate_in))
    spectrum = np.fft.rfft(x)
    keep = min(len(spectrum), n_out // 2 + 1)
    out = np.zeros(n_out // 2 + 1, dtype=complex)
    out[:keep] = spectrum[:keep]
    return np.fft.irfft(out, n_out) * (n_out / len(x))


def compose(rate: int, rng: np.random.Generator) -> np.ndarray:
    """Silence, sentence, silence, sentence, silence at `rate`, with noise, as float."""
    parts = []
    for i, text in enumerate(SENTENCES):
        speech, espeak_rate = espeak(text)
        if espeak_rate != rate:
            speech = resample(speech, espeak_rate, rate)
        parts.append(np.zeros(int(GAPS[i] * rate)))
        parts.append(speech)
    parts.append(np.zeros(int(GAPS[-1] * rate)))
    audio = np.concatenate(parts)
    return audio + rng.normal(0.0, NOISE_RMS, len(audio))


def to_int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x * 32768.0), -32768, 32767).astype("<i2")


def wav_pcm16(samples: np.ndarray, rate: int) -> bytes:
    """A 16-bit PCM WAV; `samples` is int16 [frames] or [frames, channels]."""
    channels = 1 if samples.ndim == 1 else samples.shape[1]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.wav"
        with wave.open(str(path), "wb") as w:
            w.setnchannels(channels)
            w.setsampwidth(2)
            w.setframerate(rate)
            w.writeframes(np.ascontiguousarray(samples, dtype="<i2").tobytes())
        return path.read_bytes()


def wav_f32(samples: np.ndarray, rate: int) -> bytes:
    """A mono 32-bit IEEE float WAV (format tag 3, with the `fact` chunk the format asks for)."""
    data = np.asarray(samples, dtype="<f4").tobytes()
    fmt = struct.pack("<HHIIHH", 3, 1, rate, rate * 4, 4, 32)
    fact = struct.pack("<I", len(samples))
    body = (b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"fact" + struct.pack("<I", 4) + fact
            + b"data" + struct.pack("<I", len(data)) + data)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """Mono float32 samples and the rate, as the package sees a file: PCM int16 / 32768 or float as it
    is, channels averaged."""
    raw = path.read_bytes()
    assert raw[:4] == b"RIFF" and raw[8:12] == b"WAVE", path
    pos, fmt, data = 12, None, None
    while pos + 8 <= len(raw):
        cid, size = raw[pos:pos + 4], struct.unpack("<I", raw[pos + 4:pos + 8])[0]
        body = raw[pos + 8:pos + 8 + size]
        if cid == b"fmt ":
            fmt = struct.unpack("<HHIIHH", body[:16])
        elif cid == b"data":
            data = body
        pos += 8 + size + (size & 1)
    tag, channels, rate, _, _, bits = fmt
    if tag == 1 and bits == 16:
        x = np.frombuffer(data, dtype="<i2").astype(np.float32) / np.float32(32768.0)
    elif tag == 3 and bits == 32:
        x = np.frombuffer(data, dtype="<f4").astype(np.float32)
    else:
        raise ValueError(f"{path}: format {tag}/{bits} bits not used here")
    x = x.reshape(-1, channels).mean(axis=1, dtype=np.float32)
    return x, rate


def package_post_processing(utils: Path):
    """`get_speech_timestamps_from_probs` from the package's own source, run verbatim."""
    tree = ast.parse(utils.read_text(), filename=str(utils))
    funcs = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "get_speech_timestamps_from_probs"]
    if len(funcs) != 1:
        sys.exit(f"vad_reference: error: {utils} has no get_speech_timestamps_from_probs")
    namespace = {"List": typing.List, "Callable": typing.Callable}
    exec(compile(ast.Module(body=funcs, type_ignores=[]), str(utils), "exec"), namespace)
    return namespace["get_speech_timestamps_from_probs"]


def speech_probabilities(sess: ort.InferenceSession, audio: np.ndarray) -> list[float]:
    """The package's OnnxWrapper loop: 64 samples of context + 512 new ones, the state carried."""
    state = np.zeros((2, 1, 128), np.float32)
    context = np.zeros((1, CONTEXT), np.float32)
    probs = []
    for start in range(0, len(audio), WINDOW):
        chunk = audio[start:start + WINDOW]
        if len(chunk) < WINDOW:
            chunk = np.pad(chunk, (0, WINDOW - len(chunk)))
        x = np.concatenate([context, chunk[None].astype(np.float32)], axis=1)
        out, state = sess.run(["output", "stateN"], {"input": x, "state": state})
        context = x[:, -CONTEXT:]
        probs.append(float(out[0, 0]))
    return probs


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "silero_vad_openvino_16k.onnx")
    ap.add_argument("--utils", type=Path, default=ROOT / "models" / "files" / "silero_vad_utils_vad.py")
    ap.add_argument("--dir", type=Path, default=ROOT / "tests" / "data" / "generated" / "vad")
    args = ap.parse_args(argv)
    for f in (args.model, args.utils):
        if not f.is_file():
            sys.exit(f"vad_reference: error: {f} missing; run .venv/bin/python models/fetch.py")
    args.dir.mkdir(parents=True, exist_ok=True)

    rng = np.random.default_rng(20261129)
    native = compose(22050, rng)
    audio16 = to_int16(compose(RATE, rng))
    write_atomic(args.dir / "speech_22k.wav", wav_pcm16(to_int16(native), 22050))
    write_atomic(args.dir / "speech_16k.wav", wav_pcm16(audio16, RATE))
    write_atomic(args.dir / "speech_16k_f32.wav", wav_f32(audio16.astype(np.float32) / 32768.0, RATE))
    left = resample(audio16.astype(np.float64) / 32768.0, RATE, 48000)
    write_atomic(args.dir / "speech_48k_stereo.wav",
                 wav_pcm16(np.stack([to_int16(left), to_int16(0.5 * left)], axis=1), 48000))

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    sess = ort.InferenceSession(str(args.model), so, providers=["CPUExecutionProvider"])
    timestamps = package_post_processing(args.utils)

    recordings = {}
    failures = []
    for name in RECORDINGS:
        audio, rate = read_wav(args.dir / name)
        step = 1
        if rate > RATE and rate % RATE == 0:
            step = rate // RATE
            audio = audio[::step]
        probs = speech_probabilities(sess, audio)
        segments = timestamps(probs, sampling_rate=RATE, audio_length_samples=len(audio), step=step)
        recordings[name] = {
            "sample_rate": rate,
            "step": step,
            "samples_16k": len(audio),
            "probabilities": probs,
            "segments": [{"start": int(s["start"]), "end": int(s["end"])} for s in segments],
        }
        print(f"vad_reference: {name:22s} {rate} Hz, {len(probs)} windows, segments (s): "
              + ", ".join(f"{s['start'] / rate:.2f}-{s['end'] / rate:.2f}" for s in segments))
        if len(segments) != len(SENTENCES):
            failures.append(f"{name}: {len(segments)} segments, expected {len(SENTENCES)}")

    doc = {
        "model": args.model.name,
        "model_sha256": hashlib.sha256(args.model.read_bytes()).hexdigest(),
        "window": WINDOW,
        "context": CONTEXT,
        "sentences": SENTENCES,
        "onnxruntime": ort.__version__,
        "refused": ["speech_22k.wav"],
        "recordings": recordings,
    }
    write_atomic(args.dir / "vad.json", (json.dumps(doc, indent=1) + "\n").encode())
    print(f"vad_reference: wrote {args.dir / 'vad.json'}")
    if failures:
        print("vad_reference: error:\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
