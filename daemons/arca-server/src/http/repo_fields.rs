//! The reference's repository configuration fields that arca stores and shows but does not act
//! on (`xrayIndex`, `propertySets`, a Docker repository's `dockerApiVersion`, …), with the kinds
//! and package types each belongs to and its default. A configuration exported from the
//! reference, or written by a tool for it, carries fields of every package type and kind: those
//! that belong to the repository are kept and returned by `GET` (so the document round-trips),
//! the others are accepted and ignored, and the answer names them (`docs/api.md`).

use serde_json::Value;

use arca_db::Repo;
use arca_db::model::{LOCAL, REMOTE, VIRTUAL};

use crate::http::error::{ApiError, ApiResult};

/// One field: its name, the kinds (`rclass`) and package types it belongs to (empty: all of
/// them), and its default as JSON — whose type is the type a value must have.
pub struct ReferenceField {
    pub name: &'static str,
    kinds: &'static [&'static str],
    package_types: &'static [&'static str],
    default: &'static str,
}

const L: &[&str] = &[LOCAL];
const R: &[&str] = &[REMOTE];
const V: &[&str] = &[VIRTUAL];
const LR: &[&str] = &[LOCAL, REMOTE];
const LV: &[&str] = &[LOCAL, VIRTUAL];
const RV: &[&str] = &[REMOTE, VIRTUAL];
const LRV: &[&str] = &[LOCAL, REMOTE, VIRTUAL];
const ALL: &[&str] = &[];

const MAVEN_FAMILY: &[&str] = &["maven", "gradle", "ivy", "sbt"];
const DEBIAN: &[&str] = &["debian"];
const RPM: &[&str] = &["rpm", "yum"];
const DOCKER: &[&str] = &["docker"];
const NUGET: &[&str] = &["nuget"];
const SIGNED: &[&str] = &["debian", "rpm", "yum", "alpine"];
const WITH_EXTERNAL_DEPENDENCIES: &[&str] = &["npm", "bower", "go", "docker"];
const VCS: &[&str] = &["vcs", "bower", "cocoapods", "composer", "go", "cargo"];

const fn field(
    name: &'static str,
    kinds: &'static [&'static str],
    package_types: &'static [&'static str],
    default: &'static str,
) -> ReferenceField {
    ReferenceField {
        name,
        kinds,
        package_types,
        default,
    }
}

/// The reference's fields arca keeps without acting on them (`artifactory-ha-compat.md`, §5,
/// and the reference's repository configuration JSON). `repoLayoutRef`'s default is the
/// format's layout ([`crate::formats::Format::layout_ref`]).
pub const REFERENCE_FIELDS: &[ReferenceField] = &[
    field("projectKey", LRV, ALL, r#""""#),
    field("environments", LRV, ALL, "[]"),
    field("repoLayoutRef", LRV, ALL, r#""""#),
    field("xrayIndex", LR, ALL, "false"),
    field("propertySets", LR, ALL, "[]"),
    field("archiveBrowsingEnabled", LR, ALL, "false"),
    field("downloadRedirect", LR, ALL, "false"),
    field("cdnRedirect", LR, ALL, "false"),
    field("priorityResolution", LR, ALL, "false"),
    // local, by package type
    field("debianTrivialLayout", LV, DEBIAN, "false"),
    field("optionalIndexCompressionFormats", LV, DEBIAN, "[]"),
    field("primaryKeyPairRef", LV, SIGNED, r#""""#),
    field("secondaryKeyPairRef", LV, SIGNED, r#""""#),
    field("calculateYumMetadata", L, RPM, "false"),
    field("yumRootDepth", L, RPM, "0"),
    field("yumGroupFileNames", L, RPM, r#""""#),
    field("enableFileListsIndexing", L, RPM, "false"),
    field("dockerApiVersion", L, DOCKER, r#""V2""#),
    field("maxUniqueTags", LR, DOCKER, "0"),
    field("blockPushingSchema1", LR, DOCKER, "true"),
    field("forceNugetAuthentication", LRV, NUGET, "false"),
    field("cargoInternalIndex", L, &["cargo"], "false"),
    field("cargoAnonymousAccess", LR, &["cargo"], "false"),
    field("terraformType", LRV, &["terraform"], r#""MODULE""#),
    // remote
    field("remoteRepoLayoutRef", R, ALL, r#""""#),
    field("proxy", R, ALL, r#""""#),
    field("disableProxy", R, ALL, "false"),
    field("localAddress", R, ALL, r#""""#),
    field(
        "remoteRepoChecksumPolicyType",
        R,
        ALL,
        r#""generate-if-absent""#,
    ),
    field("unusedArtifactsCleanupPeriodHours", R, ALL, "0"),
    field("shareConfiguration", R, ALL, "false"),
    field("synchronizeProperties", R, ALL, "false"),
    field("blockMismatchingMimeTypes", R, ALL, "true"),
    field("mismatchingMimeTypesOverrideList", R, ALL, r#""""#),
    field("allowAnyHostAuth", R, ALL, "false"),
    field("enableCookieManagement", R, ALL, "false"),
    field("enableTokenAuthentication", R, ALL, "false"),
    field("bypassHeadRequests", R, ALL, "false"),
    field("clientTlsCertificate", R, ALL, r#""""#),
    field("listRemoteFolderItems", R, ALL, "true"),
    field("disableUrlNormalization", R, ALL, "false"),
    field("queryParams", R, ALL, r#""""#),
    field("curated", R, ALL, "false"),
    field(
        "contentSynchronisation",
        R,
        ALL,
        r#"{"enabled":false,"statistics":{"enabled":false},"properties":{"enabled":false},"source":{"originAbsenceDetection":false}}"#,
    ),
    field("maxUniqueSnapshots", R, MAVEN_FAMILY, "0"),
    field("suppressPomConsistencyChecks", R, MAVEN_FAMILY, "false"),
    field("fetchJarsEagerly", R, MAVEN_FAMILY, "false"),
    field("fetchSourcesEagerly", R, MAVEN_FAMILY, "false"),
    field("rejectInvalidJars", R, MAVEN_FAMILY, "false"),
    field(
        "bowerRegistryUrl",
        R,
        &["bower"],
        r#""https://registry.bower.io""#,
    ),
    field(
        "gitRegistryUrl",
        R,
        &["cargo", "cocoapods"],
        r#""https://github.com/rust-lang/crates.io-index""#,
    ),
    field(
        "composerRegistryUrl",
        R,
        &["composer"],
        r#""https://packagist.org""#,
    ),
    field("pyPIRegistryUrl", R, &["pypi"], r#""https://pypi.org""#),
    // acted on: where a remote repository finds its upstream's project pages (formats/mod.rs)
    field("pyPIRepositorySuffix", R, &["pypi"], r#""simple""#),
    field("vcsType", R, VCS, r#""GIT""#),
    field("vcsGitProvider", R, VCS, r#""GITHUB""#),
    field("vcsGitDownloadUrl", R, VCS, r#""""#),
    field("feedContextPath", R, NUGET, r#""api/v2""#),
    field("downloadContextPath", R, NUGET, r#""api/v2/package""#),
    field(
        "v3FeedUrl",
        R,
        NUGET,
        r#""https://api.nuget.org/v3/index.json""#,
    ),
    field(
        "externalDependenciesEnabled",
        RV,
        WITH_EXTERNAL_DEPENDENCIES,
        "false",
    ),
    field(
        "externalDependenciesPatterns",
        RV,
        WITH_EXTERNAL_DEPENDENCIES,
        "[]",
    ),
    // virtual
    field(
        "artifactoryRequestsCanRetrieveRemoteArtifacts",
        V,
        ALL,
        "false",
    ),
    field("keyPair", V, ALL, r#""""#),
    field(
        "pomRepositoryReferencesCleanupPolicy",
        V,
        MAVEN_FAMILY,
        r#""discard_active_reference""#,
    ),
    field("forceMavenAuthentication", V, MAVEN_FAMILY, "false"),
    field("debianDefaultArchitectures", V, DEBIAN, r#""i386,amd64""#),
    field(
        "externalDependenciesRemoteRepo",
        V,
        WITH_EXTERNAL_DEPENDENCIES,
        r#""""#,
    ),
    field("resolveDockerTagsByTimestamp", V, DOCKER, "false"),
];

impl ReferenceField {
    /// The field named `name`, if the reference has it.
    pub fn named(name: &str) -> Option<&'static ReferenceField> {
        REFERENCE_FIELDS.iter().find(|f| f.name == name)
    }

    /// Whether the field belongs to `repo` (its kind and package type).
    pub fn belongs_to(&self, repo: &Repo) -> bool {
        self.kinds.contains(&repo.rclass.as_str())
            && (self.package_types.is_empty()
                || self.package_types.contains(&repo.package_type.as_str()))
    }

    /// Why the field does not belong to `repo`, for the list of ignored fields.
    pub fn why_not(&self, repo: &Repo) -> String {
        if !self.kinds.contains(&repo.rclass.as_str()) {
            format!("{} repositories only", self.kinds.join("/"))
        } else {
            format!("{} repositories only", self.package_types.join("/"))
        }
    }

    pub fn default_value(&self) -> Value {
        serde_json::from_str(self.default).unwrap_or(Value::Null)
    }

    /// `value` checked against the type of the default (the reference's JSON also spells
    /// booleans as `"true"`/`"false"`; they are stored as booleans); `null` is the default.
    pub fn check(&self, value: &Value) -> ApiResult<Value> {
        let default = self.default_value();
        let bad =
            |what: &str| ApiError::bad_request(format!("Field '{}' must be {what}", self.name));
        match (&default, value) {
            (_, Value::Null) => Ok(default.clone()),
            (Value::Bool(_), Value::Bool(b)) => Ok(Value::Bool(*b)),
            (Value::Bool(_), Value::String(s)) => match s.as_str() {
                "true" => Ok(Value::Bool(true)),
                "false" => Ok(Value::Bool(false)),
                _ => Err(bad("true or false")),
            },
            (Value::Bool(_), _) => Err(bad("true or false")),
            (Value::Number(_), Value::Number(n)) if n.is_u64() => Ok(value.clone()),
            (Value::Number(_), _) => Err(bad("a whole number")),
            (Value::String(_), Value::String(_)) => Ok(value.clone()),
            (Value::String(_), _) => Err(bad("a string")),
            (Value::Array(_), Value::Array(items)) if items.iter().all(Value::is_string) => {
                Ok(value.clone())
            }
            // the reference also takes a comma-separated string for lists of names
            (Value::Array(_), Value::String(s)) => Ok(Value::Array(
                s.split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(|p| Value::String(p.to_string()))
                    .collect(),
            )),
            (Value::Array(_), _) => Err(bad("a list of strings")),
            (Value::Object(_), Value::Object(_)) => Ok(value.clone()),
            (Value::Object(_), _) => Err(bad("a JSON object")),
            _ => Err(bad("of the reference's type")),
        }
    }
}

/// Every reference field that belongs to `repo`, with its stored value or its default.
pub fn shown(repo: &Repo, layout_ref: &str) -> Vec<(&'static str, Value)> {
    REFERENCE_FIELDS
        .iter()
        .filter(|f| f.belongs_to(repo))
        .map(|f| {
            let value = match repo.settings.reference.get(f.name) {
                Some(v) => v.clone(),
                None if f.name == "repoLayoutRef" => Value::String(layout_ref.to_string()),
                None => f.default_value(),
            };
            (f.name, value)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_is_json_and_every_name_is_listed_once() {
        let mut names = std::collections::HashSet::new();
        for f in REFERENCE_FIELDS {
            assert!(
                serde_json::from_str::<Value>(f.default).is_ok(),
                "{}",
                f.name
            );
            assert!(names.insert(f.name), "{} is listed twice", f.name);
            assert!(!f.kinds.is_empty(), "{}", f.name);
        }
    }

    #[test]
    fn values_are_checked_against_the_default_type() {
        let f = ReferenceField::named("xrayIndex").unwrap();
        assert_eq!(
            f.check(&Value::String("true".into())).unwrap(),
            Value::Bool(true)
        );
        assert!(f.check(&Value::String("yes".into())).is_err());
        let f = ReferenceField::named("propertySets").unwrap();
        assert_eq!(
            f.check(&Value::String("a, b".into())).unwrap(),
            serde_json::json!(["a", "b"])
        );
        assert!(f.check(&serde_json::json!([1])).is_err());
        let f = ReferenceField::named("yumRootDepth").unwrap();
        assert!(f.check(&serde_json::json!(-1)).is_err());
        assert_eq!(f.check(&Value::Null).unwrap(), serde_json::json!(0));
    }
}
