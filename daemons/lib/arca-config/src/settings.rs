//! [`SystemSettings`]: every value of `etc/system.properties` as a plain typed field, read once.
//!
//! [`SystemProperties`] keeps the raw text (key, value, line) for the check and the tools;
//! daemons read these fields instead of parsing a key each time they need it.

pub use crate::system::{ReadSettings, SystemSettings};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::system::{MapProviderType, SystemProperties};
    use std::path::Path;
    use std::time::Duration;

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
