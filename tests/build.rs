//! Builds the guest workspace (`guest/`) to wasm components, and `guest/preview1` to WASI preview 1 core
//! modules, for the tests, and writes `guests.rs` with the path of each one (wasmtime's `test-programs`
//! pattern).
//!
//! The guests get their own target directory: a nested cargo on the host's target directory would wait
//! forever for the lock the outer cargo holds.

use std::path::{Path, PathBuf};
use std::process::Command;

const GUESTS: &[&str] =
    &["classify", "tensor", "portable_tensor", "probe", "trap", "hostile", "vad", "embed", "ocr", "faces"];
/// The preview 1 modules of `guest/preview1`.
const PREVIEW1_GUESTS: &[&str] = &["classify-wasi-nn", "probe-wasip1"];

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let repo = manifest_dir.parent().unwrap().to_path_buf();
    let guest_dir = repo.join("guest");
    for watched in ["sdk", "examples", "test-guests", "preview1", "Cargo.toml", "Cargo.lock", ".cargo"] {
        println!("cargo:rerun-if-changed={}", guest_dir.join(watched).display());
    }
    println!("cargo:rerun-if-changed={}", repo.join("wit").display());

    let target_dir = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => repo.join("target"),
    }
    .join("guests");

    build(&guest_dir, &target_dir, "wasm32-wasip2");
    build(&guest_dir.join("preview1"), &target_dir, "wasm32-wasip1");

    let mut constants = String::new();
    for (guests, target, what) in
        [(GUESTS, "wasm32-wasip2", "guest component"), (PREVIEW1_GUESTS, "wasm32-wasip1", "preview 1 guest module")]
    {
        for guest in guests {
            let path = target_dir.join(target).join("release").join(format!("{guest}.wasm"));
            assert!(path.exists(), "guest {guest} was not built at {}", path.display());
            constants.push_str(&format!(
                "/// The `{guest}` {what}.\npub const {}: &str = {:?};\n",
                guest.to_uppercase().replace('-', "_"),
                path.display().to_string()
            ));
        }
    }
    let generated = Path::new(&std::env::var("OUT_DIR").unwrap()).join("guests.rs");
    std::fs::write(generated, constants).unwrap();
}

/// `cargo build --release --target TARGET --locked` in the workspace `dir`.
fn build(dir: &Path, target_dir: &Path, target: &str) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(dir)
        .args(["build", "--release", "--target", target, "--locked"])
        .env("CARGO_TARGET_DIR", target_dir);
    // The outer build's settings are for the host, not for the guests.
    for var in ["CARGO_ENCODED_RUSTFLAGS", "RUSTFLAGS", "CARGO_BUILD_TARGET", "CARGO_PROFILE_RELEASE_DEBUG"] {
        command.env_remove(var);
    }
    let status = command.status().expect("run cargo for the guests");
    assert!(
        status.success(),
        "building the guests in {} failed; is the target installed? (rustup target add {target})",
        dir.display()
    );
}
