//! The fuzz harness end to end: every target for a modest number of inputs with a fixed seed,
//! and the proof that the harness fails when there is something to find (a planted panic and
//! a planted 500, each found, reported with seed, iteration and input, and reproducible).

use std::process::{Command, Output};

use arca_fuzz::runner::{self, Plan};
use arca_fuzz::targets;

const SEED: u64 = 20_261_206;
const INPUTS_PER_TARGET: u64 = 20_000;

fn fuzz(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_arca-fuzz"))
        .args(args)
        .output()
        .expect("run arca-fuzz")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `name` for [`INPUTS_PER_TARGET`] inputs of the fixed seed: no panic, no violated property.
fn survives(name: &str) {
    runner::install_panic_hook();
    let mut target = targets::make(name).expect("target");
    let plan = Plan {
        seed: SEED,
        start: 0,
        iterations: INPUTS_PER_TARGET,
    };
    let outcome = runner::run(target.as_mut(), plan);
    assert_eq!(outcome.inputs, INPUTS_PER_TARGET, "{name}");
    assert!(outcome.failure.is_none(), "{name}: {:?}", outcome.failure);
}

// One test per target: the test runner spreads them over the cores.
#[test]
fn front_survives() {
    survives("front");
}

#[test]
fn headers_survive() {
    survives("headers");
}

#[test]
fn paths_survive() {
    survives("paths");
}

#[test]
fn system_properties_survive() {
    survives("properties");
}

#[test]
fn db_properties_survive() {
    survives("db-properties");
}

#[test]
fn ha_node_properties_survive() {
    survives("ha-node");
}

#[test]
fn binarystore_xml_survives() {
    survives("binarystore");
}

#[test]
fn license_keys_survive() {
    survives("license");
}

#[test]
fn node_signatures_survive() {
    survives("node-signature");
}

#[test]
fn sealed_secrets_survive() {
    survives("secrets");
}

#[test]
fn cron_expressions_survive() {
    survives("cron");
}

#[test]
fn maven_metadata_and_layout_survive() {
    survives("maven");
}

#[test]
fn aql_queries_survive() {
    survives("aql");
}

#[test]
fn npm_names_publishes_tarballs_and_packuments_survive() {
    survives("npm");
}

#[test]
fn pypi_names_metadata_pages_and_wheels_survive() {
    survives("pypi");
}

#[test]
fn oci_routes_manifests_and_scopes_survive() {
    survives("oci");
}

#[test]
fn every_target_has_a_test() {
    // A target added to `all` without a test above would go unfuzzed in CI.
    let tested = "front headers paths properties db-properties ha-node binarystore license \
                  node-signature secrets cron maven aql npm pypi oci";
    assert_eq!(targets::ALL, tested.split_whitespace().collect::<Vec<_>>());
    let mut by_cost = targets::ALL_BY_COST.to_vec();
    by_cost.sort_unstable();
    let mut all = targets::ALL.to_vec();
    all.sort_unstable();
    assert_eq!(by_cost, all, "ALL_BY_COST must list the targets of ALL");
}

/// The value after `key ` on the line that starts with `arca-fuzz: seed `.
fn reported_iteration(stderr: &str) -> u64 {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("arca-fuzz: seed "))
        .unwrap_or_else(|| panic!("no seed line in:\n{stderr}"));
    line.rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{line}"))
}

fn reported_hex(stderr: &str) -> String {
    stderr
        .lines()
        .find_map(|l| l.strip_prefix("arca-fuzz: input hex: "))
        .unwrap_or_else(|| panic!("no input in:\n{stderr}"))
        .to_string()
}

#[test]
fn a_planted_panic_is_found_reported_and_reproducible() {
    let out = fuzz(&[
        "--target",
        "selftest-panic",
        "--seed",
        "42",
        "--iterations",
        "100000",
    ]);
    let stderr = text(&out.stderr);
    assert!(
        !out.status.success(),
        "the planted panic was not found:\n{stderr}"
    );
    assert!(
        stderr.contains("FAILURE in target 'selftest-panic': panic:"),
        "{stderr}"
    );
    assert!(stderr.contains("planted bug: a path with %00"), "{stderr}");
    let iteration = reported_iteration(&stderr);
    let hex_input = reported_hex(&stderr);
    let input = hex::decode(&hex_input).expect("hex");
    assert!(
        input.windows(3).any(|w| w == b"%00"),
        "the reported input is not the one that panics: {}",
        input.escape_ascii()
    );

    // The printed seed and iteration replay the same input…
    let iteration = iteration.to_string();
    let again = fuzz(&[
        "--target",
        "selftest-panic",
        "--seed",
        "42",
        "--start",
        &iteration,
        "--iterations",
        "1",
    ]);
    assert!(!again.status.success());
    assert_eq!(reported_hex(&text(&again.stderr)), hex_input);
    // …and so does the printed input.
    let replay = fuzz(&["--target", "selftest-panic", "--input-hex", &hex_input]);
    assert!(!replay.status.success(), "{}", text(&replay.stderr));
    assert!(text(&replay.stderr).contains("planted bug"));
    // Without the planted bug the same input passes.
    let clean = fuzz(&["--target", "front", "--input-hex", &hex_input]);
    assert!(clean.status.success(), "{}", text(&clean.stderr));
}

#[test]
fn a_planted_server_error_is_a_property_violation() {
    let out = fuzz(&[
        "--target",
        "selftest-5xx",
        "--seed",
        "7",
        "--iterations",
        "100000",
    ]);
    let stderr = text(&out.stderr);
    assert!(
        !out.status.success(),
        "the planted 500 was not found:\n{stderr}"
    );
    assert!(
        stderr.contains("FAILURE in target 'selftest-5xx'"),
        "{stderr}"
    );
    assert!(stderr.contains("500"), "{stderr}");
    assert!(
        text(&out.stdout).contains("1 property violations"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn the_crash_of_issue_14_is_found_without_the_target_guard() {
    // The front end as it was before TargetGuard: warp's path filters meet `GET x`.
    let out = fuzz(&[
        "--target",
        "selftest-unguarded",
        "--seed",
        "3",
        "--iterations",
        "100000",
    ]);
    let stderr = text(&out.stderr);
    assert!(
        !out.status.success(),
        "the unguarded front end survived:\n{stderr}"
    );
    assert!(
        stderr.contains("FAILURE in target 'selftest-unguarded': panic:"),
        "{stderr}"
    );
    // The same input passes the guarded front end.
    let hex_input = reported_hex(&stderr);
    let guarded = fuzz(&["--target", "front", "--input-hex", &hex_input]);
    assert!(guarded.status.success(), "{}", text(&guarded.stderr));
}

#[test]
fn unknown_targets_are_refused() {
    let out = fuzz(&["--target", "nope", "--iterations", "1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("unknown target 'nope'"));
}
