//! `arca-fuzz`: run the fuzz targets (see the library's documentation and docs/security.md).

use std::collections::VecDeque;
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::Context as _;
use arca_fuzz::runner::{self, Outcome, Plan};
use arca_fuzz::targets;
use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    name = "arca-fuzz",
    about = "Seeded structure-aware fuzzing of arca's front end and parsers"
)]
struct Args {
    /// front, headers, paths, properties, db-properties, ha-node, binarystore, license,
    /// node-signature, secrets, cron, maven, aql, npm, pypi, oci, or all
    /// (selftest-panic, selftest-5xx and selftest-unguarded check the harness itself).
    #[arg(long, default_value = "all")]
    target: String,
    /// Inputs per target.
    #[arg(long, default_value_t = 10_000)]
    iterations: u64,
    /// Inputs per target other than front (default: --iterations), to keep a run short while
    /// the front end still gets its million.
    #[arg(long)]
    parser_iterations: Option<u64>,
    /// Seed of the run (random when not given; always printed).
    #[arg(long)]
    seed: Option<u64>,
    /// First iteration: `--seed S --start I --iterations 1` replays iteration I.
    #[arg(long, default_value_t = 0)]
    start: u64,
    /// Check this one input (hex, as printed with a failure) instead of generating inputs.
    #[arg(long)]
    input_hex: Option<String>,
    /// Threads for `--target all` (each runs one target at a time).
    #[arg(long, default_value_t = 2)]
    jobs: usize,
}

fn random_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    (nanos as u64) ^ u64::from(std::process::id()).rotate_left(32)
}

/// Run targets from `queue` until it is empty or some target failed.
fn run_queue(
    queue: &Mutex<VecDeque<String>>,
    failed: &AtomicBool,
    front_plan: Plan,
    parser_plan: Plan,
) -> anyhow::Result<Vec<Outcome>> {
    let mut outcomes = Vec::new();
    loop {
        if failed.load(Ordering::Relaxed) {
            break;
        }
        let next = match queue.lock() {
            Ok(mut q) => q.pop_front(),
            Err(_) => anyhow::bail!("the target queue is poisoned"),
        };
        let Some(name) = next else { break };
        let mut target = targets::make(&name)?;
        let plan = if name.starts_with("front") || name.starts_with("selftest") {
            front_plan
        } else {
            parser_plan
        };
        let outcome = runner::run(target.as_mut(), plan);
        print_outcome(&outcome);
        if outcome.failure.is_some() {
            failed.store(true, Ordering::Relaxed);
        }
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

fn print_outcome(o: &Outcome) {
    let secs = o.elapsed.as_secs_f64();
    let rate = if secs > 0.0 {
        o.inputs as f64 / secs
    } else {
        0.0
    };
    let verdict = match &o.failure {
        None => "ok".to_string(),
        Some(f) => format!("FAILED at iteration {}: {}", f.iteration, f.what),
    };
    println!(
        "arca-fuzz: {:<14} {:>9} inputs in {:>7.1} s ({:>7.0}/s) {verdict}",
        o.target, o.inputs, secs, rate
    );
}

fn main() -> ExitCode {
    match real_main() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("arca-fuzz: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn real_main() -> anyhow::Result<bool> {
    let args = Args::parse();
    runner::install_panic_hook();
    if let Some(hex_input) = &args.input_hex {
        let input = hex::decode(hex_input.trim()).context("--input-hex is not hexadecimal")?;
        let mut target = targets::make(&args.target)?;
        let outcome = runner::replay(target.as_mut(), input);
        print_outcome(&outcome);
        return Ok(outcome.failure.is_none());
    }
    let seed = args.seed.unwrap_or_else(random_seed);
    let plan = Plan {
        seed,
        start: args.start,
        iterations: args.iterations,
    };
    let parser_plan = Plan {
        iterations: args.parser_iterations.unwrap_or(args.iterations),
        ..plan
    };
    println!(
        "arca-fuzz: seed {seed}, {} inputs per target ({} for the parsers) from iteration {}",
        plan.iterations, parser_plan.iterations, args.start
    );
    let names: Vec<String> = if args.target == "all" {
        targets::ALL.iter().map(|s| s.to_string()).collect()
    } else {
        targets::make(&args.target)?;
        vec![args.target.clone()]
    };
    let started = Instant::now();
    // The slowest targets first, each thread taking the next one when it is done.
    let mut queue: Vec<String> = names;
    queue.sort_by_key(|n| {
        targets::ALL_BY_COST
            .iter()
            .position(|c| c == n)
            .unwrap_or(0)
    });
    let queue = Mutex::new(VecDeque::from(queue));
    let failed = AtomicBool::new(false);
    let outcomes: Vec<Outcome> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..args.jobs.max(1))
            .map(|_| scope.spawn(|| run_queue(&queue, &failed, plan, parser_plan)))
            .collect();
        let mut all = Vec::new();
        for handle in handles {
            match handle.join() {
                Ok(result) => all.extend(result?),
                Err(_) => anyhow::bail!("a fuzzing thread panicked outside a target"),
            }
        }
        Ok(all)
    })?;
    let inputs: u64 = outcomes.iter().map(|o| o.inputs).sum();
    let failures: Vec<&Outcome> = outcomes.iter().filter(|o| o.failure.is_some()).collect();
    let panics = failures
        .iter()
        .filter(|o| {
            o.failure
                .as_ref()
                .is_some_and(|f| f.what.starts_with("panic"))
        })
        .count();
    println!(
        "arca-fuzz: {inputs} inputs in {:.1} s, {panics} panics, {} property violations (seed {seed})",
        started.elapsed().as_secs_f64(),
        failures.len() - panics
    );
    Ok(failures.is_empty())
}
