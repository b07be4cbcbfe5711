//! Running a target: one reproducible input per iteration, properties checked, failures
//! reported with everything needed to replay them.
//!
//! Every iteration has its own random generator seeded from (seed, target, iteration), so
//! `--seed S --start I --iterations 1` replays iteration `I` alone. The release profile has
//! `panic = "abort"`: the panic hook prints the case before the process dies; in builds that
//! unwind the panic is also caught and reported as a failure.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::mutate::escaped;

/// A fuzz target: generates inputs and checks the properties of the code under test on them.
pub trait Target {
    /// The name on the command line.
    fn name(&self) -> &'static str;
    /// A new input (structure-aware generation, then mutations) from `rng`.
    fn generate(&mut self, rng: &mut StdRng) -> Vec<u8>;
    /// Run the code under test on `input`; `Err` describes a violated property. Panics are
    /// failures too (caught by the runner).
    fn check(&mut self, input: &[u8]) -> Result<(), String>;
}

/// Which iterations to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub seed: u64,
    /// First iteration (to replay a reported one).
    pub start: u64,
    pub iterations: u64,
}

/// What went wrong at one iteration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub iteration: u64,
    /// "panic: …" or the violated property.
    pub what: String,
    pub input: Vec<u8>,
}

/// The result of running one target.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub target: &'static str,
    pub inputs: u64,
    pub elapsed: Duration,
    pub failure: Option<Failure>,
}

/// The case being run on this thread, for the panic hook.
struct Case {
    target: &'static str,
    seed: u64,
    iteration: u64,
    input: Vec<u8>,
    /// Replaying an input given on the command line (no seed/iteration).
    replay: bool,
}

thread_local! {
    static CURRENT: RefCell<Option<Case>> = const { RefCell::new(None) };
}

fn set_case(target: &'static str, seed: u64, iteration: u64, input: &[u8], replay: bool) {
    CURRENT.with(|c| {
        let mut c = c.borrow_mut();
        match c.as_mut() {
            Some(case) => {
                case.target = target;
                case.seed = seed;
                case.iteration = iteration;
                case.replay = replay;
                case.input.clear();
                case.input.extend_from_slice(input);
            }
            None => {
                *c = Some(Case {
                    target,
                    seed,
                    iteration,
                    input: input.to_vec(),
                    replay,
                })
            }
        }
    });
}

fn clear_case() {
    CURRENT.with(|c| *c.borrow_mut() = None);
}

/// Print the failing case: the target, how to replay it and the input (escaped and hex).
fn report(
    target: &str,
    seed: u64,
    iteration: u64,
    replay: bool,
    what: &str,
    input: &[u8],
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "arca-fuzz: FAILURE in target '{target}': {what}");
    if replay {
        let _ = writeln!(out, "arca-fuzz: replayed input");
    } else {
        let _ = writeln!(out, "arca-fuzz: seed {seed}, iteration {iteration}");
        let _ = writeln!(
            out,
            "arca-fuzz: reproduce: arca-fuzz --target {target} --seed {seed} --start {iteration} --iterations 1"
        );
    }
    let _ = writeln!(
        out,
        "arca-fuzz: input ({} bytes): {}",
        input.len(),
        escaped(input)
    );
    let _ = writeln!(out, "arca-fuzz: input hex: {}", hex::encode(input));
    let _ = writeln!(
        out,
        "arca-fuzz: replay: arca-fuzz --target {target} --input-hex {}",
        hex::encode(input)
    );
    out
}

/// Install the panic hook that prints the case being run (then the previous hook runs), once
/// per process however often it is called.
pub fn install_panic_hook() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(install_hook);
}

fn install_hook() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = CURRENT.with(|c| {
            c.try_borrow().ok().and_then(|c| {
                c.as_ref().map(|case| {
                    report(
                        case.target,
                        case.seed,
                        case.iteration,
                        case.replay,
                        &format!("panic: {info}"),
                        &case.input,
                    )
                })
            })
        });
        if let Some(message) = message {
            eprint!("{message}");
        }
        default_hook(info);
    }));
}

/// The generator of one iteration: a mix of the seed, the target's name and the iteration.
pub fn iteration_rng(seed: u64, target: &str, iteration: u64) -> StdRng {
    let mut h = seed ^ 0x9e37_79b9_7f4a_7c15;
    for b in target.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h ^= iteration.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    // splitmix64 finaliser: neighbouring iterations get unrelated streams
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    StdRng::seed_from_u64(h ^ (h >> 31))
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(non-text panic payload)".to_string())
}

/// Run `check` on `input` with the case registered for the panic hook.
fn run_one(
    target: &mut dyn Target,
    seed: u64,
    iteration: u64,
    input: Vec<u8>,
    replay: bool,
) -> Option<Failure> {
    let name = target.name();
    set_case(name, seed, iteration, &input, replay);
    let result = catch_unwind(AssertUnwindSafe(|| target.check(&input)));
    let what = match result {
        Ok(Ok(())) => return None,
        Ok(Err(violation)) => {
            eprint!(
                "{}",
                report(name, seed, iteration, replay, &violation, &input)
            );
            violation
        }
        // The hook has printed the case already.
        Err(payload) => format!("panic: {}", panic_text(payload.as_ref())),
    };
    Some(Failure {
        iteration,
        what,
        input,
    })
}

/// Run `plan` on `target`; stops at the first failure.
pub fn run(target: &mut dyn Target, plan: Plan) -> Outcome {
    let started = Instant::now();
    let name = target.name();
    let mut inputs = 0;
    let mut failure = None;
    for iteration in plan.start..plan.start.saturating_add(plan.iterations) {
        let mut rng = iteration_rng(plan.seed, name, iteration);
        // A panic in the generator is reported under this iteration too.
        set_case(name, plan.seed, iteration, &[], false);
        let input = target.generate(&mut rng);
        inputs += 1;
        if let Some(f) = run_one(target, plan.seed, iteration, input, false) {
            failure = Some(f);
            break;
        }
    }
    clear_case();
    Outcome {
        target: name,
        inputs,
        elapsed: started.elapsed(),
        failure,
    }
}

/// Check one given input (`--input-hex`).
pub fn replay(target: &mut dyn Target, input: Vec<u8>) -> Outcome {
    let started = Instant::now();
    let failure = run_one(target, 0, 0, input, true);
    clear_case();
    Outcome {
        target: target.name(),
        inputs: 1,
        elapsed: started.elapsed(),
        failure,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn iteration_generators_are_reproducible_and_distinct() {
        let a: u64 = iteration_rng(1, "front", 5).r#gen();
        assert_eq!(a, iteration_rng(1, "front", 5).r#gen::<u64>());
        assert_ne!(a, iteration_rng(1, "front", 6).r#gen::<u64>());
        assert_ne!(a, iteration_rng(2, "front", 5).r#gen::<u64>());
        assert_ne!(a, iteration_rng(1, "paths", 5).r#gen::<u64>());
    }
}
