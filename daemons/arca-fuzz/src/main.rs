//! `arca-fuzz`: run the fuzz targets (see the library's documentation and docs/security.md).

use std::process::ExitCode;
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
    /// front, headers, paths, properties, db-properties, ha-node, binarystore, license, or all
    /// (selftest-panic, selftest-5xx and selftest-unguarded check the harness itself).
    #[arg(long, default_value = "all")]
    target: String,
    /// Inputs per target.
    #[arg(long, default_value_t = 10_000)]
    iterations: u64,
    /// Seed of the run (random when not given; always printed).
    #[arg(long)]
    seed: Option<u64>,
    /// First iteration: `--seed S --start I --iterations 1` replays iteration I.
    #[arg(long, default_value_t = 0)]
    start: u64,
    /// Check this one input (hex, as printed with a failure) instead of generating inputs.
    #[arg(long)]
    input_hex: Option<String>,
    /// Threads for `--target all` (front runs on one, the other targets on the rest).
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

/// Run the named targets one after the other on this thread.
fn run_group(names: Vec<String>, plan: Plan) -> anyhow::Result<Vec<Outcome>> {
    let mut outcomes = Vec::new();
    for name in names {
        let mut target = targets::make(&name)?;
        let outcome = runner::run(target.as_mut(), plan);
        print_outcome(&outcome);
        let failed = outcome.failure.is_some();
        outcomes.push(outcome);
        if failed {
            break;
        }
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
    println!(
        "arca-fuzz: seed {seed}, {} inputs per target from iteration {}",
        args.iterations, args.start
    );
    let names: Vec<String> = if args.target == "all" {
        targets::ALL.iter().map(|s| s.to_string()).collect()
    } else {
        targets::make(&args.target)?;
        vec![args.target.clone()]
    };
    let started = Instant::now();
    // Two groups when there are threads to spare: front (the slowest) alone, the rest together.
    let groups: Vec<Vec<String>> = if args.jobs >= 2 && names.len() > 1 {
        let (first, rest) = names.split_at(1);
        vec![first.to_vec(), rest.to_vec()]
    } else {
        vec![names]
    };
    let outcomes: Vec<Outcome> = std::thread::scope(|scope| {
        let handles: Vec<_> = groups
            .into_iter()
            .map(|group| scope.spawn(move || run_group(group, plan)))
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
