//! A backend's calls behind `catch_unwind`: a panic inside a library (tract's kernels, the `ort` and
//! `openvino` bindings) on some model or input becomes an error for that one request, naming the backend and
//! what it was doing, and the pool thread and the node go on.

use crate::{ErrorKind, NnError};
use std::panic::AssertUnwindSafe;

/// Runs `f` (`backend` doing `what`: "running a model"), turning a panic into a runtime error with its message.
pub(crate) fn guarded<T>(backend: &str, what: &str, f: impl FnOnce() -> Result<T, NnError>) -> Result<T, NnError> {
    guarded_as(ErrorKind::RuntimeError, backend, what, f)
}

/// [`guarded`], the panic reported as `kind`: a panic while tract loads a model (a constant too large to
/// allocate) is the model's fault, refused like a file that does not parse.
pub(crate) fn guarded_as<T>(
    kind: ErrorKind,
    backend: &str,
    what: &str,
    f: impl FnOnce() -> Result<T, NnError>,
) -> Result<T, NnError> {
    std::panic::catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("no message");
        Err(NnError::new(kind, format!("{backend}: {what} failed: {message}")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_an_error_naming_the_backend_and_the_step() {
        let err = guarded::<()>("tract", "running a model", || panic!("index {} out of range", 7)).unwrap_err();
        assert_eq!(err.kind, ErrorKind::RuntimeError);
        assert_eq!(err.message, "tract: running a model failed: index 7 out of range");
        assert_eq!(guarded("tract", "loading a model", || Ok(3)), Ok(3));
        let err =
            guarded_as::<()>(ErrorKind::InvalidEncoding, "tract", "loading a model", || panic!("no")).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidEncoding);
    }
}
