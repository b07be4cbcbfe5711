//! Ownership checks shared by the files that hold secrets or node identity.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use nix::unistd::{Uid, User, geteuid};

use crate::error::{ConfigError, Diags};

/// Warn when `path` exists and is owned by a user other than the one this process runs as
/// (another user could then change this node's configuration).
pub(crate) fn check_owner(path: &Path, diags: &mut Diags) {
    if let Ok(meta) = fs::metadata(path)
        && let Some(w) = owner_warning(path, meta.uid(), geteuid().as_raw())
    {
        diags.warn(w);
    }
}

/// The packaged service user (sysusers.d): the owner of config files it writes.
const SERVICE_USER: &str = "arca";

/// The warning for a file owned by `owner` read by a process running as `euid`, if the owner
/// is someone who should not control this node's configuration. Fine: the process's own user;
/// root (it can change anything anyway); and, when an administrator runs the tools as root,
/// the packaged service user `arca`, which owns what the server writes.
pub(crate) fn owner_warning(path: &Path, owner: u32, euid: u32) -> Option<ConfigError> {
    if owner == euid || owner == 0 {
        return None;
    }
    if euid == 0 && user_name(owner).as_deref() == Some(SERVICE_USER) {
        return None;
    }
    let chown_to = user_name(euid).unwrap_or_else(|| euid.to_string());
    Some(ConfigError::new(
        path,
        format!(
            "owned by {} but arca runs as {}; run: chown {chown_to} {}",
            describe(owner),
            describe(euid),
            path.display()
        ),
    ))
}

fn user_name(uid: u32) -> Option<String> {
    User::from_uid(Uid::from_raw(uid))
        .ok()
        .flatten()
        .map(|u| u.name)
}

fn describe(uid: u32) -> String {
    match user_name(uid) {
        Some(name) => format!("{name} (uid {uid})"),
        None => format!("uid {uid}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_owner_is_fine() {
        assert!(owner_warning(Path::new("/x"), 5, 5).is_none());
    }

    #[test]
    fn other_owner_warns_with_chown_hint() {
        let w = owner_warning(Path::new("/h/etc/db.properties"), 4_000_001, 0).unwrap();
        assert!(
            w.message
                .starts_with("owned by uid 4000001 but arca runs as root (uid 0); "),
            "{w}"
        );
        assert!(
            w.message.ends_with("run: chown root /h/etc/db.properties"),
            "{w}"
        );
        let w = owner_warning(Path::new("/k"), 4_000_003, 4_000_002).unwrap();
        assert!(w.message.contains("run: chown 4000002 /k"), "{w}");
    }

    #[test]
    fn root_owned_files_are_fine_for_the_service_user() {
        assert!(owner_warning(Path::new("/etc/arca/system.properties"), 0, 4_000_002).is_none());
    }

    #[test]
    fn check_owner_on_real_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, "x").unwrap();
        let mut diags = Diags::default();
        check_owner(&path, &mut diags);
        assert!(diags.list.is_empty(), "{:?}", diags.list);
        // Only root can give a file away.
        if geteuid().is_root() {
            nix::unistd::chown(&path, Some(Uid::from_raw(65534)), None).unwrap();
            check_owner(&path, &mut diags);
            assert_eq!(diags.list.len(), 1);
            assert!(!diags.list[0].is_error());
            assert!(diags.list[0].error.message.contains("(uid 65534)"));
        }
        // Absent files are not this check's business.
        check_owner(&dir.path().join("absent"), &mut Diags::default());
    }
}
