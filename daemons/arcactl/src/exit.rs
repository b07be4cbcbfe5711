//! Exit statuses shared by all subcommands.

/// Everything fine.
pub const OK: u8 = 0;
/// The command ran and found problems (or failed).
pub const FAILURE: u8 = 1;
/// Bad command line (clap uses the same status for its own usage errors).
pub const USAGE: u8 = 2;
/// The daemon the command talks to is not running (LSB's "program is not running").
pub const NOT_RUNNING: u8 = 3;
