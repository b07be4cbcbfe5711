//! `arcactl master-key …`

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;

use anyhow::Context as _;
use arca_config::{Home, MasterKey};
use arca_crypto::{generate_master_key_hex, key_check_value};

use crate::cli::{HomeArgs, MasterKeyCommand};
use crate::exit;

pub fn run(cmd: MasterKeyCommand, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<u8> {
    match cmd {
        MasterKeyCommand::Generate => generate(out),
        MasterKeyCommand::Check(args) => check(&args, out, err),
    }
}

/// `arcactl master-key generate`: the new key and a newline on `out`, nothing else.
pub fn generate(out: &mut dyn Write) -> anyhow::Result<u8> {
    writeln!(out, "{}", generate_master_key_hex()).context("writing to stdout")?;
    Ok(exit::OK)
}

/// `arcactl master-key check`: the key-check value on `out`; a permission warning or the
/// reason the key is unusable on `err`. Never prints the key.
pub fn check(args: &HomeArgs, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<u8> {
    let home = Home::new(&args.home);
    let path = home.master_key();
    let key = match MasterKey::load(&home) {
        Ok(Some(key)) => key,
        Ok(None) => {
            writeln!(
                err,
                "error: {}: master key file is missing (the primary generates it on first \
                 start; on a secondary copy it from the primary)",
                path.display()
            )
            .context("writing to stderr")?;
            return Ok(exit::FAILURE);
        }
        Err(e) => {
            writeln!(err, "error: {e}").context("writing to stderr")?;
            return Ok(exit::FAILURE);
        }
    };
    let mode = fs::metadata(&path)
        .with_context(|| format!("reading permissions of {}", path.display()))?
        .permissions()
        .mode()
        & 0o7777;
    if mode & !0o600 != 0 {
        writeln!(
            err,
            "warning: {}: permissions {mode:04o} are wider than 0600; run: chmod 600 {}",
            path.display(),
            path.display()
        )
        .context("writing to stderr")?;
    }
    writeln!(out, "{}", key_check_value(key.bytes())).context("writing to stdout")?;
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "00112233445566778899aabbccddeeff";

    fn run_check(home: &std::path::Path) -> (u8, String, String) {
        crate::commands::config::tests::run_home_check(check, home)
    }

    fn home_with_key(text: &str, mode: u32) -> (tempfile::TempDir, Home) {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        fs::create_dir_all(home.security()).unwrap();
        fs::write(home.master_key(), text).unwrap();
        fs::set_permissions(home.master_key(), fs::Permissions::from_mode(mode)).unwrap();
        (dir, home)
    }

    #[test]
    fn generate_prints_one_key() {
        let mut out = Vec::new();
        assert_eq!(generate(&mut out).unwrap(), exit::OK);
        let out = String::from_utf8(out).unwrap();
        assert_eq!(out.len(), 33);
        assert!(out.ends_with('\n'));
        let key = MasterKey::parse(&out, std::path::Path::new("-")).unwrap();
        assert_eq!(hex_of(key.bytes()), out.trim_end());
    }

    fn hex_of(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn valid_key_prints_kcv_only() {
        let (_dir, home) = home_with_key(&format!("{KEY}\n"), 0o600);
        let (code, out, err) = run_check(home.root());
        assert_eq!(code, exit::OK);
        let bytes = MasterKey::parse(KEY, std::path::Path::new("-")).unwrap();
        assert_eq!(out, format!("{}\n", key_check_value(bytes.bytes())));
        assert!(!out.contains(KEY));
        assert_eq!(err, "");
    }

    #[test]
    fn wide_mode_warns_but_succeeds() {
        for mode in [0o640, 0o644, 0o700] {
            let (_dir, home) = home_with_key(KEY, mode);
            let (code, out, err) = run_check(home.root());
            assert_eq!(code, exit::OK);
            assert_eq!(out.len(), 33);
            assert!(err.starts_with("warning: "), "{err}");
            assert!(err.contains(&format!("{mode:04o}")), "{err}");
            assert!(err.contains("chmod 600"), "{err}");
        }
        let (_dir, home) = home_with_key(KEY, 0o400);
        assert_eq!(run_check(home.root()).2, "");
    }

    #[test]
    fn missing_and_invalid_fail() {
        let dir = tempfile::tempdir().unwrap();
        let (code, out, err) = run_check(dir.path());
        assert_eq!(code, exit::FAILURE);
        assert_eq!(out, "");
        let path = Home::new(dir.path()).master_key();
        assert!(
            err.contains(&format!(
                "error: {}: master key file is missing",
                path.display()
            )),
            "{err}"
        );

        let (_dir, home) = home_with_key("not-a-key-0011", 0o600);
        let (code, out, err) = run_check(home.root());
        assert_eq!(code, exit::FAILURE);
        assert_eq!(out, "");
        assert!(
            err.contains(&home.master_key().display().to_string()),
            "{err}"
        );
        assert!(err.contains("32 hexadecimal"), "{err}");
        assert!(!err.contains("not-a-key"), "{err}");
    }
}
