//! `arcactl ha …`: the HA guide's "Testing Your HA Configuration" checklist, automated.
//!
//! Everything is read from this node's home (master key, db.properties, system.properties,
//! ha-node.properties); the database is opened without migrations or a rewrite of
//! db.properties, and every node is asked over HTTP at its registered context.url.

use std::fmt;
use std::io::Write;

use anyhow::{Context as _, bail};
use arca_cluster::MASTER_KEY_CHECK_SETTING;
use arca_config::{ConfigError, DbProperties, HaNodeProperties, Home, MasterKey};
use arca_config::{SystemProperties, SystemSettings, ha_node::check_context_url};
use arca_crypto::master_key::{EMPTY_SHA256, NodeRequest};
use arca_crypto::{RequestSigner, key_check_value, random_hex};
use arca_db::cluster::{self, NodeRecord, NodeRole};
use arca_db::{Db, migrate};
use reqwest::StatusCode;
use reqwest::blocking::Client;

use crate::cli::{HaCheckArgs, HaCommand};
use crate::commands::now_ms;
use crate::commands::{database, http};
use crate::exit;

/// Header every arca response carries with the id of the node that produced it.
const NODE_ID_HEADER: &str = "x-arca-node-id";
/// Node id the signed requests carry when this home has no ha-node.properties.
const TOOL_NODE_ID: &str = "arcactl";
const FIX_COPY_KEY: &str = "copy etc/security/master.key from an existing node";

pub fn run(cmd: HaCommand, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<u8> {
    match cmd {
        HaCommand::Check(args) => check(&args, out, err),
    }
}

/// The result of one checklist item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Passed, with an optional detail shown after the item.
    Ok(Option<String>),
    Fail {
        problem: String,
        fix: String,
    },
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub item: String,
    pub outcome: Outcome,
}

impl Finding {
    fn ok(item: impl Into<String>) -> Finding {
        Finding {
            item: item.into(),
            outcome: Outcome::Ok(None),
        }
    }

    fn ok_with(item: impl Into<String>, detail: impl Into<String>) -> Finding {
        Finding {
            item: item.into(),
            outcome: Outcome::Ok(Some(detail.into())),
        }
    }

    fn fail(
        item: impl Into<String>,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) -> Finding {
        Finding {
            item: item.into(),
            outcome: Outcome::Fail {
                problem: problem.into(),
                fix: fix.into(),
            },
        }
    }

    fn is_ok(&self) -> bool {
        matches!(self.outcome, Outcome::Ok(_))
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.outcome {
            Outcome::Ok(None) => write!(f, "OK   {}", self.item),
            Outcome::Ok(Some(detail)) => write!(f, "OK   {}: {detail}", self.item),
            Outcome::Fail { problem, fix } => {
                write!(f, "FAIL {}: {problem} — fix: {fix}", self.item)
            }
        }
    }
}

/// Prints findings as they come (a slow node should not hide the earlier results).
struct Report<'a> {
    out: &'a mut dyn Write,
    failures: usize,
    total: usize,
}

impl Report<'_> {
    fn add(&mut self, finding: Finding) -> anyhow::Result<()> {
        self.total += 1;
        if !finding.is_ok() {
            self.failures += 1;
        }
        writeln!(self.out, "{finding}").context("writing to stdout")?;
        self.out.flush().context("writing to stdout")
    }
}

/// The local node's configuration, each part loaded on its own so that one broken file
/// fails only the items that need it.
struct Local {
    home: Home,
    key: Result<Option<MasterKey>, ConfigError>,
    db_props: Result<DbProperties, ConfigError>,
    system: Result<SystemProperties, ConfigError>,
    ha: Result<Option<HaNodeProperties>, ConfigError>,
}

impl Local {
    fn load(home: Home) -> Local {
        Local {
            key: MasterKey::load(&home),
            db_props: DbProperties::load(&home),
            system: SystemProperties::load(&home),
            ha: HaNodeProperties::load(&home).map(|ha| ha.map(|(ha, _warnings)| ha)),
            home,
        }
    }

    fn stale_ms(&self) -> Result<i64, ConfigError> {
        let secs = self
            .system
            .as_ref()
            .map_err(Clone::clone)?
            .ha_stale_secs()?;
        Ok(i64::try_from(secs).unwrap_or(i64::MAX).saturating_mul(1000))
    }
}

/// `arcactl ha check`: one line per item on `out`, a summary on `err` when an item fails.
pub fn check(args: &HaCheckArgs, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<u8> {
    let home = Home::new(&args.home.home);
    if !home.root().is_dir() {
        bail!("{}: home directory does not exist", home.root().display());
    }
    let local = Local::load(home);
    let client = http::client()?;
    let mut report = Report {
        out,
        failures: 0,
        total: 0,
    };

    if let Err(e) = &local.ha {
        report.add(Finding::fail(
            "ha-node.properties readable",
            e.to_string(),
            format!(
                "correct it (arcactl config check --home {} lists every problem)",
                local.home.root().display()
            ),
        ))?;
    }

    let db = check_database(&local, &mut report)?;
    let now = now_ms();
    let nodes = check_registry(&local, db.as_ref(), now, args.lb.as_deref(), &mut report)?;
    let active: Option<Vec<NodeRecord>> = nodes.map(|(nodes, stale_ms)| {
        nodes
            .into_iter()
            .filter(|n| n.is_active(now, stale_ms))
            .collect()
    });
    // Without the registry, still probe this node itself when its URL is known.
    let probe = match &active {
        Some(active) => active
            .iter()
            .map(|n| (n.node_id.clone(), n.context_url.clone()))
            .collect(),
        None => match &local.ha {
            Ok(Some(ha)) => ha
                .context
                .iter()
                .map(|url| (ha.node_id.clone(), url.configured.clone()))
                .collect(),
            _ => Vec::new(),
        },
    };
    for (id, url) in &probe {
        report.add(check_reachable(&client, id, url))?;
    }
    report.add(check_primary(active.as_deref()))?;
    report.add(check_versions(active.as_deref()))?;
    report.add(check_licenses(&local, db.as_ref(), active.as_deref(), now))?;
    report.add(check_config_sync(&local, db.as_ref(), active.as_deref()))?;
    report.add(check_url_base(&local, args.lb.as_deref()))?;
    check_master_key(&local, db.as_ref(), &client, &probe, &mut report)?;

    if report.failures > 0 {
        writeln!(
            err,
            "ha check failed: {} of {} item(s) failed",
            report.failures, report.total
        )
        .context("writing to stderr")?;
        return Ok(exit::FAILURE);
    }
    Ok(exit::OK)
}

const DATABASE: &str = "database reachable";

/// Connect with db.properties (never migrating) and read the schema version.
fn check_database(local: &Local, report: &mut Report<'_>) -> anyhow::Result<Option<Db>> {
    let fix_props = format!(
        "correct {} (arcactl config check --home {} lists every problem)",
        local.home.db_properties().display(),
        local.home.root().display()
    );
    if let Err(e) = &local.db_props {
        report.add(Finding::fail(DATABASE, e.to_string(), fix_props))?;
        return Ok(None);
    }
    let db = match database::open(&local.home, &local.db_props, &local.key) {
        Ok(db) => db,
        Err(e) => {
            let fix = match &e {
                _ if e.is_master_key() => FIX_COPY_KEY.to_string(),
                database::OpenError::NoSqliteFile(_) => {
                    "start the node once, or point db.properties at the cluster's PostgreSQL \
                     database (HA needs a shared database)"
                        .to_string()
                }
                _ => format!(
                    "check url, username and password in {} and that the database server \
                     accepts connections from this host",
                    local.home.db_properties().display()
                ),
            };
            report.add(Finding::fail(DATABASE, e.to_string(), fix))?;
            return Ok(None);
        }
    };
    let version = match db.read_blocking(migrate::current_version) {
        Ok(v) => v,
        Err(e) => {
            report.add(Finding::fail(
                DATABASE,
                e.to_string(),
                "check that the database server runs and the user in db.properties may read \
                 the arca database",
            ))?;
            return Ok(None);
        }
    };
    let known = migrate::known_version();
    if version > known {
        report.add(Finding::fail(
            DATABASE,
            format!("schema version {version} is newer than this arcactl knows ({known})"),
            "use the arcactl of the arca version the nodes run",
        ))?;
        return Ok(None);
    }
    if version == 0 {
        report.add(Finding::fail(
            DATABASE,
            "the database holds no arca schema yet",
            "start the primary node first: it creates the schema",
        ))?;
        return Ok(None);
    }
    report.add(Finding::ok_with(
        DATABASE,
        format!("{}, schema version {version}", db.backend_name()),
    ))?;
    Ok(Some(db))
}

const REGISTRY: &str = "active node in the registry";
const FIX_DB_FIRST: &str = "fix the items above first";

/// The registry has an active node and no stale one. Returns every node and the stale
/// period, or `None` when the registry cannot be read.
fn check_registry(
    local: &Local,
    db: Option<&Db>,
    now: i64,
    lb: Option<&str>,
    report: &mut Report<'_>,
) -> anyhow::Result<Option<(Vec<NodeRecord>, i64)>> {
    let Some(db) = db else {
        report.add(Finding::fail(
            REGISTRY,
            "not checked: the database is not reachable",
            FIX_DB_FIRST,
        ))?;
        return Ok(None);
    };
    let stale_ms = match local.stale_ms() {
        Ok(ms) => ms,
        Err(e) => {
            report.add(Finding::fail(
                REGISTRY,
                e.to_string(),
                format!("correct {}", local.home.system_properties().display()),
            ))?;
            return Ok(None);
        }
    };
    let nodes = match db.read_blocking(cluster::list_nodes) {
        Ok(nodes) => nodes,
        Err(e) => {
            report.add(Finding::fail(
                REGISTRY,
                e.to_string(),
                "check that the user in db.properties may read the arca database",
            ))?;
            return Ok(None);
        }
    };
    let active: Vec<&NodeRecord> = nodes
        .iter()
        .filter(|n| n.is_active(now, stale_ms))
        .collect();
    if active.is_empty() {
        report.add(Finding::fail(
            REGISTRY,
            format!(
                "no node heartbeated within the last {} s ({} registered)",
                stale_ms / 1000,
                nodes.len()
            ),
            "start the nodes (systemctl start arca-server) and check their logs",
        ))?;
    } else {
        let list: Vec<String> = active
            .iter()
            .map(|n| format!("{} ({}, {})", n.node_id, n.role, n.state))
            .collect();
        report.add(Finding::ok_with(REGISTRY, list.join(", ")))?;
    }
    let stale: Vec<&NodeRecord> = nodes.iter().filter(|n| n.is_stale(now, stale_ms)).collect();
    if stale.is_empty() {
        report.add(Finding::ok("no stale node in the registry"))?;
    }
    // Where to send the DELETE: the load balancer, else any node that answers.
    let api_base = lb
        .map(str::to_string)
        .or_else(|| {
            SystemSettings::read(local.system.as_ref().ok()?)
                .settings
                .url_base
        })
        .or_else(|| {
            active
                .iter()
                .find(|n| !n.context_url.is_empty())
                .map(|n| n.context_url.clone())
        })
        .unwrap_or_else(|| "<url>".to_string());
    for n in stale {
        report.add(Finding::fail(
            format!("node '{}'", n.node_id),
            format!(
                "stale: no heartbeat for {} s although its state is {} ({})",
                (now - n.last_heartbeat).max(0) / 1000,
                n.state,
                if n.context_url.is_empty() {
                    "no context.url"
                } else {
                    &n.context_url
                }
            ),
            format!(
                "start it, or remove it: curl -X DELETE -u admin {}",
                http::join(&api_base, &format!("/api/system/ha/nodes/{}", n.node_id))
            ),
        ))?;
    }
    Ok(Some((nodes, stale_ms)))
}

/// GET `<url>/api/system/ping` answers 200 from the node registered under `id`.
fn check_reachable(client: &Client, id: &str, context_url: &str) -> Finding {
    let item = format!("node '{id}' reachable");
    if context_url.is_empty() {
        return Finding::ok_with(item, "single node (no HA): no context.url to check");
    }
    let item = format!("{item} at {context_url}");
    let url = http::join(context_url, "/api/system/ping");
    let fix_url = format!(
        "check that node '{id}' runs and that context.url in its etc/ha-node.properties is \
         its own address, reachable from the other nodes"
    );
    let resp = match client.get(&url).send() {
        Ok(resp) => resp,
        Err(e) => {
            return Finding::fail(
                item,
                format!("GET {url}: {}", http::describe(&e.without_url())),
                fix_url,
            );
        }
    };
    let status = resp.status();
    let answered_by = resp
        .headers()
        .get(NODE_ID_HEADER)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let message = http::body_message(resp);
    if status != StatusCode::OK {
        let fix = if message.contains("arcactl node undrain") {
            format!("the node is drained: run arcactl node undrain on node '{id}'")
        } else {
            format!("see the log of node '{id}'")
        };
        return Finding::fail(item, format!("GET {url} answered {status}: {message}"), fix);
    }
    match answered_by {
        Some(who) if who == id => Finding::ok_with(item, format!("ping answered 200 as {who}")),
        Some(who) => Finding::fail(
            item,
            format!("GET {url} was answered by node '{who}' (X-Arca-Node-Id), not '{id}'"),
            format!(
                "context.url of node '{id}' points at another node: set its own address in \
                 its etc/ha-node.properties and restart it"
            ),
        ),
        None => Finding::fail(
            item,
            format!("GET {url} answered without an X-Arca-Node-Id header: not an arca node"),
            format!(
                "point context.url of node '{id}' at the node itself, not at a proxy or the \
                 load balancer"
            ),
        ),
    }
}

const PRIMARY: &str = "exactly one primary";

fn check_primary(active: Option<&[NodeRecord]>) -> Finding {
    let Some(active) = active.filter(|a| !a.is_empty()) else {
        return not_checked(PRIMARY, active);
    };
    if let [only] = active
        && only.role == NodeRole::Standalone
    {
        return Finding::ok_with(PRIMARY, "single node (no HA)");
    }
    let standalone = ids_with_role(active, NodeRole::Standalone);
    if !standalone.is_empty() {
        return Finding::fail(
            PRIMARY,
            format!(
                "node(s) {} run without etc/ha-node.properties but share the database with \
                 the cluster",
                standalone.join(", ")
            ),
            "give each node an etc/ha-node.properties (node.id, context.url, primary) and \
             restart it",
        );
    }
    let primaries = ids_with_role(active, NodeRole::Primary);
    match primaries.len() {
        1 => Finding::ok_with(PRIMARY, primaries.join("")),
        0 => Finding::fail(
            PRIMARY,
            format!(
                "no active primary among {}",
                ids_with_role(active, NodeRole::Member).join(", ")
            ),
            "set primary=true in etc/ha-node.properties of exactly one node and restart it",
        ),
        n => Finding::fail(
            PRIMARY,
            format!("{n} active primaries: {}", primaries.join(", ")),
            "set primary=false in etc/ha-node.properties of all nodes but one and restart them",
        ),
    }
}

/// An item that needs the active nodes when there are none (or the registry is unreadable).
fn not_checked(item: &str, active: Option<&[NodeRecord]>) -> Finding {
    let why = match active {
        None => "the node registry cannot be read",
        Some(_) => "no active node",
    };
    Finding::fail(item, format!("not checked: {why}"), FIX_DB_FIRST)
}

fn ids_with_role(nodes: &[NodeRecord], role: NodeRole) -> Vec<String> {
    nodes
        .iter()
        .filter(|n| n.role == role)
        .map(|n| format!("'{}'", n.node_id))
        .collect()
}

const VERSIONS: &str = "same version on all nodes";

fn check_versions(active: Option<&[NodeRecord]>) -> Finding {
    let Some(active) = active.filter(|a| !a.is_empty()) else {
        return not_checked(VERSIONS, active);
    };
    let first = &active[0].version;
    if active.iter().all(|n| &n.version == first) {
        return Finding::ok_with(VERSIONS, first.clone());
    }
    let list: Vec<String> = active
        .iter()
        .map(|n| format!("{} {}", n.node_id, n.version))
        .collect();
    Finding::fail(
        VERSIONS,
        format!("versions differ: {}", list.join(", ")),
        "upgrade every node to the same arca version (one node at a time)",
    )
}

const LICENSES: &str = "every active node holds a license";

/// HA nodes each need a license from the pool (a single node needs none).
fn check_licenses(
    local: &Local,
    db: Option<&Db>,
    active: Option<&[NodeRecord]>,
    now: i64,
) -> Finding {
    if matches!(local.ha, Ok(None)) {
        return Finding::ok_with(LICENSES, "single node: no license needed");
    }
    let (Some(db), Some(active)) = (db, active.filter(|a| !a.is_empty())) else {
        return not_checked(LICENSES, active);
    };
    match db.read_blocking(arca_db::licenses::list_licenses) {
        Ok(pool) => license_finding(active, &pool, &arca_cluster::licenses::utc_date_iso(now)),
        Err(e) => Finding::fail(
            LICENSES,
            format!("cannot read the license pool: {e}"),
            "check that the user in db.properties may read the arca database",
        ),
    }
}

/// The licenses item for the `active` nodes and the `pool` on `today` (`YYYY-MM-DD`).
fn license_finding(
    active: &[NodeRecord],
    pool: &[arca_db::licenses::LicenseRow],
    today: &str,
) -> Finding {
    let held_by = |id: &str| {
        pool.iter()
            .find(|l| l.holder_node_id.as_deref() == Some(id))
    };
    let active_ids: Vec<&str> = active.iter().map(|n| n.node_id.as_str()).collect();
    let free = pool
        .iter()
        .filter(|l| {
            !l.is_expired(today)
                && l.holder_node_id
                    .as_deref()
                    .is_none_or(|h| !active_ids.contains(&h))
        })
        .count();
    let missing: Vec<&str> = active_ids
        .iter()
        .copied()
        .filter(|id| held_by(id).is_none())
        .collect();
    if !missing.is_empty() {
        return Finding::fail(
            LICENSES,
            format!(
                "no license on {} (they answer 503 \"no license available in the cluster \
                 pool\"); the pool has {} license(s), {free} free and valid",
                missing
                    .iter()
                    .map(|id| format!("'{id}'"))
                    .collect::<Vec<_>>()
                    .join(", "),
                pool.len()
            ),
            if free == 0 {
                "add a license per node (arcactl license add FILE, or POST /api/system/licenses)"
            } else {
                "check that arca-license-agent runs on those nodes (systemctl status \
                 arca-license-agent; journalctl -u arca-license-agent)"
            },
        );
    }
    let expired: Vec<String> = active_ids
        .iter()
        .filter_map(|id| {
            held_by(id)
                .filter(|l| l.is_expired(today))
                .map(|l| format!("'{id}' (expired {})", l.valid_through))
        })
        .collect();
    let mut detail = format!(
        "{} node(s) licensed; {free} free and valid in a pool of {}",
        active_ids.len(),
        pool.len()
    );
    if !expired.is_empty() {
        detail.push_str(&format!(
            "; running on an expired license: {} (add licenses to move them)",
            expired.join(", ")
        ));
    }
    Finding::ok_with(LICENSES, detail)
}

const CONFIG_SYNC: &str = "shared config files in sync and applied";

/// `arca-config-sync`: every node has the cluster's copies and no node waits for a restart.
fn check_config_sync(local: &Local, db: Option<&Db>, active: Option<&[NodeRecord]>) -> Finding {
    if matches!(local.ha, Ok(None)) {
        return Finding::ok_with(CONFIG_SYNC, "single node: nothing to share");
    }
    let (Some(db), Some(active)) = (db, active.filter(|a| !a.is_empty())) else {
        return not_checked(CONFIG_SYNC, active);
    };
    let read = db.read_blocking(|c| {
        Ok::<_, arca_db::DbError>((
            arca_db::configs::list_files(c)?,
            arca_db::configs::list_node_files(c)?,
        ))
    });
    let (files, reports) = match read {
        Ok(v) => v,
        Err(e) => {
            return Finding::fail(
                CONFIG_SYNC,
                format!("cannot read the shared config files: {e}"),
                "check that the nodes run this arca version (schema 9) and that the user in \
                 db.properties may read the arca database",
            );
        }
    };
    let active: Vec<&NodeRecord> = active.iter().collect();
    let f = crate::commands::config::sync_findings(&files, &reports, &active);
    if !f.rejected.is_empty() {
        return Finding::fail(
            CONFIG_SYNC,
            format!("refused by the config owner: {}", f.rejected.join("; ")),
            "correct the file on the config owner (the primary); arcactl config status shows it",
        );
    }
    if !f.lost.is_empty() {
        return Finding::fail(
            CONFIG_SYNC,
            format!(
                "local edits lost to the cluster's copy: {}",
                f.lost.join("; ")
            ),
            "merge each kept <file>.conflict into the config owner's copy if still wanted, then \
             delete it on that node (arcactl config status shows them)",
        );
    }
    if !f.differs.is_empty() {
        return Finding::fail(
            CONFIG_SYNC,
            format!("differs from the cluster's copy: {}", f.differs.join(", ")),
            "check that arca-config-sync runs on those nodes (systemctl status arca-config-sync)",
        );
    }
    if !f.restart.is_empty() {
        return Finding::fail(
            CONFIG_SYNC,
            format!(
                "changed since arca-server started on {}",
                f.restart.join(", ")
            ),
            "restart arca-server on those nodes, one at a time (systemctl restart arca-server)",
        );
    }
    if f.stored == 0 {
        return Finding::ok_with(
            CONFIG_SYNC,
            "nothing stored yet (arca-config-sync on the config owner stores the files)",
        );
    }
    Finding::ok_with(
        CONFIG_SYNC,
        format!("{} file(s), every active node in sync", f.stored),
    )
}

const URL_BASE: &str = "URL base (arca.url.base)";

fn check_url_base(local: &Local, lb: Option<&str>) -> Finding {
    let file = local.home.system_properties();
    let fix_set =
        |value: &str| format!("set arca.url.base={value} in etc/system.properties on the primary");
    let base = match local
        .system
        .as_ref()
        .map_err(Clone::clone)
        .and_then(SystemProperties::url_base)
    {
        Ok(base) => base,
        Err(e) => {
            return Finding::fail(URL_BASE, e.to_string(), fix_set("<load balancer URL>"));
        }
    };
    let Some(base) = base else {
        return Finding::fail(
            URL_BASE,
            format!("not set in {}", file.display()),
            fix_set(lb.unwrap_or("<load balancer URL>")),
        );
    };
    let Some(lb) = lb else {
        return Finding::ok_with(URL_BASE, base);
    };
    // url_base() already dropped a trailing '/'; treat --lb the same way.
    let lb_trimmed = lb.strip_suffix('/').unwrap_or(lb);
    if base == lb_trimmed {
        return Finding::ok_with(URL_BASE, format!("{base}, the load balancer's URL"));
    }
    let fix = match check_context_url(lb_trimmed) {
        Ok(_) => fix_set(lb_trimmed),
        Err(why) => format!("pass the load balancer's URL to --lb ('{lb}': {why})"),
    };
    Finding::fail(
        URL_BASE,
        format!("is {base} in {}, the load balancer is {lb}", file.display()),
        fix,
    )
}

const MASTER_KEY: &str = "master key matches the cluster's";

/// The local key against the database's key-check value, then a signed request to every
/// probed node (a node with another key rejects the signature with 401).
fn check_master_key(
    local: &Local,
    db: Option<&Db>,
    client: &Client,
    probe: &[(String, String)],
    report: &mut Report<'_>,
) -> anyhow::Result<()> {
    let path = local.home.master_key();
    let key = match &local.key {
        Ok(Some(key)) => key,
        Ok(None) => {
            return report.add(Finding::fail(
                MASTER_KEY,
                format!("{} is missing", path.display()),
                FIX_COPY_KEY,
            ));
        }
        Err(e) => return report.add(Finding::fail(MASTER_KEY, e.to_string(), FIX_COPY_KEY)),
    };
    let ours = key_check_value(key.bytes());
    report.add(match db {
        None => Finding::fail(
            MASTER_KEY,
            "not compared with the database: it is not reachable",
            FIX_DB_FIRST,
        ),
        Some(db) => match db.read_blocking(|c| cluster::get_setting(c, MASTER_KEY_CHECK_SETTING)) {
            Ok(Some(stored)) if stored == ours => {
                Finding::ok_with(MASTER_KEY, format!("key-check value {ours}"))
            }
            Ok(Some(stored)) => Finding::fail(
                MASTER_KEY,
                format!(
                    "the key-check value of {} is {ours}, the cluster's in the database is \
                     {stored}: a different master key",
                    path.display()
                ),
                FIX_COPY_KEY,
            ),
            Ok(None) => Finding::fail(
                MASTER_KEY,
                "the database holds no key-check value yet",
                "start the primary node first: it records the cluster's key-check value",
            ),
            Err(e) => Finding::fail(MASTER_KEY, e.to_string(), FIX_DB_FIRST),
        },
    })?;
    // During a rolling upgrade from a version that knows only v1 signatures
    // (arca.node.signature.v1=true), old nodes are asked in v1 too.
    let v1_compat = local
        .system
        .as_ref()
        .ok()
        .is_some_and(|s| SystemSettings::read(s).settings.node_signature_v1);
    let signer = RequestSigner::new(key.bytes()).with_v1_compat(v1_compat);
    let caller = match &local.ha {
        Ok(Some(ha)) => ha.node_id.clone(),
        _ => TOOL_NODE_ID.to_string(),
    };
    for (id, url) in probe {
        report.add(check_node_key(client, &signer, &caller, &ours, id, url))?;
    }
    Ok(())
}

/// Signed GET `<url>/api/system/ha/self`: 200 with our key-check value, or 401 for a node
/// with another key.
fn check_node_key(
    client: &Client,
    signer: &RequestSigner,
    caller: &str,
    ours: &str,
    id: &str,
    context_url: &str,
) -> Finding {
    let item = format!("node '{id}' uses the same master key");
    if context_url.is_empty() {
        return Finding::ok_with(
            item,
            "single node (no HA): checked against the database only",
        );
    }
    let url = http::join(context_url, "/api/system/ha/self");
    let fix_key = format!("{FIX_COPY_KEY} to node '{id}' and restart it");
    let parsed = match reqwest::Url::parse(&url) {
        Ok(u) => u,
        Err(e) => return Finding::fail(item, format!("{url}: {e}"), fix_key),
    };
    // The server verifies the signature over the path as received, context path included.
    let path_and_query = match parsed.query() {
        Some(q) => format!("{}?{q}", parsed.path()),
        None => parsed.path().to_string(),
    };
    let headers = signer.headers(
        &NodeRequest {
            method: "GET",
            path_and_query: &path_and_query,
            target_node: id,
            content_sha256: EMPTY_SHA256,
        },
        caller,
        now_ms(),
        &random_hex(16),
    );
    let request = headers
        .into_iter()
        .fold(client.get(parsed), |r, (name, value)| r.header(name, value));
    let resp = match request.send() {
        Ok(resp) => resp,
        Err(e) => {
            return Finding::fail(
                item,
                format!("GET {url}: {}", http::describe(&e.without_url())),
                format!("check that node '{id}' runs and its context.url is reachable"),
            );
        }
    };
    let status = resp.status();
    if status == StatusCode::UNAUTHORIZED {
        let message = http::body_message(resp);
        let (why, fix) = if message.contains("timestamp") || message.contains("skew") {
            (
                "the clocks differ",
                format!("synchronise the clocks of this host and node '{id}' (NTP)"),
            )
        } else if message.contains("signed for node") {
            (
                "another node answers at this address",
                format!("point context.url of node '{id}' at the node itself"),
            )
        } else if message.contains("expected v1") {
            (
                "the node runs a version that knows only v1 node signatures",
                "upgrade it, or set arca.node.signature.v1=true in system.properties on every \
                 node while the rolling upgrade runs"
                    .to_string(),
            )
        } else {
            ("the node uses a different master key", fix_key)
        };
        return Finding::fail(
            item,
            format!("GET {url} answered 401 ({message}): {why}"),
            fix,
        );
    }
    if status != StatusCode::OK {
        let message = http::body_message(resp);
        return Finding::fail(
            item,
            format!("GET {url} answered {status}: {message}"),
            format!("see the log of node '{id}'"),
        );
    }
    let json: serde_json::Value = match resp.json() {
        Ok(json) => json,
        Err(e) => {
            return Finding::fail(
                item,
                format!("GET {url}: the answer is not JSON ({e})"),
                format!("point context.url of node '{id}' at the node itself"),
            );
        }
    };
    // Another node answering proves nothing about this one (the reachability item says why).
    if let Some(who) = json.get("nodeId").and_then(|v| v.as_str())
        && who != id
    {
        return Finding::fail(
            item,
            format!("not checked: GET {url} was answered by node '{who}'"),
            format!("set the own address of node '{id}' as context.url and restart it"),
        );
    }
    match json.get("masterKeyCheck").and_then(|v| v.as_str()) {
        Some(theirs) if theirs == ours => Finding::ok_with(item, format!("key-check value {ours}")),
        Some(theirs) => Finding::fail(
            item,
            format!("node '{id}' reports key-check value {theirs}, this node's is {ours}"),
            fix_key,
        ),
        None => Finding::fail(
            item,
            format!("GET {url}: the answer has no masterKeyCheck"),
            "upgrade the node to the arca version of the others",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arca_db::cluster::NodeState;
    use arca_db::licenses::LicenseRow;

    fn node(id: &str, role: NodeRole, version: &str) -> NodeRecord {
        NodeRecord {
            node_id: id.into(),
            start_time: 0,
            context_url: format!("http://{id}:8081/artifactory"),
            membership_port: 0,
            state: NodeState::Running,
            role,
            last_heartbeat: 0,
            version: version.into(),
            revision: "r".into(),
            release_date: "d".into(),
            data_dir: "/d".into(),
            backup_dir: "/b".into(),
            instance: format!("{id}:/h"),
        }
    }

    #[test]
    fn finding_lines() {
        assert_eq!(Finding::ok("x").to_string(), "OK   x");
        assert_eq!(Finding::ok_with("x", "d").to_string(), "OK   x: d");
        assert_eq!(
            Finding::fail("x", "broken", "mend it").to_string(),
            "FAIL x: broken — fix: mend it"
        );
    }

    #[test]
    fn primary_rules() {
        let single = [node("a", NodeRole::Standalone, "1")];
        assert_eq!(
            check_primary(Some(&single)).to_string(),
            "OK   exactly one primary: single node (no HA)"
        );
        let one = [
            node("a", NodeRole::Primary, "1"),
            node("b", NodeRole::Member, "1"),
        ];
        assert_eq!(
            check_primary(Some(&one)).to_string(),
            "OK   exactly one primary: 'a'"
        );
        let none = [
            node("a", NodeRole::Member, "1"),
            node("b", NodeRole::Member, "1"),
        ];
        let f = check_primary(Some(&none)).to_string();
        assert!(
            f.starts_with("FAIL exactly one primary: no active primary"),
            "{f}"
        );
        let two = [
            node("a", NodeRole::Primary, "1"),
            node("b", NodeRole::Primary, "1"),
        ];
        let f = check_primary(Some(&two)).to_string();
        assert!(f.contains("2 active primaries: 'a', 'b'"), "{f}");
        let mixed = [
            node("a", NodeRole::Primary, "1"),
            node("s", NodeRole::Standalone, "1"),
        ];
        let f = check_primary(Some(&mixed)).to_string();
        assert!(f.contains("'s' run without etc/ha-node.properties"), "{f}");
        assert!(!check_primary(None).is_ok());
        assert!(!check_primary(Some(&[])).is_ok());
    }

    #[test]
    fn license_rules() {
        let license = |hash: &str, valid: &str, holder: Option<&str>| LicenseRow {
            hash: hash.into(),
            token: String::new(),
            licensee: "ACME".into(),
            license_type: "Enterprise".into(),
            valid_through: valid.into(),
            issued: "2026-01-01".into(),
            added_at: 0,
            holder_node_id: holder.map(str::to_string),
            claimed_at: None,
            holder_url: None,
        };
        let active = [
            node("a", NodeRole::Primary, "1"),
            node("b", NodeRole::Member, "1"),
        ];
        let today = "2026-06-01";
        let ok = license_finding(
            &active,
            &[
                license("h1", "2027-01-01", Some("a")),
                license("h2", "2026-05-01", Some("b")),
                license("h3", "2027-01-01", Some("gone")),
            ],
            today,
        );
        assert!(ok.is_ok(), "{ok}");
        let line = ok.to_string();
        assert!(
            line.contains("2 node(s) licensed; 1 free and valid in a pool of 3"),
            "{line}"
        );
        assert!(line.contains("'b' (expired 2026-05-01)"), "{line}");
        // b holds none and nothing is free: add licenses.
        let f = license_finding(&active, &[license("h1", "2027-01-01", Some("a"))], today);
        let line = f.to_string();
        assert!(!f.is_ok());
        assert!(
            line.contains("no license on 'b'") && line.contains("0 free"),
            "{line}"
        );
        assert!(line.contains("arcactl license add"), "{line}");
        // One is free but b does not take it: its agent is not running.
        let f = license_finding(
            &active,
            &[
                license("h1", "2027-01-01", Some("a")),
                license("h2", "2027-01-01", None),
            ],
            today,
        );
        assert!(
            f.to_string()
                .contains("systemctl status arca-license-agent"),
            "{f}"
        );
    }

    #[test]
    fn version_rules() {
        let same = [
            node("a", NodeRole::Primary, "1.2"),
            node("b", NodeRole::Member, "1.2"),
        ];
        assert_eq!(
            check_versions(Some(&same)).to_string(),
            "OK   same version on all nodes: 1.2"
        );
        let differ = [
            node("a", NodeRole::Primary, "1.2"),
            node("b", NodeRole::Member, "1.3"),
        ];
        let f = check_versions(Some(&differ)).to_string();
        assert!(f.contains("versions differ: a 1.2, b 1.3"), "{f}");
    }

    fn local_with_system(text: &str) -> (tempfile::TempDir, Local) {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        std::fs::create_dir_all(home.etc()).unwrap();
        std::fs::write(home.system_properties(), text).unwrap();
        (dir, Local::load(home))
    }

    #[test]
    fn url_base_rules() {
        let (_d, local) = local_with_system("");
        let f = check_url_base(&local, None).to_string();
        assert!(
            f.starts_with("FAIL URL base (arca.url.base): not set in "),
            "{f}"
        );
        assert!(
            f.ends_with(
                "— fix: set arca.url.base=<load balancer URL> in etc/system.properties on the \
                 primary"
            ),
            "{f}"
        );

        let (_d, local) = local_with_system("arca.url.base=http://lb:8080/artifactory/\n");
        assert!(check_url_base(&local, None).is_ok());
        assert!(check_url_base(&local, Some("http://lb:8080/artifactory")).is_ok());
        assert!(check_url_base(&local, Some("http://lb:8080/artifactory/")).is_ok());
        let f = check_url_base(&local, Some("http://other:1")).to_string();
        assert!(f.starts_with("FAIL URL base (arca.url.base): is http://lb:8080/artifactory"));
        assert!(
            f.ends_with("set arca.url.base=http://other:1 in etc/system.properties on the primary"),
            "{f}"
        );

        let (_d, local) = local_with_system("arca.url.base=lb\n");
        assert!(!check_url_base(&local, None).is_ok());
    }

    #[test]
    fn stale_period_from_system_properties() {
        let (_d, local) = local_with_system("arca.ha.node.stale.secs=45\n");
        assert_eq!(local.stale_ms().unwrap(), 45_000);
        let (_d, local) = local_with_system("");
        assert_eq!(local.stale_ms().unwrap(), 30_000);
    }
}
