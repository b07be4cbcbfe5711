//! Connection limits (issue 14, item 8): header-read and idle-body timeouts, the connection
//! limit, and that slow clients that keep sending are still served.

use super::*;

/// Whether the server closed `conn` (EOF or reset) within `limit`; `false` when it was still
/// open (the read timed out).
fn closed_within(conn: &mut TcpStream, limit: Duration) -> bool {
    conn.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match conn.read(&mut buf) {
            Ok(0) => return true,
            // a response (e.g. 408/400) before the close
            Ok(_) => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return false;
            }
            Err(_) => return true, // reset
        }
    }
}

#[test]
fn idle_partial_header_connections_are_closed_while_requests_are_served() {
    let dir = home();
    let s = Server::start_with(
        &dir.path().join("h"),
        &["arca.http.header.read.timeout.secs=2"],
    );
    // 200 connections that send half a request and then nothing, and 20 that send nothing.
    let opened = Instant::now();
    let mut idle: Vec<TcpStream> = (0..220)
        .map(|i| {
            let mut c = TcpStream::connect((s.ip.as_str(), s.port)).unwrap();
            if i < 200 {
                c.write_all(b"GET /artifactory/api/system/ping HTTP/1.1\r\nHost: x\r\n")
                    .unwrap();
            }
            c
        })
        .collect();
    // Normal requests keep being served meanwhile.
    for _ in 0..5 {
        let r = Client::new().get(s.url("/api/system/ping")).send().unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    for (i, c) in idle.iter_mut().enumerate() {
        let left = Duration::from_secs(6).saturating_sub(opened.elapsed());
        assert!(
            closed_within(c, left.max(Duration::from_millis(10))),
            "connection {i} still open {:?} after it was opened (header read timeout 2 s)",
            opened.elapsed()
        );
    }
    // Not closed before the timeout either.
    assert!(
        opened.elapsed() >= Duration::from_millis(1900),
        "{:?}",
        opened.elapsed()
    );
    let r = Client::new().get(s.url("/api/system/ping")).send().unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[test]
fn a_stalled_upload_body_is_aborted_and_leaves_nothing() {
    let dir = home();
    let s = Server::start_with(
        &dir.path().join("h"),
        &["arca.http.body.idle.timeout.secs=2"],
    );
    s.generic_repo("g");
    let mut conn = s.start_partial_upload("/g/stalled.bin", 1_000_000, 300_000, "");
    let stalled = Instant::now();
    conn.set_read_timeout(Some(Duration::from_secs(8))).unwrap();
    let mut answer = Vec::new();
    let closed = conn.read_to_end(&mut answer).is_ok();
    assert!(
        closed,
        "a body that sends nothing is still waited for after {:?}",
        stalled.elapsed()
    );
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        stalled.elapsed() >= Duration::from_millis(1900),
        "{:?}",
        stalled.elapsed()
    );
    within(Duration::from_secs(5), "staging file removed", || {
        s.pre_files().is_empty()
    });
    assert_eq!(s.get("/g/stalled.bin").status(), StatusCode::NOT_FOUND);
    assert!(s.stored_blobs().is_empty(), "{:?}", s.stored_blobs());
    assert!(
        s.log()
            .contains("no request body data for 2 s (arca.http.body.idle.timeout.secs)"),
        "{}",
        s.log()
    );
}

#[test]
fn a_slow_but_steady_upload_succeeds() {
    let dir = home();
    let s = Server::start_with(
        &dir.path().join("h"),
        &[
            "arca.http.body.idle.timeout.secs=1",
            "arca.http.header.read.timeout.secs=1",
        ],
    );
    s.generic_repo("g");
    // 3 s in all, longer than both timeouts, with a chunk every 300 ms.
    let chunk = [5u8; 1000];
    let mut conn = TcpStream::connect((s.ip.as_str(), s.port)).unwrap();
    let head = format!(
        "PUT /artifactory/g/slow.bin HTTP/1.1\r\nHost: x\r\n{}Content-Length: 10000\r\n\
         Connection: close\r\n\r\n",
        s.auth_header()
    );
    conn.write_all(head.as_bytes()).unwrap();
    for _ in 0..10 {
        std::thread::sleep(Duration::from_millis(300));
        conn.write_all(&chunk).unwrap();
    }
    let mut resp = String::new();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    conn.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 201"), "{resp}");
    assert_eq!(s.get("/g/slow.bin").bytes().unwrap().as_ref(), [5u8; 10000]);
}

#[test]
fn the_connection_limit_queues_new_connections_and_says_so_once() {
    let dir = home();
    let s = Server::start_with(&dir.path().join("h"), &["arca.http.max.connections=3"]);
    // The harness' readiness probe has closed its connection; take the three permits.
    let mut held: Vec<TcpStream> = (0..3)
        .map(|_| TcpStream::connect((s.ip.as_str(), s.port)).unwrap())
        .collect();
    // A fourth connection is not served while the three are open...
    let url = s.url("/api/system/ping");
    let waiting = std::thread::spawn(move || {
        let started = Instant::now();
        let r = Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap()
            .get(url)
            .send()
            .unwrap();
        (r.status(), started.elapsed())
    });
    within(Duration::from_secs(5), "the limit's log line", || {
        s.log().contains("connection limit reached")
    });
    std::thread::sleep(Duration::from_millis(700));
    assert!(!waiting.is_finished(), "served above the connection limit");
    // ...and is served as soon as one of them closes.
    held.pop();
    let (status, waited) = waiting.join().unwrap();
    assert_eq!(status, StatusCode::OK);
    assert!(waited >= Duration::from_millis(700), "{waited:?}");
    // One line per minute, however many connections wait.
    let more: Vec<_> = (0..3)
        .map(|_| TcpStream::connect((s.ip.as_str(), s.port)).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let log = s.log();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("connection limit reached"))
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains(
            "connection limit reached: 3 connections are open (arca.http.max.connections in \
             system.properties); new connections wait until one closes"
        ),
        "{}",
        lines[0]
    );
    drop(more);
    drop(held);
}

#[test]
fn sigterm_still_drains_with_the_limits_in_place() {
    // The limits must not cut off a request in flight at shutdown: a body paused (for less
    // than the idle timeout) across SIGTERM still completes.
    let dir = home();
    let mut s = Server::start_with(
        &dir.path().join("h"),
        &[
            "arca.http.body.idle.timeout.secs=5",
            "arca.http.max.connections=2",
        ],
    );
    s.generic_repo("g");
    let mut conn = s.start_partial_upload("/g/d.bin", 20_000, 10_000, "Connection: close\r\n");
    nix::sys::signal::kill(s.pid(), nix::sys::signal::Signal::SIGTERM).unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    conn.write_all(&[1u8; 10_000]).unwrap();
    let mut resp = String::new();
    conn.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 201"), "{resp}");
    let status = s.process.wait().unwrap();
    assert!(status.success(), "exit after drain: {status}");
}
