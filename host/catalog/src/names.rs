//! Names of tenants, models, components, endpoints and aliases. They appear in URLs and on disk, so they are
//! kept to a small, safe alphabet: no `/`, no `..`, no control characters, bounded length.

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid name {name:?}: {reason}")]
pub struct NameError {
    /// The refused name (escaped when printed).
    pub name: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// The longest name accepted.
pub const MAX_NAME_LEN: usize = 64;

/// Accepts `[A-Za-z0-9_.-]{1,64}` that does not start with `.` or `-`.
pub fn check_name(name: &str) -> Result<(), NameError> {
    let refuse = |reason| Err(NameError { name: name.to_string(), reason });
    if name.is_empty() {
        return refuse("it is empty");
    }
    if name.len() > MAX_NAME_LEN {
        return refuse("it is longer than 64 bytes");
    }
    if name.starts_with('.') || name.starts_with('-') {
        return refuse("it starts with '.' or '-'");
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')) {
        return refuse("only letters, digits, '_', '.' and '-' are allowed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_name;

    #[test]
    fn accepts_plain_names_and_refuses_paths() {
        for ok in ["m", "rapid_orientation", "ocr-v4.1", "A9"] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        let long = "a".repeat(65);
        for bad in ["", "a/b", "..", ".hidden", "-x", "a\0b", "naïve", "a b", long.as_str()] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}
