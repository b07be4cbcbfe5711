//! The inputs of `front`: structured requests from lists of the shapes arca sees, the corpus,
//! and mutations of both.

use base64::Engine as _;
use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::targets::pick;

use crate::mutate::{mutate, percent_escape};

/// Longest input (requests with very long segments and repeated headers fit).
pub(super) const MAX_INPUT: usize = 64 * 1024;

/// Requests the review sent, and other shapes every front end should survive.
pub const CORPUS: &[&str] = &[
    "GET x HTTP/1.1\r\n\r\n",
    "GET a:1 HTTP/1.1\r\n\r\n",
    "HEAD example.com HTTP/1.1\r\n\r\n",
    "CONNECT a:1 HTTP/1.1\r\n\r\n",
    "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
    "GET http://h:8081/artifactory/api/system/ping HTTP/1.1\r\nHost: h\r\n\r\n",
    "GET /artifactory/libs-release/com/ex/a/1.0/a-1.0.jar HTTP/1.1\r\nHost: localhost\r\nRange: bytes=0-9\r\n\r\n",
    "PUT /artifactory/libs-release/a.jar;build.name=ci;build.number=7 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello",
    "PUT /artifactory/generic-local/x.bin HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    "PUT /artifactory/generic-local/x.bin HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    "POST /artifactory/api/copy/libs/a?to=/other/a%c0%af HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
    "GET /artifactory/libs/%F4%8F%BF%BFtop HTTP/1.1\r\nHost: h\r\n\r\n",
    "GET /artifactory/libs/../../etc/passwd HTTP/1.1\r\n\r\n",
    "GET //artifactory//libs HTTP/1.1\r\n\r\n",
    "DELETE /artifactory/libs/ HTTP/1.1\r\nAuthorization: Basic YWRtaW46cGFzc3dvcmQ=\r\n\r\n",
    "GET /artifactory/api/repositories HTTP/1.1\r\nCookie: ARCA_SESSION=0123456789abcdef0123456789abcdef\r\n\r\n",
    "GET / HTTP/1.1\r\n\r\nGET x HTTP/1.1\r\n\r\n",
    "PUT /artifactory/libs/a HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
];

/// Tokens mutations insert.
pub const DICTIONARY: &[&str] = &[
    "/",
    "//",
    "/./",
    "/../",
    "..",
    ".",
    ";",
    ";a=b,c",
    "?",
    "&",
    "=",
    "#",
    "%",
    "%0",
    "%00",
    "%2e%2e",
    "%2E",
    "%2f",
    "%2F",
    "%5c",
    "%c0%af",
    "%C0%AE",
    "%e0%80%af",
    "%ff",
    "%F4%8F%BF%BF",
    "%f4%90%80%80",
    "%ed%a0%80",
    "\u{10FFFF}",
    "\u{FEFF}",
    "é",
    "\\",
    " ",
    "\t",
    "\r\n",
    "\n",
    "\r",
    "\r\n\r\n",
    ":",
    "*",
    "@",
    "http://",
    "https://",
    "a:1",
    "[::1]",
    "HTTP/1.1",
    "HTTP/1.0",
    "HTTP/2.0",
    "GET ",
    "PUT ",
    "CONNECT ",
    "Host: h\r\n",
    "Content-Length: 0\r\n",
    "Content-Length: 18446744073709551616\r\n",
    "Transfer-Encoding: chunked\r\n",
    "Transfer-Encoding: gzip, chunked\r\n",
    "0\r\n\r\n",
    "ffffffffffffffff\r\n",
    "Expect: 100-continue\r\n",
    "Authorization: Basic ",
    "Bearer ",
    "arca_",
    "ARCA_SESSION=",
    "bytes=",
    "bytes=-0",
    "W/\"",
    "\"",
    "/artifactory",
    "/artifactory/api/",
    "api/",
    "ui/",
    "libs-release",
    "maven-metadata.xml",
    ".sha1",
    ".sha256",
    "+",
    "~",
    "\x00",
    "\x7f",
    "\u{80}",
    "\u{2028}",
];

const METHODS: &[&str] = &[
    "GET", "GET", "GET", "HEAD", "PUT", "PUT", "POST", "DELETE", "OPTIONS", "PATCH", "CONNECT",
    "TRACE", "MKCOL", "PROPFIND", "get", "G", "GET\x00", "X-CUSTOM", "ÄÖ",
];

/// Mostly HTTP/1.1: hyper refuses the others before arca sees them.
const VERSIONS: &[&str] = &[
    "HTTP/1.1",
    "HTTP/1.1",
    "HTTP/1.1",
    "HTTP/1.1",
    "HTTP/1.1",
    "HTTP/1.1",
    "HTTP/1.1",
    "HTTP/1.1",
    "HTTP/1.1",
    "HTTP/1.0",
    "HTTP/1.0",
    "HTTP/2.0",
    "HTTP/0.9",
    "HTTP/1.2",
    "http/1.1",
    "HTTP/1.1 ",
    "",
];

const CONTEXTS: &[&str] = &[
    "/artifactory",
    "/artifactory",
    "/artifactory",
    "/artifactory",
    "/artifactory",
    "/artifactory/",
    "",
    "/other",
    "/artifactoryx",
    "/ARTIFACTORY",
    "/%61rtifactory",
    "//artifactory",
];

const REPOS: &[&str] = &[
    "libs-release",
    "libs-release",
    "generic-local",
    "npm-remote",
    "api",
    "ui",
    "a",
    "",
    "..",
    ".",
    "%2e%2e",
    "LIBS",
    "-bad",
    "ré",
    "%72epo",
    "r%00",
    "r%2fx",
    "r;x=1",
    "a.b_c-d",
];

const API_PATHS: &[&str] = &[
    "api/system/ping",
    "api/repositories",
    "api/storage/libs/a",
    "api/copy/libs/a",
    "api/move/libs/a",
    "api/search/artifact",
    "api/security/token",
    "api/v1/system/licenses",
    "api/",
    "api",
    "ui/login",
    "ui/",
    "api/storageinfo",
    "api/deploy/bundle/libs",
];

const SEGMENTS: &[&str] = &[
    "com",
    "example",
    "1.0",
    "a-1.0.jar",
    "a-1.0.pom",
    "maven-metadata.xml",
    "maven-metadata.xml.sha1",
    "x.jar.sha256",
    "..",
    ".",
    "",
    "%2e%2e",
    "%2E%2E",
    "%2e",
    "%c0%af",
    "%c0%ae%c0%ae",
    "%00",
    "a%00b",
    "%ff",
    "%F4%8F%BF%BF",
    "\u{10FFFF}",
    "%f4%90%80%80",
    "%2F",
    "a%2fb",
    "%5C",
    "a\\b",
    "a b",
    "a+b",
    "%",
    "%g0",
    "%%41",
    "~user",
    "@",
    "index.html",
    "x.svg",
    "%ed%a0%80",
    "CON",
    "a:b",
    "*",
    "é",
    "%EF%BF%BE",
    "%ef%bf%bf",
    "%EF%B7%90",
    "\u{FDD0}",
    "\u{FFFE}",
];

const MATRIX: &[&str] = &[
    "a=b",
    "a=b,c",
    "build.name=ci%20job",
    "build.number=7",
    "k=v1,v2",
    "k",
    "=v",
    "k=",
    "k=a\\,b",
    "bad key=1",
    "k=%ff",
    "k=%00",
    "k=\\",
    "a=b|c=d",
    "k%3Dx=1",
    "props=a=b",
    ";",
    "",
];

const QUERY: &[&str] = &[
    "list",
    "deep=1",
    "depth=3",
    "properties",
    "properties=a=1;b=2",
    "to=/other/a",
    "to=/x%c0%af",
    "dry=1",
    "name=*.jar",
    "repos=libs,generic",
    "expires_in=99999999999999",
    "%zz",
    "a=b&&c",
    "&",
    "=",
    "a=%",
    "a=%ff",
    "list&deep=1&listFolders=1",
    "+",
    "q=%00",
];

const HOSTS: &[&str] = &[
    "localhost",
    "localhost:8081",
    "h",
    "10.0.0.1:8081",
    "[::1]:8081",
    "",
    "a b",
    "x:99999",
    "é.example",
    "example.com",
    "h:0",
];

fn alnum(rng: &mut StdRng, len: usize) -> String {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789-_.";
    (0..len)
        .map(|_| char::from(CHARS[rng.gen_range(0..CHARS.len())]))
        .collect()
}

fn hex_string(rng: &mut StdRng, len: usize) -> String {
    const HEX: &[u8] = b"0123456789abcdefABCDEFxg";
    let mut s: String = (0..len)
        .map(|_| char::from(HEX[rng.gen_range(0..16)]))
        .collect();
    if rng.gen_bool(0.1) && len > 0 {
        let i = rng.gen_range(0..len);
        s.replace_range(
            i..=i,
            &char::from(HEX[rng.gen_range(0..HEX.len())]).to_string(),
        );
    }
    s
}

fn segment(rng: &mut StdRng) -> String {
    // Plain names half of the time: a path with one bad segment is refused before its
    // matrix parameters and headers are parsed.
    match rng.gen_range(0..12) {
        0..=3 => pick(rng, SEGMENTS).to_string(),
        4 => {
            // a long segment, around the path length limit
            let len = *[100, 255, 256, 1000, 1024, 1025, 3000, 3100]
                .choose(rng)
                .unwrap_or(&255);
            "a".repeat(len)
        }
        5 => percent_escape(&[rng.r#gen(), rng.r#gen()]),
        _ => {
            let len = rng.gen_range(1..12);
            alnum(rng, len)
        }
    }
}

/// An origin-form path: the context, a repository or API path, segments, matrix parameters.
pub fn generate_path(rng: &mut StdRng) -> String {
    let mut path = pick(rng, CONTEXTS).to_string();
    if rng.gen_bool(0.2) {
        path.push('/');
        path.push_str(pick(rng, API_PATHS));
    } else {
        if !path.ends_with('/') {
            path.push('/');
        }
        path.push_str(pick(rng, REPOS));
        for _ in 0..rng.gen_range(0..6) {
            path.push('/');
            path.push_str(&segment(rng));
        }
    }
    if rng.gen_bool(0.1) {
        path.push('/');
    }
    if rng.gen_bool(0.2) {
        for _ in 0..rng.gen_range(1..4) {
            path.push(';');
            path.push_str(pick(rng, MATRIX));
        }
    }
    path
}

fn generate_query(rng: &mut StdRng) -> String {
    let n = rng.gen_range(1..4);
    (0..n)
        .map(|_| pick(rng, QUERY))
        .collect::<Vec<_>>()
        .join("&")
}

/// The request target: origin-form mostly; absolute-form, authority-form, asterisk and junk.
pub fn generate_target(rng: &mut StdRng, method: &str) -> Vec<u8> {
    let origin = |rng: &mut StdRng| {
        let mut t = generate_path(rng);
        if rng.gen_bool(0.3) {
            t.push('?');
            t.push_str(&generate_query(rng));
        }
        t
    };
    let shape = if method == "CONNECT" && rng.gen_bool(0.7) {
        7
    } else {
        rng.gen_range(0..12)
    };
    let text = match shape {
        0..=5 => origin(rng),
        6 => {
            let scheme = pick(
                rng,
                &[
                    "http://",
                    "https://",
                    "HTTP://",
                    "ftp://",
                    "http://user:pw@",
                ],
            );
            format!("{scheme}{}{}", pick(rng, HOSTS), origin(rng))
        }
        7 => pick(
            rng,
            &[
                "a:1",
                "x",
                "example.com",
                "example.com:443",
                "[::1]:80",
                "h:0",
                "a:99999",
                "x:",
            ],
        )
        .to_string(),
        8 => "*".to_string(),
        9 => pick(
            rng,
            &[
                "",
                "/",
                "//",
                "/%",
                "?",
                "?a=b",
                "#frag",
                "/#x",
                "/a b",
                "/\u{10FFFF}",
                "/é",
            ],
        )
        .to_string(),
        10 => format!("{}?{}", pick(rng, &["", "x", "*"]), generate_query(rng)),
        _ => origin(rng),
    };
    text.into_bytes()
}

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

pub fn header_value(rng: &mut StdRng, name: &str) -> Vec<u8> {
    let token = || format!("arca_{}", "A".repeat(43));
    let text = match name {
        "Host" => pick(rng, HOSTS).to_string(),
        "Authorization" => match rng.gen_range(0..10) {
            0..=2 => basic(
                pick(
                    rng,
                    &[
                        "admin",
                        "",
                        "deployer",
                        "é",
                        "a:b",
                        "\0",
                        "x".repeat(300).as_str(),
                    ],
                ),
                pick(rng, &["password", "", ":", &token(), "p\u{10FFFF}"]),
            ),
            3 => format!(
                "Basic {}",
                pick(
                    rng,
                    &[
                        "",
                        "====",
                        "YWRtaW4",
                        "YWRtaW4=",
                        "!!!",
                        "YW Rt",
                        "/w==",
                        "gA==",
                        "YWRtaW46\u{0}"
                    ]
                )
            ),
            4 => format!(
                "Bearer {}",
                pick(rng, &[token().as_str(), "", "x", "arca_", "a.b.c"])
            ),
            5 => token(),
            6 => pick(
                rng,
                &[
                    "Digest x",
                    "basic",
                    "Basic",
                    " Basic  YQ== ",
                    "BASIC YTpi",
                    "Negotiate",
                ],
            )
            .to_string(),
            7 => return b"Basic \xff\xfe".to_vec(),
            _ => basic("admin", "password"),
        },
        "X-JFrog-Art-Api" => pick(rng, &["", "x", "arca_", "AKCp5bueTFQ"]).to_string(),
        "Cookie" => match rng.gen_range(0..5) {
            0 => format!("ARCA_SESSION={}", hex_string(rng, 32)),
            1 => format!("ARCA_SESSION=\"{}\"", hex_string(rng, 32)),
            2 => {
                let len = rng.gen_range(0..40);
                format!("a=b; ARCA_SESSION={}; c", hex_string(rng, len))
            }
            3 => pick(
                rng,
                &[
                    "ARCA_SESSION",
                    "=;=;",
                    ";;",
                    "ARCA_SESSION=",
                    "ARCA_SESSION==x",
                ],
            )
            .to_string(),
            _ => format!("ARCA_SESSION={}", "é".repeat(16)),
        },
        "Range" => match rng.gen_range(0..3) {
            0 => pick(
                rng,
                &[
                    "bytes=0-1",
                    "bytes=-5",
                    "bytes=5-",
                    "bytes=1-0",
                    "bytes=0-1,2-3",
                    "bytes=",
                    "items=1-2",
                    "bytes=-0",
                    "bytes=18446744073709551615-18446744073709551616",
                    "bytes=--1",
                    "bytes= 1 - 2 ",
                    "bytes=-18446744073709551615",
                    "bytes=0-",
                    "bytes",
                ],
            )
            .to_string(),
            1 => format!("bytes={}-{}", rng.r#gen::<u64>(), rng.r#gen::<u64>()),
            _ => format!("bytes=-{}", rng.r#gen::<u64>()),
        },
        "If-None-Match" => pick(
            rng,
            &[
                "\"abc\"",
                "*",
                "W/\"x\"",
                ",",
                "\"",
                "W/",
                ", ,",
                "\"0000\", *",
            ],
        )
        .to_string(),
        "If-Modified-Since" => pick(
            rng,
            &[
                "Thu, 01 Jan 1970 00:00:00 GMT",
                "Sun, 31 Dec 9999 23:59:59 GMT",
                "Mon, 01 Jan 0000 00:00:00 GMT",
                "yesterday",
                "",
                "Sunday, 06-Nov-94 08:49:37 GMT",
                "Sun Nov  6 08:49:37 1994",
                "Fri, 31 Feb 2025 25:61:61 GMT",
            ],
        )
        .to_string(),
        "X-Checksum-Sha1" | "X-Checksum-Sha256" | "X-Checksum-Md5" | "X-Checksum"
        | "X-Checksum-Deploy" => {
            let len = *[0, 31, 32, 40, 63, 64, 65, 128].choose(rng).unwrap_or(&40);
            if name == "X-Checksum-Deploy" {
                pick(rng, &["true", "false", "1", ""]).to_string()
            } else {
                hex_string(rng, len)
            }
        }
        "Transfer-Encoding" => pick(
            rng,
            &[
                "chunked",
                "gzip, chunked",
                "chunked, gzip",
                "identity",
                "chunked\t",
                "x",
            ],
        )
        .to_string(),
        "Content-Length" => pick(
            rng,
            &[
                "0",
                "5",
                "-1",
                "18446744073709551616",
                "5, 5",
                "5,6",
                " 5",
                "0x5",
                "",
            ],
        )
        .to_string(),
        "X-Forwarded-Proto" => pick(rng, &["https", "http", "ftp", "", "https, http"]).to_string(),
        "X-Forwarded-For" => pick(rng, &["10.0.0.1", "a, b", "", "::1"]).to_string(),
        "X-Forwarded-Host" => pick(rng, HOSTS).to_string(),
        "X-Artifactory-Override-Base-Url" | "X-JFrog-Override-Base-Url" => pick(
            rng,
            &[
                "http://x/",
                "https://",
                "javascript:alert(1)",
                "http://a b",
                "https://h/ctx//",
            ],
        )
        .to_string(),
        "Expect" => pick(rng, &["100-continue", "200-ok", ""]).to_string(),
        "Connection" => pick(
            rng,
            &["close", "keep-alive", "Upgrade", "close, close", "TE"],
        )
        .to_string(),
        "Upgrade" => pick(rng, &["h2c", "websocket", ""]).to_string(),
        "X-Requested-With" => "XMLHttpRequest".to_string(),
        _ => pick(
            rng,
            &["application/json", "*/*", "", "text/html; charset=utf-8"],
        )
        .to_string(),
    };
    text.into_bytes()
}

pub const HEADER_NAMES: &[&str] = &[
    "Authorization",
    "Authorization",
    "Cookie",
    "Range",
    "If-None-Match",
    "If-Modified-Since",
    "X-Checksum-Sha1",
    "X-Checksum-Sha256",
    "X-Checksum-Md5",
    "X-Checksum",
    "X-Checksum-Deploy",
    "Transfer-Encoding",
    "Content-Length",
    "X-Forwarded-Proto",
    "X-Forwarded-For",
    "X-Forwarded-Host",
    "X-Artifactory-Override-Base-Url",
    "X-JFrog-Override-Base-Url",
    "X-JFrog-Art-Api",
    "Expect",
    "Connection",
    "Upgrade",
    "Content-Type",
    "Accept",
    "X-Requested-With",
    "Host",
];

/// A request as bytes: request line, headers and a body (chunked or sized, sometimes wrong).
pub fn generate_structured_request(rng: &mut StdRng) -> Vec<u8> {
    let method = pick(rng, METHODS);
    let mut out = Vec::new();
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(&generate_target(rng, method));
    out.push(b' ');
    out.extend_from_slice(pick(rng, VERSIONS).as_bytes());
    out.extend_from_slice(b"\r\n");
    if rng.gen_bool(0.9) {
        out.extend_from_slice(b"Host: ");
        out.extend_from_slice(&header_value(rng, "Host"));
        out.extend_from_slice(b"\r\n");
    }
    let mut chunked = false;
    let mut length = None;
    for _ in 0..rng.gen_range(0..7) {
        let name = pick(rng, HEADER_NAMES);
        let value = header_value(rng, name);
        chunked |= name == "Transfer-Encoding" && value.ends_with(b"chunked");
        if name == "Content-Length" {
            length = std::str::from_utf8(&value)
                .ok()
                .and_then(|v| v.parse::<usize>().ok());
        }
        let name = if rng.gen_bool(0.1) {
            name.to_ascii_lowercase()
        } else {
            name.to_string()
        };
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(&value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    let body: Vec<u8> = (0..rng.gen_range(0..64)).map(|_| rng.r#gen()).collect();
    if chunked {
        match rng.gen_range(0..4) {
            0 => out.extend_from_slice(b"zz\r\nxx\r\n0\r\n\r\n"),
            1 => out.extend_from_slice(b"ffffffffffffffffff\r\n"),
            2 => out.extend_from_slice(format!("{:x};ext=1\r\n", body.len()).as_bytes()),
            _ => {
                out.extend_from_slice(format!("{:x}\r\n", body.len()).as_bytes());
                out.extend_from_slice(&body);
                out.extend_from_slice(b"\r\n0\r\n\r\n");
            }
        }
    } else if let Some(n) = length {
        let n = if rng.gen_bool(0.8) {
            n.min(body.len())
        } else {
            body.len()
        };
        out.extend_from_slice(&body[..n]);
    } else if rng.gen_bool(0.1) {
        out.extend_from_slice(&body);
    }
    out
}

/// One input of `front`: a generated request (sometimes two, pipelined) or a corpus entry,
/// mutated half of the time.
pub fn generate_request_bytes(rng: &mut StdRng) -> Vec<u8> {
    let mut data = if rng.gen_bool(0.1) {
        pick(rng, CORPUS).as_bytes().to_vec()
    } else {
        generate_structured_request(rng)
    };
    if rng.gen_bool(0.05) {
        let second = generate_structured_request(rng);
        data.extend_from_slice(&second);
    }
    if rng.gen_bool(0.5) {
        let other = if rng.gen_bool(0.5) {
            pick(rng, CORPUS).as_bytes().to_vec()
        } else {
            generate_structured_request(rng)
        };
        mutate(rng, &mut data, DICTIONARY, &other, 6, MAX_INPUT);
    }
    data.truncate(MAX_INPUT);
    data
}
