//! [`SystemSettings`]: every value of `etc/system.properties` as a plain typed field, read once.
//!
//! [`SystemProperties`] keeps the raw text (key, value, line) for the check and the tools;
//! daemons read these fields instead of parsing a key each time they need it.

use std::net::IpAddr;
use std::time::Duration;

use crate::error::ConfigError;
use crate::system::{self as keys, HttpsSettings, MapProviderType, SystemProperties};

/// The settings of `etc/system.properties`, with their defaults where a key is unset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemSettings {
    /// `arca.http.context.path`; `""` means the root.
    pub context_path: String,
    /// `arca.url.base`, trailing `/` trimmed.
    pub url_base: Option<String>,
    pub max_upload_bytes: u64,
    pub storage_reserve_bytes: u64,
    pub max_path_length: usize,
    /// Zero disables the garbage collection.
    pub gc_interval: Duration,
    pub gc_grace: Duration,
    pub auth_cache: Duration,
    pub drain_delay: Duration,
    pub ha_heartbeat: Duration,
    pub ha_stale: Duration,
    pub ha_lock_lease: Duration,
    pub license_swap_window_days: u32,
    pub license_agent_interval: Duration,
    pub config_sync_poll: Duration,
    pub config_sync_restart: bool,
    pub node_signature_v1: bool,
    pub map_provider_type: MapProviderType,
    /// `arca.db.session.cleanup.cron`, fields joined by one space.
    pub session_cleanup_cron: Option<String>,
    pub session_idle_timeout: Duration,
    pub session_absolute_timeout: Duration,
    pub login_max_failures: u32,
    pub login_lockout: Duration,
    pub login_trusted_proxies: Vec<IpAddr>,
    pub token_max_expires: Duration,
    pub password_check_queue: usize,
    pub http_header_read_timeout: Duration,
    pub http_body_idle_timeout: Duration,
    pub http_max_connections: usize,
    pub https: Option<HttpsSettings>,
}

impl Default for SystemSettings {
    fn default() -> Self {
        let secs = Duration::from_secs;
        SystemSettings {
            context_path: keys::DEFAULT_CONTEXT_PATH.to_string(),
            url_base: None,
            max_upload_bytes: keys::DEFAULT_UPLOAD_MAX_BYTES,
            storage_reserve_bytes: keys::DEFAULT_STORAGE_RESERVE_BYTES,
            max_path_length: keys::DEFAULT_PATH_MAX_LENGTH,
            gc_interval: secs(keys::DEFAULT_GC_INTERVAL_SECS),
            gc_grace: secs(keys::DEFAULT_GC_GRACE_SECS),
            auth_cache: secs(keys::DEFAULT_AUTH_CACHE_SECS),
            drain_delay: secs(keys::DEFAULT_DRAIN_DELAY_SECS),
            ha_heartbeat: secs(keys::DEFAULT_HA_HEARTBEAT_SECS),
            ha_stale: secs(keys::DEFAULT_HA_STALE_SECS),
            ha_lock_lease: secs(keys::DEFAULT_HA_LOCK_LEASE_SECS),
            license_swap_window_days: keys::DEFAULT_LICENSE_SWAP_WINDOW_DAYS,
            license_agent_interval: secs(keys::DEFAULT_LICENSE_AGENT_INTERVAL_SECS),
            config_sync_poll: secs(keys::DEFAULT_CONFIG_SYNC_POLL_SECS),
            config_sync_restart: false,
            node_signature_v1: false,
            map_provider_type: MapProviderType::default(),
            session_cleanup_cron: None,
            session_idle_timeout: secs(keys::DEFAULT_SESSION_IDLE_TIMEOUT_SECS),
            session_absolute_timeout: secs(keys::DEFAULT_SESSION_ABSOLUTE_TIMEOUT_SECS),
            login_max_failures: keys::DEFAULT_LOGIN_MAX_FAILURES,
            login_lockout: secs(keys::DEFAULT_LOGIN_LOCKOUT_SECS),
            login_trusted_proxies: Vec::new(),
            token_max_expires: secs(keys::DEFAULT_TOKEN_MAX_EXPIRES_SECS),
            password_check_queue: keys::DEFAULT_PASSWORD_CHECK_QUEUE,
            http_header_read_timeout: secs(keys::DEFAULT_HTTP_HEADER_READ_TIMEOUT_SECS),
            http_body_idle_timeout: secs(keys::DEFAULT_HTTP_BODY_IDLE_TIMEOUT_SECS),
            http_max_connections: keys::DEFAULT_HTTP_MAX_CONNECTIONS,
            https: None,
        }
    }
}

/// Settings read leniently: a bad value keeps its default and its error is listed.
#[derive(Debug, Clone)]
pub struct ReadSettings {
    pub settings: SystemSettings,
    /// One error per bad value (a bad heartbeat once, not again for the stale time), in line
    /// order.
    pub errors: Vec<ConfigError>,
}

impl SystemSettings {
    /// Every value of `props`; a bad value keeps its default and its error is listed (the
    /// tools read a broken file this way; the daemons only start on a clean one).
    pub fn read(props: &SystemProperties) -> ReadSettings {
        let mut e = Vec::new();
        let mut s = SystemSettings::default();
        let p = props;
        // The order the check has always reported them in (before sorting by line).
        take(&mut e, p.context_path(), &mut s.context_path);
        take(&mut e, p.max_upload_bytes(), &mut s.max_upload_bytes);
        take(
            &mut e,
            p.storage_reserve_bytes(),
            &mut s.storage_reserve_bytes,
        );
        take(&mut e, p.max_path_length(), &mut s.max_path_length);
        take_secs(&mut e, p.gc_interval_secs(), &mut s.gc_interval);
        take_secs(&mut e, p.gc_grace_secs(), &mut s.gc_grace);
        take(&mut e, p.map_provider_type(), &mut s.map_provider_type);
        take(
            &mut e,
            p.session_cleanup_cron(),
            &mut s.session_cleanup_cron,
        );
        take_secs(&mut e, p.auth_cache_secs(), &mut s.auth_cache);
        take_secs(&mut e, p.drain_delay_secs(), &mut s.drain_delay);
        take_secs(&mut e, p.ha_heartbeat_secs(), &mut s.ha_heartbeat);
        take_secs(&mut e, p.ha_stale_secs(), &mut s.ha_stale);
        take_secs(&mut e, p.ha_lock_lease_secs(), &mut s.ha_lock_lease);
        take(&mut e, p.url_base(), &mut s.url_base);
        let window = p.license_swap_window_days();
        take(&mut e, window, &mut s.license_swap_window_days);
        let interval = p.license_agent_interval_secs();
        take_secs(&mut e, interval, &mut s.license_agent_interval);
        take_secs(&mut e, p.config_sync_poll_secs(), &mut s.config_sync_poll);
        take(&mut e, p.config_sync_restart(), &mut s.config_sync_restart);
        take(&mut e, p.node_signature_v1(), &mut s.node_signature_v1);
        let idle = p.session_idle_timeout_secs();
        take_secs(&mut e, idle, &mut s.session_idle_timeout);
        let absolute = p.session_absolute_timeout_secs();
        take_secs(&mut e, absolute, &mut s.session_absolute_timeout);
        take(&mut e, p.login_max_failures(), &mut s.login_max_failures);
        take_secs(&mut e, p.login_lockout_secs(), &mut s.login_lockout);
        take(
            &mut e,
            p.login_trusted_proxies(),
            &mut s.login_trusted_proxies,
        );
        take_secs(&mut e, p.token_max_expires_secs(), &mut s.token_max_expires);
        take(
            &mut e,
            p.password_check_queue(),
            &mut s.password_check_queue,
        );
        let header = p.http_header_read_timeout_secs();
        take_secs(&mut e, header, &mut s.http_header_read_timeout);
        let body = p.http_body_idle_timeout_secs();
        take_secs(&mut e, body, &mut s.http_body_idle_timeout);
        take(
            &mut e,
            p.http_max_connections(),
            &mut s.http_max_connections,
        );
        take(&mut e, p.https(), &mut s.https);
        // Stable: errors without a line keep their place before the others.
        e.sort_by_key(|e| e.line);
        ReadSettings {
            settings: s,
            errors: e,
        }
    }

    /// Every value of `props`, or the first bad one (in line order).
    pub fn from_properties(props: &SystemProperties) -> Result<SystemSettings, ConfigError> {
        let read = SystemSettings::read(props);
        match read.errors.into_iter().next() {
            Some(e) => Err(e),
            None => Ok(read.settings),
        }
    }
}

/// `field = result`, or the error listed once (the stale time repeats a bad heartbeat's).
fn take<T>(errors: &mut Vec<ConfigError>, result: Result<T, ConfigError>, field: &mut T) {
    match result {
        Ok(value) => *field = value,
        Err(e) => {
            if !errors.contains(&e) {
                errors.push(e);
            }
        }
    }
}

fn take_secs(
    errors: &mut Vec<ConfigError>,
    result: Result<u64, ConfigError>,
    field: &mut Duration,
) {
    take(errors, result.map(Duration::from_secs), field);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn read(text: &str) -> ReadSettings {
        let props = SystemProperties::parse(text, Path::new("/h/etc/system.properties"))
            .expect("parsable properties");
        SystemSettings::read(&props)
    }

    #[test]
    fn an_empty_file_gives_the_defaults() {
        let read = read("");
        assert!(read.errors.is_empty(), "{:?}", read.errors);
        assert_eq!(read.settings, SystemSettings::default());
    }

    #[test]
    fn values_are_typed_and_a_bad_one_keeps_its_default() {
        let read = read(
            "arca.gc.grace.secs=5\narca.ha.heartbeat.interval.secs=x\n\
             arca.map.provider.type=local\narca.http.context.path=/\n",
        );
        let s = &read.settings;
        assert_eq!(s.gc_grace, Duration::from_secs(5));
        assert_eq!(s.map_provider_type, MapProviderType::Local);
        assert_eq!(s.context_path, "");
        assert_eq!(s.ha_heartbeat, SystemSettings::default().ha_heartbeat);
        // The stale time repeats the heartbeat's error: listed once.
        assert_eq!(read.errors.len(), 1, "{:?}", read.errors);
        assert_eq!(read.errors[0].line, Some(2));
    }
}
