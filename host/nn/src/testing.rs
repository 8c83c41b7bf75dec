//! Helpers for this crate's unit tests: the committed fixtures, and the engine libraries that
//! `scripts/prepare-test-data.sh` installs into the repository's `.venv` from the PyPI wheels.

use std::path::PathBuf;

fn repo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// A committed fixture model (`models/fixtures/NAME`).
pub(crate) fn fixture(name: &str) -> Vec<u8> {
    let path = repo().join("models/fixtures").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

/// A file inside the venv's `site-packages` (`onnxruntime/capi`, `openvino/libs`) whose name starts with
/// `prefix`. Panics with the command to run when it is missing: these tests must not pass by skipping.
#[cfg_attr(not(any(feature = "onnxruntime", feature = "openvino")), allow(dead_code))]
pub(crate) fn venv_file(dir: &str, prefix: &str) -> PathBuf {
    let lib = repo().join(".venv/lib");
    let found = std::fs::read_dir(&lib).into_iter().flatten().flatten().find_map(|python| {
        let dir = python.path().join("site-packages").join(dir);
        let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(prefix)))
            .collect();
        names.sort();
        names.into_iter().next()
    });
    found.unwrap_or_else(|| panic!("no {dir}/{prefix}* in {}: run `bash scripts/prepare-test-data.sh`", lib.display()))
}
