//! Replacing a config file atomically: readers see the old or the new file, never a mix, and a
//! crash leaves one of the two on disk.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::error::ConfigError;

/// Distinguishes temp files of concurrent calls in one process (the pid covers other processes).
static NEXT_TEMP: AtomicU32 = AtomicU32::new(0);

/// Replace the existing file `path` by `contents`, keeping its mode and (when allowed) its owner
/// and group: write a temp file in the same directory, fsync it, rename it over `path`, fsync
/// the directory. `path` must not be a symlink (resolve it first). Errors name `path`.
pub(crate) fn replace_file(path: &Path, contents: &[u8]) -> Result<(), ConfigError> {
    let meta = fs::metadata(path).map_err(|e| ConfigError::io(path, "read file metadata", &e))?;
    write_via_temp(path, contents, |file| {
        // Mode first, while the file is still ours: after giving it away (a service holding
        // only CAP_CHOWN, like arca-config-sync) a chmod would need CAP_FOWNER. Config files
        // carry no set-id bits for the chown to clear.
        file.set_permissions(fs::Permissions::from_mode(meta.mode() & 0o7777))
            .map_err(|e| ("set the mode of", e))?;
        match std::os::unix::fs::fchown(file, Some(meta.uid()), Some(meta.gid())) {
            Ok(()) => Ok(()),
            // Only root (or CAP_CHOWN) may give a file away; else it belongs to the writer.
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => Ok(()),
            Err(e) => Err(("set the owner of", e)),
        }
    })
}

/// Write `contents` to a temp file next to `path`, let `finish` set its owner and mode, fsync,
/// rename it over `path`, fsync the directory. On error the temp file is removed and `path`
/// is untouched. Errors name `path`.
fn write_via_temp(
    path: &Path,
    contents: &[u8],
    finish: impl FnOnce(&File) -> Result<(), (&'static str, io::Error)>,
) -> Result<(), ConfigError> {
    let name = path
        .file_name()
        .ok_or_else(|| ConfigError::new(path, "not a file name"))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let (tmp, mut file) = create_temp(dir, &name.to_string_lossy())
        .map_err(|e| ConfigError::io(path, "create a temporary file next to it", &e))?;
    let written = (|| -> Result<(), (&'static str, io::Error)> {
        file.write_all(contents).map_err(|e| ("write", e))?;
        finish(&file)?;
        file.sync_all().map_err(|e| ("sync", e))?;
        fs::rename(&tmp, path).map_err(|e| ("rename into place", e))
    })();
    if let Err((action, e)) = written {
        // Best effort: the original file is untouched either way.
        let _ = fs::remove_file(&tmp);
        return Err(ConfigError::new(
            path,
            format!("cannot {action} {}: {e}", tmp.display()),
        ));
    }
    // Without this the rename itself may be lost in a crash.
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| ConfigError::io(path, "sync its directory", &e))
}

/// Write `contents` to `path` atomically (temp file in the same directory, fsync, rename,
/// directory fsync): readers see the old file or the new one, a crash leaves one of them. An
/// existing file keeps its mode and (when allowed) owner; a new one gets `new_mode`.
pub fn write_file_atomically(
    path: &Path,
    contents: &[u8],
    new_mode: u32,
) -> Result<(), ConfigError> {
    if fs::symlink_metadata(path).is_ok() {
        return replace_file(path, contents);
    }
    write_via_temp(path, contents, |file| {
        file.set_permissions(fs::Permissions::from_mode(new_mode & 0o7777))
            .map_err(|e| ("set the mode of", e))
    })
}

/// A new file `.<name>.<pid>.<n>.tmp` in `dir`, readable by its owner only until the caller sets
/// the final mode (it may hold secrets).
fn create_temp(dir: &Path, name: &str) -> io::Result<(PathBuf, File)> {
    loop {
        let n = NEXT_TEMP.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".{name}.{}.{n}.tmp", process::id()));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
        {
            Ok(f) => return Ok((tmp, f)),
            // Left over by a crashed process that had our pid: pick the next number.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < u32::MAX => {}
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn replaces_content_keeps_mode_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.properties");
        fs::write(&p, "old").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o640)).unwrap();
        replace_file(&p, b"new").unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "new");
        assert_eq!(fs::metadata(&p).unwrap().mode() & 0o7777, 0o640);
        assert_eq!(names(dir.path()), vec!["f.properties"]);
    }

    #[test]
    fn keeps_owner_when_root() {
        if !nix::unistd::geteuid().is_root() {
            return; // only root can give a file away
        }
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        fs::write(&p, "old").unwrap();
        std::os::unix::fs::chown(&p, Some(65534), Some(65534)).unwrap();
        replace_file(&p, b"new").unwrap();
        let m = fs::metadata(&p).unwrap();
        assert_eq!((m.uid(), m.gid()), (65534, 65534));
    }

    #[test]
    fn writes_new_files_with_the_given_mode_and_replaces_existing_ones() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("new.xml");
        write_file_atomically(&p, b"one", 0o640).unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "one");
        assert_eq!(fs::metadata(&p).unwrap().mode() & 0o7777, 0o640);
        fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
        write_file_atomically(&p, b"two", 0o644).unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "two");
        assert_eq!(
            fs::metadata(&p).unwrap().mode() & 0o7777,
            0o600,
            "existing mode kept"
        );
        assert_eq!(names(dir.path()), vec!["new.xml"]);
    }

    #[test]
    fn missing_file_is_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("absent");
        let e = replace_file(&p, b"x").unwrap_err();
        assert_eq!(e.file, p);
        assert!(e.message.contains("cannot read file metadata"), "{e}");
        assert!(names(dir.path()).is_empty());
    }
}
