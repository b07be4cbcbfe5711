//! `arcactl storage …`: move the stored binaries to a new storage chain, check every binary is
//! readable (docs/storage.md, "Changing the chain"), scrub this node's copies through the
//! running server ("Scrubbing").

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use arca_cluster::Identity;
use arca_cluster::storage::{ChainRecord, read_chain_record, record_chain, resolve_storage};
use arca_config::{BinaryStoreConfig, HaNodeProperties, Home, MasterKey, SystemProperties};
use arca_db::{Db, items};
use arca_storage::{Storage, StorageError, StorageOptions};

use crate::cli::{HomeArgs, StorageCommand, StorageMigrateArgs, StorageScrubArgs};
use crate::commands::database;
use crate::exit;

/// Binaries read from the database per page.
const PAGE: usize = 500;
/// A progress line at most this often.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);
/// Files named per missing binary.
const PATHS_PER_BINARY: usize = 3;

pub fn run(cmd: StorageCommand, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<u8> {
    match cmd {
        StorageCommand::Migrate(args) => migrate(&args, out),
        StorageCommand::Verify(args) => verify(&args, out),
        StorageCommand::Scrub(args) => scrub(&args, out, err),
    }
}

/// What the commands need of the node: its database, master key and identity.
struct Node {
    home: Home,
    db: Db,
    key: MasterKey,
    identity: Identity,
    stale: Duration,
    runtime: tokio::runtime::Runtime,
}

impl Node {
    fn open(home: &HomeArgs) -> anyhow::Result<Node> {
        let home = Home::new(&home.home);
        let db = database::open_for_tool(&home, 1, "the stored binaries")?;
        let key = MasterKey::load(&home)?.ok_or_else(|| {
            anyhow!(
                "{} is missing: the storage's secrets and the recorded chain are sealed with it",
                home.master_key().display()
            )
        })?;
        let ha = HaNodeProperties::load(&home)?.map(|(ha, _warnings)| ha);
        let identity = Identity::new(&home, ha.as_ref());
        let stale = SystemProperties::load(&home)
            .and_then(|s| s.ha_stale_secs())
            .map_or(Duration::from_secs(30), Duration::from_secs);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .context("starting the async runtime")?;
        Ok(Node {
            home,
            db,
            key,
            identity,
            stale,
            runtime,
        })
    }

    /// Open the chain `config` configures, as the server on this node would.
    fn open_chain(&self, config: BinaryStoreConfig, what: &str) -> anyhow::Result<Storage> {
        let resolved = resolve_storage(&self.home, &self.identity, &self.key, config)
            .map_err(|e| anyhow!("{what}: {e}"))?;
        let options = StorageOptions {
            node_id: self.identity.is_ha().then(|| self.identity.node_id.clone()),
            identity: resolved.identity.clone(),
            credential: resolved.credential.clone(),
            cluster: Some(arca_storage::sharding::ClusterContext {
                db: self.db.clone(),
                signer: arca_crypto::master_key::RequestSigner::new(self.key.bytes()),
                node_id: self.identity.node_id.clone(),
                stale: self.stale,
            }),
        };
        self.runtime
            .block_on(Storage::open(&resolved.plan, options))
            .with_context(|| format!("opening {what} '{}'", resolved.plan.description))
    }

    /// Whether `storage` can read the binary; `Ok(None)` when no tier has it. A downloaded
    /// copy is kept for as long as the returned value lives.
    fn locate(
        &self,
        storage: &Storage,
        sha256: &str,
        size: u64,
    ) -> anyhow::Result<Option<arca_storage::Located>> {
        match self.runtime.block_on(storage.locate(sha256, size)) {
            Ok(found) => Ok(Some(found)),
            Err(StorageError::NotFound(_)) => Ok(None),
            Err(e) => Err(anyhow!("reading binary {sha256}: {e}")),
        }
    }

    fn paths_of(&self, sha256: &str) -> String {
        let paths = self
            .db
            .read_blocking(|c| items::paths_of_binary(c, sha256, PATHS_PER_BINARY))
            .unwrap_or_default();
        if paths.is_empty() {
            "no file refers to it (garbage collection removes it)".to_string()
        } else {
            paths.join(", ")
        }
    }
}

/// Counts of a pass over every binary.
#[derive(Default)]
struct Tally {
    checked: u64,
    present: u64,
    copied: u64,
    copied_bytes: u64,
    missing: Vec<String>,
}

impl Tally {
    fn line(&self, total: u64, started: Instant) -> String {
        format!(
            "{} of {total} binaries checked: {} already in the new chain, {} copied ({} bytes), \
             {} missing; {:.0} s",
            self.checked,
            self.present,
            self.copied,
            self.copied_bytes,
            self.missing.len(),
            started.elapsed().as_secs_f64()
        )
    }
}

/// Every binary of the database, by page, in a stable order (`f` per binary).
fn each_binary(
    node: &Node,
    mut f: impl FnMut(&str, u64) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut after = String::new();
    loop {
        let page = node
            .db
            .read_blocking(|c| items::binaries_after(c, &after, PAGE))
            .context("reading the stored binaries")?;
        let Some((last, _)) = page.last() else {
            return Ok(());
        };
        after = last.clone();
        for (sha256, size) in &page {
            f(sha256, *size)?;
        }
    }
}

fn migrate(args: &StorageMigrateArgs, out: &mut dyn Write) -> anyhow::Result<u8> {
    let node = Node::open(&args.home)?;
    let new_file = node.home.binarystore_xml();
    let new_bytes =
        std::fs::read(&new_file).with_context(|| format!("reading {}", new_file.display()))?;
    let new_config = BinaryStoreConfig::parse(&String::from_utf8_lossy(&new_bytes), &new_file)?;
    let recorded = node
        .db
        .read_blocking(read_chain_record)
        .context("reading the recorded storage chain")?;
    let (old_config, old_name) = match (&args.from, &recorded) {
        (Some(file), _) => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("reading {}", file.display()))?;
            (
                BinaryStoreConfig::parse(&text, file)?,
                file.display().to_string(),
            )
        }
        (None, Some(record)) => {
            let bytes = record.file(&node.key)?;
            let name = format!("the chain recorded by {}", record.node);
            (
                BinaryStoreConfig::parse(
                    &String::from_utf8_lossy(&bytes),
                    Path::new("binarystore.xml (recorded)"),
                )?,
                name,
            )
        }
        (None, None) => bail!(
            "the database records no storage chain to migrate from (a cluster started by an \
             older version): pass the previous binarystore.xml with --from FILE"
        ),
    };
    if old_config.canonical() == new_config.canonical() {
        writeln!(
            out,
            "{} configures the chain the cluster runs already ({}): nothing to migrate",
            new_file.display(),
            old_name
        )?;
        return Ok(exit::OK);
    }
    let old = node.open_chain(old_config, "the old chain")?;
    let new = node.open_chain(new_config.clone(), "the new chain")?;
    let (total, total_bytes) = node
        .db
        .read_blocking(items::binary_totals)
        .context("counting the stored binaries")?;
    writeln!(
        out,
        "migrating {total} binaries ({total_bytes} bytes) from {old_name} ('{}') into {} ('{}'){}",
        old.description(),
        new_file.display(),
        new.description(),
        if args.dry_run { " — dry run" } else { "" }
    )?;
    let started = Instant::now();
    let mut last_line = Instant::now();
    let mut tally = Tally::default();
    each_binary(&node, |sha256, size| {
        tally.checked += 1;
        if node.locate(&new, sha256, size)?.is_some() {
            tally.present += 1;
        } else {
            match node.locate(&old, sha256, size)? {
                Some(found) => {
                    if !args.dry_run {
                        node.runtime
                            .block_on(new.import(&found.path, sha256))
                            .map_err(|e| anyhow!("copying binary {sha256}: {e}"))?;
                    }
                    tally.copied += 1;
                    tally.copied_bytes += size;
                }
                None => tally.missing.push(sha256.to_string()),
            }
        }
        if last_line.elapsed() >= PROGRESS_EVERY {
            last_line = Instant::now();
            writeln!(out, "progress: {}", tally.line(total, started))?;
            out.flush()?;
        }
        Ok(())
    })?;
    writeln!(out, "done: {}", tally.line(total, started))?;
    for sha256 in &tally.missing {
        writeln!(
            out,
            "MISSING from both chains: binary {sha256}, held by {}",
            node.paths_of(sha256)
        )?;
    }
    if args.dry_run {
        return Ok(exit::OK);
    }
    if !tally.missing.is_empty() {
        writeln!(
            out,
            "the new chain was NOT recorded: {} binaries are in neither chain (restore them, or \
             delete the files that hold them, then run this again)",
            tally.missing.len()
        )?;
        return Ok(exit::FAILURE);
    }
    let record = ChainRecord::new(
        &new_config,
        &new_bytes,
        &node.key,
        &node.identity.node_id,
        crate::commands::now_ms(),
    );
    node.db
        .write_blocking(|c| record_chain(c, &record))
        .context("recording the new storage chain")?;
    writeln!(
        out,
        "recorded '{}' as the cluster's storage chain: start arca-server (on a cluster: the \
         primary first, every node with this binarystore.xml)",
        new.description()
    )?;
    Ok(exit::OK)
}

fn verify(args: &HomeArgs, out: &mut dyn Write) -> anyhow::Result<u8> {
    let node = Node::open(args)?;
    let config = BinaryStoreConfig::load(&node.home)?;
    let storage = node.open_chain(config, "the storage chain")?;
    let (total, _) = node
        .db
        .read_blocking(items::binary_totals)
        .context("counting the stored binaries")?;
    let started = Instant::now();
    let mut last_line = Instant::now();
    let mut tally = Tally::default();
    each_binary(&node, |sha256, size| {
        tally.checked += 1;
        match node.locate(&storage, sha256, size)? {
            Some(_) => tally.present += 1,
            None => tally.missing.push(sha256.to_string()),
        }
        if last_line.elapsed() >= PROGRESS_EVERY {
            last_line = Instant::now();
            writeln!(
                out,
                "progress: {} of {total} binaries checked, {} missing",
                tally.checked,
                tally.missing.len()
            )?;
        }
        Ok(())
    })?;
    for sha256 in &tally.missing {
        writeln!(
            out,
            "MISSING: binary {sha256}, held by {}",
            node.paths_of(sha256)
        )?;
    }
    writeln!(
        out,
        "{} of {total} binaries readable through '{}', {} missing ({:.0} s)",
        tally.present,
        storage.description(),
        tally.missing.len(),
        started.elapsed().as_secs_f64()
    )?;
    Ok(if tally.missing.is_empty() {
        exit::OK
    } else {
        exit::FAILURE
    })
}

/// How often the progress is asked for: on a terminal (a bar redrawn in place), else (a line).
const SCRUB_POLL_TTY: Duration = Duration::from_millis(500);
const SCRUB_POLL_PLAIN: Duration = Duration::from_secs(5);
/// Width of the progress bar, in characters.
const BAR_WIDTH: usize = 30;

fn scrub(args: &StorageScrubArgs, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<u8> {
    use arca_cluster::server_socket::{self, ServerRequest};
    use std::io::IsTerminal;

    let bytes_per_sec = match &args.rate_mb {
        None => None,
        Some(v) => match arca_config::system::parse_rate_mb(v) {
            Some(rate) => Some(rate),
            None => {
                writeln!(
                    err,
                    "--rate-mb '{v}' is invalid: expected a number of MB per second from 0 (no \
                     limit) to 100000"
                )?;
                return Ok(exit::USAGE);
            }
        },
    };
    let socket = Home::new(&args.home.home).server_socket();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let ask = |request: &ServerRequest| runtime.block_on(server_socket::scrub(&socket, request));
    let report = match ask(&ServerRequest::ScrubStart { bytes_per_sec }) {
        Ok(report) => report,
        Err(e) => return not_answering(&e, &socket, err),
    };
    let Some(pass) = report.pass.clone() else {
        bail!("arca-server accepted the start but reports no pass");
    };
    writeln!(
        out,
        "{} scrub pass {} on this node, reading at {}",
        if report.started {
            "started"
        } else {
            "following the running"
        },
        pass.id,
        rate_text(report.rate_bytes_per_sec)
    )?;
    out.flush()?;
    if args.no_wait {
        return Ok(exit::OK);
    }
    let tty = std::io::stdout().is_terminal();
    let poll = if tty {
        SCRUB_POLL_TTY
    } else {
        SCRUB_POLL_PLAIN
    };
    let finished = loop {
        std::thread::sleep(poll);
        let report = match ask(&ServerRequest::ScrubStatus) {
            Ok(report) => report,
            Err(e) => {
                if tty {
                    writeln!(out)?;
                }
                writeln!(
                    err,
                    "lost arca-server while following the pass ({e}); an interrupted pass \
                     continues when it starts again"
                )?;
                return Ok(exit::NOT_RUNNING);
            }
        };
        match (&report.pass, &report.last_pass) {
            (Some(running), _) if running.id == pass.id => {
                let line = progress_text(running);
                if tty {
                    write!(out, "\r{} {line}\x1b[K", bar(running.percent()))?;
                } else {
                    writeln!(out, "scrub {line}")?;
                }
                out.flush()?;
            }
            (_, Some(last)) if last.id == pass.id => break last.clone(),
            _ => bail!(
                "the scrub pass {} ended without a report (the server restarted with a new \
                 state file?)",
                pass.id
            ),
        }
    };
    if tty {
        writeln!(out)?;
    }
    writeln!(
        out,
        "scrub pass {} finished: {} binaries checked ({} read from this node's copies) in {:.0} \
         s: {} ok, {} not held by this node, {} corrupt ({} repaired, {} unrepairable), {} failed",
        finished.id,
        finished.checked,
        size_text(finished.read_bytes),
        finished.elapsed_ms as f64 / 1000.0,
        finished.ok,
        finished.missing,
        finished.corrupt,
        finished.repaired,
        finished.unrepairable,
        finished.failed
    )?;
    if finished.unrepairable > 0 {
        writeln!(
            out,
            "{} corrupt binaries could not be repaired (no tier has a good copy; the corrupt \
             copies are in quarantine): the server's journal names them (journalctl -u \
             arca-server | grep 'scrub: binary'), and `arcactl storage verify` lists the missing \
             binaries with the files that hold them",
            finished.unrepairable
        )?;
        return Ok(exit::FAILURE);
    }
    Ok(exit::OK)
}

/// The server did not answer on its socket: say whether it runs at all.
fn not_answering(
    e: &arca_runtime::local_socket::RequestError,
    socket: &Path,
    err: &mut dyn Write,
) -> anyhow::Result<u8> {
    use arca_runtime::local_socket::RequestError;
    match e {
        RequestError::Io { source, .. }
            if matches!(
                source.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            writeln!(
                err,
                "arca-server is not running on this node ({} does not answer): start it \
                 (systemctl start arca-server) and run this again",
                socket.display()
            )?;
            Ok(exit::NOT_RUNNING)
        }
        RequestError::Refused { message, .. } => {
            writeln!(err, "arca-server refused to start a scrub pass: {message}")?;
            Ok(exit::FAILURE)
        }
        other => Err(anyhow!("asking arca-server to scrub: {other}")),
    }
}

/// `41% (1.2 of 3.0 GB), 18.5 MB/s, ETA 1m05s, 0 corrupt, 0 repaired`
fn progress_text(p: &arca_cluster::server_socket::ScrubPass) -> String {
    let rate = p.bytes_per_sec();
    let left = p.total_bytes.saturating_sub(p.checked_bytes);
    let eta = if rate > 0.0 {
        duration_text(Duration::from_secs_f64(left as f64 / rate))
    } else {
        "?".to_string()
    };
    format!(
        "{:.0}% ({} of {}), {}/s, ETA {eta}, {} corrupt, {} repaired",
        p.percent().floor(),
        size_text(p.checked_bytes),
        size_text(p.total_bytes),
        size_text(rate as u64),
        p.corrupt,
        p.repaired
    )
}

/// `[#########.....................]`
fn bar(percent: f64) -> String {
    let filled = ((percent / 100.0) * BAR_WIDTH as f64).round() as usize;
    let filled = filled.min(BAR_WIDTH);
    format!("[{}{}]", "#".repeat(filled), ".".repeat(BAR_WIDTH - filled))
}

/// Bytes in the largest decimal unit that keeps a digit before the point.
fn size_text(bytes: u64) -> String {
    let b = bytes as f64;
    match bytes {
        0..1_000_000 => format!("{:.1} kB", b / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} MB", b / 1e6),
        _ => format!("{:.1} GB", b / 1e9),
    }
}

fn rate_text(bytes_per_sec: u64) -> String {
    if bytes_per_sec == 0 {
        "no rate limit".to_string()
    } else {
        format!("{}/s", size_text(bytes_per_sec))
    }
}

/// `1h02m`, `3m05s`, `12s`.
fn duration_text(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, s % 3600 / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_texts() {
        assert_eq!(bar(0.0), format!("[{}]", ".".repeat(BAR_WIDTH)));
        assert_eq!(bar(100.0), format!("[{}]", "#".repeat(BAR_WIDTH)));
        assert_eq!(size_text(1_234_000_000), "1.2 GB");
        assert_eq!(size_text(20_000_000), "20.0 MB");
        assert_eq!(size_text(500), "0.5 kB");
        assert_eq!(duration_text(Duration::from_secs(3725)), "1h02m");
        assert_eq!(duration_text(Duration::from_secs(185)), "3m05s");
        let pass = arca_cluster::server_socket::ScrubPass {
            total_bytes: 3_000_000_000,
            checked_bytes: 1_000_000_000,
            elapsed_ms: 50_000,
            corrupt: 1,
            ..Default::default()
        };
        assert_eq!(
            progress_text(&pass),
            "33% (1.0 GB of 3.0 GB), 20.0 MB/s, ETA 1m40s, 1 corrupt, 0 repaired"
        );
    }
}
