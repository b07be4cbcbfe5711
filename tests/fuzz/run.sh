#!/usr/bin/env bash
# Fuzzes arca's request front end and parsers with daemons/dev/arca-fuzz (docs/security.md, "Fuzzing"):
# builds the release binary and runs every target (front, headers, paths, properties, db-properties,
# ha-node, binarystore, license, node-signature, secrets, cron, maven, aql, npm, pypi, oci) for 1,000,000 inputs each (the parsers' count can be lowered; the
# front end always gets its million), then prints the per-target counts, the time and "0 panics".
# Exit status: 0 when no input made anything panic or broke a property, 1 otherwise. A failure prints
# the target, seed, iteration and input, and the command line that replays it.
#
# Usage: tests/fuzz/run.sh [--iterations N] [--parser-iterations M] [--seed S]
#   --iterations N          inputs per target (default 1000000)
#   --parser-iterations M   inputs per target other than front (default N; tests/run-all.sh: 200000)
#   --seed S                seed of the run (default: random; printed either way)
# Env: CARGO_TARGET_DIR (honoured).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export ARCA_TEST_NAME=fuzz
# shellcheck source-path=SCRIPTDIR source=../lib/arca.sh
. "$ROOT/tests/lib/arca.sh"

ITERATIONS=1000000
PARSER_ITERATIONS=""
SEED=""
while (($#)); do
    case "$1" in
        --iterations) ITERATIONS="$2"; shift ;;
        --parser-iterations) PARSER_ITERATIONS="$2"; shift ;;
        --seed) SEED="$2"; shift ;;
        *) arca_die "unknown argument: $1 (usage: tests/fuzz/run.sh [--iterations N] [--parser-iterations M] [--seed S])" ;;
    esac
    shift
done
[[ -n "$SEED" ]] || SEED="$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')"

# Built together with the packaged binaries: one feature set for both, so that after the release build
# of tests/run-all.sh only arca-fuzz itself is compiled (alone, `-p arca-fuzz` would resolve other tokio
# features and rebuild most of the tree).
packages=(-p arca-fuzz) # ARCA_BINARIES: packaging/binaries.sh, sourced by tests/lib/arca.sh
for bin in "${ARCA_BINARIES[@]}"; do packages+=(-p "$bin"); done
arca_log "cargo build --release ${packages[*]}"
(cd "$ROOT" && cargo build --release "${packages[@]}") || arca_die "release build of arca-fuzz failed"

t0=$SECONDS
status=0
"$ARCA_TARGET_DIR/release/arca-fuzz" --target all --iterations "$ITERATIONS" \
    --parser-iterations "${PARSER_ITERATIONS:-$ITERATIONS}" --seed "$SEED" || status=$?
secs=$((SECONDS - t0))
if ((status == 0)); then
    arca_log "0 panics, 0 property violations in ${secs}s (seed $SEED)"
    exit 0
fi
# In the release build a panic aborts the process (SIGABRT: status 134) after the panic hook has
# printed the case. A stack overflow aborts without it: the target is the one whose result line is
# missing; narrow its iterations down with --start/--iterations.
arca_warn "FAILED (exit status $status) after ${secs}s; replay with the command printed above (seed $SEED)"
exit 1
