//! Access token scopes.

use crate::{AuthzError, Subject};

/// What an access token's scope lets it use of its user's rights.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenScope {
    /// The user's own rights: `member-of-groups:*`, `applied-permissions/user`,
    /// `applied-permissions/admin` (admin only if the user is one).
    User,
    /// Only the grants of these groups (those the user belongs to); never admin through the
    /// user's own flag: `member-of-groups:g1,g2`, `applied-permissions/groups:g1,g2`.
    Groups(Vec<String>),
}

impl TokenScope {
    /// Parse a stored or requested scope (space separated; `api:*` is ignored). Unknown
    /// entries are refused with their name.
    pub fn parse(scope: &str) -> Result<TokenScope, AuthzError> {
        let mut groups: Option<Vec<String>> = None;
        let mut user = false;
        for part in scope.split_whitespace() {
            let list = part
                .strip_prefix("member-of-groups:")
                .or_else(|| part.strip_prefix("applied-permissions/groups:"));
            if let Some(list) = list {
                let names: Vec<String> = list
                    .split(',')
                    .map(|g| g.trim().trim_matches('"').to_string())
                    .filter(|g| !g.is_empty())
                    .collect();
                if names.iter().any(|g| g == "*") {
                    user = true;
                } else {
                    groups.get_or_insert_with(Vec::new).extend(names);
                }
            } else if matches!(
                part,
                "api:*" | "applied-permissions/user" | "applied-permissions/admin"
            ) {
                if part != "api:*" {
                    user = true;
                }
            } else {
                return Err(AuthzError::UnknownScope(part.to_string()));
            }
        }
        Ok(match groups {
            Some(g) if !user => TokenScope::Groups(g),
            _ => TokenScope::User,
        })
    }

    /// The subject a token of `user` (member of `user_groups`, admin or not) acts as.
    pub fn subject(&self, user: &str, admin: bool, user_groups: &[String]) -> Subject {
        match self {
            TokenScope::User => Subject {
                user: user.to_string(),
                groups: user_groups.to_vec(),
                user_grants: true,
                admin,
            },
            TokenScope::Groups(only) => Subject {
                user: user.to_string(),
                groups: user_groups
                    .iter()
                    .filter(|g| only.contains(g))
                    .cloned()
                    .collect(),
                user_grants: false,
                admin: false,
            },
        }
    }
}
