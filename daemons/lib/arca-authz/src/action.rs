//! Actions and sets of actions, closed under implication.

use crate::AuthzError;

/// One permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    Read,
    Annotate,
    Deploy,
    Delete,
    Manage,
}

impl Action {
    pub const ALL: [Action; 5] = [
        Action::Read,
        Action::Annotate,
        Action::Deploy,
        Action::Delete,
        Action::Manage,
    ];

    /// arca's name (arcactl, docs).
    pub fn name(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Annotate => "annotate",
            Action::Deploy => "deploy",
            Action::Delete => "delete",
            Action::Manage => "manage",
        }
    }

    /// The reference's v2 permission API name (`write` for deploy).
    pub fn v2_name(self) -> &'static str {
        match self {
            Action::Deploy => "write",
            other => other.name(),
        }
    }

    /// The reference's v1 permission API code.
    pub fn v1_code(self) -> &'static str {
        match self {
            Action::Read => "r",
            Action::Annotate => "n",
            Action::Deploy => "w",
            Action::Delete => "d",
            Action::Manage => "m",
        }
    }

    /// Either name, any case; also the reference's one-letter v1 codes (r, n, w, d, m).
    pub fn parse(s: &str) -> Option<Action> {
        match s.trim().to_ascii_lowercase().as_str() {
            "read" | "r" => Some(Action::Read),
            "annotate" | "n" => Some(Action::Annotate),
            "deploy" | "write" | "w" => Some(Action::Deploy),
            "delete" | "d" => Some(Action::Delete),
            "manage" | "admin" | "m" => Some(Action::Manage),
            _ => None,
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of actions, closed under implication (granting delete grants deploy, annotate, read).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Actions(u8);

impl Actions {
    pub const NONE: Actions = Actions(0);
    pub const ALL: Actions = Actions(0b1_1111);

    /// The granted actions plus everything they imply.
    pub fn granted(actions: impl IntoIterator<Item = Action>) -> Actions {
        let mut bits = 0u8;
        for a in actions {
            // an action implies every action below it
            for lower in Action::ALL.iter().filter(|l| **l <= a) {
                bits |= lower.bit();
            }
        }
        Actions(bits)
    }

    /// Parse a list (`read,deploy` or JSON-ish names); names the bad entry.
    pub fn parse_list<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Actions, AuthzError> {
        let mut list = Vec::new();
        for n in names {
            if n.trim().is_empty() {
                continue;
            }
            list.push(Action::parse(n).ok_or_else(|| AuthzError::UnknownAction(n.to_string()))?);
        }
        Ok(Actions::granted(list))
    }

    pub fn contains(self, a: Action) -> bool {
        self.0 & a.bit() != 0
    }

    pub fn union(self, other: Actions) -> Actions {
        Actions(self.0 | other.0)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Action> {
        Action::ALL.into_iter().filter(move |a| self.contains(*a))
    }

    /// Stored form: `read,annotate,deploy`.
    pub fn to_stored(self) -> String {
        self.iter().map(Action::name).collect::<Vec<_>>().join(",")
    }
}
