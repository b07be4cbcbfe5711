//! Global subscriber installation, in its own test binary (one subscriber per process).

use arca_runtime::{
    LogOptions, LogQuery, LogTarget, RuntimeError, init_logging, init_logging_with, recent_log,
};

#[test]
fn init_twice_is_an_error_not_a_panic() {
    let target = init_logging_with("arca-runtime-test", LogOptions::keeping_recent()).unwrap();
    if std::env::var_os("JOURNAL_STREAM").is_none()
        && std::env::var_os("NOTIFY_SOCKET").is_none()
        && std::env::var_os("INVOCATION_ID").is_none()
    {
        assert_eq!(target, LogTarget::Stderr);
    }
    tracing::info!(arca_node_id = "art1", "logging works");
    tracing::trace!("below the filter");
    assert!(matches!(
        init_logging("arca-runtime-test"),
        Err(RuntimeError::LoggingAlreadyInitialized(_))
    ));

    // the recent log got what the filter let through (the default filter is `info`)
    let page = recent_log().unwrap().query(&LogQuery {
        level: tracing::Level::TRACE,
        text: "",
        after: 0,
        limit: 100,
    });
    let messages: Vec<&str> = page.lines.iter().map(|r| r.message.as_str()).collect();
    assert!(
        messages.contains(&"logging works arca_node_id=art1"),
        "{messages:?}"
    );
    if std::env::var_os("ARCA_LOG").is_none() {
        assert!(!messages.iter().any(|m| m.contains("below the filter")));
    }
}
