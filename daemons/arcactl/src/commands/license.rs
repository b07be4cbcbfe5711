//! `arcactl license …`: issuers, issuing and checking license keys, and the cluster's license
//! pool (`add`, `list`, `delete`: straight in the database of this node's home, with the
//! pool logic the REST API uses, `arca_cluster::licenses`; `docs/licenses.md`).

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, anyhow, bail};
use arca_cluster::licenses::{self as pool, KeyVerdict};
use arca_config::{Home, SystemProperties};
use arca_db::Db;
use arca_license::{
    Date, Issuer, NewLicense, TRUSTED_ISSUERS_DIR, TrustedIssuers, format_date_iso, license_hash,
    verify_batch,
};

use crate::cli::{
    IssueArgs, IssuerNewArgs, LicenseAddArgs, LicenseCommand, LicenseDeleteArgs, LicenseListArgs,
    LicenseVerifyArgs,
};
use crate::commands::database;
use crate::commands::now_ms;
use crate::exit;

/// The schema version that created the license pool (`arca_db::licenses`).
const POOL_SCHEMA_VERSION: i64 = 4;

pub fn run(cmd: LicenseCommand, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<u8> {
    match cmd {
        LicenseCommand::IssuerNew(args) => issuer_new(&args, out),
        LicenseCommand::Issue(args) => issue(&args, today(), out, err),
        LicenseCommand::Verify(args) => verify(&args, &mut io::stdin().lock(), today(), out, err),
        LicenseCommand::Add(args) => add(&args, &mut io::stdin().lock(), now_ms(), out, err),
        LicenseCommand::List(args) => list(&args, now_ms(), out, err),
        LicenseCommand::Delete(args) => delete(&args, now_ms(), out),
    }
}

/// Today's date in UTC: the only place the license commands read the clock.
fn today() -> Date {
    time::OffsetDateTime::now_utc().date()
}

/// `--pub` or `<out>.pub`.
fn pub_path(args: &IssuerNewArgs) -> PathBuf {
    args.pub_file.clone().unwrap_or_else(|| {
        let mut path = args.out.clone().into_os_string();
        path.push(".pub");
        PathBuf::from(path)
    })
}

/// `arcactl license issuer-new`: both key files (never overwriting), the id and paths on `out`.
pub fn issuer_new(args: &IssuerNewArgs, out: &mut dyn Write) -> anyhow::Result<u8> {
    let pub_file = pub_path(args);
    if pub_file == args.out {
        bail!("--pub and --out name the same file: {}", args.out.display());
    }
    // Check the public key's path first so a refusal leaves nothing behind.
    if pub_file.symlink_metadata().is_ok() {
        bail!(
            "{}: already exists; refusing to overwrite it",
            pub_file.display()
        );
    }
    let issuer = Issuer::generate();
    issuer
        .save(&args.out)
        .context("writing the issuer's private key")?;
    if let Err(e) = issuer.public_key().save(&pub_file) {
        // Do not leave a private key without its public half.
        let _ = fs::remove_file(&args.out);
        return Err(anyhow::Error::new(e).context("writing the issuer's public key"));
    }
    writeln!(
        out,
        "issuer {}\nprivate key: {} (mode 0600: keep it secret and off the nodes)\n\
         public key:  {} (copy it into etc/security/{TRUSTED_ISSUERS_DIR}/ on every node)",
        issuer.id(),
        args.out.display(),
        pub_file.display()
    )
    .context("writing to stdout")?;
    Ok(exit::OK)
}

/// `arcactl license issue`: `count` keys on `out`, one per line; a summary on `err`.
pub fn issue(
    args: &IssueArgs,
    today: Date,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<u8> {
    let issuer = Issuer::load(&args.issuer_key).context("loading the issuer's private key")?;
    let new = NewLicense {
        licensee: &args.to,
        license_type: &args.license_type,
        valid_through: args.valid_through,
        issued: args.issued.unwrap_or(today),
    };
    let mut keys = Vec::new();
    for _ in 0..args.count {
        keys.push(issuer.issue(&new).context("issuing a license key")?);
    }
    if args.valid_through < today {
        writeln!(
            err,
            "warning: valid through {} is before today ({}): the keys are already expired",
            format_date_iso(args.valid_through),
            format_date_iso(today)
        )
        .context("writing to stderr")?;
    }
    for key in &keys {
        writeln!(out, "{key}").context("writing to stdout")?;
    }
    writeln!(
        err,
        "issued {} {} key(s) to {:?}, valid through {}, issuer {}",
        keys.len(),
        args.license_type,
        args.to,
        format_date_iso(args.valid_through),
        issuer.id()
    )
    .context("writing to stderr")?;
    Ok(exit::OK)
}

/// The issuers `home` trusts; a warning on `err` when there is none (every key is rejected).
fn trusted_issuers(home: &Home, err: &mut dyn Write) -> anyhow::Result<TrustedIssuers> {
    let trusted = pool::trusted_issuers(home).context("loading the trusted license issuers")?;
    if trusted.is_empty() {
        writeln!(
            err,
            "warning: no trusted issuer in {} (no *.pub file): every key is rejected",
            pool::trusted_issuers_dir(home).display()
        )
        .context("writing to stderr")?;
    }
    Ok(trusted)
}

/// `arcactl license verify`: one `OK`/`REJECTED` line per key on `out`; warnings and the
/// summary on `err`. `stdin` is read when the input is `-`.
pub fn verify(
    args: &LicenseVerifyArgs,
    stdin: &mut dyn Read,
    today: Date,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<u8> {
    let trusted = trusted_issuers(&Home::new(&args.home.home), err)?;
    let (text, source) = read_input(&args.input, stdin)?;
    let results = verify_batch(&text, &trusted, today);
    if results.is_empty() {
        writeln!(err, "license verify: no license key in {source}").context("writing to stderr")?;
        return Ok(exit::FAILURE);
    }
    let mut rejected = 0;
    for (key, result) in &results {
        match result {
            Ok(license) => writeln!(
                out,
                "OK {} {} valid through {}",
                license.hash(),
                license.licensee(),
                format_date_iso(license.valid_through())
            ),
            Err(rejection) => {
                rejected += 1;
                writeln!(out, "REJECTED {}: {rejection}", license_hash(key))
            }
        }
        .context("writing to stdout")?;
    }
    if rejected > 0 {
        writeln!(
            err,
            "license verify: {rejected} of {} key(s) rejected",
            results.len()
        )
        .context("writing to stderr")?;
        return Ok(exit::FAILURE);
    }
    Ok(exit::OK)
}

/// The text of `input` (`-`: stdin) and how to name it in messages.
fn read_input(input: &Path, stdin: &mut dyn Read) -> anyhow::Result<(String, String)> {
    if input == Path::new("-") {
        let mut text = String::new();
        stdin
            .read_to_string(&mut text)
            .context("reading license keys from stdin")?;
        Ok((text, "stdin".to_string()))
    } else {
        let text = fs::read_to_string(input)
            .with_context(|| format!("reading license keys from {}", input.display()))?;
        Ok((text, input.display().to_string()))
    }
}

/// The database of `home` holding the license pool (schema 4). Every failure is one line
/// naming the file and what to do.
fn open_pool(home: &Home) -> anyhow::Result<Db> {
    database::open_for_tool(home, POOL_SCHEMA_VERSION, "the license pool")
}

/// `arcactl license add`: verify the keys, add the valid ones in one transaction, one
/// `OK`/`ALREADY`/`REJECTED` line per key on `out` (hashes only) and a summary on `err`.
pub fn add(
    args: &LicenseAddArgs,
    stdin: &mut dyn Read,
    now_ms: i64,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<u8> {
    let home = Home::new(&args.home.home);
    let db = open_pool(&home)?;
    let trusted = trusted_issuers(&home, err)?;
    let (text, source) = read_input(&args.input, stdin)?;
    let verified = pool::verify_keys(&[text], &trusted, pool::utc_date(now_ms));
    if verified.is_empty() {
        writeln!(err, "license add: no license key in {source}").context("writing to stderr")?;
        return Ok(exit::FAILURE);
    }
    let results = pool::add_verified_blocking(&db, verified, now_ms)
        .context("adding the license keys to the pool")?;
    let (mut added, mut present, mut rejected) = (0, 0, 0);
    for r in &results {
        match &r.verdict {
            KeyVerdict::Added => {
                added += 1;
                writeln!(out, "OK {}", r.hash)
            }
            KeyVerdict::AlreadyPresent => {
                present += 1;
                writeln!(out, "ALREADY {}", r.hash)
            }
            KeyVerdict::Rejected(reason) => {
                rejected += 1;
                writeln!(out, "REJECTED {}: {reason}", r.hash)
            }
        }
        .context("writing to stdout")?;
    }
    writeln!(
        err,
        "license add: {added} added, {present} already in the pool, {rejected} rejected"
    )
    .context("writing to stderr")?;
    Ok(if added + present > 0 {
        exit::OK
    } else {
        exit::FAILURE
    })
}

/// `arcactl license list`: the pool as a table (or the REST JSON with `--json`) on `out`.
pub fn list(
    args: &LicenseListArgs,
    now_ms: i64,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<u8> {
    let db = open_pool(&Home::new(&args.home.home))?;
    let rows = db
        .read_blocking(arca_db::licenses::list_licenses)
        .context("reading the license pool")?;
    let today_iso = pool::utc_date_iso(now_ms);
    if args.json {
        let body: Vec<_> = rows.iter().map(|r| pool::row_json(r, &today_iso)).collect();
        let text = serde_json::to_string_pretty(&body).context("license list as JSON")?;
        writeln!(out, "{text}").context("writing to stdout")?;
        return Ok(exit::OK);
    }
    if rows.is_empty() {
        writeln!(err, "the license pool is empty").context("writing to stderr")?;
        return Ok(exit::OK);
    }
    let mut table = vec![
        [
            "HASH",
            "LICENSED TO",
            "TYPE",
            "VALID THROUGH",
            "EXPIRED",
            "NODE ID",
            "NODE URL",
        ]
        .map(str::to_string),
    ];
    for row in &rows {
        let json = pool::row_json(row, &today_iso);
        table.push([
            json.license_hash,
            json.licensed_to,
            json.license_type,
            row.valid_through.clone(),
            if json.expired { "yes" } else { "no" }.to_string(),
            json.node_id,
            json.node_url,
        ]);
    }
    write_table(out, &table).context("writing to stdout")?;
    Ok(exit::OK)
}

/// Columns left-aligned, two spaces apart; the last one unpadded.
fn write_table<const N: usize>(out: &mut dyn Write, table: &[[String; N]]) -> io::Result<()> {
    let mut widths = [0usize; N];
    for row in table {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in table {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == N {
                line.push_str(cell);
            } else {
                line.push_str(cell);
                let pad = widths[i] - cell.chars().count() + 2;
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// `arcactl license delete`: one message per hash on `out`.
pub fn delete(args: &LicenseDeleteArgs, now_ms: i64, out: &mut dyn Write) -> anyhow::Result<u8> {
    let home = Home::new(&args.home.home);
    let stale_secs = SystemProperties::load(&home)
        .and_then(|s| s.ha_stale_secs())
        .map_err(|e| anyhow!("{e}"))?;
    let stale_ms = i64::try_from(stale_secs)
        .unwrap_or(i64::MAX)
        .saturating_mul(1000);
    let db = open_pool(&home)?;
    let hashes: Vec<String> = args.hashes.iter().map(|h| h.trim().to_string()).collect();
    let outcomes = pool::delete_blocking(&db, &hashes, now_ms, stale_ms)
        .context("deleting from the license pool")?;
    for (hash, outcome) in &outcomes {
        writeln!(out, "{}", outcome.message(hash)).context("writing to stdout")?;
    }
    Ok(if outcomes.iter().any(|(_, o)| o.deleted()) {
        exit::OK
    } else {
        exit::FAILURE
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    use crate::cli::HomeArgs;
    use arca_license::parse_date;

    fn date(text: &str) -> Date {
        parse_date(text).unwrap()
    }

    fn mode_of(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    /// A home trusting a new issuer, whose private key is at `<dir>/issuer.key`.
    fn home_with_issuer() -> (tempfile::TempDir, Home, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path().join("home"));
        let issuers = home.security().join(TRUSTED_ISSUERS_DIR);
        fs::create_dir_all(&issuers).unwrap();
        let key = dir.path().join("issuer.key");
        let args = IssuerNewArgs {
            out: key.clone(),
            pub_file: Some(issuers.join("test.pub")),
        };
        let mut out = Vec::new();
        assert_eq!(issuer_new(&args, &mut out).unwrap(), exit::OK);
        (dir, home, key)
    }

    fn issue_args(key: &Path, valid_through: &str, count: u32) -> IssueArgs {
        IssueArgs {
            issuer_key: key.to_path_buf(),
            to: "ACME Corp.".to_string(),
            valid_through: date(valid_through),
            license_type: "Enterprise".to_string(),
            count,
            issued: None,
        }
    }

    fn run_issue(args: &IssueArgs, today: &str) -> (Vec<String>, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert_eq!(
            issue(args, date(today), &mut out, &mut err).unwrap(),
            exit::OK
        );
        let keys = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect();
        (keys, String::from_utf8(err).unwrap())
    }

    fn run_verify(home: &Home, input: &str, stdin: &str, today: &str) -> (u8, String, String) {
        let args = LicenseVerifyArgs {
            home: HomeArgs {
                home: home.root().to_path_buf(),
            },
            input: PathBuf::from(input),
        };
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = verify(
            &args,
            &mut stdin.as_bytes(),
            date(today),
            &mut out,
            &mut err,
        )
        .unwrap();
        (
            code,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    #[test]
    fn issuer_new_writes_both_files_with_modes_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("issuer.key");
        let args = IssuerNewArgs {
            out: key.clone(),
            pub_file: None,
        };
        let mut out = Vec::new();
        assert_eq!(issuer_new(&args, &mut out).unwrap(), exit::OK);
        let pub_file = dir.path().join("issuer.key.pub");
        assert_eq!(mode_of(&key), 0o600);
        assert!(pub_file.is_file());
        let issuer = Issuer::load(&key).unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(
            out.starts_with(&format!(
                "issuer {}\nprivate key: {}",
                issuer.id(),
                key.display()
            )),
            "{out}"
        );
        assert!(out.contains(&pub_file.display().to_string()), "{out}");
        let before = fs::read_to_string(&key).unwrap();

        // again: refused, nothing changed
        let e = issuer_new(&args, &mut Vec::new()).unwrap_err();
        assert!(
            format!("{e:#}").contains("already exists; refusing to overwrite it"),
            "{e:#}"
        );
        assert_eq!(fs::read_to_string(&key).unwrap(), before);

        // the private key exists, the public one does not: refused, nothing written
        let other_pub = dir.path().join("other.pub");
        let args = IssuerNewArgs {
            out: key.clone(),
            pub_file: Some(other_pub.clone()),
        };
        let e = issuer_new(&args, &mut Vec::new()).unwrap_err();
        assert!(
            format!("{e:#}").contains(&key.display().to_string()),
            "{e:#}"
        );
        assert!(!other_pub.exists());

        // the public key exists: refused before the private key is written
        let fresh = dir.path().join("fresh.key");
        let args = IssuerNewArgs {
            out: fresh.clone(),
            pub_file: Some(pub_file.clone()),
        };
        assert!(issuer_new(&args, &mut Vec::new()).is_err());
        assert!(!fresh.exists());

        let args = IssuerNewArgs {
            out: fresh.clone(),
            pub_file: Some(fresh.clone()),
        };
        let e = issuer_new(&args, &mut Vec::new()).unwrap_err();
        assert!(e.to_string().contains("the same file"), "{e}");
    }

    #[test]
    fn issue_then_verify_round_trip() {
        let (_dir, home, key) = home_with_issuer();
        let (keys, err) = run_issue(&issue_args(&key, "2027-05-15", 3), "2026-03-10");
        assert_eq!(keys.len(), 3);
        assert!(
            err.starts_with(
                "issued 3 Enterprise key(s) to \"ACME Corp.\", valid through 2027-05-15, issuer "
            ),
            "{err}"
        );

        let file = home.root().join("keys.txt");
        fs::write(&file, keys.join("\n\n")).unwrap();
        let (code, out, err) = run_verify(&home, file.to_str().unwrap(), "", "2026-03-10");
        assert_eq!(code, exit::OK, "{out}{err}");
        assert_eq!(err, "");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3);
        for (line, key) in lines.iter().zip(&keys) {
            assert_eq!(
                *line,
                format!(
                    "OK {} ACME Corp. valid through 2027-05-15",
                    license_hash(key)
                )
            );
        }

        // stdin, semicolon-separated; still valid on the last day
        let (code, out, _) = run_verify(&home, "-", &keys.join(";"), "2027-05-15");
        assert_eq!(code, exit::OK);
        assert_eq!(out.lines().count(), 3);
    }

    #[test]
    fn verify_reports_rejected_keys_and_fails() {
        let (_dir, home, key) = home_with_issuer();
        let (keys, _) = run_issue(&issue_args(&key, "2027-05-15", 1), "2026-03-10");
        let stranger = Issuer::generate();
        let untrusted = stranger
            .issue(&NewLicense {
                licensee: "Other",
                license_type: "Enterprise",
                valid_through: date("2027-01-01"),
                issued: date("2026-01-01"),
            })
            .unwrap();
        let input = format!("{}\nnot-a-key {untrusted}\n", keys[0]);
        let (code, out, err) = run_verify(&home, "-", &input, "2026-03-10");
        assert_eq!(code, exit::FAILURE);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3, "{out}");
        assert!(lines[0].starts_with("OK "), "{out}");
        assert_eq!(
            lines[1],
            format!(
                "REJECTED {}: garbled license key: not an arca license key (they start with \
                 arca-lic-v1.): not-a-key",
                license_hash("not-a-key")
            )
        );
        assert_eq!(
            lines[2],
            format!(
                "REJECTED {}: license key from an untrusted issuer {}: no public key with this \
                 id in etc/security/license-issuers/",
                license_hash(&untrusted),
                stranger.id()
            )
        );
        assert_eq!(err, "license verify: 2 of 3 key(s) rejected\n");

        // expired the day after
        let (code, out, _) = run_verify(&home, "-", &keys[0], "2027-05-16");
        assert_eq!(code, exit::FAILURE);
        assert!(
            out.ends_with(": license expired: it was valid through 2027-05-15\n"),
            "{out}"
        );
    }

    #[test]
    fn verify_without_keys_or_issuers() {
        let (_dir, home, _) = home_with_issuer();
        let (code, out, err) = run_verify(&home, "-", " \n;\n", "2026-03-10");
        assert_eq!(code, exit::FAILURE);
        assert_eq!(out, "");
        assert_eq!(err, "license verify: no license key in stdin\n");

        let empty = tempfile::tempdir().unwrap();
        let home = Home::new(empty.path());
        let (code, out, err) = run_verify(&home, "-", "x", "2026-03-10");
        assert_eq!(code, exit::FAILURE);
        assert!(out.starts_with("REJECTED "), "{out}");
        assert!(err.starts_with("warning: no trusted issuer in "), "{err}");

        let missing = empty.path().join("missing.txt");
        let args = LicenseVerifyArgs {
            home: HomeArgs {
                home: home.root().to_path_buf(),
            },
            input: missing.clone(),
        };
        let e = verify(
            &args,
            &mut io::empty(),
            date("2026-03-10"),
            &mut Vec::new(),
            &mut Vec::new(),
        )
        .unwrap_err();
        assert!(
            format!("{e:#}").starts_with(&format!(
                "reading license keys from {}: ",
                missing.display()
            )),
            "{e:#}"
        );
    }

    #[test]
    fn issue_refuses_a_readable_key_and_bad_fields() {
        let (_dir, _home, key) = home_with_issuer();
        fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
        let args = issue_args(&key, "2027-05-15", 1);
        let e = issue(&args, date("2026-03-10"), &mut Vec::new(), &mut Vec::new()).unwrap_err();
        let shown = format!("{e:#}");
        assert!(
            shown.starts_with(&format!(
                "loading the issuer's private key: {}: permissions 0644",
                key.display()
            )),
            "{shown}"
        );
        assert!(shown.contains("chmod 600"), "{shown}");

        fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
        let args = IssueArgs {
            to: String::new(),
            ..issue_args(&key, "2027-05-15", 1)
        };
        let mut out = Vec::new();
        let e = issue(&args, date("2026-03-10"), &mut out, &mut Vec::new()).unwrap_err();
        assert_eq!(
            format!("{e:#}"),
            "issuing a license key: invalid license: the licensee is empty"
        );
        assert!(out.is_empty());
    }

    #[test]
    fn issue_an_expired_key_warns() {
        let (_dir, home, key) = home_with_issuer();
        let args = IssueArgs {
            issued: Some(date("2020-01-01")),
            ..issue_args(&key, "2020-12-31", 1)
        };
        let (keys, err) = run_issue(&args, "2026-03-10");
        assert!(
            err.starts_with(
                "warning: valid through 2020-12-31 is before today (2026-03-10): the keys are \
                 already expired\n"
            ),
            "{err}"
        );
        let (code, out, _) = run_verify(&home, "-", &keys[0], "2020-12-31");
        assert_eq!(code, exit::OK, "{out}");
        let (code, _, _) = run_verify(&home, "-", &keys[0], "2026-03-10");
        assert_eq!(code, exit::FAILURE);
    }
}
