//! Downloads of stored files: zero-copy (`sendfile`) on plain HTTP — whole files, ranges, several
//! responses on one keep-alive connection — and the checks that keep a changed copy from being
//! sent as the binary (docs/storage.md, "Integrity").

use super::*;

/// A file of `len` bytes that differ from position to position (a misplaced span shows).
fn patterned(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 13) as u8)
        .collect()
}

/// The stored copy of `data` in the server's file store.
fn blob_of(s: &Server, data: &[u8]) -> PathBuf {
    let sha = sha256_hex(data);
    s.home.join("data/filestore").join(&sha[..2]).join(&sha)
}

/// Read one HTTP/1.1 response with a Content-Length from `conn`: status, headers (lower-case
/// names), body.
fn read_response(
    conn: &mut std::io::BufReader<TcpStream>,
    head_only: bool,
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    use std::io::BufRead;
    let mut line = String::new();
    conn.read_line(&mut line).unwrap();
    let status: u16 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        conn.read_line(&mut h).unwrap();
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':').unwrap();
        headers.push((k.to_ascii_lowercase(), v.trim().to_string()));
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = vec![0u8; if head_only { 0 } else { len }];
    conn.read_exact(&mut body).unwrap();
    (status, headers, body)
}

fn check_downloads(s: &Server) {
    s.generic_repo("g");
    let a = patterned(5 << 20, 1);
    let b = patterned(3 << 20 | 12345, 2);
    assert_eq!(s.put("/g/a.bin", a.clone()).status(), StatusCode::CREATED);
    assert_eq!(s.put("/g/b.bin", b.clone()).status(), StatusCode::CREATED);

    // whole files
    assert_eq!(s.get("/g/a.bin").bytes().unwrap().as_ref(), a.as_slice());
    assert_eq!(s.get("/g/b.bin").bytes().unwrap().as_ref(), b.as_slice());

    // ranges: inside, open-ended, suffix
    for (range, want) in [
        ("bytes=1000000-3000000", &a[1_000_000..=3_000_000]),
        ("bytes=4194304-", &a[4_194_304..]),
        ("bytes=-70000", &a[a.len() - 70_000..]),
    ] {
        let r = s
            .admin(Method::GET, s.url("/g/a.bin"))
            .header("Range", range)
            .send()
            .unwrap();
        assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(r.bytes().unwrap().as_ref(), want, "{range}");
    }

    // several answers on one keep-alive connection, a HEAD between them: each body is its own
    // file's bytes (spans are consumed in order)
    let conn = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    let mut writer = conn.try_clone().unwrap();
    let mut reader = std::io::BufReader::new(conn);
    let auth = s.auth_header();
    let ask = |method: &str, path: &str, extra: &str| {
        format!("{method} /artifactory{path} HTTP/1.1\r\nHost: x\r\n{auth}{extra}\r\n")
    };
    let requests = [
        ask("GET", "/g/b.bin", ""),
        ask("HEAD", "/g/a.bin", ""),
        ask("GET", "/g/a.bin", "Range: bytes=10-1048585\r\n"),
        ask("GET", "/g/b.bin", ""),
    ];
    // pipelined: all sent before any answer is read
    for r in &requests {
        writer.write_all(r.as_bytes()).unwrap();
    }
    let (status, _, body) = read_response(&mut reader, false);
    assert_eq!((status, body.len()), (200, b.len()));
    assert!(body == b, "first answer on the connection");
    let (status, headers, _) = read_response(&mut reader, true);
    assert_eq!(status, 200);
    assert!(headers.contains(&("content-length".into(), a.len().to_string())));
    let (status, _, body) = read_response(&mut reader, false);
    assert_eq!(status, 206);
    assert!(body == a[10..=1_048_585], "range answer on the connection");
    let (status, _, body) = read_response(&mut reader, false);
    assert_eq!(status, 200);
    assert!(body == b, "last answer on the connection");
}

#[test]
fn zero_copy_downloads_whole_ranges_and_keep_alive() {
    let (_dir, s) = fresh_server();
    check_downloads(&s);
}

#[test]
fn streamed_downloads_when_zero_copy_is_off() {
    let (_dir, s) = fresh_server_with(&["arca.http.zero.copy=false"]);
    check_downloads(&s);
}

#[test]
fn a_stored_copy_changed_on_disk_is_never_sent_as_the_binary() {
    let (_dir, s) = fresh_server();
    s.generic_repo("g");
    let data = patterned(2 << 20, 3);
    assert_eq!(
        s.put("/g/c.bin", data.clone()).status(),
        StatusCode::CREATED
    );
    // hashed on its way in: sent unhashed
    assert_eq!(s.get("/g/c.bin").bytes().unwrap().as_ref(), data.as_slice());

    // one byte flipped in place (same inode, same size): the change time moved, so the copy is
    // hashed again while it streams and the transfer is cut short
    let blob = blob_of(&s, &data);
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[1 << 20] ^= 0x01;
    std::fs::write(&blob, &bytes).unwrap();
    let got = s.get("/g/c.bin").bytes();
    assert!(
        got.map_or(true, |b| b.len() < data.len()),
        "a changed copy must never be delivered as a complete response"
    );
    assert!(!blob.exists(), "the changed copy is moved to quarantine");
    assert!(
        s.log().contains("does not match its SHA-256"),
        "{}",
        s.log()
    );
    // the file-system chain has no other copy: the binary is reported missing, not made up
    assert_eq!(
        s.get("/g/c.bin").status(),
        StatusCode::INTERNAL_SERVER_ERROR
    );

    // a truncated copy is refused before a byte is sent
    let other = patterned(1 << 20, 4);
    assert_eq!(
        s.put("/g/d.bin", other.clone()).status(),
        StatusCode::CREATED
    );
    let blob = blob_of(&s, &other);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&blob)
        .unwrap()
        .set_len(1000)
        .unwrap();
    let (status, message) = error_message(s.get("/g/d.bin"));
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(message.contains("reading binary"), "{message}");
    assert!(
        s.log().contains("has 1000 bytes, 1048576 are recorded"),
        "{}",
        s.log()
    );
    assert!(!blob.exists(), "the truncated copy is moved to quarantine");
}
