#!/usr/bin/env bash
# The test command (README, .ci/run): prepares what the tests need, checks formatting, lints and vendored
# files, then runs every test — the host workspace (unit + end-to-end with real guests and models) and the
# guests' own unit tests.
#
#   bash scripts/test.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
say() { printf '\n== %s\n' "$*"; }

say "system packages"
bash scripts/install-deps.sh

for target in wasm32-wasip2 wasm32-wasip1; do
    if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx "$target"; then
        say "adding the $target target"
        rustup target add "$target"
    fi
done

say "test data (venv, models, rendered pages, onnxruntime references)"
bash scripts/prepare-test-data.sh
.venv/bin/python models/fixtures/make_fixtures.py --check

say "vendored WIT matches the pinned wasmtime crates"
wit/vendor.sh --check

say "format"
cargo fmt --all --check
(cd guest && cargo fmt --all --check)
(cd guest/preview1 && cargo fmt --all --check)

say "clippy"
# The workspace build has both optional backends on (edge-infer-tests enables them), so one build lints and
# tests them; each feature alone, and none, is linted here on the crates that have the cfgs.
cargo clippy --workspace --all-targets --locked -- -D warnings
for features in "" onnxruntime openvino cuda; do
    cargo clippy -p edge-infer-nn -p edge-infer --lib --bins --locked ${features:+--features "$features"} -- -D warnings
done
# The GPU checks (`tests/all/cuda.rs`, `--bench batching -- --gpu`) run only where there is a GPU; here they
# are at least compiled and linted.
cargo clippy -p edge-infer-tests --all-targets --locked --no-default-features --features cuda -- -D warnings

say "host tests (builds the guests in target/guests first)"
cargo test --workspace --locked --no-fail-fast

say "guest unit tests (native)"
(cd guest && CARGO_TARGET_DIR=../target/guests-native cargo test --workspace --locked --target "$(rustc -vV | sed -n 's/^host: //p')")
