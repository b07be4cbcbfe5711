//! arca-fuzz: seeded, structure-aware fuzzing of arca's request front end and parsers.
//!
//! Coverage-guided fuzzing needs a nightly toolchain; this harness runs on stable. Each target
//! generates valid inputs from the formats' structure (request lines of every shape, headers,
//! paths with matrix parameters, properties files, binarystore.xml, license keys), mutates half
//! of them (bit flips, boundary bytes, dictionary tokens, splicing, truncation, duplication) and
//! checks properties: no panic anywhere, and target-specific ones (no 5xx from the front end,
//! accepted paths are clean, …). Runs are reproducible from the seed; a failure prints the
//! target, seed, iteration and input. See `docs/security.md` ("Fuzzing").

pub mod mutate;
pub mod runner;
pub mod targets;
