#!/usr/bin/env bash
# Vendors the standard WIT packages our world imports from the wasmtime 48.0.8 crates that implement them
# on the host, so host bindings and guest bindings read the very same files.
#   wit/vendor.sh          rewrite wit/deps/
#   wit/vendor.sh --check  fail if wit/deps/ differs from what the pinned crates ship (CI runs this)
set -euo pipefail
cd "$(dirname "$0")"
version=48.0.8
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The crate from cargo's cache when it is there, else from crates.io (the only registry we can reach).
crate_dir() {
  local name=$1 src
  for src in "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/"$name-$version"; do
    if [ -d "$src" ]; then echo "$src"; return; fi
  done
  curl -sSfL "https://static.crates.io/crates/$name/$name-$version.crate" | tar xz -C "$tmp"
  echo "$tmp/$name-$version"
}

out="$tmp/deps"
mkdir -p "$out"
http=$(crate_dir wasmtime-wasi-http)
for pkg in cli clocks filesystem http io random sockets; do
  mkdir -p "$out/$pkg"
  cp "$http/wit/deps/$pkg.wit" "$out/$pkg/$pkg.wit"
done
mkdir -p "$out/nn" "$out/config"
cp "$(crate_dir wasmtime-wasi-nn)/wit/wasi-nn.wit" "$out/nn/wasi-nn.wit"
cp "$(crate_dir wasmtime-wasi-config)"/wit/deps/config/*.wit "$out/config/"
cat > "$out/SOURCES.md" <<EOS
# Vendored WIT packages (written by wit/vendor.sh; do not edit)
| folder | package | copied from |
|---|---|---|
| cli, clocks, filesystem, http, io, random, sockets | wasi:*@0.2.12 | crates.io wasmtime-wasi-http $version, wit/deps/*.wit |
| nn | wasi:nn@0.2.0-rc-2024-10-28 | crates.io wasmtime-wasi-nn $version, wit/wasi-nn.wit |
| config | wasi:config@0.2.0-rc.1 | crates.io wasmtime-wasi-config $version, wit/deps/config/ |
EOS

if [ "${1:-}" = "--check" ]; then
  if ! diff -r "$out" deps; then
    echo "wit/deps is not what wit/vendor.sh writes: run wit/vendor.sh" >&2
    exit 1
  fi
  echo "wit/deps matches wasmtime $version"
else
  rm -rf deps
  cp -r "$out" deps
  echo "vendored into wit/deps"
fi
