//! Target `license`: license keys, batches of keys, issuer key files and dates.
//!
//! Keys are generated structurally: a payload JSON (fields right, wrong, missing, extra) signed
//! by a trusted issuer (so verification gets past the signature to the field checks), by an
//! untrusted one, or with a broken signature; then mutated as text. Every input goes through
//! `verify` (three dates), `verify_batch`, `license_hash`, both key-file parsers and
//! `parse_date`. Property: no panic, and a key `verify` accepts is the trusted issuer's.

use std::path::Path;

use arca_license::{
    Date, Issuer, IssuerKey, TOKEN_PREFIX, TrustedIssuers, license_hash, parse_date, split_batch,
    verify, verify_batch,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signer as _, SigningKey};
use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use time::Month;

use super::crypto::hex_chars;
use super::pick;
use crate::mutate::mutate;
use crate::runner::Target;

const TRUSTED_SEED: [u8; 32] = [7; 32];
const UNTRUSTED_SEED: [u8; 32] = [9; 32];

const DICTIONARY: &[&str] = &[
    ".",
    "..",
    "arca-lic-v1.",
    "arca-lic-v2.",
    "=",
    "==",
    "+",
    "/",
    "-",
    "_",
    " ",
    "\n",
    ";",
    "\t",
    "\u{3000}",
    "\u{85}",
    "eyJ",
    "e30",
    "W10",
    "bnVsbA",
    "AAAA",
    "é",
    "\u{10FFFF}",
    "\0",
];

const DATES: &[&str] = &[
    "2026-01-01",
    "2026-12-31",
    "2026-02-28",
    "2024-02-29",
    "2026-02-29",
    "2026-02-30",
    "9999-12-31",
    "0000-01-01",
    "0001-01-01",
    "-001-01-01",
    "+10000-01-01",
    "2026-1-1",
    "2026-13-01",
    "2026-00-10",
    "2026-01-00",
    "2026-01-32",
    "2026/01/01",
    "２０２６-01-01",
    "2026-01-0١",
    "",
    "2026-01-01T00:00",
];

pub struct License {
    trusted: SigningKey,
    trusted_id: String,
    untrusted: SigningKey,
    issuers: TrustedIssuers,
    todays: [Date; 3],
}

impl License {
    pub fn new() -> Self {
        let issuer = Issuer::from_seed(&TRUSTED_SEED);
        let issuers: TrustedIssuers = [issuer.public_key().clone()].into_iter().collect();
        let date = |y, m, d| Date::from_calendar_date(y, m, d).unwrap_or(Date::MIN);
        License {
            trusted: SigningKey::from_bytes(&TRUSTED_SEED),
            trusted_id: issuer.id().to_string(),
            untrusted: SigningKey::from_bytes(&UNTRUSTED_SEED),
            issuers,
            todays: [
                date(2026, Month::March, 10),
                date(1970, Month::January, 1),
                date(9999, Month::December, 31),
            ],
        }
    }

    /// A payload JSON: every field valid, then none (half of the time), one or two of them
    /// broken, and sometimes the object's shape broken.
    fn payload(&self, rng: &mut StdRng) -> String {
        let valid_dates = [
            "2026-01-01",
            "2026-03-10",
            "2026-12-31",
            "2024-02-29",
            "9999-12-31",
            "2025-06-30",
        ];
        let mut id = hex_chars(rng, 32);
        let mut licensee = "ACME Corp.".to_string();
        let mut license_type = "Enterprise".to_string();
        let mut issued = "2026-01-01".to_string();
        let mut valid_through = pick(rng, &valid_dates).to_string();
        let mut issuer = self.trusted_id.clone();
        let broken = *[0, 0, 0, 1, 1, 2].choose(rng).unwrap_or(&0);
        for _ in 0..broken {
            match rng.gen_range(0..6) {
                0 => {
                    id = match rng.gen_range(0..3) {
                        0 => hex_chars(rng, 31),
                        1 => hex_chars(rng, 32).to_uppercase(),
                        _ => String::new(),
                    }
                }
                1 => {
                    licensee = if rng.gen_bool(0.2) {
                        "é".repeat(rng.gen_range(199..202))
                    } else {
                        pick(
                            rng,
                            &["", " ACME", "ACME\n", "é\u{10FFFF}", "\u{0}", "a\"b\\c"],
                        )
                        .to_string()
                    }
                }
                2 => {
                    license_type = if rng.gen_bool(0.2) {
                        "x".repeat(rng.gen_range(63..66))
                    } else {
                        pick(rng, &["", " E", "E+ _.-", "Ent\u{e9}", "x"]).to_string()
                    }
                }
                3 => issued = pick(rng, DATES).to_string(),
                4 => valid_through = pick(rng, DATES).to_string(),
                _ => {
                    issuer = match rng.gen_range(0..3) {
                        0 => hex_chars(rng, 16),
                        1 => String::new(),
                        _ => self.trusted_id.to_uppercase(),
                    }
                }
            }
        }
        let mut fields = vec![
            ("id", serde_json::Value::from(id)),
            ("licensee", licensee.into()),
            ("type", license_type.into()),
            ("issued", issued.into()),
            ("validThrough", valid_through.into()),
            ("issuer", issuer.into()),
        ];
        match rng.gen_range(0..16) {
            0 => {
                let i = rng.gen_range(0..fields.len());
                fields.remove(i);
            }
            1 => fields.push(("extra", 1.into())),
            2 => {
                let i = rng.gen_range(0..fields.len());
                fields[i].1 = pick(rng, &["[]", "{}", "null", "1"])
                    .parse()
                    .unwrap_or_default();
            }
            3 => fields.shuffle(rng),
            4 => {
                return pick(
                    rng,
                    &[
                        "",
                        "null",
                        "[]",
                        "{}",
                        "\"x\"",
                        "{\"id\":",
                        &"[".repeat(200),
                    ],
                )
                .to_string();
            }
            _ => {}
        }
        let body: Vec<String> = fields
            .iter()
            .map(|(k, v)| format!("{}:{v}", serde_json::Value::from(*k)))
            .collect();
        format!("{{{}}}", body.join(","))
    }

    fn token(&self, rng: &mut StdRng) -> String {
        let mut token = String::from(if rng.gen_bool(0.95) {
            TOKEN_PREFIX
        } else {
            "arca-lic-v2."
        });
        URL_SAFE_NO_PAD.encode_string(self.payload(rng), &mut token);
        let signature = match rng.gen_range(0..20) {
            0 | 1 => self.untrusted.sign(token.as_bytes()).to_bytes().to_vec(),
            2 | 3 => (0..rng.gen_range(0..70)).map(|_| rng.r#gen()).collect(),
            4 => return token,
            5 => return format!("{token}."),
            _ => self.trusted.sign(token.as_bytes()).to_bytes().to_vec(),
        };
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut token);
        token
    }

    fn key_file(&self, rng: &mut StdRng) -> String {
        let tag = pick(
            rng,
            &[
                arca_license::ISSUER_KEY_TAG,
                arca_license::ISSUER_PUB_TAG,
                "x",
            ],
        );
        let key = match rng.gen_range(0..4) {
            0 => hex_chars(rng, 63),
            1 => "zz".repeat(32),
            2 => "é".repeat(32),
            _ => hex_chars(rng, 64),
        };
        let mut text = String::from("# comment\n");
        for _ in 0..rng.gen_range(1..3) {
            text.push_str(&format!("{tag} {key}\n"));
        }
        text
    }
}

impl Default for License {
    fn default() -> Self {
        Self::new()
    }
}

impl Target for License {
    fn name(&self) -> &'static str {
        "license"
    }

    fn generate(&mut self, rng: &mut StdRng) -> Vec<u8> {
        let text = match rng.gen_range(0..20) {
            0..=13 => self.token(rng),
            14..=16 => {
                let n = rng.gen_range(0..5);
                (0..n)
                    .map(|_| self.token(rng))
                    .collect::<Vec<_>>()
                    .join(pick(rng, &["\n", " ", ";", "\r\n\r\n", "\t;\u{3000}"]))
            }
            17 | 18 => self.key_file(rng),
            _ => pick(rng, DATES).to_string(),
        };
        let mut data = text.into_bytes();
        if rng.gen_bool(0.3) {
            let other = self.token(rng);
            mutate(rng, &mut data, DICTIONARY, other.as_bytes(), 4, 64 * 1024);
        }
        data
    }

    fn check(&mut self, input: &[u8]) -> Result<(), String> {
        let text = String::from_utf8_lossy(input);
        for today in self.todays {
            match verify(&text, &self.issuers, today) {
                Ok(license) => {
                    if license.issuer_id() != self.trusted_id {
                        return Err(format!("accepted a key of issuer {}", license.issuer_id()));
                    }
                    let _ = license.to_json(Some(("node-1", "http://h:8081")), today);
                    let _ = license.to_json(None, today);
                }
                Err(rejection) => {
                    let _ = (rejection.to_string(), rejection.kind());
                }
            }
        }
        for (_key, result) in verify_batch(&text, &self.issuers, self.todays[0]) {
            if let Err(rejection) = result {
                let _ = rejection.to_string();
            }
        }
        let _ = split_batch(&text);
        let _ = license_hash(&text);
        let _ = IssuerKey::parse(&text, Path::new("x.pub"));
        let _ = Issuer::parse(&text, Path::new("x.key"));
        let _ = parse_date(&text);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::iteration_rng;

    #[test]
    fn generated_keys_reach_acceptance_and_every_rejection() {
        let mut target = License::new();
        let mut kinds = std::collections::BTreeMap::new();
        for i in 0..3000 {
            let input = target.generate(&mut iteration_rng(1, "license", i));
            let kind = match verify(
                &String::from_utf8_lossy(&input),
                &target.issuers,
                target.todays[0],
            ) {
                Ok(_) => "valid",
                Err(r) => r.kind(),
            };
            *kinds.entry(kind).or_insert(0) += 1;
        }
        for kind in [
            "valid",
            "garbled",
            "unsigned",
            "untrusted-issuer",
            "bad-signature",
            "expired",
        ] {
            assert!(kinds.get(kind).is_some_and(|n| *n >= 10), "{kinds:?}");
        }
    }
}
