//! License keys for the tests: a throwaway issuer, trusted by the homes that need it.

use std::path::Path;

use arca_license::{Date, Issuer, NewLicense};

pub fn today() -> Date {
    time::OffsetDateTime::now_utc().date()
}

/// A key of `issuer` valid through `valid_through`.
pub fn key(issuer: &Issuer, licensee: &str, valid_through: Date) -> String {
    issuer
        .issue(&NewLicense {
            licensee,
            license_type: "Enterprise",
            valid_through,
            issued: valid_through.min(today()) - time::Duration::days(30),
        })
        .unwrap()
}

/// Make `issuer` trusted by the home `h` (its public key in
/// `etc/security/license-issuers/test.pub`, written before the first start).
pub fn trust(issuer: &Issuer, h: &Path) {
    let dir = h.join("etc/security/license-issuers");
    std::fs::create_dir_all(&dir).unwrap();
    issuer.public_key().save(&dir.join("test.pub")).unwrap();
}

/// A throwaway issuer trusted by the home `h`.
pub fn trusted_issuer(h: &Path) -> Issuer {
    let issuer = Issuer::generate();
    trust(&issuer, h);
    issuer
}

/// `count` keys valid for a year, in `etc/cluster.license` of the (primary's) home `h`, read
/// into the empty pool at its first start. Returns the keys.
pub fn bootstrap_keys(issuer: &Issuer, h: &Path, count: usize) -> Vec<String> {
    let keys: Vec<String> = (0..count)
        .map(|_| key(issuer, "arca tests", today() + time::Duration::days(365)))
        .collect();
    std::fs::write(h.join("etc/cluster.license"), keys.join("\n") + "\n").unwrap();
    keys
}
