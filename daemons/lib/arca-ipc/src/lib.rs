//! arca-ipc: what the daemons and the libraries share about talking to each other on one
//! host, without the daemon host (journald, sd_notify, clap live in `arca-runtime`).
//!
//! - [`local_socket`]: the daemons' JSON-line control sockets (`SO_PEERCRED`-checked).
//! - [`error_chain`]: an error with its causes as one line, the text those sockets, the
//!   journal and the HTTP error bodies carry.

pub mod local_socket;

/// An error with its causes, each once (`a: b: c`): HTTP clients' own messages ("error
/// sending request for url …") say little without them ("Connection refused").
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
