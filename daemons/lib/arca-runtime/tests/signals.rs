//! Signal handling, in its own test binary since signals are process-wide.

use std::time::Duration;

use arca_runtime::{Control, RuntimeError, control_channel};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

async fn next(rx: &mut tokio::sync::mpsc::Receiver<Control>) -> Control {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("no control message within 5s")
        .expect("channel closed")
}

#[test]
fn needs_runtime() {
    assert!(matches!(
        control_channel(),
        Err(RuntimeError::NoTokioRuntime)
    ));
}

#[tokio::test]
async fn signals_become_control_messages() {
    let mut rx = control_channel().unwrap();

    kill(Pid::this(), Signal::SIGHUP).unwrap();
    assert_eq!(next(&mut rx).await, Control::Reload);

    kill(Pid::this(), Signal::SIGTERM).unwrap();
    assert_eq!(next(&mut rx).await, Control::Shutdown);

    kill(Pid::this(), Signal::SIGINT).unwrap();
    assert_eq!(next(&mut rx).await, Control::Shutdown);

    // still alive and still listening after a second SIGTERM
    kill(Pid::this(), Signal::SIGTERM).unwrap();
    assert_eq!(next(&mut rx).await, Control::Shutdown);
}
