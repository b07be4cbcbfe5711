//! A small upstream for remote repositories, on its own threads: serves files from memory,
//! counts requests per path, and misbehaves on demand (an error status for everything, a slow
//! body, a connection cut mid-body).

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Default)]
struct State {
    files: Mutex<HashMap<String, Vec<u8>>>,
    /// Every request: path and `Authorization` header.
    hits: Mutex<Vec<(String, Option<String>)>>,
    fail_status: AtomicU16,
    slow: Mutex<HashSet<String>>,
    cut: Mutex<HashSet<String>>,
    sent_whole: Mutex<HashSet<String>>,
}

pub struct FakeUpstream {
    port: u16,
    state: Arc<State>,
}

impl FakeUpstream {
    pub fn start() -> FakeUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(State::default());
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let state = Arc::clone(&shared);
                std::thread::spawn(move || {
                    let _ = answer(conn, &state);
                });
            }
        });
        FakeUpstream { port, state }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/repo", self.port)
    }

    pub fn put(&self, path: &str, body: impl Into<Vec<u8>>) {
        self.state
            .files
            .lock()
            .unwrap()
            .insert(path.to_string(), body.into());
    }

    /// Requests for `path` so far.
    pub fn hits(&self, path: &str) -> usize {
        self.state
            .hits
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p == path)
            .count()
    }

    pub fn total_hits(&self) -> usize {
        self.state.hits.lock().unwrap().len()
    }

    /// The `Authorization` header of the last request.
    pub fn last_authorization(&self) -> Option<String> {
        self.state
            .hits
            .lock()
            .unwrap()
            .last()
            .and_then(|h| h.1.clone())
    }

    /// Answer every request with `status` (0: behave again).
    pub fn fail_with(&self, status: u16) {
        self.state.fail_status.store(status, Ordering::SeqCst);
    }

    /// Send `path` in 64 KiB pieces, 20 ms apart.
    pub fn slow(&self, path: &str) {
        self.state.slow.lock().unwrap().insert(path.to_string());
    }

    /// Close the connection halfway through `path`'s body.
    pub fn cut(&self, path: &str) {
        self.state.cut.lock().unwrap().insert(path.to_string());
    }

    /// Whether the whole body of `path` has been written (once).
    pub fn sent_whole(&self, path: &str) -> bool {
        self.state.sent_whole.lock().unwrap().contains(path)
    }
}

fn answer(conn: TcpStream, state: &State) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let target = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut authorization = None;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = header.split_once(':')
            && k.eq_ignore_ascii_case("authorization")
        {
            authorization = Some(v.trim().to_string());
        }
    }
    let path = target.strip_prefix("/repo/").unwrap_or(&target).to_string();
    state
        .hits
        .lock()
        .unwrap()
        .push((path.clone(), authorization));
    let mut out = conn;
    let status = state.fail_status.load(Ordering::SeqCst);
    if status != 0 {
        let body = format!("upstream says {status}");
        write!(
            out,
            "HTTP/1.1 {status} Failing\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )?;
        return Ok(());
    }
    let Some(body) = state.files.lock().unwrap().get(&path).cloned() else {
        write!(
            out,
            "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found"
        )?;
        return Ok(());
    };
    write!(
        out,
        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    )?;
    if state.cut.lock().unwrap().contains(&path) {
        out.write_all(&body[..body.len() / 2])?;
        out.flush()?;
        return out.shutdown(std::net::Shutdown::Both);
    }
    if state.slow.lock().unwrap().contains(&path) {
        for piece in body.chunks(64 * 1024) {
            out.write_all(piece)?;
            out.flush()?;
            std::thread::sleep(Duration::from_millis(20));
        }
    } else {
        out.write_all(&body)?;
    }
    out.flush()?;
    state.sent_whole.lock().unwrap().insert(path);
    Ok(())
}
