//! `arca.url.base` as administrators set it (REST API, web UI): the validator's messages, the
//! rewrite of `system.properties` that keeps everything else, and a property test of both.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::*;
use crate::has_errors;
use crate::props::set_key;

const F: &str = "/h/etc/system.properties";

fn set(text: &str, value: &str) -> String {
    set_key(text, Path::new(F), URL_BASE, value).unwrap()
}

fn read_back(text: &str) -> Option<String> {
    SystemProperties::parse(text, Path::new(F))
        .unwrap()
        .url_base()
        .unwrap()
}

#[test]
fn validation_messages() {
    let ok = |raw: &str| validate_url_base(raw).unwrap();
    assert_eq!(ok(""), None);
    assert_eq!(ok("  \n"), None, "blank clears");
    assert_eq!(
        ok(" https://lb.example.com:8443/artifactory/ \n").as_deref(),
        Some("https://lb.example.com:8443/artifactory"),
        "surrounding whitespace and trailing / go"
    );
    assert_eq!(
        ok("HTTP://LB/Art/").as_deref(),
        Some("HTTP://LB/Art"),
        "kept as given but for the trailing /"
    );
    assert_eq!(
        ok("http://[fd00::2]:8081").as_deref(),
        Some("http://[fd00::2]:8081")
    );
    let err = |raw: &str| validate_url_base(raw).unwrap_err();
    let expected = "; expected an absolute http:// or https:// URL such as \
                    https://repo.example.com/artifactory (or nothing, to clear it)";
    for (raw, why) in [
        (
            "repo.example.com/artifactory",
            "missing http:// or https://",
        ),
        ("/artifactory", "missing http:// or https://"),
        ("ftp://repo.example.com", "scheme must be http or https"),
        ("https:///artifactory", "missing host"),
        ("https://lb/a?x=1", "no query or fragment allowed"),
        ("https://lb/a#top", "no query or fragment allowed"),
        ("https://admin:secret@lb/a", "no user info allowed"),
        ("https://lb:0/a", "bad port; expected 1-65535"),
        ("https://lb:99999/a", "bad port; expected 1-65535"),
        ("https://bad_host-.example/a", "bad host name"),
        ("https://lb/ä", "bad character in path"),
    ] {
        assert_eq!(
            err(raw),
            format!("Invalid URL base: {why}{expected}"),
            "{raw}"
        );
    }
    assert_eq!(
        err("https://lb/a b"),
        "The URL base must not contain spaces or control characters"
    );
    assert_eq!(
        err("https://lb/a\u{7f}"),
        "The URL base must not contain spaces or control characters"
    );
    let long = format!("https://lb/{}", "a".repeat(URL_BASE_MAX_LEN));
    assert_eq!(
        err(&long),
        format!(
            "The URL base is {} characters long; at most 1024 are allowed",
            long.len()
        )
    );
    let exactly = format!("https://lb/{}", "a".repeat(URL_BASE_MAX_LEN - 11));
    assert_eq!(ok(&exactly).as_deref(), Some(exactly.as_str()));
    // the file's own check says the same for a long value
    let e = sp_text(&format!("arca.url.base={long}\n"))
        .url_base()
        .unwrap_err();
    assert!(e.to_string().contains("at most 1024 are allowed"), "{e}");
}

fn sp_text(text: &str) -> SystemProperties {
    SystemProperties::parse(text, Path::new(F)).unwrap()
}

#[test]
fn a_new_setting_goes_after_the_shipped_example_and_nothing_else_moves() {
    let shipped = crate::home::DEFAULT_SYSTEM_PROPERTIES;
    let new = set(shipped, "https://lb.example/artifactory");
    let old_lines: Vec<&str> = shipped.lines().collect();
    let new_lines: Vec<&str> = new.lines().collect();
    let at = old_lines
        .iter()
        .position(|l| l.starts_with("#arca.url.base="))
        .unwrap();
    assert_eq!(new_lines.len(), old_lines.len() + 1);
    assert_eq!(new_lines[..=at], old_lines[..=at]);
    assert_eq!(
        new_lines[at + 1],
        "arca.url.base=https://lb.example/artifactory"
    );
    assert_eq!(new_lines[at + 2..], old_lines[at + 1..]);
    assert_eq!(
        read_back(&new).as_deref(),
        Some("https://lb.example/artifactory")
    );
    // changed in place, then cleared in place (empty means unset)
    let changed = set(&new, "http://other:8081/a");
    assert_eq!(changed.lines().count(), new_lines.len());
    assert!(changed.contains("\narca.url.base=http://other:8081/a\n"));
    let cleared = set(&changed, "");
    assert!(cleared.contains("\narca.url.base=\n"));
    assert_eq!(read_back(&cleared), None);
    assert_eq!(
        sp_text(&cleared).changed_keys(&sp_text(shipped)),
        vec![URL_BASE.to_string()]
    );
    // clearing what is not set changes nothing
    assert_eq!(set(shipped, ""), shipped);
}

#[test]
fn other_lines_endings_continuations_and_duplicates_are_kept() {
    // no trailing newline: the setting gets a line of its own
    assert_eq!(
        set("a=1\n# note", "http://lb"),
        "a=1\n# note\narca.url.base=http://lb\n"
    );
    assert_eq!(set("", "http://lb"), "arca.url.base=http://lb\n");
    // CRLF files stay CRLF
    assert_eq!(
        set("a=1\r\n#arca.url.base=http://x\r\nb=2\r\n", "http://lb"),
        "a=1\r\n#arca.url.base=http://x\r\narca.url.base=http://lb\r\nb=2\r\n"
    );
    // a "#arca.url.base" line inside a continued value is part of that value: appended instead
    let text = "a=one \\\n#arca.url.base=x \\\n  two\nb=2\n";
    let new = set(text, "http://lb");
    assert_eq!(new, format!("{text}arca.url.base=http://lb\n"));
    assert_eq!(sp_text(&new).get("a"), sp_text(text).get("a"));
    // duplicates collapse into the effective one; a continued old value is replaced whole
    let text = "# keep me\narca.url.base=http://old\nx=1\narca.url.base=http://a \\\n  b\ny=2\n";
    assert_eq!(
        set(text, "https://lb"),
        "# keep me\nx=1\narca.url.base=https://lb\ny=2\n"
    );
    // values with leading or trailing blanks would not read back
    assert!(set_key("", Path::new(F), URL_BASE, " x").is_err());
}

#[test]
fn the_file_is_rewritten_atomically_keeping_mode_and_symlink() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real.properties");
    std::fs::write(&real, "# mine\narca.gc.grace.secs=5\n").unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o640)).unwrap();
    let link = dir.path().join("system.properties");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    assert!(write_url_base(&link, Some("https://lb.example")).unwrap());
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        std::fs::read_to_string(&real).unwrap(),
        "# mine\narca.gc.grace.secs=5\narca.url.base=https://lb.example\n"
    );
    assert_eq!(
        std::fs::metadata(&real).unwrap().permissions().mode() & 0o7777,
        0o640
    );
    assert!(
        !write_url_base(&link, Some("https://lb.example")).unwrap(),
        "unchanged"
    );
    assert!(write_url_base(&link, None).unwrap());
    assert_eq!(
        std::fs::read_to_string(&real).unwrap(),
        "# mine\narca.gc.grace.secs=5\narca.url.base=\n"
    );
    // only validated values are written
    let e = write_url_base(&link, Some("https://lb/a?b")).unwrap_err();
    assert!(e.to_string().contains("not a valid URL base"), "{e}");
    let e = write_url_base(&link, Some("https://lb/")).unwrap_err();
    assert!(e.to_string().contains("not a valid URL base"), "{e}");
    // a missing file is created 0644
    let fresh = dir.path().join("new.properties");
    assert!(write_url_base(&fresh, Some("http://lb")).unwrap());
    assert_eq!(
        std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o7777,
        0o644
    );
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 3, "no temporary file left: {names:?}");
}

#[test]
fn changed_keys_compare_effective_values() {
    let a = sp_text("# c\nx=1\nx=2\ny=\n");
    let b = sp_text("x=2\n# other comment\nz=3\n");
    assert_eq!(a.changed_keys(&b), vec!["y".to_string(), "z".to_string()]);
    assert!(a.changed_keys(&a).is_empty());
}

// ------------------------------------------------------------------ property test

/// splitmix64: a seeded generator, so a failure is reproducible from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, list: &[&'a str]) -> &'a str {
        list[self.below(list.len())]
    }
}

/// A candidate URL base and whether it is valid by construction (`None`: no opinion).
fn candidate(rng: &mut Rng) -> (String, Option<bool>) {
    const GOOD_SCHEMES: &[&str] = &["http", "https", "HTTPS", "Http"];
    const BAD_SCHEMES: &[&str] = &["ftp", "", "file", "http:", "htp"];
    const GOOD_HOSTS: &[&str] = &[
        "repo.example.com",
        "lb",
        "10.0.0.1",
        "[fd00::2]",
        "[::1]",
        "xn--bcher-kva.example",
        "a-b.c_d.example",
    ];
    const BAD_HOSTS: &[&str] = &[
        "",
        "256.1.1.1",
        "-bad.example",
        "host..example",
        "ünï.example",
        "[fd00::zz]",
        "fd00::2",
        "exa mple.com",
    ];
    const GOOD_PORTS: &[&str] = &["", "", ":8080", ":1", ":65535"];
    const BAD_PORTS: &[&str] = &[":0", ":65536", ":x", ":", ":80:80"];
    const GOOD_PATHS: &[&str] = &[
        "",
        "/",
        "/artifactory",
        "/artifactory/",
        "/a/b-c/",
        "/%20x",
        "/~u/!$&'()*+,;=:@",
        "//",
    ];
    const BAD_PATHS: &[&str] = &["/a b", "/a?x=1", "/a#f", "/ä", "/a\"b", "/<x>", "/a\\b"];
    const USERINFO: &[&str] = &["user@", "u:p@", "@"];
    const NOISE: &[&str] = &[
        "a", "/", ":", "?", "#", "@", "[", "]", "%", " ", "\t", "\n", "\u{0}", "é", "\\", ".", "-",
    ];
    let mut valid = true;
    let mut part = |rng: &mut Rng, good: &[&str], bad: &[&str]| -> String {
        if rng.below(6) == 0 {
            valid = false;
            rng.pick(bad).to_string()
        } else {
            rng.pick(good).to_string()
        }
    };
    let scheme = part(rng, GOOD_SCHEMES, BAD_SCHEMES);
    let host = part(rng, GOOD_HOSTS, BAD_HOSTS);
    let port = part(rng, GOOD_PORTS, BAD_PORTS);
    let long = rng.below(20) == 0;
    let path = if long {
        // longer than the limit, or close to it
        format!("/{}", "p".repeat(URL_BASE_MAX_LEN - 20 + rng.below(40)))
    } else {
        part(rng, GOOD_PATHS, BAD_PATHS)
    };
    let mut user = String::new();
    if rng.below(10) == 0 {
        user = rng.pick(USERINFO).to_string();
        valid = false;
    }
    if long {
        valid &= format!("{scheme}://{user}{host}{port}{path}")
            .chars()
            .count()
            <= URL_BASE_MAX_LEN;
    }
    let mut s = format!("{scheme}://{user}{host}{port}{path}");
    let mut opinion = Some(valid);
    if rng.below(4) == 0 {
        // random noise anywhere: no opinion on the outcome, only the invariants
        for _ in 0..=rng.below(4) {
            let at = s
                .char_indices()
                .map(|(i, _)| i)
                .nth(rng.below(s.chars().count() + 1));
            let at = at.unwrap_or(s.len());
            s.insert_str(at, rng.pick(NOISE));
        }
        opinion = None;
    }
    if rng.below(8) == 0 {
        s = format!(" {s}\n");
    }
    (s, opinion)
}

#[test]
fn property_the_validator_accepts_exactly_sound_url_bases_and_they_read_back() {
    let seed = std::env::var("ARCA_PROPTEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    let mut rng = Rng(seed);
    let shipped = crate::home::DEFAULT_SYSTEM_PROPERTIES;
    let (mut accepted, mut refused) = (0, 0);
    for i in 0..20_000 {
        let (raw, opinion) = candidate(&mut rng);
        let fail = |what: &str| -> ! {
            panic!("seed {seed} (ARCA_PROPTEST_SEED), iteration {i}: {raw:?}: {what}")
        };
        match validate_url_base(&raw) {
            Ok(None) => {
                if !raw.trim().is_empty() {
                    fail("cleared although not blank");
                }
            }
            Ok(Some(v)) => {
                accepted += 1;
                if opinion == Some(false) {
                    fail(&format!("accepted as {v:?}"));
                }
                let lower = v.to_ascii_lowercase();
                let after_scheme = lower
                    .strip_prefix("http://")
                    .or_else(|| lower.strip_prefix("https://"))
                    .unwrap_or_else(|| fail("not http:// or https://"));
                let authority = after_scheme.split('/').next().unwrap_or_default();
                if authority.is_empty() || authority.contains('@') {
                    fail(&format!("authority {authority:?}"));
                }
                if v.ends_with('/')
                    || v.contains(['?', '#'])
                    || v.chars().any(|c| c.is_whitespace() || c.is_control())
                    || v.chars().count() > URL_BASE_MAX_LEN
                {
                    fail(&format!("accepted {v:?}"));
                }
                if validate_url_base(&v) != Ok(Some(v.clone())) {
                    fail("not idempotent");
                }
                // written into a system.properties, it reads back as itself and the config
                // sync's check (every key) accepts the file
                let base = if i % 50 == 0 { shipped } else { "# c\na=1\n" };
                let text = set_key(base, Path::new(F), URL_BASE, &v)
                    .unwrap_or_else(|e| fail(&format!("not written: {e}")));
                if read_back(&text).as_deref() != Some(v.as_str()) {
                    fail("does not read back");
                }
                if has_errors(&sp_text(&text).check()) {
                    fail("the file's check refuses it");
                }
            }
            Err(message) => {
                refused += 1;
                if opinion == Some(true) {
                    fail(&format!("refused: {message}"));
                }
                if !(message.starts_with("Invalid URL base: ")
                    || message.starts_with("The URL base "))
                {
                    fail(&format!("message {message:?}"));
                }
            }
        }
    }
    assert!(
        accepted > 5000 && refused > 2500,
        "{accepted} accepted, {refused} refused"
    );
}
