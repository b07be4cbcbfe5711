//! Names of users, groups and permission targets.

use crate::AuthzError;

/// The user requests without credentials act as.
pub const ANONYMOUS: &str = "anonymous";

/// Longest user, group or permission target name.
pub const MAX_NAME_LEN: usize = 64;

/// Names: 1–64 characters, letters, digits and `. _ - @ +` (no `/`, spaces, or control
/// characters, so they are safe in URLs, logs and `user:name` references).
pub fn validate_name(kind: &str, name: &str) -> Result<(), AuthzError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@' | '+'))
        && !name.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(AuthzError::InvalidName {
            kind: kind.to_string(),
            name: name.to_string(),
        })
    }
}
