//! The one error type of the inference layer. Its [`ErrorKind`] mirrors `wasi:nn`'s `error-code`, so the wasm
//! host maps it one to one, and its message is written for the caller: it names the input and says what was
//! expected and what was given.

use std::fmt;

/// What went wrong, in `wasi:nn`'s terms. Serialised by its `wasi:nn` name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// The caller passed a bad argument: a wrong shape, type, name or byte length.
    InvalidArgument,
    /// The model bytes are not a model this backend can read.
    InvalidEncoding,
    /// The operation did not finish in time.
    Timeout,
    /// The backend failed while running the model.
    RuntimeError,
    /// The operation or element type is not supported (bf16 on tract, an unknown operator).
    UnsupportedOperation,
    /// The model or tensor is larger than allowed.
    TooLarge,
    /// No model of that name is visible to the caller.
    NotFound,
    /// The caller may not do this (raw `load` when it is disabled).
    Security,
    /// Anything else.
    Unknown,
}

impl ErrorKind {
    /// The kebab-case name `wasi:nn` uses for this code.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidArgument => "invalid-argument",
            Self::InvalidEncoding => "invalid-encoding",
            Self::Timeout => "timeout",
            Self::RuntimeError => "runtime-error",
            Self::UnsupportedOperation => "unsupported-operation",
            Self::TooLarge => "too-large",
            Self::NotFound => "not-found",
            Self::Security => "security",
            Self::Unknown => "unknown",
        }
    }
}

/// An inference error: a kind and a message meant for the one who sent the request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub struct NnError {
    /// What kind of failure this is.
    pub kind: ErrorKind,
    /// What exactly was wrong.
    pub message: String,
}

impl fmt::Display for NnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.as_str(), self.message)
    }
}

impl NnError {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into() }
    }

    /// A bad argument from the caller.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, message)
    }

    /// Something this backend or layer does not do.
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::UnsupportedOperation, message)
    }

    /// A failure while running the model.
    pub fn runtime(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::RuntimeError, message)
    }

    /// No such model.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }
}
