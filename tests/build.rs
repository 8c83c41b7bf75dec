//! Builds the guest workspace (`guest/`) to wasm components for the tests, and writes `guests.rs` with the
//! path of each one (wasmtime's `test-programs` pattern).
//!
//! The guests get their own target directory: a nested cargo on the host's target directory would wait
//! forever for the lock the outer cargo holds.

use std::path::{Path, PathBuf};
use std::process::Command;

const GUESTS: &[&str] = &["classify", "tensor", "probe", "trap", "hostile", "vad", "embed", "ocr", "faces"];

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let repo = manifest_dir.parent().unwrap().to_path_buf();
    let guest_dir = repo.join("guest");
    for watched in ["sdk", "examples", "test-guests", "Cargo.toml", "Cargo.lock", ".cargo"] {
        println!("cargo:rerun-if-changed={}", guest_dir.join(watched).display());
    }
    println!("cargo:rerun-if-changed={}", repo.join("wit").display());

    let target_dir = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => repo.join("target"),
    }
    .join("guests");

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(&guest_dir)
        .args(["build", "--release", "--target", "wasm32-wasip2", "--locked"])
        .env("CARGO_TARGET_DIR", &target_dir);
    // The outer build's settings are for the host, not for the guests.
    for var in ["CARGO_ENCODED_RUSTFLAGS", "RUSTFLAGS", "CARGO_BUILD_TARGET", "CARGO_PROFILE_RELEASE_DEBUG"] {
        command.env_remove(var);
    }
    let status = command.status().expect("run cargo for the guests");
    assert!(status.success(), "building the guests failed; is the target installed? (rustup target add wasm32-wasip2)");

    let out = target_dir.join("wasm32-wasip2").join("release");
    let mut constants = String::new();
    for guest in GUESTS {
        let path = out.join(format!("{guest}.wasm"));
        assert!(path.exists(), "guest {guest} was not built at {}", path.display());
        constants.push_str(&format!(
            "/// The `{guest}` guest component.\npub const {}: &str = {:?};\n",
            guest.to_uppercase(),
            path.display().to_string()
        ));
    }
    let generated = Path::new(&std::env::var("OUT_DIR").unwrap()).join("guests.rs");
    std::fs::write(generated, constants).unwrap();
}
