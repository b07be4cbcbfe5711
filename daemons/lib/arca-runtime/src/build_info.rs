//! Build identification for banners and `/api/system/version`.

use std::fmt;

/// Version, git revision and build date of a binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BuildInfo {
    /// The workspace version (all arca crates share it), or `ARCA_VERSION` at build time.
    pub version: &'static str,
    /// Short (12 hex digits) git revision, or "unknown".
    pub revision: &'static str,
    /// Release/commit date `YYYY-MM-DD` (from `SOURCE_DATE_EPOCH` or the commit date), or "unknown".
    pub timestamp: &'static str,
}

/// Build info of this workspace; `version` is the workspace version (every arca crate's),
/// unless the build set `ARCA_VERSION` (see build.rs).
pub const BUILD: BuildInfo = BuildInfo {
    version: env!("ARCA_VERSION"),
    revision: env!("ARCA_GIT_REVISION"),
    timestamp: env!("ARCA_BUILD_DATE"),
};

/// [`BuildInfo`] with the *calling* crate's `CARGO_PKG_VERSION` (revision and date
/// come from [`BUILD`]).
///
/// ```
/// let info = arca_runtime::build_info!();
/// assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
/// ```
#[macro_export]
macro_rules! build_info {
    () => {
        $crate::BuildInfo {
            version: ::core::env!("CARGO_PKG_VERSION"),
            revision: $crate::BUILD.revision,
            timestamp: $crate::BUILD.timestamp,
        }
    };
}

impl fmt::Display for BuildInfo {
    /// `0.1.0 (rev 0123456789ab, 2025-11-25)`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (rev {}, {})",
            self.version, self.revision, self.timestamp
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_info_is_populated() {
        // without ARCA_VERSION at build time, the workspace version
        assert_eq!(BUILD.version, env!("CARGO_PKG_VERSION"));
        assert!(!BUILD.revision.is_empty());
        assert!(
            BUILD.revision == "unknown" || BUILD.revision.bytes().all(|b| b.is_ascii_hexdigit()),
            "{}",
            BUILD.revision
        );
        assert!(
            BUILD.timestamp == "unknown" || BUILD.timestamp.len() == 10,
            "{}",
            BUILD.timestamp
        );
        assert_eq!(crate::build_info!(), BUILD);
        let shown = BUILD.to_string();
        assert!(shown.starts_with(BUILD.version) && shown.contains(BUILD.revision));
    }
}
