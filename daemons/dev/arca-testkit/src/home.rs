//! Node homes written by hand, for daemons tested without a server having set them up.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::PgTestDb;

/// The master key every test home gets (32 hex digits).
pub const TEST_MASTER_KEY: &str = "0123456789abcdef0123456789abcdef\n";

/// Write [`TEST_MASTER_KEY`] to `path`, mode 0600 (a daemon refuses a readable key).
pub fn write_master_key(path: &Path) {
    std::fs::write(path, TEST_MASTER_KEY).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// The home `<dir>/<id>` of HA node `id` (`None`: `<dir>/single`, a single node without
/// ha-node.properties), with its `db.properties` on `pg` (none: SQLite), `system` as its
/// system.properties and a master key. HA nodes share `<dir>/shared` as their data dir.
pub fn node_home(
    dir: &Path,
    id: Option<&str>,
    primary: bool,
    pg: Option<&PgTestDb>,
    system: &str,
) -> PathBuf {
    let h = dir.join(id.unwrap_or("single"));
    std::fs::create_dir_all(h.join("etc/security")).unwrap();
    if let Some(pg) = pg {
        std::fs::write(h.join("etc/db.properties"), pg.db_properties().unwrap()).unwrap();
    }
    if let Some(id) = id {
        std::fs::write(
            h.join("etc/ha-node.properties"),
            format!(
                "node.id={id}\ncontext.url=http://127.0.0.1:8081/artifactory/\n\
                 membership.port=0\nprimary={primary}\narca.ha.data.dir={}\n",
                dir.join("shared").display()
            ),
        )
        .unwrap();
    }
    std::fs::write(h.join("etc/system.properties"), system).unwrap();
    write_master_key(&h.join("etc/security/master.key"));
    h
}
