# shellcheck shell=bash
# What the benchmark scripts share; sourced after tests/lib/arca.sh.

# bench_python SCRIPT — the benchmark's Python helper (in this directory) for `py`, stopped at exit
bench_python() {
    BENCH_PY=$1
    PY_PID=""
    arca_on_exit bench_stop_py
}

# py OUT ARGS... — the helper with ARGS, stdout to OUT; in the background, so that a signal interrupts the wait
# (bash runs its traps only once a foreground command has finished) and the cleanup stops it
py() {
    local out=$1 rc=0
    shift
    python3 "$HERE/$BENCH_PY" "$@" >"$out" &
    PY_PID=$!
    wait "$PY_PID" || rc=$?
    PY_PID=""
    return "$rc"
}
bench_stop_py() {
    [[ -z "$PY_PID" ]] || kill -TERM "$PY_PID" 2>/dev/null || true
}

# lines "name value" from the helper, collected in R
declare -A R=()
# collect FILE — reads the "name value" lines of FILE into R
collect() {
    local k v
    while read -r k v; do
        [[ -n "$k" ]] && R[$k]=$v
    done <"$1"
}
# get NAME — a value of R, or "-"
get() { printf '%s' "${R[$1]:--}"; }

# bench_max_verdict VALUE TARGET — PASS when VALUE is a number <= TARGET, else MISS
bench_max_verdict() {
    if [[ "$1" =~ ^[0-9.]+$ ]]; then
        awk -v a="$1" -v t="$2" 'BEGIN {print (a <= t ? "PASS" : "MISS")}'
    else
        echo MISS
    fi
}

# bench_print_rows [--ratio] FORMAT — prints the rows of ROWS ("metric|a|b|kind|target"; kind max: a must be <= target,
# ratio: a/b must be >= target, info: no target) with FORMAT (metric, a, b, [a/b with --ratio,] target, result; a and
# b through the script's fmt when it has one); MISSES counts the missed targets
bench_print_rows() {
    local with_ratio=0 r metric a b kind target tgt res ratio num
    if [[ "$1" == --ratio ]]; then
        with_ratio=1
        shift
    fi
    MISSES=0
    for r in "${ROWS[@]}"; do
        IFS='|' read -r metric a b kind target <<<"$r"
        tgt="" res="" ratio="-"
        num=$([[ "$a" =~ ^[0-9.]+$ && "$b" =~ ^[0-9.]+$ ]] && echo 1 || echo 0)
        if ((num)); then
            ratio=$(awk -v a="$a" -v n="$b" 'BEGIN {printf (n > 0 ? "%.2fx" : "-"), a / n}')
        fi
        case "$kind" in
            ratio)
                tgt=">= ${target}x $BENCH_BASELINE"
                res=MISS
                if ((num)); then
                    res=$(awk -v a="$a" -v n="$b" -v t="$target" 'BEGIN {print (n > 0 && a / n >= t ? "PASS" : "MISS")}')
                fi
                ;;
            max)
                tgt="<= $target"
                res=$(bench_max_verdict "$a" "$target")
                ;;
            info) tgt="(info)" ;;
        esac
        [[ "$res" != MISS ]] || MISSES=$((MISSES + 1))
        if declare -F fmt >/dev/null; then
            a=$(fmt "$a") b=$(fmt "$b")
        fi
        # shellcheck disable=SC2059 # the format is the caller's
        if ((with_ratio)); then
            printf "$1" "$metric" "$a" "$b" "$ratio" "$tgt" "$res"
        else
            printf "$1" "$metric" "$a" "$b" "$tgt" "$res"
        fi
    done
}
