//! PostgreSQL over TLS (rustls, ring provider), with libpq's `sslmode` semantics:
//!
//! - `disable`: plain TCP.
//! - `prefer` (libpq's default): TLS when the server offers it, else plain; the certificate is
//!   not checked (it only protects against passive listeners).
//! - `require`: TLS or no connection; the certificate is not checked.
//! - `verify-ca`: TLS, and the server's certificate must chain to a CA of the CA file.
//! - `verify-full`: as `verify-ca`, and the certificate must name the host connected to.
//!
//! As in libpq, a CA file given with `prefer` or `require` makes them check the chain as
//! `verify-ca` does. Every connection of a [`crate::Db`] (both pools and the `LISTEN`
//! connection) goes through [`Connector`].

use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use postgres::tls::{MakeTlsConnect, TlsConnect};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::DbError;

/// libpq's `sslmode` values that arca supports (`allow` is not: it tries plain first); the
/// type `db.properties`' `ssl.mode` is read into.
pub use arca_config::db::SslMode;

/// How connections to PostgreSQL are protected.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PgTls {
    pub mode: SslMode,
    /// PEM file with the CA certificate(s) the server's certificate must chain to.
    pub ca_file: Option<PathBuf>,
}

/// Makes the connections of one database: plain, or TLS as [`PgTls`] says.
#[derive(Clone)]
pub(crate) enum Connector {
    Plain,
    Tls(RustlsTls),
}

impl fmt::Debug for Connector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Connector::Plain => "Connector::Plain",
            Connector::Tls(_) => "Connector::Tls",
        })
    }
}

impl Connector {
    /// Set up `config` for `tls` (its `sslmode`) and build the matching connector. Errors: the
    /// CA file is unreadable or holds no certificate, or a verifying mode has no CA file.
    pub(crate) fn new(tls: &PgTls, config: &mut postgres::Config) -> Result<Connector, DbError> {
        use postgres::config::{Host, SslMode as Wire};
        // PostgreSQL has no TLS on Unix sockets; libpq ignores sslmode there, and so do we.
        let hosts = config.get_hosts();
        let local_only = !hosts.is_empty() && hosts.iter().all(|h| matches!(h, Host::Unix(_)));
        let mode = if local_only {
            SslMode::Disable
        } else {
            tls.mode
        };
        config.ssl_mode(match mode {
            SslMode::Disable => Wire::Disable,
            SslMode::Prefer => Wire::Prefer,
            _ => Wire::Require,
        });
        if mode == SslMode::Disable {
            return Ok(Connector::Plain);
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let ca = match &tls.ca_file {
            Some(file) => Some(CaCheck::new(
                file,
                tls.mode == SslMode::VerifyFull,
                tls.mode,
                provider.clone(),
            )?),
            None if tls.mode.needs_ca() => {
                return Err(DbError::Config(format!(
                    "sslmode={} needs a CA file (ssl.ca.file) to check the server's certificate \
                     against",
                    tls.mode
                )));
            }
            None => None,
        };
        let verifier = Arc::new(PgServerVerifier {
            ca,
            algorithms: provider.signature_verification_algorithms,
        });
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| DbError::Config(format!("TLS set-up: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(Connector::Tls(RustlsTls(MakeRustlsConnect::new(client))))
    }

    /// One new connection.
    pub(crate) fn connect(
        &self,
        config: &postgres::Config,
    ) -> Result<postgres::Client, postgres::Error> {
        match self {
            Connector::Plain => config.connect(postgres::NoTls),
            Connector::Tls(tls) => config.connect(tls.clone()),
        }
    }
}

/// tokio-postgres-rustls's connector, with our certificate rejections ([`Rejected`]) reported
/// as they are rather than inside rustls's `Debug` text.
#[derive(Clone)]
pub(crate) struct RustlsTls(MakeRustlsConnect);

impl<S> MakeTlsConnect<S> for RustlsTls
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    type Stream = <MakeRustlsConnect as MakeTlsConnect<S>>::Stream;
    type TlsConnect = Handshake<<MakeRustlsConnect as MakeTlsConnect<S>>::TlsConnect>;
    type Error = <MakeRustlsConnect as MakeTlsConnect<S>>::Error;

    fn make_tls_connect(&mut self, domain: &str) -> Result<Self::TlsConnect, Self::Error> {
        <MakeRustlsConnect as MakeTlsConnect<S>>::make_tls_connect(&mut self.0, domain)
            .map(Handshake)
    }
}

/// One TLS handshake (see [`RustlsTls`]).
pub(crate) struct Handshake<T>(T);

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<S, T> TlsConnect<S> for Handshake<T>
where
    T: TlsConnect<S>,
    T::Future: Send + 'static,
{
    type Stream = T::Stream;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<T::Stream, BoxError>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        let handshake = self.0.connect(stream);
        Box::pin(async move { handshake.await.map_err(|e| plain_reason(e.into())) })
    }
}

/// A [`Rejected`] inside rustls's error (inside an `io::Error`) becomes the error itself.
fn plain_reason(e: BoxError) -> BoxError {
    let rejected = e
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .and_then(|r| match r {
            rustls::Error::InvalidCertificate(CertificateError::Other(o)) => Some(o.0.to_string()),
            _ => None,
        });
    match rejected {
        Some(reason) => reason.into(),
        None => e,
    }
}

/// The certificates of the PEM file `file`; at least one.
fn load_ca(file: &Path) -> Result<RootCertStore, DbError> {
    let bad = |what: String| DbError::Config(format!("CA file {}: {what}", file.display()));
    let bytes = std::fs::read(file).map_err(|e| bad(format!("cannot read it: {e}")))?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&bytes) {
        let cert = cert.map_err(|e| bad(format!("not a PEM certificate file: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| bad(format!("unusable certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(bad(
            "holds no certificate (expected PEM blocks -----BEGIN CERTIFICATE-----)".into(),
        ));
    }
    Ok(roots)
}

/// How the PostgreSQL server's certificate is checked. Without a CA file (`prefer` / `require`):
/// encrypted, any certificate accepted (libpq does the same). With one (`verify-ca`,
/// `verify-full`, and `prefer`/`require` given a file): the chain must end at a CA of the file;
/// for `verify-full` the certificate must also name the host; rejections name the CA file.
/// The handshake signatures are checked either way, so the peer holds the certificate's key.
#[derive(Debug)]
struct PgServerVerifier {
    ca: Option<CaCheck>,
    algorithms: WebPkiSupportedAlgorithms,
}

#[derive(Debug)]
struct CaCheck {
    inner: Arc<WebPkiServerVerifier>,
    check_name: bool,
    mode: SslMode,
    ca_file: PathBuf,
}

impl CaCheck {
    fn new(
        file: &Path,
        check_name: bool,
        mode: SslMode,
        provider: Arc<CryptoProvider>,
    ) -> Result<CaCheck, DbError> {
        let roots = load_ca(file)?;
        let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| DbError::Config(format!("CA file {}: {e}", file.display())))?;
        Ok(CaCheck {
            inner,
            check_name,
            mode,
            ca_file: file.to_path_buf(),
        })
    }
}

/// Why the server's certificate was refused, with the CA file and mode that refused it.
#[derive(Debug)]
struct Rejected(String);

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Rejected {}

impl ServerCertVerifier for PgServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(ca) = &self.ca else {
            return Ok(ServerCertVerified::assertion());
        };
        let result =
            ca.inner
                .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now);
        let error = match result {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        let rustls::Error::InvalidCertificate(cert_error) = &error else {
            return Err(error);
        };
        // webpki checks the name only after the chain: a name error means the chain is good.
        let name_error = matches!(
            cert_error,
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
        );
        if name_error && !ca.check_name {
            return Ok(ServerCertVerified::assertion());
        }
        let file = ca.ca_file.display();
        let why = match cert_error {
            CertificateError::UnknownIssuer => {
                format!("not issued by a CA of the CA file {file}")
            }
            _ if name_error => {
                format!("{cert_error} (sslmode=verify-full checks the host name; CA file {file})")
            }
            other => format!("{other} (CA file {file})"),
        };
        Err(rustls::Error::InvalidCertificate(CertificateError::Other(
            rustls::OtherError(Arc::new(Rejected(format!(
                "sslmode={}: the PostgreSQL server's certificate is refused: {why}",
                ca.mode
            )))),
        )))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_round_trip() {
        for s in SslMode::ALLOWED {
            assert_eq!(SslMode::parse(s).map(|m| m.as_str()), Some(s));
        }
        assert_eq!(SslMode::parse("allow"), None);
        assert_eq!(SslMode::parse("Require"), None);
        assert_eq!(SslMode::default(), SslMode::Prefer);
    }

    #[test]
    fn unix_socket_hosts_connect_without_tls() {
        use postgres::config::SslMode as Wire;
        let tls = PgTls {
            mode: SslMode::VerifyFull,
            ca_file: None,
        };
        let mut config: postgres::Config = "host=/run/postgresql dbname=arca"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        let connector = Connector::new(&tls, &mut config).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(connector, Connector::Plain));
        assert_eq!(config.get_ssl_mode(), Wire::Disable);
        // a TCP host among them: TLS as configured (here: refused for want of a CA file)
        let mut config: postgres::Config = "host=/run/postgresql,db.example dbname=arca"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(Connector::new(&tls, &mut config).is_err());
    }

    #[test]
    fn ca_file_problems_name_the_file() {
        let dir = std::env::temp_dir().join(format!("arca-db-tls-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let missing = dir.join("absent.pem");
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "no certificate here\n").unwrap_or_else(|e| panic!("{e}"));
        let mut config = postgres::Config::new();
        for (file, want) in [
            (&missing, "cannot read it"),
            (&empty, "holds no certificate"),
        ] {
            let tls = PgTls {
                mode: SslMode::VerifyFull,
                ca_file: Some(file.clone()),
            };
            let e = Connector::new(&tls, &mut config).unwrap_err().to_string();
            assert!(
                e.contains(&file.display().to_string()) && e.contains(want),
                "{e}"
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
        let e = Connector::new(
            &PgTls {
                mode: SslMode::VerifyCa,
                ca_file: None,
            },
            &mut config,
        )
        .unwrap_err();
        assert!(e.to_string().contains("needs a CA file"), "{e}");
        // No CA is fine where nothing is verified.
        for mode in [SslMode::Disable, SslMode::Prefer, SslMode::Require] {
            let tls = PgTls {
                mode,
                ca_file: None,
            };
            assert!(Connector::new(&tls, &mut config).is_ok(), "{mode}");
        }
    }
}
