//! The optional HTTPS listener (`arca.https.*` of system.properties): rustls with the ring
//! provider, HTTP/1.1 only, the certificate and key read from PEM files and swapped on SIGHUP
//! ([`ReloadableCert::reload`]) without touching open connections: each TLS handshake asks
//! the resolver for the current certificate, a connection keeps the one it started with.

use std::sync::{Arc, RwLock};

use anyhow::Context;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use arca_config::system::HttpsSettings;
use arca_config::tls::{TlsMaterial, format_utc};

/// The certificate the HTTPS listener presents, replaceable while it runs.
#[derive(Debug)]
pub struct ReloadableCert {
    settings: HttpsSettings,
    current: RwLock<Arc<CertifiedKey>>,
}

impl ReloadableCert {
    /// Read the files of `settings`; an error names the file and the key pointing at it.
    pub fn load(settings: HttpsSettings) -> anyhow::Result<Arc<ReloadableCert>> {
        let material = arca_config::tls::load(&settings)?;
        log_loaded(&settings, &material, "loaded");
        Ok(Arc::new(ReloadableCert {
            current: RwLock::new(material.certified),
            settings,
        }))
    }

    pub fn settings(&self) -> &HttpsSettings {
        &self.settings
    }

    /// Read the files again and present the new certificate to new connections. A file that
    /// does not check out (unreadable, bad mode, key not matching) keeps the current one.
    pub fn reload(&self) -> anyhow::Result<()> {
        let material = arca_config::tls::load(&self.settings)
            .context("keeping the current HTTPS certificate")?;
        log_loaded(&self.settings, &material, "reloaded");
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = material.certified;
        Ok(())
    }

    /// A TLS acceptor for HTTP/1.1 presenting the current certificate.
    pub fn acceptor(self: &Arc<Self>) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
        let mut config = rustls::ServerConfig::builder_with_provider(arca_config::tls::provider())
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(self) as Arc<dyn ResolvesServerCert>);
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
    }
}

impl ResolvesServerCert for ReloadableCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(
            &self.current.read().unwrap_or_else(|p| p.into_inner()),
        ))
    }
}

fn log_loaded(settings: &HttpsSettings, material: &TlsMaterial, what: &str) {
    let expiry = material
        .not_after
        .map(|t| format!(", valid until {}", format_utc(t)))
        .unwrap_or_default();
    tracing::info!(
        "HTTPS: {what} the certificate {} and key {}{expiry}",
        settings.cert_file.display(),
        settings.key_file.display()
    );
    for w in &material.warnings {
        tracing::warn!("HTTPS: {w}");
    }
}
