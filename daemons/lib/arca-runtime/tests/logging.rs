//! Global subscriber installation, in its own test binary (one subscriber per process).

use arca_runtime::{LogTarget, RuntimeError, init_logging};

#[test]
fn init_twice_is_an_error_not_a_panic() {
    let target = init_logging("arca-runtime-test").unwrap();
    if std::env::var_os("JOURNAL_STREAM").is_none()
        && std::env::var_os("NOTIFY_SOCKET").is_none()
        && std::env::var_os("INVOCATION_ID").is_none()
    {
        assert_eq!(target, LogTarget::Stderr);
    }
    tracing::info!(arca_node_id = "art1", "logging works");
    assert!(matches!(
        init_logging("arca-runtime-test"),
        Err(RuntimeError::LoggingAlreadyInitialized(_))
    ));
}
