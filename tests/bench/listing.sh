#!/usr/bin/env bash
# Listings and searches at scale (issue 20; docs/benchmarks.md, "Listings and searches"): a folder of N children
# (default 100,000 files) and M items in all (default 1,000,000 files in 1,000 folders beside it) written straight into
# arca's database while arca is stopped; then, timed with curl over loopback (time_starttransfer and time_total, best
# and median of --runs): the folder info of the folder (`/api/storage/bench/big`), its `?list&deep=1`, its HTML index,
# and `/api/search/artifact` name searches over all items; arca's peak RSS (VmHWM) over the run. Baselines in the same
# run: nginx `autoindex` (HTML and `autoindex_format json`) of a real directory of N files, and the name search's SQL
# statements straight on the database (python3's sqlite3 / psql: the database's own time). SQLite and PostgreSQL
# (ARCA_TEST_PG_URL, or tests/lib/postgres.sh). A benchmark, not a test: the exit status only says whether it could
# measure; a missed target is a MISS in the table.
#
# Usage: tests/bench/listing.sh [--children N] [--items M] [--runs R] [--no-pg] [--no-build] [--keep]
set -euo pipefail

export ARCA_TEST_NAME=bench-listing
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=../lib/arca.sh
. "$HERE/../lib/arca.sh"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

CHILDREN=100000
ITEMS=1000000
RUNS=5
WITH_PG=1
while (($#)); do
    case "$1" in
        --children) CHILDREN=$2; shift ;;
        --items) ITEMS=$2; shift ;;
        --runs) RUNS=$2; shift ;;
        --no-pg) WITH_PG=0 ;;
        --no-build) export ARCA_SKIP_BUILD=1 ;;
        --keep) export ARCA_KEEP_TMP=1 ;;
        *) arca_help_or_die "$1" ;;
    esac
    shift
done
[[ "$CHILDREN" =~ ^[1-9][0-9]*$ && "$ITEMS" =~ ^[1-9][0-9]*$ && "$RUNS" =~ ^[1-9][0-9]*$ ]] ||
    arca_die "--children, --items and --runs take positive integers"
if ((WITH_PG)); then
    [[ -n "${ARCA_TEST_PG_URL:-}" ]] || eval "$("$HERE/../lib/postgres.sh" --export)" ||
        arca_die "no PostgreSQL (set ARCA_TEST_PG_URL or use --no-pg)"
fi
command -v nginx >/dev/null 2>&1 || [[ "${ARCA_SKIP_INSTALL:-0}" == 1 ]] || arca_apt_ensure "$(arca_apt_pick nginx-light nginx)"
for c in curl nginx python3 awk; do
    command -v "$c" >/dev/null 2>&1 || arca_die "$c is needed"
done
arca_ensure_built
export ARCA_TEST_TMP="$ARCA_ROOT/target"
arca_tmpdir WORK bench-listing

# ---------------------------------------------------------------------------------------------------------------
# the baseline for the listings: nginx autoindex of a real directory of CHILDREN files

NGX="$WORK/nginx"
mkdir -p "$NGX/www/big" "$NGX/www/json" "$NGX/tmp" "$NGX/logs"
python3 - "$NGX/www/big" "$CHILDREN" <<'PY'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for k in range(n):
    with open(os.path.join(d, "f-%d.bin" % (100000 + k)), "wb") as f:
        f.write(b"x")
PY
NGX_PORT=$(arca_free_port)
{
    nginx_conf_head tests/bench/listing.sh "$NGX"
    cat <<EOF
    client_body_temp_path $NGX/tmp;
    proxy_temp_path $NGX/tmp;
    fastcgi_temp_path $NGX/tmp;
    server {
        listen 127.0.0.1:$NGX_PORT;
        root $NGX/www;
        location /big/ { autoindex on; }
        location /json/ { alias $NGX/www/big/; autoindex on; autoindex_format json; }
    }
}
EOF
} >"$NGX/nginx.conf"
start_nginx "$NGX"
NGX_URL="http://127.0.0.1:$NGX_PORT"
arca_wait_for 10 "nginx on $NGX_URL" curl -sf -o /dev/null "$NGX_URL/big/" ||
    arca_die "nginx did not start (see $NGX/logs/error.log)"

# ---------------------------------------------------------------------------------------------------------------
# helpers

# timed URL [curl args...] — "starttransfer total bytes" of one GET, seconds; dies on a non-200 answer
timed() {
    local url=$1 out code
    shift
    out=$(curl -gsS -o "$WORK/answer" -w '%{http_code} %{time_starttransfer} %{time_total} %{size_download}' "$@" "$url") ||
        arca_die "GET $url failed"
    code=${out%% *}
    [[ "$code" == 200 ]] || arca_die "GET $url -> HTTP $code: $(head -c 300 "$WORK/answer")"
    printf '%s\n' "${out#* }"
}
# best / median of the seconds on stdin (one per line), as milliseconds "best/median"
stats() { sort -n | awk '{ a[NR] = $1 } END { printf "%.1f/%.1f", a[1] * 1000, a[int((NR + 1) / 2)] * 1000 }'; }
# best of the milliseconds "best/median" (the row's value for the verdict)
best() { printf '%s' "${1%%/*}"; }

# measure NAME URL [curl args...] — RUNS GETs after one warm-up; sets M_FIRST, M_TOTAL ("best/median" ms), M_BYTES
measure() {
    local name=$1 url=$2 first="" total="" a b n
    shift 2
    timed "$url" "$@" >/dev/null
    for ((r = 1; r <= RUNS; r++)); do
        read -r a b n < <(timed "$url" "$@")
        first+="$a"$'\n'
        total+="$b"$'\n'
    done
    M_FIRST=$(grep . <<<"$first" | stats)
    M_TOTAL=$(grep . <<<"$total" | stats)
    M_BYTES=$n
    arca_log "$name: first byte $M_FIRST ms, total $M_TOTAL ms, $M_BYTES bytes"
}

# the JSON answer's length of `field` (a list), to check the answers are complete
count_of() { python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))[sys.argv[2]]))' "$WORK/answer" "$1"; }

for_nginx() {
    measure "nginx autoindex html" "$NGX_URL/big/"
    NGX_HTML_FIRST=$M_FIRST NGX_HTML_TOTAL=$M_TOTAL NGX_HTML_BYTES=$M_BYTES
    measure "nginx autoindex json" "$NGX_URL/json/"
    NGX_JSON_FIRST=$M_FIRST NGX_JSON_TOTAL=$M_TOTAL NGX_JSON_BYTES=$M_BYTES
    local n
    n=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$WORK/answer")
    [[ "$n" == "$CHILDREN" ]] || arca_die "nginx's json index has $n entries, not $CHILDREN"
}
for_nginx

SHA=$(printf x | sha256sum | cut -d' ' -f1)
FOLDERS=$(((ITEMS + 999) / 1000))
# folder `big` with CHILDREN files; folders g0… with 1000 files each, ITEMS files in all (lib-0.jar …)
POPULATE="
INSERT INTO binaries (sha256, sha1, md5, size, created) VALUES ('$SHA', '$(printf x | sha1sum | cut -d' ' -f1)',
  '$(printf x | md5sum | cut -d' ' -f1)', 1, 0);
INSERT INTO items (repo, path, parent, name, folder, sha256, size, created, created_by, modified, modified_by, updated)
  VALUES ('bench', 'big', '', 'big', 1, NULL, 0, 1796600000000, 'bench', 1796600000000, 'bench', 1796600000000);
INSERT INTO items (repo, path, parent, name, folder, sha256, size, created, created_by, modified, modified_by, updated)
  SELECT 'bench', 'big/f-' || (100000 + c) || '.bin', 'big', 'f-' || (100000 + c) || '.bin', 0, '$SHA', 1,
         1796600000000 + c, 'bench', 1796600000000 + c, 'bench', 1796600000000 + c FROM SERIES_CHILDREN;
INSERT INTO items (repo, path, parent, name, folder, sha256, size, created, created_by, modified, modified_by, updated)
  SELECT 'bench', 'g' || k, '', 'g' || k, 1, NULL, 0, 0, 'bench', 0, 'bench', 0 FROM SERIES_FOLDERS;
INSERT INTO items (repo, path, parent, name, folder, sha256, size, created, created_by, modified, modified_by, updated)
  SELECT 'bench', 'g' || (i / 1000) || '/lib-' || i || '.jar', 'g' || (i / 1000), 'lib-' || i || '.jar', 0, '$SHA', 1,
         1796600000000 + i, 'bench', 1796600000000 + i, 'bench', 1796600000000 + i FROM SERIES_ITEMS;
"
N=$((ITEMS / 2 + 345))
# the searches: name, what it shows
SEARCHES=("$N" "lib-${N:0:${#N}-1}*" "*.jar")
SEARCH_NAMES=("a word: a substring" "a prefix and *" "a suffix: capped at 10000")
COLS="i.id, i.repo, i.path, i.parent, i.name, i.folder, i.sha256, b.sha1, b.md5, b.size, i.sha1_original, i.md5_original, i.sha256_original, i.created, i.created_by, i.modified, i.modified_by, i.updated"
# search_sql BACKEND PATTERN HITS — the statements arca runs for the name search (items::search_name): the ids on the
# name index (up to the cap + 1), then their rows by id; past the cap, the first 10000 in path order instead
search_sql() {
    local like name ids
    like=$(python3 -c '
import sys
p = sys.argv[1]
out = "".join("%" if c == "*" else "_" if c == "?" else "\\" + c if c in "%_\\" else c for c in p)
print(out if ("*" in p or "?" in p) else "%" + out + "%")' "$2")
    if [[ "$1" == sqlite ]]; then
        name="NAME LIKE '$like' ESCAPE '\\'"
    else
        name="LOWER(NAME) LIKE LOWER('$like') ESCAPE '\\'"
    fi
    local ids_sql="SELECT n.id FROM items n WHERE ${name//NAME/n.name} AND n.folder = 0 LIMIT 10001"
    if (($3 >= 10000)); then
        printf '%s;\nSELECT %s FROM items i LEFT JOIN binaries b ON b.sha256 = i.sha256 WHERE %s AND i.folder = 0 ORDER BY i.repo, i.path LIMIT 10000;\n' \
            "$ids_sql" "$COLS" "${name//NAME/i.name}"
    else
        ids=$(db_query "$ids_sql" | paste -sd,)
        printf '%s;\nSELECT %s FROM items i LEFT JOIN binaries b ON b.sha256 = i.sha256 WHERE i.id IN (%s);\n' \
            "$ids_sql" "$COLS" "${ids:-0}"
    fi
}

declare -a TABLE=()
# one backend: populate, start, measure; adds its rows to TABLE
run_backend() {
    local backend=$1 home="$WORK/home-$1" t0 t1 db_run
    arca_log "=== $backend"
    if [[ "$backend" == postgresql ]]; then export ARCA_TEST_BACKEND=postgresql; else unset ARCA_TEST_BACKEND; fi
    arca_start "$home"
    arca_create_repo bench '{"rclass":"local","packageType":"generic"}' >/dev/null 2>&1 || arca_die "bench repo"
    arca_stop
    t0=$(date +%s.%N)
    local sql
    if [[ "$backend" == sqlite ]]; then
        local db_file="$home/data/arca.db"
        [[ -f "$db_file" ]] || arca_die "no SQLite database at $db_file"
        sql=${POPULATE//SERIES_CHILDREN/(WITH RECURSIVE s(c) AS (SELECT 0 UNION ALL SELECT c + 1 FROM s WHERE c < $((CHILDREN - 1))) SELECT c FROM s)}
        sql=${sql//SERIES_FOLDERS/(WITH RECURSIVE s(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM s WHERE k < $((FOLDERS - 1))) SELECT k FROM s)}
        sql=${sql//SERIES_ITEMS/(WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < $((ITEMS - 1))) SELECT i FROM s)}
        python3 - "$db_file" "$sql" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.executescript("BEGIN;" + sys.argv[2] + "COMMIT; ANALYZE;")
PY
        db_query() { # the rows of one statement, one per line, |-separated
            python3 - "$db_file" "$1" <<'PY'
import sqlite3, sys
for row in sqlite3.connect(sys.argv[1]).execute(sys.argv[2]):
    print("|".join(map(str, row)))
PY
        }
        db_run() { # the statements straight on the database: seconds
            python3 - "$db_file" "$1" <<'PY'
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1])
t = time.perf_counter()
for s in filter(str.strip, sys.argv[2].split(";\n")):
    db.execute(s).fetchall()
print("%.4f" % (time.perf_counter() - t))
PY
        }
    else
        local pg_url
        PG_DBNAME=$(sed -n 's|^url=postgresql://[^/]*/||p' "$home/etc/db.properties")
        pg_url="${ARCA_TEST_PG_URL%%\?*}"
        pg_url="${pg_url%/*}/$PG_DBNAME"
        drop_db() {
            [[ -n "${PG_DBNAME:-}" ]] || return 0
            arca_stop
            psql -qAt "$ARCA_TEST_PG_URL" -c "DROP DATABASE IF EXISTS $PG_DBNAME WITH (FORCE)" >/dev/null 2>&1 || true
            PG_DBNAME=""
        }
        arca_on_exit drop_db
        sql=${POPULATE//SERIES_CHILDREN/generate_series(0, $((CHILDREN - 1))) AS c}
        sql=${sql//SERIES_FOLDERS/generate_series(0, $((FOLDERS - 1))) AS k}
        sql=${sql//SERIES_ITEMS/generate_series(0, $((ITEMS - 1))) AS i}
        psql -qAt -v ON_ERROR_STOP=1 "$pg_url" -c "BEGIN; $sql COMMIT;" >/dev/null
        psql -qAt "$pg_url" -c "VACUUM ANALYZE" >/dev/null
        PG_URL=$pg_url
        db_query() { psql -qAt "$PG_URL" -c "$1"; }
        db_run() { # psql's \timing of each statement, summed: seconds
            psql -qAt "$PG_URL" -c '\timing on' -c "$1" 2>&1 | awk '/^Time:/ { s += $2 } END { printf "%.4f\n", s / 1000 }'
        }
    fi
    t1=$(date +%s.%N)
    arca_log "$((CHILDREN + ITEMS + FOLDERS + 1)) items written in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s"
    arca_start "$home"
    local auth=(-u "admin:$ARCA_ADMIN_PW")
    local rss_before
    rss_before=$(awk '/VmRSS/ {print $2}' "/proc/$ARCA_PID/status")

    measure "$backend folder info" "$ARCA_URL/api/storage/bench/big" "${auth[@]}"
    [[ "$(count_of children)" == "$CHILDREN" ]] || arca_die "folder info is incomplete"
    TABLE+=("$backend|folder info, $CHILDREN children (JSON)|$M_FIRST|$M_TOTAL|$NGX_JSON_TOTAL|nginx json|200|$M_BYTES")
    measure "$backend list deep" "$ARCA_URL/api/storage/bench/big?list&deep=1" "${auth[@]}"
    [[ "$(count_of files)" == "$CHILDREN" ]] || arca_die "?list&deep=1 is incomplete"
    TABLE+=("$backend|?list&deep=1, $CHILDREN files (JSON)|$M_FIRST|$M_TOTAL|$NGX_JSON_TOTAL|nginx json|200|$M_BYTES")
    measure "$backend html" "$ARCA_URL/bench/big/" "${auth[@]}"
    TABLE+=("$backend|HTML index, $CHILDREN children|$M_FIRST|$M_TOTAL|$NGX_HTML_TOTAL|nginx html|200|$M_BYTES")
    local q hits db_times t
    for q in "${!SEARCHES[@]}"; do
        measure "$backend search ${SEARCHES[$q]}" "$ARCA_URL/api/search/artifact?name=${SEARCHES[$q]}" "${auth[@]}"
        hits=$(count_of results)
        db_times=""
        for ((r = 1; r <= RUNS; r++)); do
            t=$(db_run "$(search_sql "$backend" "${SEARCHES[$q]}" "$hits")")
            db_times+="$t"$'\n'
        done
        TABLE+=("$backend|search/artifact ${SEARCHES[$q]} ($hits; ${SEARCH_NAMES[$q]})|$M_FIRST|$M_TOTAL|$(grep . <<<"$db_times" | stats)|same SQL on DB|100|$M_BYTES")
    done
    local hwm
    hwm=$(awk '/VmHWM/ {print $2}' "/proc/$ARCA_PID/status")
    TABLE+=("$backend|arca RSS before / peak over the run (MiB)|-|$((rss_before / 1024)) / $((hwm / 1024))|-|-|64|-")
    arca_stop
    if [[ "$backend" == postgresql ]]; then drop_db; fi
}

run_backend sqlite
((WITH_PG)) && run_backend postgresql

printf '\nListings and searches at scale: %s children in one folder, %s items; %s runs; ms best/median over loopback\n' \
    "$CHILDREN" "$((CHILDREN + ITEMS + FOLDERS + 1))" "$RUNS"
FORMAT='%-10s %-58s %12s %12s %12s %-14s %-13s %-6s %9s\n'
# shellcheck disable=SC2059 # one format for the table
printf "$FORMAT" backend metric "first byte" total baseline "baseline is" target result bytes
MISSES=0
for row in "${TABLE[@]}"; do
    IFS='|' read -r backend metric first total base what target bytes <<<"$row"
    value=$(best "$total")
    if [[ "$metric" == *RSS* ]]; then
        value=${total##* / }
        verdict=$(bench_max_verdict "$value" "$target")
        target="<= $target MiB"
    else
        verdict=$(bench_max_verdict "$value" "$target")
        target="<= $target ms"
    fi
    [[ "$verdict" == PASS ]] || MISSES=$((MISSES + 1))
    # shellcheck disable=SC2059
    printf "$FORMAT" "$backend" "$metric" "$first" "$total" "$base" "$what" "$target" "$verdict" "$bytes"
done
printf 'targets missed: %s\n' "$MISSES"
