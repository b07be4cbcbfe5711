//! A throw-away PostgreSQL cluster that accepts TLS connections only (`hostssl` in
//! `pg_hba.conf`), with a server certificate for `localhost` issued by a CA generated for it.
//!
//! Uses the binaries of Debian's `postgresql` package (`/usr/lib/postgresql/<version>/bin`,
//! installed by `tests/lib/postgres.sh`) and the `openssl` command. Run as root, the cluster
//! runs as the `postgres` user (PostgreSQL refuses root). [`TlsPostgres::shared`] hands the
//! same cluster to the tests that run at the same time; the last one to finish stops it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, Weak};

use arca_db::{PgOptions, PgTls, SslMode};

/// The superuser of the cluster (password authentication, scram-sha-256).
pub const USER: &str = "arca_tls";
pub const PASSWORD: &str = "arca-tls-pw";

/// A running TLS-only cluster; stopped and removed when dropped.
#[derive(Debug)]
pub struct TlsPostgres {
    dir: PathBuf,
    bin: PathBuf,
    /// TCP port on `localhost` (127.0.0.1, and ::1 when available).
    pub port: u16,
    /// The CA that issued the server's certificate (PEM).
    pub ca_file: PathBuf,
    /// Another CA, which did not issue it (PEM).
    pub other_ca_file: PathBuf,
}

impl TlsPostgres {
    /// The cluster of the tests running now, started when there is none.
    pub fn shared() -> Arc<TlsPostgres> {
        static SHARED: Mutex<Weak<TlsPostgres>> = Mutex::new(Weak::new());
        let mut shared = SHARED.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(running) = shared.upgrade() {
            return running;
        }
        let started = Arc::new(TlsPostgres::start());
        *shared = Arc::downgrade(&started);
        started
    }

    /// Generate the certificates, `initdb`, configure TLS only and start. Panics with the
    /// failing command's output: this is test set-up.
    pub fn start() -> TlsPostgres {
        let bin = postgres_bin();
        let dir = std::env::temp_dir().join(format!("arca-pgtls-{}", crate::random_suffix()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        if is_root() {
            run(Command::new("chown").arg("postgres:").arg(&dir));
        }
        let cluster = TlsPostgres {
            port: crate::free_port(),
            ca_file: dir.join("ca.crt"),
            other_ca_file: dir.join("other-ca.crt"),
            dir,
            bin,
        };
        cluster.make_certificates();
        cluster.init_and_start();
        cluster
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// A command run as the cluster's owner, in its directory.
    fn cmd(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        };
        c.current_dir(&self.dir);
        c
    }

    fn make_certificates(&self) {
        let write = |name: &str, text: &str| {
            let p = self.dir.join(name);
            std::fs::write(&p, text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        };
        // Own configuration files: the system's openssl.cnf adds extensions of its own.
        write(
            "ca.cnf",
            "[req]\ndistinguished_name=dn\nx509_extensions=ca\nprompt=no\n[dn]\n\
             [ca]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n\
             subjectKeyIdentifier=hash\n",
        );
        write(
            "server.cnf",
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n\
             extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost\n\
             authorityKeyIdentifier=keyid\n",
        );
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        for (name, subject) in [("ca", "/CN=arca test CA"), ("other-ca", "/CN=other CA")] {
            run(self
                .cmd("openssl")
                .args(["req", "-x509", "-config", "ca.cnf", "-days", "2"])
                .args(ec)
                .args(["-subj", subject])
                .args(["-keyout", &format!("{name}.key")])
                .args(["-out", &format!("{name}.crt")]));
        }
        run(self
            .cmd("openssl")
            .args(["req", "-new", "-config", "ca.cnf"])
            .args(ec)
            .args(["-subj", "/CN=localhost", "-keyout", "server.key"])
            .args(["-out", "server.csr"]));
        run(self.cmd("openssl").args([
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "server.cnf",
            "-out",
            "server.crt",
        ]));
    }

    fn init_and_start(&self) {
        let pwfile = self.dir.join("pw");
        std::fs::write(&pwfile, PASSWORD).unwrap_or_else(|e| panic!("{e}"));
        let data = self.data();
        run(self
            .cmd(self.bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                USER,
                "-A",
                "scram-sha-256",
                "--no-sync",
                "--no-instructions",
            ])
            .args(["-E", "UTF8", "--locale=C"])
            .arg(format!("--pwfile={}", pwfile.display())));
        for file in ["server.crt", "server.key"] {
            run(self
                .cmd("install")
                .args(["-m", "0600", file])
                .arg(data.join(file)));
        }
        let conf = format!(
            "\nport = {port}\nlisten_addresses = 'localhost'\nunix_socket_directories = '{dir}'\n\
             ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n\
             max_connections = 60\nfsync = off\nsynchronous_commit = off\n\
             full_page_writes = off\nshared_buffers = 16MB\n",
            port = self.port,
            dir = self.dir.display(),
        );
        append(&data.join("postgresql.conf"), &conf);
        // TLS or nothing: no `host` lines, so a plain connection finds no entry.
        std::fs::write(
            data.join("pg_hba.conf"),
            "hostssl all all 127.0.0.1/32 scram-sha-256\nhostssl all all ::1/128 scram-sha-256\n",
        )
        .unwrap_or_else(|e| panic!("pg_hba.conf: {e}"));
        run(self
            .cmd(self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(self.dir.join("postgres.log"))
            .args(["-w", "-t", "60", "start"]));
    }

    /// `postgresql://USER:PASSWORD@host:port/postgres`.
    pub fn url(&self, host: &str) -> String {
        format!(
            "postgresql://{USER}:{PASSWORD}@{host}:{}/postgres",
            self.port
        )
    }

    /// Options for [`arca_db::Db::connect_postgres`] with small pools.
    pub fn options(&self, host: &str, mode: SslMode, ca_file: Option<&Path>) -> PgOptions {
        PgOptions {
            url: self.url(host),
            username: None,
            password: None,
            pool_max_active: 2,
            pool_max_idle: 1,
            lock_pool_max: 1,
            application_name: "arca-tls-test".into(),
            tls: PgTls {
                mode,
                ca_file: ca_file.map(Path::to_path_buf),
            },
        }
    }

    /// The server's log (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("postgres.log")).unwrap_or_default()
    }
}

impl Drop for TlsPostgres {
    fn drop(&mut self) {
        let _ = self
            .cmd(self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "-w", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `bin` of the newest PostgreSQL under /usr/lib/postgresql.
fn postgres_bin() -> PathBuf {
    let root = Path::new("/usr/lib/postgresql");
    let newest = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .max();
    match newest {
        Some((_, bin)) => bin,
        None => panic!(
            "no PostgreSQL server binaries under {}: install Debian's postgresql package \
             (tests/lib/postgres.sh does)",
            root.display()
        ),
    }
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

fn append(path: &Path, text: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    f.write_all(text.as_bytes())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: cannot run: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
