//! The administrator the first start creates, and where its password is written.

/// Where the first admin password is written (mode 0600).
pub use arca_config::home::INITIAL_ADMIN_PASSWORD_FILE;
/// The administrator the first start creates.
pub const INITIAL_ADMIN_USER: &str = "admin";
