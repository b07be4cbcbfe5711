//! Command-line definition (clap derive). One enum variant per command group; each group is a
//! module under `commands/`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "arcactl", version = arca_runtime::build().version, about = "Operate an arca node or cluster")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate and inspect the configuration files.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Generate or inspect the cluster master key (etc/security/master.key).
    #[command(subcommand)]
    MasterKey(MasterKeyCommand),
    /// Take this node out of the load balancer's rotation and back (drain / undrain).
    #[command(subcommand)]
    Node(NodeCommand),
    /// Check a high-availability cluster (the HA guide's "Testing Your HA Configuration").
    #[command(subcommand)]
    Ha(HaCommand),
    /// License keys: create an issuer, issue keys, check keys (docs/licenses.md).
    ///
    /// A single node needs no license; an HA node needs one.
    #[command(subcommand)]
    License(LicenseCommand),
    /// Users: add, list, show, change password, disable/enable, unlock, delete.
    ///
    /// Straight in the database of this node's home (etc/db.properties, etc/security/master.key:
    /// run it as root or arca on a node), on a single node (SQLite) or a cluster (PostgreSQL).
    /// Running servers pick every change up within about a second.
    #[command(subcommand)]
    User(UserCommand),
    /// Groups: add (or replace), list, show, set members, delete.
    ///
    /// Straight in the database of this node's home, like `arcactl user`.
    #[command(subcommand)]
    Group(GroupCommand),
    /// Permission targets: add (or replace), list, show, delete, and check what a user may do.
    ///
    /// Straight in the database of this node's home, like `arcactl user`.
    #[command(subcommand)]
    Permission(PermissionCommand),
    /// Binary storage: move binaries to a new storage chain, check every binary is readable,
    /// scrub this node's stored copies.
    #[command(subcommand)]
    Storage(StorageCommand),
}

#[derive(Debug, Subcommand)]
pub enum StorageCommand {
    /// Copy every stored binary from the storage chain the cluster ran into the chain of this
    /// home's etc/binarystore.xml, then record the new chain (docs/storage.md).
    ///
    /// Run it with arca-server stopped, after changing binarystore.xml, when the server refused
    /// to start because stored binaries are not where the new chain reads them. The old chain is
    /// the one recorded in the database (or --from FILE). Binaries the new chain has already are
    /// skipped, so an interrupted run resumes where it stopped. Progress on stdout; binaries
    /// missing from the old chain too are listed with the files they hold. Exit status 0 when
    /// every binary is readable through the new chain (the chain is then recorded), 1 otherwise.
    Migrate(StorageMigrateArgs),
    /// Check that every stored binary is readable through this home's storage chain; lists the
    /// missing ones with the files that hold them. Exit status 0 when none is missing.
    Verify(HomeArgs),
    /// Ask this node's running arca-server to scrub now: re-read every copy the node holds and
    /// check it against its SHA-256 (docs/storage.md, "Scrubbing"); corrupt copies are
    /// quarantined and repaired where the chain has a good copy.
    ///
    /// Talks to the server over its control socket (<home>/run/arca-server.sock; run it as root
    /// or arca). A pass already running is followed instead. Shows a progress bar on a
    /// terminal, a line every 5 s otherwise, then the summary. Exit status 0 when no binary is
    /// left corrupt, 1 when a corrupt one could not be repaired, 3 when arca-server is not
    /// running.
    Scrub(StorageScrubArgs),
}

#[derive(Debug, clap::Args)]
pub struct StorageScrubArgs {
    #[command(flatten)]
    pub home: HomeArgs,
    /// Read at N MB/s for this pass (decimals allowed; 0: no limit). Default:
    /// arca.storage.scrub.rate.mb.
    #[arg(long, value_name = "N")]
    pub rate_mb: Option<String>,
    /// Start the pass and return at once (follow it with GET /api/system/storage/scrub).
    #[arg(long)]
    pub no_wait: bool,
}

#[derive(Debug, clap::Args)]
pub struct StorageMigrateArgs {
    #[command(flatten)]
    pub home: HomeArgs,
    /// The old chain's binarystore.xml (default: the one recorded in the database).
    #[arg(long, value_name = "FILE")]
    pub from: Option<std::path::PathBuf>,
    /// Only count what would be copied.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user. Without --password-stdin or --password-file a random password is
    /// generated and printed once (`password: …` on stdout).
    ///
    /// Without --group the user joins the auto-join groups (`readers` at first); with --group
    /// exactly the groups given (each must exist).
    Add(UserAddArgs),
    /// List the users: name, admin, disabled, locked, email, groups, last login.
    List(ListArgs),
    /// Show a user: email, admin (its flag or an admin group), disabled, lockout, last login,
    /// groups. Never the password hash.
    Show(ShowArgs),
    /// Set a user's password (from stdin or a file). Clears a lockout and ends the user's
    /// web sessions.
    Passwd(UserPasswdArgs),
    /// Disable a user: it can no longer log in or use its tokens; its sessions end.
    Disable(NameArgs),
    /// Enable a user again, and clear a lockout after failed logins.
    Enable(NameArgs),
    /// Clear a user's lockout after failed logins (and its failed-login count).
    Unlock(NameArgs),
    /// Delete a user with its group memberships, grants, tokens and sessions.
    Delete(NameArgs),
}

/// Where a new password comes from (none: generate one).
#[derive(Debug, Clone, Args)]
#[group(multiple = false)]
pub struct PasswordSource {
    /// Read the password from stdin (up to the end; one trailing newline is dropped).
    #[arg(long)]
    pub password_stdin: bool,
    /// Read the password from FILE (one trailing newline is dropped).
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct UserAddArgs {
    #[command(flatten)]
    pub home: HomeArgs,
    /// User name: 1 to 64 letters, digits and . _ - @ + (not starting with '.').
    #[arg(value_name = "NAME")]
    pub name: String,
    /// Email address.
    #[arg(long, value_name = "EMAIL")]
    pub email: Option<String>,
    /// Make the user an administrator (may do everything).
    #[arg(long)]
    pub admin: bool,
    /// A group to join (repeatable); replaces the auto-join groups.
    #[arg(long = "group", value_name = "GROUP")]
    pub groups: Vec<String>,
    #[command(flatten)]
    pub password: PasswordSource,
}

#[derive(Debug, Clone, Args)]
pub struct UserPasswdArgs {
    #[command(flatten)]
    pub home: HomeArgs,
    #[arg(value_name = "NAME")]
    pub name: String,
    #[command(flatten)]
    pub password: RequiredPasswordSource,
}

/// Where the new password comes from (one is required).
#[derive(Debug, Clone, Args)]
#[group(required = true, multiple = false)]
pub struct RequiredPasswordSource {
    /// Read the password from stdin (up to the end; one trailing newline is dropped).
    #[arg(long)]
    pub password_stdin: bool,
    /// Read the password from FILE (one trailing newline is dropped).
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
}

/// A command on one user, group or permission target.
#[derive(Debug, Clone, Args)]
pub struct NameArgs {
    #[command(flatten)]
    pub home: HomeArgs,
    #[arg(value_name = "NAME")]
    pub name: String,
}

/// `show` of a user, group or permission target.
#[derive(Debug, Clone, Args)]
pub struct ShowArgs {
    #[command(flatten)]
    pub home: HomeArgs,
    #[arg(value_name = "NAME")]
    pub name: String,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `list` of users, groups or permission targets.
#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub home: HomeArgs,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// Create a group, or replace an existing group's description and flags (its members are
    /// kept). Prints `created` or `replaced`.
    Add(GroupAddArgs),
    /// List the groups: name, auto-join, admin, number of members, description.
    List(ListArgs),
    /// Show a group and its members.
    Show(ShowArgs),
    /// Make exactly the users given the members of a group (each must exist); --none empties
    /// it.
    Members(GroupMembersArgs),
    /// Delete a group with its memberships and the grants to it.
    Delete(NameArgs),
}

#[derive(Debug, Clone, Args)]
pub struct GroupAddArgs {
    #[command(flatten)]
    pub home: HomeArgs,
    /// Group name: 1 to 64 letters, digits and . _ - @ + (not starting with '.').
    #[arg(value_name = "NAME")]
    pub name: String,
    /// Description.
    #[arg(long, value_name = "TEXT", default_value = "")]
    pub description: String,
    /// New users join the group automatically.
    #[arg(long)]
    pub auto_join: bool,
    /// Members are administrators.
    #[arg(long)]
    pub admin: bool,
}

#[derive(Debug, Clone, Args)]
#[command(group(clap::ArgGroup::new("who").required(true).args(["users", "none"])))]
pub struct GroupMembersArgs {
    #[command(flatten)]
    pub home: HomeArgs,
    #[arg(value_name = "NAME")]
    pub name: String,
    /// The members (all of them: the others leave the group).
    #[arg(value_name = "USER")]
    pub users: Vec<String>,
    /// Remove every member.
    #[arg(long, conflicts_with = "users")]
    pub none: bool,
}

#[derive(Debug, Subcommand)]
pub enum PermissionCommand {
    /// Create a permission target, or replace the one with this name. Prints `created` or
    /// `replaced`.
    ///
    /// Actions: read, annotate, deploy (or write), delete, manage; each implies the ones before
    /// it (deploy grants annotate and read). Grants may name users and groups that do not
    /// exist yet (a warning says so): they apply once those are created.
    Add(PermissionAddArgs),
    /// List the permission targets: name, repositories, include and exclude patterns, grants.
    List(ListArgs),
    /// Show a permission target. --json prints the REST API's v2 shape
    /// (GET /api/v2/security/permissions/NAME; deploy is `write` there).
    Show(ShowArgs),
    /// Delete a permission target.
    Delete(NameArgs),
    /// Print what USER may do at PATH of repository REPO, and the targets granting it.
    ///
    /// Resolves the user's groups and admin flag (its own or an admin group's) like the
    /// server. PATH is relative to the repository ("" or / for the repository itself).
    Check(PermissionCheckArgs),
}

#[derive(Debug, Clone, Args)]
pub struct PermissionAddArgs {
    #[command(flatten)]
    pub home: HomeArgs,
    /// Permission target name: 1 to 64 letters, digits and . _ - @ + (not starting with '.').
    #[arg(value_name = "NAME")]
    pub name: String,
    /// A repository (repeatable): a key, a pattern like libs-*, or ANY, ANY LOCAL, ANY REMOTE,
    /// ANY VIRTUAL.
    #[arg(long = "repo", value_name = "REPO", required = true)]
    pub repos: Vec<String>,
    /// Ant-style path patterns to include (repeatable or comma separated) [default: **].
    #[arg(long = "include", value_name = "PATTERN")]
    pub include: Vec<String>,
    /// Ant-style path patterns to exclude (repeatable or comma separated).
    #[arg(long = "exclude", value_name = "PATTERN")]
    pub exclude: Vec<String>,
    /// Grant actions to a user: USER=read,deploy (repeatable).
    #[arg(long = "user", value_name = "USER=ACTIONS")]
    pub users: Vec<String>,
    /// Grant actions to a group: GROUP=read (repeatable).
    #[arg(long = "group", value_name = "GROUP=ACTIONS")]
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct PermissionCheckArgs {
    #[command(flatten)]
    pub home: HomeArgs,
    #[arg(value_name = "USER")]
    pub user: String,
    #[arg(value_name = "REPO")]
    pub repo: String,
    #[arg(value_name = "PATH")]
    pub path: String,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate every config file under the home directory (used by ExecStartPre=).
    ///
    /// Prints each problem as `error: <file>:<line>: <key>: <message>` (or `warning: …`) on
    /// stderr and `config OK: <home>` on stdout when there is no error. Exit status 0 without
    /// errors, 1 with errors.
    Check(HomeArgs),
    /// Show the cluster's shared config files (binarystore.xml, system.properties,
    /// cluster.license; arca-config-sync) and each node's copy.
    ///
    /// For every file: the cluster's version and SHA-256, who stored it, a copy the owner
    /// refused (invalid, not propagated), and per node the hash it reported, `in sync` or
    /// `DIFFERS`, and whether its arca-server must restart to apply a change. Reads the
    /// database from this node's home (run as root or arca). Exit status 0 when every active
    /// node is in sync and nothing was refused, 1 otherwise.
    Status(ConfigStatusArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ConfigStatusArgs {
    #[command(flatten)]
    pub home: HomeArgs,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum MasterKeyCommand {
    /// Print a new random master key (32 hex characters, like `openssl rand -hex 16`).
    ///
    /// Prints only the key and a newline; nothing is written to disk. To install it:
    /// `(umask 077; arcactl master-key generate > $ARCA_HOME/etc/security/master.key)`.
    Generate,
    /// Load etc/security/master.key and print its key-check value.
    ///
    /// The key-check value is a non-secret fingerprint: equal values on two nodes mean the
    /// same key. Warns on stderr when the file is readable by group or others (mode above
    /// 0600). Exit status 1 when the file is missing or invalid.
    Check(HomeArgs),
}

#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    /// Drain this node: create <home>/run/drain so the load balancer stops routing to it.
    ///
    /// While the flag exists the running arca-server answers 503 on /api/system/ping and
    /// /api/v1/system/readiness (naming `arcactl node undrain`); in-flight and new requests
    /// still complete. The server removes a leftover flag when it starts.
    ///
    /// With a URL (--url, else context.url of etc/ha-node.properties) the command confirms
    /// that GET <url>/api/v1/system/readiness answers 503. An unreachable node is reported
    /// but is no error: the flag is in place. Exit status 1 only when the node answers
    /// something else than 503.
    Drain(NodeArgs),
    /// Undrain this node: remove <home>/run/drain (fine when it is absent).
    ///
    /// With a URL (--url, else context.url of etc/ha-node.properties) the command confirms
    /// that GET <url>/api/v1/system/readiness answers 200 again. An unreachable node is
    /// reported but is no error. Exit status 1 only when the node answers something else
    /// than 200 (e.g. 503 because its database is unavailable).
    Undrain(NodeArgs),
}

/// Home directory plus the node's own URL for the confirmation request.
#[derive(Debug, Clone, Args)]
pub struct NodeArgs {
    #[command(flatten)]
    pub home: HomeArgs,
    /// URL of this node including the context path (e.g. http://10.0.0.1:8081/artifactory);
    /// default: context.url of etc/ha-node.properties.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum HaCommand {
    /// Run the HA self-test from this node's configuration (master key, db.properties,
    /// system.properties) and print one line per item.
    ///
    /// Each line is `OK   <item>[: <detail>]` or `FAIL <item>: <what is wrong> — fix: <how
    /// to fix>`. Items: the database is reachable and its schema version known; the registry
    /// has an active node and no stale one; every active node answers GET
    /// <context.url>/api/system/ping with 200 and its own X-Arca-Node-Id; exactly one
    /// primary; the same version on all nodes; arca.url.base is set (and equals --lb); the
    /// master key matches the database's key-check value and every active node's (signed GET
    /// <context.url>/api/system/ha/self). HTTP requests time out after 3 s.
    ///
    /// Exit status 0 when every item passes, 1 otherwise.
    Check(HaCheckArgs),
}

#[derive(Debug, Clone, Args)]
pub struct HaCheckArgs {
    #[command(flatten)]
    pub home: HomeArgs,
    /// The load balancer's URL (e.g. https://repo.example.com/artifactory): arca.url.base
    /// must equal it (one trailing '/' ignored). It is not contacted.
    #[arg(long, value_name = "URL")]
    pub lb: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum LicenseCommand {
    /// Create a license issuer: a private key file (mode 0600) and its public key file.
    ///
    /// The private key signs license keys (`arcactl license issue`): keep it secret and off
    /// the nodes. Copy the public key file into etc/security/license-issuers/ on every node.
    /// Neither file is overwritten. Prints the issuer id and both paths.
    IssuerNew(IssuerNewArgs),
    /// Print new license keys signed by an issuer, one per line on stdout.
    ///
    /// The keys are valid through the whole --valid-through day (UTC). A summary goes to
    /// stderr. The private key file must not be accessible by group or others (chmod 600).
    Issue(IssueArgs),
    /// Check license keys against this node's trusted issuers
    /// (etc/security/license-issuers/*.pub) and today's date (UTC).
    ///
    /// Keys are separated by newlines, blank lines, spaces, tabs or semicolons. Prints one
    /// line per key: `OK <hash> <licensee> valid through <YYYY-MM-DD>` or
    /// `REJECTED <hash>: <reason>` (garbled, unsigned, untrusted issuer, bad signature,
    /// expired). Exit status 0 when every key is valid, 1 otherwise (also for no key at all).
    Verify(LicenseVerifyArgs),
    /// Add license keys to the cluster's pool, in the database of this node's home
    /// (etc/db.properties, etc/security/master.key: run it as root or arca on a node).
    ///
    /// Keys are separated by newlines, blank lines, spaces, tabs or semicolons and checked
    /// like `verify`; the valid ones are added in one transaction. Prints one line per key:
    /// `OK <hash>` (added), `ALREADY <hash>` (in the pool already) or `REJECTED <hash>:
    /// <reason>`; keys are never printed. Exit status 0 when at least one key was added or
    /// already present, 1 otherwise.
    Add(LicenseAddArgs),
    /// List the cluster's license pool: hash, licensed to, type, valid through, expired, and
    /// the node using it (`Not in use` when none).
    ///
    /// Reads the database of this node's home (run it as root or arca on a node). With --json
    /// prints the REST API's JSON (GET /api/system/licenses).
    List(LicenseListArgs),
    /// Delete licenses from the cluster's pool by hash, with the pool's rules: a license in
    /// use by an active node is deleted only when another free, valid license can replace it.
    ///
    /// Prints one message per hash (deleted, not found, moved node, or why it is kept). Exit
    /// status 0 when at least one license was deleted, 1 otherwise.
    Delete(LicenseDeleteArgs),
}

#[derive(Debug, Clone, Args)]
pub struct IssuerNewArgs {
    /// Where to write the issuer's private key (created with mode 0600; must not exist).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Where to write the public key (mode 0644; must not exist) [default: <out>.pub].
    #[arg(long = "pub", value_name = "FILE")]
    pub pub_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct IssueArgs {
    /// The issuer's private key file (from `arcactl license issuer-new`).
    #[arg(long, value_name = "FILE")]
    pub issuer_key: PathBuf,
    /// The licensee, e.g. "ACME Corp." (1 to 200 characters).
    #[arg(long, value_name = "NAME")]
    pub to: String,
    /// The last day the keys are valid (inclusive).
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = arca_license::parse_date)]
    pub valid_through: arca_license::Date,
    /// The license type.
    #[arg(long = "type", value_name = "TYPE", default_value = arca_license::DEFAULT_LICENSE_TYPE)]
    pub license_type: String,
    /// How many keys to issue (one per node).
    #[arg(
        long,
        value_name = "N",
        default_value_t = 1,
        value_parser = clap::value_parser!(u32).range(1..=10_000)
    )]
    pub count: u32,
    /// The issue date written into the keys [default: today, UTC].
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = arca_license::parse_date)]
    pub issued: Option<arca_license::Date>,
}

#[derive(Debug, Clone, Args)]
pub struct LicenseVerifyArgs {
    #[command(flatten)]
    pub home: HomeArgs,
    /// The file with the keys, or - for stdin.
    #[arg(value_name = "FILE|-")]
    pub input: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct LicenseAddArgs {
    #[command(flatten)]
    pub home: HomeArgs,
    /// The file with the keys, or - for stdin.
    #[arg(value_name = "FILE|-")]
    pub input: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct LicenseListArgs {
    #[command(flatten)]
    pub home: HomeArgs,
    /// Print the REST API's JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct LicenseDeleteArgs {
    #[command(flatten)]
    pub home: HomeArgs,
    /// License hashes (as `arcactl license list` shows them).
    #[arg(value_name = "HASH", required = true)]
    pub hashes: Vec<String>,
}

/// Selects the node's home directory (`etc/`, `data/`, `backup/`, `run/`).
#[derive(Debug, Clone, Args)]
pub struct HomeArgs {
    /// Home directory of the node (the packages install it at /var/lib/arca, with etc -> /etc/arca
    /// and run -> /run/arca), as for arca-server.
    #[arg(
        long,
        env = "ARCA_HOME",
        value_name = "DIR",
        default_value = "/var/lib/arca"
    )]
    pub home: PathBuf,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// `arcactl ARGS…` as clap parses it.
    fn try_parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("arcactl").chain(args.iter().copied()))
    }

    /// The command of `arcactl ARGS…` (panics naming the arguments when clap refuses them).
    fn parse(args: &[&str]) -> Command {
        match try_parse(args) {
            Ok(cli) => cli.command,
            Err(e) => panic!("arcactl {args:?}: {e}"),
        }
    }

    /// [`parse`] of a command line whose arguments hold no spaces.
    fn parse_line(line: &str) -> Command {
        parse(&line.split_whitespace().collect::<Vec<_>>())
    }

    /// The arguments of a command line (`parse_line` of a literal, else `parse` of a slice),
    /// which must parse as `$outer($inner(args))`; panics with what it parsed as otherwise.
    /// Called with braces, one line each (rustfmt would stack the three arguments).
    macro_rules! parse_as {
        ($outer:path, $inner:path, $line:literal) => {
            parse_as!(
                $outer,
                $inner,
                &$line.split_whitespace().collect::<Vec<_>>()
            )
        };
        ($outer:path, $inner:path, $args:expr) => {{
            let c = parse($args);
            let $outer($inner(args)) = c else {
                panic!("parsed as {c:?}");
            };
            args
        }};
    }

    /// Whether clap refuses the command line `line` (arguments without spaces).
    fn refused(line: &str) -> bool {
        try_parse(&line.split_whitespace().collect::<Vec<_>>()).is_err()
    }

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_config_check() {
        let args =
            parse_as! { Command::Config, ConfigCommand::Check, "config check --home /srv/arca" };
        assert_eq!(args.home, PathBuf::from("/srv/arca"));
    }

    #[test]
    fn parses_master_key() {
        assert!(matches!(
            parse_line("master-key generate"),
            Command::MasterKey(MasterKeyCommand::Generate)
        ));
        let args =
            parse_as! { Command::MasterKey, MasterKeyCommand::Check, "master-key check --home /h" };
        assert_eq!(args.home, PathBuf::from("/h"));
    }

    #[test]
    fn parses_node_drain_and_undrain() {
        let args = parse_as! { Command::Node, NodeCommand::Drain, "node drain --home /h" };
        assert_eq!(args.home.home, PathBuf::from("/h"));
        assert_eq!(args.url, None);
        let args = parse_as! {
            Command::Node, NodeCommand::Undrain,
            "node undrain --home /h --url http://n1:8081/artifactory"
        };
        assert_eq!(args.url.as_deref(), Some("http://n1:8081/artifactory"));
    }

    #[test]
    fn parses_license_commands() {
        let args = parse_as! {
            Command::License, LicenseCommand::IssuerNew, "license issuer-new --out /k/i.key"
        };
        assert_eq!(args.out, PathBuf::from("/k/i.key"));
        assert_eq!(args.pub_file, None);

        let args = parse_as!(
            Command::License,
            LicenseCommand::Issue,
            &[
                "license",
                "issue",
                "--issuer-key",
                "/k/i.key",
                "--to",
                "ACME Corp.",
                "--valid-through",
                "2027-05-15",
            ]
        );
        assert_eq!(args.to, "ACME Corp.");
        assert_eq!(args.license_type, "Enterprise");
        assert_eq!(args.count, 1);
        assert_eq!(args.issued, None);
        assert_eq!(
            args.valid_through,
            arca_license::parse_date("2027-05-15").unwrap()
        );

        let args =
            parse_as! { Command::License, LicenseCommand::Verify, "license verify --home /h -" };
        assert_eq!(args.home.home, PathBuf::from("/h"));
        assert_eq!(args.input, PathBuf::from("-"));
    }

    #[test]
    fn license_issue_refuses_bad_dates_and_counts() {
        for extra in [
            "--valid-through 2027-02-30",
            "--valid-through 15.05.2027",
            "--valid-through 2027-05-15 --count 0",
            "--valid-through 2027-05-15 --issued yesterday",
            "",
        ] {
            let line = format!("license issue --issuer-key k --to A {extra}");
            assert!(refused(&line), "{line}");
        }
    }

    #[test]
    fn parses_user_group_permission_commands() {
        let args = parse_as! {
            Command::User, UserCommand::Add,
            "user add --home /h bob --group devs --group ops --admin"
        };
        assert_eq!(args.name, "bob");
        assert_eq!(args.groups, ["devs", "ops"]);
        assert!(args.admin && !args.password.password_stdin);
        assert_eq!(args.password.password_file, None);

        let args = parse_as!(
            Command::Permission,
            PermissionCommand::Add,
            &[
                "permission",
                "add",
                "t",
                "--repo",
                "ANY LOCAL",
                "--repo",
                "libs-*",
                "--user",
                "bob=read",
                "--group",
                "devs=deploy",
            ]
        );
        assert_eq!(args.repos, ["ANY LOCAL", "libs-*"]);
        assert_eq!(args.users, ["bob=read"]);
        assert_eq!(args.groups, ["devs=deploy"]);

        let args = parse_as! { Command::Group, GroupCommand::Members, "group members devs a b" };
        assert_eq!(args.users, ["a", "b"]);
        assert!(!args.none);

        for bad in [
            "user passwd bob",
            "user add bob --password-stdin --password-file f",
            "group members devs",
            "group members devs a --none",
            "permission add t",
            "permission check u r",
        ] {
            assert!(refused(bad), "{bad}");
        }
    }

    #[test]
    fn parses_ha_check() {
        let args = parse_as! { Command::Ha, HaCommand::Check, "ha check --home /h" };
        assert_eq!(args.home.home, PathBuf::from("/h"));
        assert_eq!(args.lb, None);
        let args =
            parse_as! { Command::Ha, HaCommand::Check, "ha check --home /h --lb http://lb/a" };
        assert_eq!(args.lb.as_deref(), Some("http://lb/a"));
    }
}
