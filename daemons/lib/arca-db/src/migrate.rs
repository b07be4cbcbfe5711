//! Versioned schema migrations. Each migration runs once, in order, inside one
//! transaction, and is recorded in `schema_migrations`. Migrations are written
//! expand/contract style so that version N and N-1 can share a database during
//! a rolling upgrade; a node refuses a schema newer than it knows.

use crate::sql::Backend;
use crate::{Conn, DbError, args};

/// (version, description, SQL). Append only; never edit a released entry.
/// The SQL is SQLite's dialect; [`for_postgres`] maps its types.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "repositories, binaries, items, properties, users, tokens",
        r#"
CREATE TABLE repos (
    key              TEXT PRIMARY KEY,
    rclass           TEXT NOT NULL,
    package_type     TEXT NOT NULL,
    description      TEXT NOT NULL DEFAULT '',
    notes            TEXT NOT NULL DEFAULT '',
    includes_pattern TEXT NOT NULL DEFAULT '**/*',
    excludes_pattern TEXT NOT NULL DEFAULT '',
    handle_releases  INTEGER NOT NULL DEFAULT 1,
    handle_snapshots INTEGER NOT NULL DEFAULT 1,
    anonymous_read   INTEGER NOT NULL DEFAULT 0,
    created          INTEGER NOT NULL
);
CREATE TABLE binaries (
    sha256  TEXT PRIMARY KEY,
    sha1    TEXT NOT NULL,
    md5     TEXT NOT NULL,
    size    INTEGER NOT NULL,
    created INTEGER NOT NULL
);
CREATE INDEX binaries_sha1 ON binaries(sha1);
CREATE INDEX binaries_md5 ON binaries(md5);
CREATE TABLE items (
    id              INTEGER PRIMARY KEY,
    repo            TEXT NOT NULL REFERENCES repos(key) ON DELETE CASCADE,
    path            TEXT NOT NULL,
    parent          TEXT NOT NULL,
    name            TEXT NOT NULL,
    folder          INTEGER NOT NULL,
    sha256          TEXT REFERENCES binaries(sha256),
    size            INTEGER NOT NULL DEFAULT 0,
    sha1_original   TEXT,
    md5_original    TEXT,
    sha256_original TEXT,
    created         INTEGER NOT NULL,
    created_by      TEXT NOT NULL,
    modified        INTEGER NOT NULL,
    modified_by     TEXT NOT NULL,
    updated         INTEGER NOT NULL,
    UNIQUE (repo, path)
);
CREATE INDEX items_parent ON items(repo, parent);
CREATE INDEX items_sha256 ON items(sha256);
CREATE INDEX items_name ON items(name);
CREATE TABLE item_props (
    item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    key     TEXT NOT NULL,
    value   TEXT NOT NULL,
    PRIMARY KEY (item_id, key, value)
);
CREATE TABLE users (
    name          TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    email         TEXT,
    admin         INTEGER NOT NULL DEFAULT 0,
    created       INTEGER NOT NULL
);
CREATE TABLE tokens (
    id             TEXT PRIMARY KEY,
    digest         TEXT NOT NULL UNIQUE,
    subject        TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    scope          TEXT NOT NULL,
    created        INTEGER NOT NULL,
    expires        INTEGER,
    refreshable    INTEGER NOT NULL DEFAULT 0,
    refresh_digest TEXT UNIQUE
);
"#,
    ),
    (
        2,
        "cluster: node registry, leases, cluster settings",
        r#"
CREATE TABLE nodes (
    node_id         TEXT PRIMARY KEY,
    start_time      INTEGER NOT NULL,
    context_url     TEXT NOT NULL DEFAULT '',
    membership_port INTEGER NOT NULL DEFAULT 0,
    state           TEXT NOT NULL,
    role            TEXT NOT NULL,
    last_heartbeat  INTEGER NOT NULL,
    version         TEXT NOT NULL,
    revision        TEXT NOT NULL,
    release_date    TEXT NOT NULL,
    data_dir        TEXT NOT NULL DEFAULT '',
    backup_dir      TEXT NOT NULL DEFAULT '',
    instance        TEXT NOT NULL DEFAULT ''
);
CREATE TABLE leases (
    name     TEXT PRIMARY KEY,
    owner    TEXT NOT NULL,
    acquired INTEGER NOT NULL,
    expires  INTEGER NOT NULL
);
CREATE TABLE cluster_settings (
    key     TEXT PRIMARY KEY,
    value   TEXT NOT NULL,
    updated INTEGER NOT NULL
);
"#,
    ),
    (
        3,
        "sharding-cluster: which node holds a copy of which binary",
        // No foreign key to `binaries`: a peer records the copy it receives before the
        // deploying node commits the binary's row (or never, when that deploy fails; the
        // copy is then an orphan for the node's own sweep).
        r#"
CREATE TABLE binary_copies (
    sha256    TEXT NOT NULL,
    node_id   TEXT NOT NULL,
    stored_at INTEGER NOT NULL,
    PRIMARY KEY (sha256, node_id)
);
CREATE INDEX binary_copies_node ON binary_copies(node_id, sha256);
"#,
    ),
    (
        4,
        "license pool: the cluster's license keys and which node holds each",
        // Dates are 'YYYY-MM-DD' text: ordered the same on both backends. No foreign key to
        // `nodes`: a removed node's license keeps its holder until it is reclaimed. The
        // partial unique index keeps one license per node and serves lookups by holder.
        r#"
CREATE TABLE licenses (
    hash           TEXT PRIMARY KEY,
    token          TEXT NOT NULL,
    licensee       TEXT NOT NULL,
    license_type   TEXT NOT NULL,
    valid_through  TEXT NOT NULL,
    issued         TEXT NOT NULL,
    added_at       INTEGER NOT NULL,
    holder_node_id TEXT,
    claimed_at     INTEGER
);
CREATE UNIQUE INDEX licenses_holder ON licenses(holder_node_id)
    WHERE holder_node_id IS NOT NULL;
"#,
    ),
    (
        5,
        "shared config files (arca-config-sync): the cluster's copy and each node's",
        // `content` is the file sealed with the master key ('enc:v1:…'), NULL once deleted;
        // `sha256` is of the plaintext. `rejected_*`: the owner's latest copy that failed
        // validation (never propagated). `config_file_nodes`: what each node has on disk;
        // `changed_at` is when its copy last changed (restart needed when later than the
        // node's start).
        r#"
CREATE TABLE config_files (
    name            TEXT PRIMARY KEY,
    content         TEXT,
    sha256          TEXT NOT NULL,
    version         INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    updated_by      TEXT NOT NULL,
    rejected_sha256 TEXT,
    rejected_error  TEXT,
    rejected_at     INTEGER
);
CREATE TABLE config_file_nodes (
    node_id     TEXT NOT NULL,
    name        TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    version     INTEGER NOT NULL,
    reported_at INTEGER NOT NULL,
    changed_at  INTEGER NOT NULL,
    PRIMARY KEY (node_id, name)
);
"#,
    ),
    (
        6,
        "security: user state, groups, permission targets, UI sessions",
        // Users: `disabled`; `failed_logins`/`locked_until` (ms) for the login back-off, kept in
        // the DB so the lockout holds cluster-wide. Groups with auto-join. A permission target
        // names repositories (keys, `*` patterns, or ANY / ANY LOCAL / ANY REMOTE) and path
        // patterns, and grants actions (comma list of read, annotate, deploy, delete, manage) to
        // users and groups; `anonymous` is a user name like any other. Grants to a user have no
        // foreign key (the principal is a user or a group): deleting a user or group removes
        // them in the same transaction. `sessions`: web UI sessions of the `db` provider, keyed
        // by the SHA-256 of the random id (the id itself is only in the cookie).
        // Seed: the reference's `readers` group (auto-join) reading everything through the
        // `Anything` target; users that already exist join it.
        r#"
ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN failed_logins INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN locked_until INTEGER;
ALTER TABLE users ADD COLUMN last_login INTEGER;
CREATE TABLE groups (
    name        TEXT PRIMARY KEY,
    description TEXT NOT NULL DEFAULT '',
    auto_join   INTEGER NOT NULL DEFAULT 0,
    admin       INTEGER NOT NULL DEFAULT 0,
    created     INTEGER NOT NULL
);
CREATE TABLE user_groups (
    user_name  TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    group_name TEXT NOT NULL REFERENCES groups(name) ON DELETE CASCADE,
    PRIMARY KEY (user_name, group_name)
);
CREATE INDEX user_groups_group ON user_groups(group_name);
CREATE TABLE permission_targets (
    name             TEXT PRIMARY KEY,
    include_patterns TEXT NOT NULL DEFAULT '**',
    exclude_patterns TEXT NOT NULL DEFAULT '',
    created          INTEGER NOT NULL,
    updated          INTEGER NOT NULL
);
CREATE TABLE permission_target_repos (
    target TEXT NOT NULL REFERENCES permission_targets(name) ON DELETE CASCADE,
    repo   TEXT NOT NULL,
    PRIMARY KEY (target, repo)
);
CREATE TABLE permission_grants (
    target         TEXT NOT NULL REFERENCES permission_targets(name) ON DELETE CASCADE,
    principal_kind TEXT NOT NULL CHECK (principal_kind IN ('user', 'group')),
    principal      TEXT NOT NULL,
    actions        TEXT NOT NULL,
    PRIMARY KEY (target, principal_kind, principal)
);
CREATE INDEX permission_grants_principal ON permission_grants(principal_kind, principal);
CREATE TABLE sessions (
    id_hash          TEXT PRIMARY KEY,
    user_name        TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    node_id          TEXT NOT NULL,
    created          INTEGER NOT NULL,
    last_access      INTEGER NOT NULL,
    idle_expires     INTEGER NOT NULL,
    absolute_expires INTEGER NOT NULL
);
CREATE INDEX sessions_idle_expires ON sessions(idle_expires);
CREATE INDEX sessions_absolute_expires ON sessions(absolute_expires);
INSERT INTO groups (name, description, auto_join, admin, created)
    VALUES ('readers', 'Every new user joins it: read access to all repositories', 1, 0, 0);
INSERT INTO permission_targets (name, include_patterns, exclude_patterns, created, updated)
    VALUES ('Anything', '**', '', 0, 0);
INSERT INTO permission_target_repos (target, repo) VALUES ('Anything', 'ANY');
INSERT INTO permission_grants (target, principal_kind, principal, actions)
    VALUES ('Anything', 'group', 'readers', 'read');
INSERT INTO user_groups (user_name, group_name)
    SELECT name, 'readers' FROM users WHERE admin = 0;
"#,
    ),
    (
        7,
        "repository settings: active content served inline, quota",
        r#"
ALTER TABLE repos ADD COLUMN content_inline INTEGER NOT NULL DEFAULT 0;
ALTER TABLE repos ADD COLUMN quota_bytes INTEGER NOT NULL DEFAULT 0;
"#,
    ),
    (
        8,
        "login back-off per user name and source address",
        // One row per (user name, client address) with failed password checks: the back-off
        // is counted per source, so nobody can lock a user out from everywhere. Names that
        // are no user get rows too (they must answer exactly like real ones). The users'
        // `failed_logins`/`locked_until` stay as a summary for operators (`arcactl user`).
        r#"
CREATE TABLE login_failures (
    user_name    TEXT NOT NULL,
    source       TEXT NOT NULL,
    failures     INTEGER NOT NULL,
    locked_until INTEGER,
    updated      INTEGER NOT NULL,
    PRIMARY KEY (user_name, source)
);
CREATE INDEX login_failures_updated ON login_failures(updated);
"#,
    ),
    (
        9,
        "shared config files: a node's kept local edit, and the last local edit it lost",
        // `sha256`/`version` of `config_file_nodes` stay the copy a node last had in sync with
        // the cluster (the base a local edit is told from). `pending_sha256`: the configured
        // primary's local edit, kept until it owns the config and publishes it. `lost_edit`:
        // what happened to the node's last local edit that the cluster's copy replaced (kept as
        // `<name>.conflict`), cleared once the operator removed that file; `lost_edit_at` (ms).
        r#"
ALTER TABLE config_file_nodes ADD COLUMN pending_sha256 TEXT;
ALTER TABLE config_file_nodes ADD COLUMN lost_edit TEXT;
ALTER TABLE config_file_nodes ADD COLUMN lost_edit_at INTEGER NOT NULL DEFAULT 0;
"#,
    ),
    (
        10,
        "remote and virtual repositories: settings, upstream fetch claims, misses, upstream state",
        // `settings`: the JSON of `RepoSettings` (remote, virtual and Maven fields).
        // `remote_fetches`: who is fetching a path of a remote repository from its upstream
        // right now (one download per path for the whole cluster); `heartbeat` moves while the
        // download runs, so a claim of a node that died goes stale. `remote_misses`: paths the
        // upstream did not have, until when (the negative cache). `remote_upstreams`: an
        // upstream that failed is assumed offline until `offline_until` (ms).
        r#"
ALTER TABLE repos ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';
CREATE TABLE remote_fetches (
    repo      TEXT NOT NULL,
    path      TEXT NOT NULL,
    owner     TEXT NOT NULL,
    started   INTEGER NOT NULL,
    heartbeat INTEGER NOT NULL,
    PRIMARY KEY (repo, path)
);
CREATE TABLE remote_misses (
    repo  TEXT NOT NULL,
    path  TEXT NOT NULL,
    until INTEGER NOT NULL,
    PRIMARY KEY (repo, path)
);
CREATE TABLE remote_upstreams (
    repo          TEXT PRIMARY KEY,
    offline_until INTEGER NOT NULL,
    last_error    TEXT NOT NULL,
    updated       INTEGER NOT NULL
);
"#,
    ),
    (
        11,
        "item queries (AQL, searches): properties by key and value, items by date; builds; \
         download statistics",
        // `builds`: build-info documents as uploaded (`info`), by name and number.
        // `download_stats`: downloads per item, added in batches by each node (no write per
        // GET), with the last download's time and user.
        r#"
CREATE INDEX item_props_key_value ON item_props(key, value);
CREATE INDEX items_created ON items(created);
CREATE INDEX items_modified ON items(modified);
CREATE TABLE builds (
    name       TEXT NOT NULL,
    number     TEXT NOT NULL,
    started    INTEGER NOT NULL,
    info       TEXT NOT NULL,
    created    INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    PRIMARY KEY (name, number)
);
CREATE INDEX builds_started ON builds(name, started);
CREATE TABLE download_stats (
    item_id         INTEGER NOT NULL PRIMARY KEY REFERENCES items(id) ON DELETE CASCADE,
    downloads       INTEGER NOT NULL,
    last_downloaded INTEGER NOT NULL,
    last_by         TEXT NOT NULL
);
"#,
    ),
    (
        12,
        "a folder's children in listing order (folders first, then by name), for paged listings",
        // Replaces `items_parent` (its prefix): a page of a folder with 100k children reads the
        // index up to the page's end instead of sorting every child; `id` makes it covering.
        r#"
CREATE INDEX items_children ON items(repo, parent, folder DESC, name, id);
DROP INDEX items_parent;
"#,
    ),
    (
        13,
        "name searches: a trigram index of lower-case names on PostgreSQL",
        // SQLite matches names on `items_name` (a scan of the index, not the table); PostgreSQL
        // gets `items_name_trgm` in [`POSTGRES_EXTRAS`].
        "-- nothing for SQLite",
    ),
    (
        14,
        "npm: each published version's manifest beside its tarball, and the dist-tags",
        // A version lives as long as its tarball item (a delete of the tarball through any API
        // removes it); a packument is read from these rows, never rewritten as a whole, so
        // concurrent publishes of two versions on two nodes cannot lose one.
        r#"
CREATE TABLE npm_versions (
    item_id   INTEGER NOT NULL PRIMARY KEY REFERENCES items(id) ON DELETE CASCADE,
    repo      TEXT NOT NULL,
    package   TEXT NOT NULL,
    version   TEXT NOT NULL,
    manifest  TEXT NOT NULL,
    published INTEGER NOT NULL,
    UNIQUE (repo, package, version)
);
CREATE TABLE npm_tags (
    repo    TEXT NOT NULL REFERENCES repos(key) ON DELETE CASCADE,
    package TEXT NOT NULL,
    tag     TEXT NOT NULL,
    version TEXT NOT NULL,
    PRIMARY KEY (repo, package, tag)
);
"#,
    ),
    (
        15,
        "PyPI: each distribution file's metadata beside its item",
        // Like npm's versions: a file's row lives as long as its item, a project page is read
        // from the rows; `metadata` is the wheel's core metadata file (PEP 658), served as is.
        r#"
CREATE TABLE pypi_files (
    item_id         INTEGER NOT NULL PRIMARY KEY REFERENCES items(id) ON DELETE CASCADE,
    repo            TEXT NOT NULL,
    project         TEXT NOT NULL,
    name            TEXT NOT NULL,
    version         TEXT NOT NULL,
    filename        TEXT NOT NULL,
    requires_python TEXT,
    yanked          TEXT,
    metadata        TEXT,
    metadata_sha256 TEXT,
    summary         TEXT,
    uploaded        INTEGER NOT NULL,
    UNIQUE (repo, filename)
);
CREATE INDEX pypi_files_project ON pypi_files(repo, project);
"#,
    ),
    (
        16,
        "OCI: manifests, blobs and their references beside their items; upload sessions any node continues",
        // An image's parts are items (`{image}/_blobs/{digest}`, `{image}/_manifests/{digest}`,
        // `{image}/_tags/{tag}`: the manifest's binary again); the rows say what the items are
        // and what each manifest references, and go with their items. An upload session's
        // chunks are binaries (so every node reaches them through the storage chain) held by
        // `oci_upload_chunks` rows until the session ends: GC spares what they reference.
        r#"
CREATE TABLE oci_manifests (
    item_id       INTEGER NOT NULL PRIMARY KEY REFERENCES items(id) ON DELETE CASCADE,
    repo          TEXT NOT NULL,
    image         TEXT NOT NULL,
    digest        TEXT NOT NULL,
    media_type    TEXT NOT NULL,
    artifact_type TEXT,
    subject       TEXT,
    annotations   TEXT,
    size          INTEGER NOT NULL,
    pushed        INTEGER NOT NULL,
    UNIQUE (repo, image, digest)
);
CREATE INDEX oci_manifests_subject ON oci_manifests(repo, image, subject);
CREATE TABLE oci_references (
    manifest_id INTEGER NOT NULL REFERENCES oci_manifests(item_id) ON DELETE CASCADE,
    repo        TEXT NOT NULL,
    image       TEXT NOT NULL,
    digest      TEXT NOT NULL,
    PRIMARY KEY (manifest_id, digest)
);
CREATE INDEX oci_references_digest ON oci_references(repo, image, digest);
CREATE TABLE oci_blobs (
    item_id INTEGER NOT NULL PRIMARY KEY REFERENCES items(id) ON DELETE CASCADE,
    repo    TEXT NOT NULL,
    image   TEXT NOT NULL,
    digest  TEXT NOT NULL,
    UNIQUE (repo, image, digest)
);
CREATE TABLE oci_uploads (
    id        TEXT NOT NULL PRIMARY KEY,
    repo      TEXT NOT NULL REFERENCES repos(key) ON DELETE CASCADE,
    image     TEXT NOT NULL,
    size      INTEGER NOT NULL,
    started   INTEGER NOT NULL,
    updated   INTEGER NOT NULL,
    user_name TEXT NOT NULL
);
CREATE INDEX oci_uploads_updated ON oci_uploads(updated);
CREATE TABLE oci_upload_chunks (
    upload_id TEXT NOT NULL REFERENCES oci_uploads(id) ON DELETE CASCADE,
    seq       INTEGER NOT NULL,
    start     INTEGER NOT NULL,
    size      INTEGER NOT NULL,
    sha256    TEXT NOT NULL,
    PRIMARY KEY (upload_id, seq)
);
CREATE INDEX oci_upload_chunks_sha256 ON oci_upload_chunks(sha256);
"#,
    ),
];

/// PostgreSQL-only statements run right after the migration of the same version, as written
/// (not mapped by [`for_postgres`]).
const POSTGRES_EXTRAS: &[(i64, &str)] = &[(
    13,
    // `/api/search/artifact` matches `LOWER(name) LIKE '%word%'`: without a trigram index that
    // reads every row (≈150 ms per million items), with it ≈1 ms. `pg_trgm` ships with
    // PostgreSQL (contrib) and is a trusted extension: the database's owner may create it. Where
    // it cannot be (not installed, no privilege) the migration goes on without the index (the
    // block is its own subtransaction) and searches scan; creating the extension and this index
    // by hand later is enough.
    r#"
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
    CREATE INDEX IF NOT EXISTS items_name_trgm ON items USING gin (lower(name) gin_trgm_ops);
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'no trigram index for name searches (%): they scan the items', SQLERRM;
END
$$;
"#,
)];

/// SQLite's DDL in PostgreSQL's dialect: 64-bit integers everywhere (an
/// `INTEGER PRIMARY KEY` becomes an identity column), and byte-order collation
/// for text so that path range scans (`path >= 'a/' AND path < 'a0'`) and
/// `ORDER BY` behave exactly as in SQLite whatever the database's locale.
pub fn for_postgres(sql: &str) -> String {
    sql.replace(
        "INTEGER PRIMARY KEY",
        "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
    )
    .replace("INTEGER", "BIGINT")
    .replace("TEXT", "TEXT COLLATE \"C\"")
}

/// The newest schema version this build knows.
pub fn known_version() -> i64 {
    MIGRATIONS.last().map(|m| m.0).unwrap_or(0)
}

/// Current schema version of the database (0 when empty).
pub fn current_version(conn: &Conn<'_>) -> Result<i64, DbError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version     BIGINT PRIMARY KEY,
             description TEXT NOT NULL,
             applied_at  BIGINT NOT NULL
         );",
    )?;
    conn.query_one(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        args![],
        |r| r.get(0),
    )
}

/// Apply every pending migration inside the caller's write transaction
/// (see `Db::migrate`). Returns the versions applied.
pub fn apply(conn: &Conn<'_>) -> Result<Vec<i64>, DbError> {
    let current = current_version(conn)?;
    let known = known_version();
    if current > known {
        return Err(DbError::SchemaTooNew {
            found: current,
            known,
        });
    }
    let mut applied = Vec::new();
    let now = crate::clock::Clock::now_ms(&crate::SystemClock);
    for (version, description, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        match conn.backend() {
            Backend::Sqlite => conn.execute_batch(sql)?,
            Backend::Postgres => {
                conn.execute_batch(&for_postgres(sql))?;
                for (_, extra) in POSTGRES_EXTRAS.iter().filter(|e| e.0 == *version) {
                    conn.execute_batch(extra)?;
                }
            }
        }
        conn.execute(
            "INSERT INTO schema_migrations (version, description, applied_at) VALUES (?1, ?2, ?3)",
            args![version, description, now],
        )?;
        applied.push(*version);
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_apply_once_and_refuse_newer_schema() {
        let raw = rusqlite::Connection::open_in_memory().unwrap();
        let conn = Conn::sqlite(&raw);
        assert_eq!(
            apply(&conn).unwrap(),
            (1..=known_version()).collect::<Vec<_>>()
        );
        assert!(apply(&conn).unwrap().is_empty());
        assert_eq!(current_version(&conn).unwrap(), known_version());
        conn.execute(
            "INSERT INTO schema_migrations VALUES (?1, 'from the future', 0)",
            args![known_version() + 1],
        )
        .unwrap();
        match apply(&conn) {
            Err(DbError::SchemaTooNew { found, known }) => {
                assert_eq!(found, known + 1);
            }
            other => panic!("expected SchemaTooNew, got {other:?}"),
        }
    }

    #[test]
    fn postgres_ddl_uses_bigint_identity_and_byte_collation() {
        let ddl = for_postgres("id INTEGER PRIMARY KEY, n INTEGER NOT NULL, t TEXT");
        assert_eq!(
            ddl,
            "id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, n BIGINT NOT NULL, t TEXT COLLATE \"C\""
        );
    }
}
