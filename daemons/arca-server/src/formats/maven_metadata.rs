//! `maven-metadata.xml`: read, merged (a virtual repository's view of its members), written.
//! Read and written through serde (quick-xml); unknown elements are dropped, as Maven's own
//! merge does.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

/// One `maven-metadata.xml` (artifact, snapshot-version or plugin-group level).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "metadata")]
pub struct Metadata {
    #[serde(
        rename = "@modelVersion",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub model_version: Option<String>,
    #[serde(rename = "groupId", default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    #[serde(
        rename = "artifactId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub artifact_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versioning: Option<Versioning>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugins: Option<Plugins>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Versioning {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<Snapshot>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versions: Option<Versions>,
    #[serde(
        rename = "lastUpdated",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub last_updated: Option<String>,
    #[serde(
        rename = "snapshotVersions",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub snapshot_versions: Option<SnapshotVersions>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Versions {
    #[serde(default)]
    pub version: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    #[serde(
        rename = "buildNumber",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub build_number: Option<u32>,
    #[serde(rename = "localCopy", default, skip_serializing_if = "Option::is_none")]
    pub local_copy: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotVersions {
    #[serde(rename = "snapshotVersion", default)]
    pub snapshot_version: Vec<SnapshotVersion>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotVersion {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classifier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extension: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plugins {
    #[serde(default)]
    pub plugin: Vec<Plugin>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plugin {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(
        rename = "artifactId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub artifact_id: Option<String>,
}

/// Why a `maven-metadata.xml` could not be read.
#[derive(Debug, thiserror::Error)]
#[error("maven-metadata.xml is not valid: {0}")]
pub struct MetadataError(String);

impl Metadata {
    pub fn parse(bytes: &[u8]) -> Result<Metadata, MetadataError> {
        let text = std::str::from_utf8(bytes).map_err(|e| MetadataError(e.to_string()))?;
        quick_xml::de::from_str(text).map_err(|e| MetadataError(e.to_string()))
    }

    /// The XML, with its declaration.
    pub fn to_xml(&self) -> Result<String, MetadataError> {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let mut ser = quick_xml::se::Serializer::new(&mut out);
        ser.indent(' ', 2);
        self.serialize(ser)
            .map_err(|e| MetadataError(e.to_string()))?;
        out.push('\n');
        Ok(out)
    }

    /// One view of several repositories' metadata of the same path, in resolution order: the
    /// union of versions (sorted as Maven sorts them), `latest`/`release` the highest,
    /// `lastUpdated` the newest, the snapshot of the newest, snapshot versions and plugins by
    /// their keys (the first member wins a tie).
    pub fn merge(parts: &[Metadata]) -> Metadata {
        let mut out = Metadata::default();
        let mut versions: Vec<String> = Vec::new();
        let mut newest_snapshot: Option<(String, Snapshot)> = None;
        let mut snapshot_versions: Vec<SnapshotVersion> = Vec::new();
        let mut plugins: Vec<Plugin> = Vec::new();
        let mut last_updated: Option<String> = None;
        let mut any_versioning = false;
        for part in parts {
            out.model_version = out.model_version.take().or(part.model_version.clone());
            out.group_id = out.group_id.take().or(part.group_id.clone());
            out.artifact_id = out.artifact_id.take().or(part.artifact_id.clone());
            out.version = out.version.take().or(part.version.clone());
            if let Some(p) = &part.plugins {
                for plugin in &p.plugin {
                    if !plugins.iter().any(|q| q.prefix == plugin.prefix) {
                        plugins.push(plugin.clone());
                    }
                }
            }
            let Some(v) = &part.versioning else { continue };
            any_versioning = true;
            for version in v.versions.iter().flat_map(|vs| vs.version.iter()) {
                if !versions.contains(version) {
                    versions.push(version.clone());
                }
            }
            for extra in [&v.latest, &v.release].into_iter().flatten() {
                if !versions.contains(extra) {
                    versions.push(extra.clone());
                }
            }
            let updated = v.last_updated.clone().unwrap_or_default();
            if let Some(s) = &v.snapshot
                && newest_snapshot.as_ref().is_none_or(|(u, _)| updated > *u)
            {
                newest_snapshot = Some((updated.clone(), s.clone()));
            }
            for sv in v
                .snapshot_versions
                .iter()
                .flat_map(|s| s.snapshot_version.iter())
            {
                match snapshot_versions
                    .iter_mut()
                    .find(|o| o.classifier == sv.classifier && o.extension == sv.extension)
                {
                    Some(existing) if sv.updated > existing.updated => *existing = sv.clone(),
                    Some(_) => {}
                    None => snapshot_versions.push(sv.clone()),
                }
            }
            if last_updated.as_ref().is_none_or(|l| updated > *l) && !updated.is_empty() {
                last_updated = Some(updated);
            }
        }
        if !plugins.is_empty() {
            out.plugins = Some(Plugins { plugin: plugins });
        }
        if any_versioning {
            versions.sort_by(|a, b| compare_versions(a, b));
            let latest = versions.last().cloned();
            let release = versions
                .iter()
                .rev()
                .find(|v| !v.ends_with("-SNAPSHOT"))
                .cloned();
            out.versioning = Some(Versioning {
                latest,
                release,
                snapshot: newest_snapshot.map(|(_, s)| s),
                versions: (!versions.is_empty()).then_some(Versions { version: versions }),
                last_updated,
                snapshot_versions: (!snapshot_versions.is_empty()).then_some(SnapshotVersions {
                    snapshot_version: snapshot_versions,
                }),
            });
        }
        out
    }
}

/// One token of a Maven version.
#[derive(Debug, PartialEq, Eq)]
enum Token {
    Number(u128),
    Word(String),
}

/// The qualifiers Maven knows, in order; an empty qualifier (a release) sits between `snapshot`
/// and `sp`, unknown qualifiers after all of them (alphabetically).
const QUALIFIERS: [&str; 7] = ["alpha", "beta", "milestone", "rc", "snapshot", "", "sp"];

fn qualifier_rank(word: &str) -> (usize, String) {
    let canonical = match word {
        "a" => "alpha",
        "b" => "beta",
        "m" => "milestone",
        "cr" => "rc",
        "ga" | "final" | "release" => "",
        w => w,
    };
    match QUALIFIERS.iter().position(|q| *q == canonical) {
        Some(i) => (i, String::new()),
        None => (QUALIFIERS.len(), canonical.to_string()),
    }
}

fn tokens(version: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut digits = false;
    let flush = |current: &mut String, digits: bool, out: &mut Vec<Token>| {
        if current.is_empty() {
            return;
        }
        let token = if digits {
            current
                .parse::<u128>()
                .map(Token::Number)
                .unwrap_or_else(|_| Token::Word(current.clone()))
        } else {
            Token::Word(current.to_ascii_lowercase())
        };
        out.push(token);
        current.clear();
    };
    for ch in version.chars() {
        if ch == '.' || ch == '-' || ch == '_' {
            flush(&mut current, digits, &mut out);
            continue;
        }
        let is_digit = ch.is_ascii_digit();
        if !current.is_empty() && is_digit != digits {
            flush(&mut current, digits, &mut out);
        }
        digits = is_digit;
        current.push(ch);
    }
    flush(&mut current, digits, &mut out);
    // trailing zeros and release qualifiers do not count: 1.0 == 1 == 1.0.0-ga
    while let Some(last) = out.last() {
        let drop = match last {
            Token::Number(0) => true,
            Token::Word(w) => qualifier_rank(w).0 == 5,
            Token::Number(_) => false,
        };
        if !drop {
            break;
        }
        out.pop();
    }
    out
}

/// Maven's order of versions (a close reading of `ComparableVersion`: numbers numerically,
/// qualifiers alpha < beta < milestone < rc < snapshot < release < sp < others).
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let (ta, tb) = (tokens(a), tokens(b));
    let mut i = 0;
    loop {
        let ordering = match (ta.get(i), tb.get(i)) {
            (None, None) => return Ordering::Equal,
            (Some(x), None) => compare_with_nothing(x),
            (None, Some(y)) => compare_with_nothing(y).reverse(),
            (Some(Token::Number(x)), Some(Token::Number(y))) => x.cmp(y),
            // a number is newer than a qualifier (1.1 > 1-rc)
            (Some(Token::Number(_)), Some(Token::Word(_))) => Ordering::Greater,
            (Some(Token::Word(_)), Some(Token::Number(_))) => Ordering::Less,
            (Some(Token::Word(x)), Some(Token::Word(y))) => {
                qualifier_rank(x).cmp(&qualifier_rank(y))
            }
        };
        if ordering != Ordering::Equal {
            return ordering;
        }
        i += 1;
    }
}

/// A token against the end of the other version: a number is more (1.1 > 1), zero the same, a qualifier
/// below "release" less (1-rc < 1), above it more (1-sp > 1).
fn compare_with_nothing(t: &Token) -> Ordering {
    match t {
        // 1.0-rc is 1-rc: a zero before a qualifier counts for nothing
        Token::Number(0) => Ordering::Equal,
        Token::Number(_) => Ordering::Greater,
        Token::Word(w) => qualifier_rank(w).cmp(&(5, String::new())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_sort_as_maven_sorts_them() {
        let mut v = vec![
            "1.10",
            "1.2",
            "1.0-SNAPSHOT",
            "1.0",
            "1.0-rc1",
            "1.0-alpha-2",
            "1.0-beta",
            "2.0.0",
            "1.0-sp1",
            "1.2.1",
        ];
        v.sort_by(|a, b| compare_versions(a, b));
        assert_eq!(
            v,
            vec![
                "1.0-alpha-2",
                "1.0-beta",
                "1.0-rc1",
                "1.0-SNAPSHOT",
                "1.0",
                "1.0-sp1",
                "1.2",
                "1.2.1",
                "1.10",
                "2.0.0"
            ]
        );
        assert_eq!(compare_versions("1.0", "1"), Ordering::Equal);
        assert_eq!(compare_versions("1.0.0-ga", "1"), Ordering::Equal);
    }

    #[test]
    fn merged_metadata_is_the_union() {
        let a = Metadata::parse(
            br#"<?xml version="1.0"?><metadata><groupId>g</groupId><artifactId>a</artifactId>
            <versioning><latest>1.1</latest><release>1.1</release>
            <versions><version>1.0</version><version>1.1</version></versions>
            <lastUpdated>20260101000000</lastUpdated></versioning></metadata>"#,
        )
        .expect("a");
        let b = Metadata::parse(
            br#"<metadata><groupId>g</groupId><artifactId>a</artifactId>
            <versioning><versions><version>1.0</version><version>1.10</version>
            <version>2.0-SNAPSHOT</version></versions>
            <lastUpdated>20260202000000</lastUpdated><unknown>x</unknown></versioning></metadata>"#,
        )
        .expect("b");
        let m = Metadata::merge(&[a, b]);
        let v = m.versioning.as_ref().expect("versioning");
        assert_eq!(
            v.versions.as_ref().expect("versions").version,
            vec!["1.0", "1.1", "1.10", "2.0-SNAPSHOT"]
        );
        assert_eq!(v.latest.as_deref(), Some("2.0-SNAPSHOT"));
        assert_eq!(v.release.as_deref(), Some("1.10"));
        assert_eq!(v.last_updated.as_deref(), Some("20260202000000"));
        let xml = m.to_xml().expect("xml");
        assert!(xml.starts_with("<?xml"), "{xml}");
        assert_eq!(Metadata::parse(xml.as_bytes()).expect("again"), m);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bad in [
            &b"<metadata><versioning><versions>"[..],
            b"\xff\xfe",
            b"",
            b"<x/>",
        ] {
            let _ = Metadata::parse(bad);
        }
        assert!(Metadata::parse(b"<metadata><versioning><versions>").is_err());
    }
}
