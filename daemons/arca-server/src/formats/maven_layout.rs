//! The Maven 2 layout, read from paths and POMs: coordinates of a deployed file, timestamped
//! snapshot file names, and the `maven-metadata.xml` the server calculates from what a
//! repository holds (pure functions; `super::maven` runs them after deploys and deletes).

use serde::Deserialize;

use super::maven_metadata::{
    Metadata, Snapshot, SnapshotVersion, SnapshotVersions, Versioning, Versions, compare_versions,
};

/// Where a file sits in the layout: `{group path}/{artifactId}/{version}/{file}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coordinates<'a> {
    pub group_path: &'a str,
    pub artifact_id: &'a str,
    pub version: &'a str,
    pub file: &'a str,
}

impl Coordinates<'_> {
    pub fn group_id(&self) -> String {
        self.group_path.replace('/', ".")
    }

    /// `{group path}/{artifactId}`: where the artifact-level metadata lives.
    pub fn artifact_folder(&self) -> String {
        format!("{}/{}", self.group_path, self.artifact_id)
    }

    /// `{group path}/{artifactId}/{version}`.
    pub fn version_folder(&self) -> String {
        format!("{}/{}/{}", self.group_path, self.artifact_id, self.version)
    }

    pub fn is_snapshot(&self) -> bool {
        self.version.ends_with("-SNAPSHOT")
    }
}

/// The coordinates of the file at `path`, when it is an artifact file in the layout (its name
/// starts with `{artifactId}-`); `None` for metadata, and paths too short for a group.
pub fn coordinates(path: &str) -> Option<Coordinates<'_>> {
    let (rest, file) = path.rsplit_once('/')?;
    let (rest, version) = rest.rsplit_once('/')?;
    let (group_path, artifact_id) = rest.rsplit_once('/')?;
    if group_path.is_empty()
        || artifact_id.is_empty()
        || version.is_empty()
        || file.starts_with("maven-metadata.xml")
        || !file.starts_with(&format!("{artifact_id}-"))
    {
        return None;
    }
    Some(Coordinates {
        group_path,
        artifact_id,
        version,
        file,
    })
}

/// A timestamped snapshot file: `{artifactId}-{base}-{yyyyMMdd.HHmmss}-{build}[-{classifier}].{ext}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotFile {
    /// `yyyyMMdd.HHmmss`
    pub timestamp: String,
    pub build: u32,
    pub classifier: Option<String>,
    pub extension: String,
}

impl SnapshotFile {
    /// `{base}-{timestamp}-{build}`, the version the files of one deploy share.
    pub fn value(&self, base: &str) -> String {
        format!("{base}-{}-{}", self.timestamp, self.build)
    }
}

/// Split `-{classifier}.{ext}` / `.{ext}`.
fn classifier_and_extension(rest: &str) -> Option<(Option<String>, String)> {
    if let Some(rest) = rest.strip_prefix('-') {
        let (classifier, ext) = rest.split_once('.')?;
        (!classifier.is_empty() && !ext.is_empty())
            .then(|| (Some(classifier.to_string()), ext.to_string()))
    } else {
        let ext = rest.strip_prefix('.')?;
        (!ext.is_empty()).then(|| (None, ext.to_string()))
    }
}

/// `name` as a timestamped file of snapshot `version` (`1.0-SNAPSHOT`) of `artifact_id`.
pub fn snapshot_file(artifact_id: &str, version: &str, name: &str) -> Option<SnapshotFile> {
    let base = version.strip_suffix("-SNAPSHOT")?;
    let rest = name.strip_prefix(&format!("{artifact_id}-{base}-"))?;
    let (timestamp, rest) = rest.split_at_checked(15)?;
    let valid_timestamp = timestamp.len() == 15
        && timestamp.as_bytes()[8] == b'.'
        && timestamp
            .bytes()
            .enumerate()
            .all(|(i, b)| i == 8 || b.is_ascii_digit());
    if !valid_timestamp {
        return None;
    }
    let rest = rest.strip_prefix('-')?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let build: u32 = rest.get(..digits)?.parse().ok()?;
    let (classifier, extension) = classifier_and_extension(&rest[digits..])?;
    Some(SnapshotFile {
        timestamp: timestamp.to_string(),
        build,
        classifier,
        extension,
    })
}

/// `name` as a non-unique file of snapshot `version`: `{artifactId}-{version}[-{classifier}].{ext}`.
pub fn non_unique_file(
    artifact_id: &str,
    version: &str,
    name: &str,
) -> Option<(Option<String>, String)> {
    version.strip_suffix("-SNAPSHOT")?;
    let rest = name.strip_prefix(&format!("{artifact_id}-{version}"))?;
    classifier_and_extension(rest)
}

/// The file name of `classifier`/`extension` in a deploy of snapshot `version` as `value`
/// (`1.0-20260101.120000-3`), or as the non-unique `1.0-SNAPSHOT` when `value` is `version`.
pub fn file_name(
    artifact_id: &str,
    value: &str,
    classifier: Option<&str>,
    extension: &str,
) -> String {
    match classifier {
        Some(c) => format!("{artifact_id}-{value}-{c}.{extension}"),
        None => format!("{artifact_id}-{value}.{extension}"),
    }
}

/// The artifact-level `maven-metadata.xml` of `group_id:artifact_id` holding `versions`.
pub fn artifact_metadata(
    group_id: &str,
    artifact_id: &str,
    mut versions: Vec<String>,
    last_updated: &str,
) -> Metadata {
    versions.sort_by(|a, b| compare_versions(a, b));
    versions.dedup();
    Metadata {
        model_version: None,
        group_id: Some(group_id.to_string()),
        artifact_id: Some(artifact_id.to_string()),
        version: None,
        versioning: Some(Versioning {
            latest: versions.last().cloned(),
            release: versions
                .iter()
                .rev()
                .find(|v| !v.ends_with("-SNAPSHOT"))
                .cloned(),
            snapshot: None,
            versions: Some(Versions { version: versions }),
            last_updated: Some(last_updated.to_string()),
            snapshot_versions: None,
        }),
        plugins: None,
    }
}

/// The `maven-metadata.xml` of snapshot `version` from the names of the files in its folder:
/// the newest build, and per classifier and extension the newest file. `None` when no
/// timestamped file is there (non-unique snapshots have only `lastUpdated` then).
pub fn snapshot_metadata(
    group_id: &str,
    artifact_id: &str,
    version: &str,
    names: &[String],
    last_updated: &str,
) -> Metadata {
    let base = version.strip_suffix("-SNAPSHOT").unwrap_or(version);
    let files: Vec<SnapshotFile> = names
        .iter()
        .filter_map(|n| snapshot_file(artifact_id, version, n))
        .collect();
    let newest = files
        .iter()
        .max_by(|a, b| (a.build, &a.timestamp).cmp(&(b.build, &b.timestamp)));
    let mut versions: Vec<SnapshotVersion> = Vec::new();
    for f in &files {
        let entry = SnapshotVersion {
            classifier: f.classifier.clone(),
            extension: Some(f.extension.clone()),
            value: Some(f.value(base)),
            updated: Some(f.timestamp.replace('.', "")),
        };
        match versions
            .iter_mut()
            .find(|v| v.classifier == entry.classifier && v.extension == entry.extension)
        {
            Some(existing)
                if entry.value.as_deref().map(build_of)
                    > existing.value.as_deref().map(build_of) =>
            {
                *existing = entry
            }
            Some(_) => {}
            None => versions.push(entry),
        }
    }
    // non-unique files of the same version are listed with the version itself
    for name in names {
        if let Some((classifier, extension)) = non_unique_file(artifact_id, version, name)
            && !versions
                .iter()
                .any(|v| v.classifier == classifier && v.extension.as_deref() == Some(&extension))
        {
            versions.push(SnapshotVersion {
                classifier,
                extension: Some(extension),
                value: Some(version.to_string()),
                updated: Some(last_updated.to_string()),
            });
        }
    }
    versions.sort_by(|a, b| (&a.extension, &a.classifier).cmp(&(&b.extension, &b.classifier)));
    Metadata {
        model_version: Some("1.1.0".into()),
        group_id: Some(group_id.to_string()),
        artifact_id: Some(artifact_id.to_string()),
        version: Some(version.to_string()),
        versioning: Some(Versioning {
            latest: None,
            release: None,
            snapshot: newest.map(|f| Snapshot {
                timestamp: Some(f.timestamp.clone()),
                build_number: Some(f.build),
                local_copy: None,
            }),
            versions: None,
            last_updated: Some(last_updated.to_string()),
            snapshot_versions: (!versions.is_empty()).then_some(SnapshotVersions {
                snapshot_version: versions,
            }),
        }),
        plugins: None,
    }
}

/// The build number of a snapshot value (`1.0-20260101.120000-3` → 3).
fn build_of(value: &str) -> u32 {
    value
        .rsplit('-')
        .next()
        .and_then(|b| b.parse().ok())
        .unwrap_or(0)
}

/// What a POM says it is.
#[derive(Debug, Default, Deserialize)]
struct Pom {
    #[serde(rename = "groupId", default)]
    group_id: Option<String>,
    #[serde(rename = "artifactId", default)]
    artifact_id: Option<String>,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    parent: Option<PomParent>,
}

#[derive(Debug, Default, Deserialize)]
struct PomParent {
    #[serde(rename = "groupId", default)]
    group_id: Option<String>,
    #[serde(default)]
    version: Option<String>,
}

/// The `groupId:artifactId:version` a POM declares (group and version inherited from its
/// parent when absent).
pub fn pom_coordinates(bytes: &[u8]) -> Result<(String, String, String), String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))?;
    let pom: Pom = quick_xml::de::from_str(text).map_err(|e| e.to_string())?;
    let parent = pom.parent.unwrap_or_default();
    let group = pom.group_id.or(parent.group_id).unwrap_or_default();
    let version = pom.version.or(parent.version).unwrap_or_default();
    let artifact = pom.artifact_id.unwrap_or_default();
    Ok((
        group.trim().to_string(),
        artifact.trim().to_string(),
        version.trim().to_string(),
    ))
}

/// `lastUpdated` of metadata written at `ms`: `yyyyMMddHHmmss` (UTC).
pub fn last_updated(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// A snapshot timestamp of `ms`: `yyyyMMdd.HHmmss` (UTC).
pub fn snapshot_timestamp(ms: i64) -> String {
    let s = last_updated(ms);
    format!("{}.{}", &s[..8], &s[8..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinates_of_layout_paths() {
        let c = coordinates("com/example/demo-lib/1.0/demo-lib-1.0.jar").expect("jar");
        assert_eq!(c.group_id(), "com.example");
        assert_eq!(c.artifact_id, "demo-lib");
        assert_eq!(c.version, "1.0");
        assert_eq!(c.artifact_folder(), "com/example/demo-lib");
        assert!(coordinates("com/example/demo-lib/maven-metadata.xml").is_none());
        assert!(coordinates("demo-lib/1.0/demo-lib-1.0.jar").is_none());
        assert!(coordinates("com/x/1.0/other-1.0.jar").is_none());
    }

    #[test]
    fn snapshot_file_names() {
        let f = snapshot_file("a", "1.0-SNAPSHOT", "a-1.0-20261207.101112-3-sources.jar")
            .expect("timestamped");
        assert_eq!(f.timestamp, "20261207.101112");
        assert_eq!(f.build, 3);
        assert_eq!(f.classifier.as_deref(), Some("sources"));
        assert_eq!(f.extension, "jar");
        assert_eq!(f.value("1.0"), "1.0-20261207.101112-3");
        let pom = snapshot_file("a", "1.0-SNAPSHOT", "a-1.0-20261207.101112-12.pom").expect("pom");
        assert_eq!(
            (pom.build, pom.classifier, pom.extension.as_str()),
            (12, None, "pom")
        );
        assert!(snapshot_file("a", "1.0-SNAPSHOT", "a-1.0-SNAPSHOT.jar").is_none());
        assert!(snapshot_file("a", "1.0-SNAPSHOT", "a-1.0-2026120.101112-1.jar").is_none());
        assert!(snapshot_file("a", "1.0", "a-1.0-20261207.101112-1.jar").is_none());
        assert_eq!(
            non_unique_file("a", "1.0-SNAPSHOT", "a-1.0-SNAPSHOT-tests.jar"),
            Some((Some("tests".into()), "jar".into()))
        );
        for garbage in [
            "",
            "a-",
            "a-1.0-",
            "a-1.0-20261207.101112-",
            "a-1.0-20261207.101112-x.jar",
            "a-1.0-éééééééééééééééé",
        ] {
            let _ = snapshot_file("a", "1.0-SNAPSHOT", garbage);
            let _ = non_unique_file("a", "1.0-SNAPSHOT", garbage);
        }
    }

    #[test]
    fn calculated_metadata() {
        let m = artifact_metadata(
            "g",
            "a",
            vec!["1.10".into(), "1.2".into(), "2.0-SNAPSHOT".into()],
            "20261207000000",
        );
        let v = m.versioning.expect("versioning");
        assert_eq!(v.latest.as_deref(), Some("2.0-SNAPSHOT"));
        assert_eq!(v.release.as_deref(), Some("1.10"));
        let names: Vec<String> = [
            "a-1.0-20261207.100000-1.jar",
            "a-1.0-20261207.100000-1.pom",
            "a-1.0-20261207.110000-2.jar",
            "a-1.0-20261207.110000-2.pom",
            "a-1.0-20261207.110000-2-sources.jar",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let s = snapshot_metadata("g", "a", "1.0-SNAPSHOT", &names, "20261207110001");
        let xml = s.to_xml().expect("xml");
        assert!(xml.contains("<buildNumber>2</buildNumber>"), "{xml}");
        assert!(
            xml.contains("<timestamp>20261207.110000</timestamp>"),
            "{xml}"
        );
        assert!(
            xml.contains("<value>1.0-20261207.110000-2</value>"),
            "{xml}"
        );
        assert!(!xml.contains("-1</value>"), "{xml}");
        assert!(xml.contains("<classifier>sources</classifier>"), "{xml}");
    }

    #[test]
    fn pom_coordinates_inherit_from_the_parent() {
        let pom = br#"<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
            <parent><groupId>org.p</groupId><artifactId>p</artifactId><version>3</version></parent>
            <artifactId>child</artifactId><dependencies><dependency><groupId>x</groupId></dependency></dependencies></project>"#;
        assert_eq!(
            pom_coordinates(pom).expect("pom"),
            ("org.p".into(), "child".into(), "3".into())
        );
        assert!(pom_coordinates(b"<project><groupId>").is_err());
        assert_eq!(last_updated(0), "19700101000000");
        assert_eq!(snapshot_timestamp(1_000), "19700101.000001");
    }
}
