//! The fuzz targets, by name.

pub mod aql;
pub mod config;
pub mod cron;
pub mod crypto;
pub mod front;
pub mod headers;
pub mod license;
pub mod maven;
pub mod npm;
pub mod oci;
pub mod paths;
pub mod pypi;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::runner::Target;

/// One entry of `list` (`""` for an empty list), for the generators of every target.
pub(crate) fn pick<'a>(rng: &mut StdRng, list: &[&'a str]) -> &'a str {
    list.choose(rng).copied().unwrap_or_default()
}

/// The targets `--target all` runs, in order.
pub const ALL: &[&str] = &[
    "front",
    "headers",
    "paths",
    "properties",
    "db-properties",
    "ha-node",
    "binarystore",
    "license",
    "node-signature",
    "secrets",
    "cron",
    "maven",
    "aql",
    "npm",
    "pypi",
    "oci",
];

/// [`ALL`], slowest per input first (measured in release): the order threads take them in.
pub const ALL_BY_COST: &[&str] = &[
    "properties",
    "db-properties",
    "binarystore",
    "license",
    "pypi",
    "npm",
    "oci",
    "ha-node",
    "front",
    "paths",
    "node-signature",
    "secrets",
    "maven",
    "aql",
    "cron",
    "headers",
];

/// The harness's self-tests: the front end with a planted bug the fuzzer must find (a panic,
/// a 500, the missing target guard of issue 14). Not part of `all`.
pub const SELF_TESTS: &[&str] = &["selftest-panic", "selftest-5xx", "selftest-unguarded"];

/// The target called `name`.
pub fn make(name: &str) -> anyhow::Result<Box<dyn Target>> {
    Ok(match name {
        "front" => Box::new(front::Front::new()?),
        "headers" => Box::new(headers::Headers),
        "paths" => Box::new(paths::Paths),
        "properties" => Box::new(config::SystemPropertiesTarget),
        "db-properties" => Box::new(config::DbPropertiesTarget::new()),
        "ha-node" => Box::new(config::HaNodeTarget::new()),
        "binarystore" => Box::new(config::BinaryStoreTarget::new()),
        "license" => Box::new(license::License::new()),
        "node-signature" => Box::new(crypto::NodeSignature::new()),
        "secrets" => Box::new(crypto::Secrets::new()),
        "cron" => Box::new(cron::Cron),
        "maven" => Box::new(maven::Maven),
        "npm" => Box::new(npm::Npm::new()),
        "pypi" => Box::new(pypi::Pypi::new()),
        "oci" => Box::new(oci::Oci),
        "aql" => Box::new(aql::Aql::new()?),
        "selftest-panic" => Box::new(front::Front::with_planted_bug(front::PlantedBug::Panic)?),
        "selftest-5xx" => Box::new(front::Front::with_planted_bug(
            front::PlantedBug::ServerError,
        )?),
        "selftest-unguarded" => Box::new(front::Front::with_planted_bug(
            front::PlantedBug::Unguarded,
        )?),
        other => anyhow::bail!(
            "unknown target '{other}'; targets: {}, all (self-tests: {})",
            ALL.join(", "),
            SELF_TESTS.join(", ")
        ),
    })
}
