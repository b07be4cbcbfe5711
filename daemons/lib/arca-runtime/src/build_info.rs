//! Build identification for banners and `/api/system/version`.
//!
//! The version lives in a fixed-size *stamp* in the binary's data, which packaging can
//! rewrite after the build (`packaging/lib.sh` `pkg_stamp_version`): packages of another
//! version of the same code (the upgrade tests' version N+1) then report their version
//! without a second release build. The build sets the stamp to the workspace version, or to
//! `ARCA_VERSION` when the build environment has it (see build.rs).

use std::fmt;

/// Version, git revision and build date of a binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BuildInfo {
    /// The version in the binary's stamp: the workspace version unless the build or the
    /// packaging set another one.
    pub version: &'static str,
    /// Short (12 hex digits) git revision, or "unknown".
    pub revision: &'static str,
    /// Release/commit date `YYYY-MM-DD` (from `SOURCE_DATE_EPOCH` or the commit date), or "unknown".
    pub timestamp: &'static str,
}

/// Bytes of the stamp: the marker, then the version, NUL-padded.
pub const VERSION_STAMP_LEN: usize = 64;
/// Opens the stamp; packaging finds the stamp by it and refuses a binary with two.
const VERSION_STAMP_MARKER: &[u8] = b"\0arca-version-stamp:";

/// The stamp. Only reached through [`std::hint::black_box`], so that the compiler cannot
/// fold the build-time value into the code: what packaging writes here is what is read.
static VERSION_STAMP: [u8; VERSION_STAMP_LEN] = version_stamp(env!("ARCA_VERSION"));

/// The stamp of `version` (build time): the marker, the version, NULs. A version that does not
/// fit (or holds a NUL) fails the build.
const fn version_stamp(version: &str) -> [u8; VERSION_STAMP_LEN] {
    let version = version.as_bytes();
    assert!(
        VERSION_STAMP_MARKER.len() + version.len() < VERSION_STAMP_LEN,
        "ARCA_VERSION does not fit the version stamp"
    );
    let mut stamp = [0u8; VERSION_STAMP_LEN];
    let mut i = 0;
    while i < VERSION_STAMP_MARKER.len() {
        stamp[i] = VERSION_STAMP_MARKER[i];
        i += 1;
    }
    let mut j = 0;
    while j < version.len() {
        assert!(version[j] != 0, "ARCA_VERSION holds a NUL");
        stamp[i + j] = version[j];
        j += 1;
    }
    stamp
}

/// The version in `stamp`: the bytes after the marker up to the first NUL; `None` unless they
/// are non-empty UTF-8. (The marker is skipped, not compared: comparing would put a second copy
/// of it into the binary.)
fn stamped_version(stamp: &[u8; VERSION_STAMP_LEN]) -> Option<&str> {
    let rest = &stamp[VERSION_STAMP_MARKER.len()..];
    let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
    std::str::from_utf8(&rest[..end])
        .ok()
        .filter(|v| !v.is_empty())
}

/// Build info of this binary: the stamped version (the build's `ARCA_VERSION` should the stamp
/// have been damaged), the git revision and the build date.
pub fn build() -> BuildInfo {
    let stamp: &'static [u8; VERSION_STAMP_LEN] = std::hint::black_box(&VERSION_STAMP);
    BuildInfo {
        version: stamped_version(stamp).unwrap_or(env!("ARCA_VERSION")),
        revision: env!("ARCA_GIT_REVISION"),
        timestamp: env!("ARCA_BUILD_DATE"),
    }
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
        let build = build();
        // without ARCA_VERSION at build time, the workspace version
        assert_eq!(build.version, env!("CARGO_PKG_VERSION"));
        assert!(!build.revision.is_empty());
        assert!(
            build.revision == "unknown" || build.revision.bytes().all(|b| b.is_ascii_hexdigit()),
            "{}",
            build.revision
        );
        assert!(
            build.timestamp == "unknown" || build.timestamp.len() == 10,
            "{}",
            build.timestamp
        );
        let shown = build.to_string();
        assert!(shown.starts_with(build.version) && shown.contains(build.revision));
    }

    #[test]
    fn a_rewritten_stamp_is_the_version() {
        let mut stamp = version_stamp("0.1.0");
        assert!(stamp.starts_with(VERSION_STAMP_MARKER));
        assert_eq!(stamped_version(&stamp), Some("0.1.0"));
        // what packaging does: the version after the marker, NUL-padded
        let at = VERSION_STAMP_MARKER.len();
        stamp[at..].fill(0);
        stamp[at..at + 8].copy_from_slice(b"0.10.1~1");
        assert_eq!(stamped_version(&stamp), Some("0.10.1~1"));
        // the longest version that fits leaves no NUL
        stamp[at..].fill(b'9');
        assert_eq!(
            stamped_version(&stamp).map(str::len),
            Some(VERSION_STAMP_LEN - at)
        );
        // damaged: empty or not UTF-8
        stamp[at..].fill(0);
        assert_eq!(stamped_version(&stamp), None);
        stamp[at] = 0xff;
        assert_eq!(stamped_version(&stamp), None);
    }
}
