//! Java-properties files with the line number of every key.
//!
//! Parsing (escapes, `\\` in Windows paths, continuation lines, `:`/`=`/blank separators) is done
//! by the `java-properties` crate; its iterator reports the physical line on which each logical
//! line starts. Files are read as UTF-8 (`\uXXXX` escapes work as in Java). Values are trimmed, as
//! the reference server does.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use java_properties::{LineContent, PropertiesIter};

use crate::error::{ConfigError, Diags};

/// One `key=value` pair and the line its logical line starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) key: String,
    pub(crate) value: String,
    pub(crate) line: usize,
}

/// A parsed properties file, entries in file order (duplicates kept).
#[derive(Debug, Clone)]
pub(crate) struct PropFile {
    pub(crate) path: PathBuf,
    pub(crate) entries: Vec<Entry>,
}

/// Read a file as UTF-8 text; `Ok(None)` when it does not exist.
pub(crate) fn read_text(path: &Path) -> Result<Option<String>, ConfigError> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ConfigError::io(path, "read file", &e)),
    };
    match String::from_utf8(bytes) {
        Ok(s) => Ok(Some(s)),
        Err(e) => {
            let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            let line = valid.iter().filter(|b| **b == b'\n').count() + 1;
            Err(ConfigError::new(path, "file is not valid UTF-8").at_line(line))
        }
    }
}

impl PropFile {
    /// Read and parse `path`; `Ok(None)` when the file does not exist.
    pub(crate) fn read(path: &Path) -> Result<Option<PropFile>, ConfigError> {
        match read_text(path)? {
            Some(text) => PropFile::parse(&text, path).map(Some),
            None => Ok(None),
        }
    }

    pub(crate) fn parse(text: &str, path: &Path) -> Result<PropFile, ConfigError> {
        let mut entries = Vec::new();
        for item in PropertiesIter::new_with_encoding(text.as_bytes(), encoding_rs::UTF_8) {
            let line = item.map_err(|e| {
                let mut err = ConfigError::new(path, syntax_message(&e));
                err.line = e.line_number();
                err
            })?;
            let number = line.line_number();
            if let LineContent::KVPair(key, value) = line.consume_content() {
                entries.push(Entry {
                    key,
                    value: value.trim().to_string(),
                    line: number,
                });
            }
        }
        Ok(PropFile {
            path: path.to_path_buf(),
            entries,
        })
    }

    /// The effective entry for `key`: the last one, as in Java.
    pub(crate) fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().rev().find(|e| e.key == key)
    }

    /// The effective entry for `key` unless its value is empty (an empty value means "unset").
    pub(crate) fn get_set(&self, key: &str) -> Option<&Entry> {
        self.get(key).filter(|e| !e.value.is_empty())
    }

    /// An error about `entry` (file, line and key filled in).
    pub(crate) fn err(&self, entry: &Entry, message: impl Into<String>) -> ConfigError {
        ConfigError::new(&self.path, message)
            .at_line(entry.line)
            .with_key(&entry.key)
    }

    /// Warn about keys given more than once (the last one wins).
    pub(crate) fn check_duplicates(&self, diags: &mut Diags) {
        let mut first: BTreeMap<&str, usize> = BTreeMap::new();
        for e in &self.entries {
            if let Some(line) = first.get(e.key.as_str()) {
                diags.warn(self.err(
                    e,
                    format!("duplicate key (first set on line {line}); the last value wins"),
                ));
            } else {
                first.insert(&e.key, e.line);
            }
            if let Some(at) = trailing_comment(&e.value) {
                diags.warn(self.err(
                    e,
                    format!(
                        "the value ends with '{}': in a .properties file '#' starts a comment \
                         only at the beginning of a line, so this is part of the value; put the \
                         comment on a line of its own",
                        &e.value[at..]
                    ),
                ));
            }
        }
    }
}

/// Where a `# …` that looks like a trailing comment starts in `value` (whitespace before `#`):
/// the value copied from an example with a comment after it. `None` for a `#` inside a word (a
/// URL fragment, a password).
fn trailing_comment(value: &str) -> Option<usize> {
    value
        .char_indices()
        .find(|&(i, c)| c == '#' && value[..i].ends_with([' ', '\t']))
        .map(|(i, _)| i)
}

/// `value` written so that a Java-properties reader gets it back unchanged. Like
/// `java.util.Properties.store`, except that non-ASCII stays UTF-8 (these files are read as
/// UTF-8) and `=`, `:`, `#`, `!` are escaped only as the first character, so that a sealed
/// `enc:v1:…` value stays readable and greppable.
pub(crate) fn escape_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for (i, c) in value.chars().enumerate() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\x0c' => out.push_str("\\f"),
            // A leading blank would be taken as part of the separator.
            ' ' if i == 0 => out.push_str("\\ "),
            // Java reads these as part of the value even there, but a simpler reader could
            // take them for a second separator or a comment start.
            '=' | ':' | '#' | '!' if i == 0 => {
                out.push('\\');
                out.push(c);
            }
            // Control characters are all in the BMP, so one \uXXXX is enough.
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

/// `text` split into physical lines, each with its terminator (`\n`, `\r\n` or `\r`: the
/// same split as the parser's, so index + 1 is the parser's line number).
fn physical_lines(text: &str) -> Vec<&str> {
    let bytes = text.as_bytes();
    let mut lines = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                lines.push(&text[start..=i]);
                start = i + 1;
            }
            b'\r' => {
                let end = if bytes.get(i + 1) == Some(&b'\n') {
                    i + 1
                } else {
                    i
                };
                lines.push(&text[start..=end]);
                start = end + 1;
                i = end;
            }
            _ => {}
        }
        i += 1;
    }
    if start < text.len() {
        lines.push(&text[start..]);
    }
    lines
}

/// `line` without its terminator.
fn content(line: &str) -> &str {
    line.trim_end_matches(['\n', '\r'])
}

/// Replace the logical line(s) setting `key` in `text` by the single physical line `replacement`
/// (no terminator; the replaced line's terminator is kept). Every other byte stays as it was.
/// The effective (last) setting is replaced; earlier settings of the same key are removed, so
/// that an old value (e.g. a plaintext password) does not stay in the file. A logical line
/// continued with trailing backslashes is replaced as a whole. Errors name `path`.
pub(crate) fn replace_key(
    text: &str,
    path: &Path,
    key: &str,
    replacement: &str,
) -> Result<String, ConfigError> {
    let file = PropFile::parse(text, path)?;
    let starts: Vec<usize> = file
        .entries
        .iter()
        .filter(|e| e.key == key)
        .map(|e| e.line)
        .collect();
    let Some(&last) = starts.last() else {
        return Err(ConfigError::new(path, "not set in this file").with_key(key));
    };
    let lines = physical_lines(text);
    let mut out = String::with_capacity(text.len() + replacement.len());
    let mut i = 0;
    while i < lines.len() {
        let number = i + 1;
        if !starts.contains(&number) {
            out.push_str(lines[i]);
            i += 1;
            continue;
        }
        // The logical line goes on while a physical line ends in an odd number of backslashes.
        let mut end = i;
        while end + 1 < lines.len() && ends_in_odd_backslashes(content(lines[end])) {
            end += 1;
        }
        if number == last {
            out.push_str(replacement);
            out.push_str(&lines[end][content(lines[end]).len()..]);
        }
        i = end + 1;
    }
    Ok(out)
}

/// `text` with `key` set to `value` (escaped, on one line; see [`escape_value`]). An existing
/// setting is replaced in place ([`replace_key`]); a new one goes right after a commented-out
/// example of it (`#key=…`, as the shipped files have) or else at the end. An empty value for an
/// absent key changes nothing (empty means unset). Every other line, comment and key stays as
/// it was; the result is checked by parsing it again. Errors name `path`.
pub(crate) fn set_key(
    text: &str,
    path: &Path,
    key: &str,
    value: &str,
) -> Result<String, ConfigError> {
    if value.trim() != value {
        return Err(ConfigError::new(
            path,
            "refusing to write a value with leading or trailing whitespace: values are trimmed \
             when read, so it would not read back as written",
        )
        .with_key(key));
    }
    let before = PropFile::parse(text, path)?;
    let setting = format!("{key}={}", escape_value(value));
    let reads_back = |new: &str| -> Result<(), ConfigError> {
        let after = PropFile::parse(new, path)?;
        let others = |f: &PropFile| -> Vec<(String, String)> {
            f.entries
                .iter()
                .filter(|e| e.key != key)
                .map(|e| (e.key.clone(), e.value.clone()))
                .collect()
        };
        let set = after.get(key).map(|e| e.value.as_str()).unwrap_or_default();
        if others(&before) != others(&after) || set != value {
            return Err(ConfigError::new(
                path,
                "the rewritten file would not read back as intended; nothing was written",
            )
            .with_key(key));
        }
        Ok(())
    };
    if before.get(key).is_some() {
        let new = replace_key(text, path, key, &setting)?;
        reads_back(&new)?;
        return Ok(new);
    }
    if value.is_empty() {
        return Ok(text.to_string());
    }
    let eol = if text.contains("\r\n") { "\r\n" } else { "\n" };
    let lines = physical_lines(text);
    if let Some(at) = lines
        .iter()
        .position(|l| is_commented_setting(content(l), key))
    {
        let mut new = String::with_capacity(text.len() + setting.len() + 2);
        for (i, line) in lines.iter().enumerate() {
            new.push_str(line);
            if i == at {
                if content(line).len() == line.len() {
                    new.push_str(eol);
                }
                new.push_str(&setting);
                new.push_str(eol);
            }
        }
        // A comment line inside a continued value is part of that value: then append instead.
        if reads_back(&new).is_ok() {
            return Ok(new);
        }
    }
    let mut new = text.to_string();
    if !new.is_empty() && !new.ends_with(['\n', '\r']) {
        new.push_str(eol);
    }
    new.push_str(&setting);
    new.push_str(eol);
    reads_back(&new)?;
    Ok(new)
}

/// `#key=…` or `! key: …`: a commented-out setting of `key`.
fn is_commented_setting(line: &str, key: &str) -> bool {
    let t = line.trim_start();
    let Some(t) = t.strip_prefix('#').or_else(|| t.strip_prefix('!')) else {
        return false;
    };
    t.trim_start()
        .strip_prefix(key)
        .is_some_and(|r| r.starts_with(['=', ':', ' ', '\t']))
}

/// Set `key` of the properties file `path` to `value` ([`set_key`]) and write it atomically
/// when that changes it: an existing file keeps its mode and (when allowed) owner, a missing
/// one is created with `new_mode`; a symlink is followed and its target rewritten. Returns
/// whether the file changed.
pub(crate) fn set_property(
    path: &Path,
    key: &str,
    value: &str,
    new_mode: u32,
) -> Result<bool, ConfigError> {
    // Rewrite the target, not the link: renaming over a symlink would replace it by a file.
    let real = match fs::canonicalize(path) {
        Ok(p) => p,
        Err(e) if e.kind() == io::ErrorKind::NotFound => path.to_path_buf(),
        Err(e) => return Err(ConfigError::io(path, "resolve path", &e)),
    };
    let text = read_text(&real)?.unwrap_or_default();
    let new = set_key(&text, path, key, value)?;
    if new == text {
        return Ok(false);
    }
    crate::atomic::write_file_atomically(&real, new.as_bytes(), new_mode)?;
    Ok(true)
}

fn ends_in_odd_backslashes(s: &str) -> bool {
    s.bytes().rev().take_while(|b| *b == b'\\').count() % 2 == 1
}

/// The crate's message without its own " (line_number = N)" suffix: we print the line ourselves.
fn syntax_message(e: &java_properties::PropertiesError) -> String {
    let text = e.to_string();
    let text = match text.rfind(" (line_number = ") {
        Some(i) => text[..i].to_string(),
        None => text,
    };
    format!("properties syntax error: {text}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> PropFile {
        PropFile::parse(text, Path::new("/h/etc/t.properties")).unwrap()
    }

    #[test]
    fn lines_escapes_continuations() {
        let f = parse(
            "# comment\n\na=1\nlong = first \\\n    second\nwin=C:\\\\data\\\\arca\nu=\\u00e9t\\u00e9\nlast: x  \n",
        );
        let keys: Vec<_> = f
            .entries
            .iter()
            .map(|e| (e.key.as_str(), e.value.as_str(), e.line))
            .collect();
        assert_eq!(
            keys,
            vec![
                ("a", "1", 3),
                ("long", "first second", 4),
                ("win", "C:\\data\\arca", 6),
                ("u", "été", 7),
                ("last", "x", 8),
            ]
        );
    }

    #[test]
    fn utf8_values() {
        let f = parse("dir=/mnt/données\n");
        assert_eq!(f.get("dir").unwrap().value, "/mnt/données");
    }

    #[test]
    fn last_duplicate_wins_and_is_reported() {
        let f = parse("k=1\nk=2\n");
        assert_eq!(f.get("k").unwrap().value, "2");
        let mut d = Diags::default();
        f.check_duplicates(&mut d);
        assert_eq!(d.list.len(), 1);
        assert_eq!(
            d.list[0].to_string(),
            "warning: /h/etc/t.properties:2: k: duplicate key (first set on line 1); the last value wins"
        );
    }

    #[test]
    fn bad_unicode_escape_has_line() {
        let e = PropFile::parse("a=1\nb=\\u12\n", Path::new("/f")).unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(e.message.contains("properties syntax error"), "{e}");
        assert!(!e.message.contains("line_number"), "{e}");
    }

    #[test]
    fn invalid_utf8_has_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.properties");
        fs::write(&p, b"a=1\nb=\xff\n").unwrap();
        let e = PropFile::read(&p).unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(e.message.contains("UTF-8"));
    }

    #[test]
    fn escaped_values_read_back() {
        for v in [
            "plain",
            "enc:v1:AAEC-_",
            " leading blank",
            "\tleading tab",
            "=starts with separator",
            ":colon",
            "#not a comment",
            "!not a comment",
            "back\\slash\\",
            "C:\\data\\arca",
            "multi\nline\r\n",
            "ctl\u{1}\u{7f}",
            "ünï©ødé",
        ] {
            let text = format!("k={}\n", escape_value(v));
            let got = PropFile::parse(&text, Path::new("/f")).unwrap();
            // Values are trimmed on reading; escaping must lose nothing else.
            assert_eq!(got.get("k").unwrap().value, v.trim(), "{text:?}");
        }
        assert_eq!(escape_value("enc:v1:x=="), "enc:v1:x==");
        assert_eq!(escape_value(" a b"), "\\ a b");
        assert_eq!(escape_value("C:\\x"), "C:\\\\x");
    }

    #[test]
    fn replace_key_spans() {
        let r = |text: &str| replace_key(text, Path::new("/f"), "k", "k=new");
        // CR-only, CRLF and LF endings; the replaced line keeps its own terminator.
        assert_eq!(r("a=1\rk=2\r\nb=3").unwrap(), "a=1\rk=new\r\nb=3");
        // No terminator on the last line: none is added.
        assert_eq!(r("a=1\n  k = 2").unwrap(), "a=1\nk=new");
        // Continuations, including one ending at the end of the file.
        assert_eq!(r("k=1\\\n 2\\\n 3\nz=9\n").unwrap(), "k=new\nz=9\n");
        assert_eq!(r("z=9\nk=1\\\n").unwrap(), "z=9\nk=new\n");
        // An even number of trailing backslashes is a literal backslash, not a continuation.
        assert_eq!(r("k=C:\\\\\nz=9\n").unwrap(), "k=new\nz=9\n");
        // A commented-out key and a key inside another's continuation are left alone.
        assert_eq!(
            r("#k=0\\\nk=1\nx=a\\\nk=2\n").unwrap(),
            "#k=0\\\nk=new\nx=a\\\nk=2\n"
        );
        // An escaped key is still the key.
        assert_eq!(r("\\k=1\n").unwrap(), "k=new\n");
        // Earlier duplicates go; the last one is replaced in place.
        assert_eq!(r("k=1\na=2\nk=3\nb=4\n").unwrap(), "a=2\nk=new\nb=4\n");
        let e = r("a=1\n").unwrap_err();
        assert_eq!(e.to_string(), "/f: k: not set in this file");
    }

    #[test]
    fn absent_file_is_none() {
        let dir = tempfile::tempdir().unwrap();
        assert!(PropFile::read(&dir.path().join("nope")).unwrap().is_none());
    }

    #[test]
    fn a_comment_after_a_value_is_part_of_it_and_warned_about() {
        let f = PropFile::parse(
            "a=3     # more than the check interval\nb=http://h/p#frag\nc=pass # word\n",
            Path::new("x.properties"),
        )
        .unwrap();
        assert_eq!(f.entries[0].value, "3     # more than the check interval");
        let mut d = Diags::default();
        f.check_duplicates(&mut d);
        let text: Vec<String> = d.list.iter().map(ToString::to_string).collect();
        assert_eq!(text.len(), 2, "{text:?}");
        assert!(
            text[0].contains("x.properties:1")
                && text[0].contains("a: the value ends with '# more than the check interval'"),
            "{text:?}"
        );
        assert!(text[1].contains("x.properties:3"), "{text:?}");
    }
}
