//! What the arcactl test binaries share: running the built binary.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Run `arcactl args…` (no ARCA_HOME), feeding `stdin` when given.
pub fn arcactl_with_stdin(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_arcactl"))
        .args(args)
        .env_remove("ARCA_HOME")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run arcactl");
    if let Some(text) = stdin {
        let written = child
            .stdin
            .take()
            .expect("stdin pipe")
            .write_all(text.as_bytes());
        // arcactl may exit (a usage error) before it reads its input
        if let Err(e) = written
            && e.kind() != std::io::ErrorKind::BrokenPipe
        {
            panic!("write stdin: {e}");
        }
    }
    child.wait_with_output().expect("wait for arcactl")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn path_str(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}
