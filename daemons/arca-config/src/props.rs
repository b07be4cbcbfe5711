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
        }
    }
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
    fn absent_file_is_none() {
        let dir = tempfile::tempdir().unwrap();
        assert!(PropFile::read(&dir.path().join("nope")).unwrap().is_none());
    }
}
