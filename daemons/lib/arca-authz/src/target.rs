//! Permission targets: which repositories and paths they cover, who they grant what.

use std::collections::BTreeMap;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use crate::{Actions, AuthzError, validate_name};

/// A permission target as stored.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PermissionTarget {
    pub name: String,
    /// Repository keys, `*`/`?` patterns, `ANY`, `ANY LOCAL`, `ANY REMOTE`, `ANY VIRTUAL`.
    pub repositories: Vec<String>,
    /// Ant-style path patterns, comma separated in the reference; `**` by default.
    pub include_patterns: Vec<String>,
    pub exclude_patterns: Vec<String>,
    pub users: BTreeMap<String, Actions>,
    pub groups: BTreeMap<String, Actions>,
}

/// `ANY`-style repository selectors of the reference.
pub(crate) const ANY_SELECTORS: [&str; 4] = ["ANY", "ANY LOCAL", "ANY REMOTE", "ANY VIRTUAL"];

pub(crate) fn compile_globs(
    field: &'static str,
    patterns: &[String],
    separator: char,
) -> Result<GlobSet, AuthzError> {
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        let glob = GlobBuilder::new(p)
            .literal_separator(separator == '/')
            .build()
            .map_err(|reason| AuthzError::InvalidPattern {
                field,
                pattern: p.clone(),
                reason,
            })?;
        b.add(glob);
    }
    b.build()
        .map_err(|reason| AuthzError::Patterns { field, reason })
}

impl PermissionTarget {
    /// A target over `repositories` with these path patterns and no grants yet (they go into
    /// `users` and `groups`); not validated.
    pub fn new(name: &str, repositories: &[&str], include: &[&str], exclude: &[&str]) -> Self {
        let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        PermissionTarget {
            name: name.to_string(),
            repositories: owned(repositories),
            include_patterns: owned(include),
            exclude_patterns: owned(exclude),
            ..PermissionTarget::default()
        }
    }

    /// Check names, selectors and patterns; normalises (trims, drops empty entries, defaults the
    /// include pattern to `**`).
    pub fn validate(mut self) -> Result<PermissionTarget, AuthzError> {
        validate_name("permission target", &self.name)?;
        let clean = |v: Vec<String>| -> Vec<String> {
            v.into_iter()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        };
        self.repositories = clean(self.repositories);
        self.include_patterns = clean(self.include_patterns);
        self.exclude_patterns = clean(self.exclude_patterns);
        if self.repositories.is_empty() {
            return Err(AuthzError::NoRepositories { target: self.name });
        }
        for r in &self.repositories {
            let upper = r.to_ascii_uppercase();
            if upper.starts_with("ANY") && !ANY_SELECTORS.contains(&upper.as_str()) {
                return Err(AuthzError::UnknownSelector {
                    target: self.name.clone(),
                    selector: r.clone(),
                });
            }
        }
        if self.include_patterns.is_empty() {
            self.include_patterns = vec!["**".to_string()];
        }
        compile_globs("repositories", &self.repositories, '\0')?;
        compile_globs("include-patterns", &self.include_patterns, '/')?;
        compile_globs("exclude-patterns", &self.exclude_patterns, '/')?;
        for (kind, names) in [("user", &self.users), ("group", &self.groups)] {
            for name in names.keys() {
                validate_name(kind, name)?;
            }
        }
        Ok(self)
    }
}

impl PermissionTarget {
    /// The reference's v2 JSON (`GET /api/v2/security/permissions/{name}`; also
    /// `arcactl permission show --json`): actions by their v2 names (`write` for deploy).
    /// The reference's v1 shape: patterns as comma-separated strings, one-letter actions.
    pub fn to_v1_json(&self) -> serde_json::Value {
        let v1 = |grants: &BTreeMap<String, Actions>| -> serde_json::Value {
            serde_json::Value::Object(
                grants
                    .iter()
                    .map(|(who, a)| {
                        let codes: Vec<serde_json::Value> =
                            a.iter().map(|x| x.v1_code().into()).collect();
                        (who.clone(), serde_json::Value::Array(codes))
                    })
                    .collect(),
            )
        };
        let includes = if self.include_patterns.is_empty() {
            "**".to_string()
        } else {
            self.include_patterns.join(",")
        };
        serde_json::json!({
            "name": self.name,
            "includesPattern": includes,
            "excludesPattern": self.exclude_patterns.join(","),
            "repositories": self.repositories,
            "principals": {
                "users": v1(&self.users),
                "groups": v1(&self.groups),
            },
        })
    }

    pub fn to_v2_json(&self) -> serde_json::Value {
        let v2 = |grants: &BTreeMap<String, Actions>| -> serde_json::Value {
            serde_json::Value::Object(
                grants
                    .iter()
                    .map(|(who, a)| {
                        let names: Vec<serde_json::Value> =
                            a.iter().map(|x| x.v2_name().into()).collect();
                        (who.clone(), serde_json::Value::Array(names))
                    })
                    .collect(),
            )
        };
        serde_json::json!({
            "name": self.name,
            "repo": {
                "include-patterns": self.include_patterns,
                "exclude-patterns": self.exclude_patterns,
                "repositories": self.repositories,
                "actions": {
                    "users": v2(&self.users),
                    "groups": v2(&self.groups),
                },
            },
        })
    }
}
