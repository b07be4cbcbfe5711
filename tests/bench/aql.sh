#!/usr/bin/env bash
# AQL over many items (docs/benchmarks.md, "AQL"): N items (default 1,000,000 files in 1,000 folders of one
# repository, each with a unique `build` property, every 1000th with qa=pass) are written straight into arca's
# database (SQLite, or PostgreSQL with --backend postgresql), then queries are sent to POST /api/search/aql and timed
# with curl (loopback; best and median of --runs). The baseline, in the same run: the same SQL statement the server
# runs, straight on the database (python3's sqlite3 / psql), i.e. what arca adds. Also the whole repository streamed
# (N results) with arca's peak RSS. A benchmark, not a test: the exit status only says whether it could measure.
#
# Usage: tests/bench/aql.sh [--items N] [--runs R] [--backend sqlite|postgresql] [--no-build] [--keep]
set -euo pipefail

export ARCA_TEST_NAME=bench-aql
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=../lib/arca.sh
. "$HERE/../lib/arca.sh"

ITEMS=1000000
RUNS=5
BACKEND=sqlite
while (($#)); do
    case "$1" in
        --items) ITEMS=$2; shift ;;
        --runs) RUNS=$2; shift ;;
        --backend) BACKEND=$2; shift ;;
        --no-build) export ARCA_SKIP_BUILD=1 ;;
        --keep) export ARCA_KEEP_TMP=1 ;;
        *) arca_help_or_die "$1" ;;
    esac
    shift
done
[[ "$ITEMS" =~ ^[1-9][0-9]*$ && "$RUNS" =~ ^[1-9][0-9]*$ ]] || arca_die "--items and --runs take positive integers"
case "$BACKEND" in
    sqlite) ;;
    postgresql)
        [[ -n "${ARCA_TEST_PG_URL:-}" ]] || eval "$("$HERE/../lib/postgres.sh" --export)"
        export ARCA_TEST_BACKEND=postgresql
        ;;
    *) arca_die "--backend is sqlite or postgresql" ;;
esac
arca_ensure_built
export ARCA_TEST_TMP="$ARCA_ROOT/target"
arca_tmpdir WORK bench-aql
HOME_DIR="$WORK/home"

# a first start creates the database and the repository; the items go in while arca is stopped
arca_start "$HOME_DIR"
arca_create_repo bench '{"rclass":"local","packageType":"generic"}' >/dev/null 2>&1 || arca_die "bench repo"
arca_stop

SHA=$(printf x | sha256sum | cut -d' ' -f1)
FOLDERS=$(((ITEMS + 999) / 1000))
POPULATE="
INSERT INTO binaries (sha256, sha1, md5, size, created) VALUES ('$SHA', '$(printf x | sha1sum | cut -d' ' -f1)',
  '$(printf x | md5sum | cut -d' ' -f1)', 1, 0);
INSERT INTO items (repo, path, parent, name, folder, sha256, size, created, created_by, modified, modified_by, updated)
  SELECT 'bench', 'g' || k, '', 'g' || k, 1, NULL, 0, 0, 'bench', 0, 'bench', 0 FROM SERIES_FOLDERS;
INSERT INTO items (repo, path, parent, name, folder, sha256, size, created, created_by, modified, modified_by, updated)
  SELECT 'bench', 'g' || (i / 1000) || '/lib-' || i || '.jar', 'g' || (i / 1000), 'lib-' || i || '.jar', 0, '$SHA', 1,
         1796600000000 + i, 'bench', 1796600000000 + i, 'bench', 1796600000000 + i FROM SERIES_ITEMS;
INSERT INTO item_props (item_id, key, value)
  SELECT id, 'build', 'b' || (created - 1796600000000) FROM items WHERE repo = 'bench' AND folder = 0;
INSERT INTO item_props (item_id, key, value)
  SELECT id, 'qa', 'pass' FROM items WHERE repo = 'bench' AND folder = 0 AND (created - 1796600000000) % 1000 = 0;
"
t0=$(date +%s.%N)
if [[ "$BACKEND" == sqlite ]]; then
    DB_FILE="$HOME_DIR/data/arca.db"
    [[ -f "$DB_FILE" ]] || arca_die "no SQLite database at $DB_FILE"
    sql=${POPULATE//SERIES_FOLDERS/(WITH RECURSIVE s(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM s WHERE k < $((FOLDERS - 1))) SELECT k FROM s)}
    sql=${sql//SERIES_ITEMS/(WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < $((ITEMS - 1))) SELECT i FROM s)}
    python3 - "$DB_FILE" "$sql" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.executescript("BEGIN;" + sys.argv[2] + "COMMIT; ANALYZE;")
PY
    run_sql() { # the baseline: the statement on the database, seconds
        python3 - "$DB_FILE" "$1" <<'PY'
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1])
t = time.perf_counter(); n = len(db.execute(sys.argv[2]).fetchall()); print("%.4f %d" % (time.perf_counter() - t, n))
PY
    }
    MATCH_OP=GLOB
else
    props="$HOME_DIR/etc/db.properties"
    dbname=$(sed -n 's|^url=postgresql://[^/]*/||p' "$props")
    PG_URL="${ARCA_TEST_PG_URL%%\?*}"
    PG_URL="${PG_URL%/*}/$dbname"
    sql=${POPULATE//SERIES_FOLDERS/generate_series(0, $((FOLDERS - 1))) AS k}
    sql=${sql//SERIES_ITEMS/generate_series(0, $((ITEMS - 1))) AS i}
    psql -qAt -v ON_ERROR_STOP=1 "$PG_URL" -c "BEGIN; $sql COMMIT;" >/dev/null
    psql -qAt "$PG_URL" -c "VACUUM ANALYZE" >/dev/null
    run_sql() {
        local out
        out=$(psql -qAt "$PG_URL" -c '\timing on' -c "$1" | tail -n 2)
        awk -v n="$(wc -l <<<"$out")" '/^Time:/ { printf "%.4f %d\n", $2 / 1000, 0 }' <<<"$out"
    }
    MATCH_OP=LIKE
fi
t1=$(date +%s.%N)
arca_log "$ITEMS items written in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s"
arca_start "$HOME_DIR"

aql_time() { # QUERY -> "seconds results"
    curl -sS -o "$WORK/answer.json" -w '%{time_total}\n' -u "admin:$ARCA_ADMIN_PW" -H 'Content-Type: text/plain' \
        --data-binary "$1" "$ARCA_URL/api/search/aql" >"$WORK/t"
    printf '%s %s\n' "$(cat "$WORK/t")" "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["range"]["total"])' "$WORK/answer.json")"
}
stats() { sort -n | awk '{ a[NR] = $1 } END { printf "%.1f %.1f", a[1] * 1000, a[int((NR + 1) / 2)] * 1000 }'; }

COLS="i.id, i.repo, i.path, i.parent, i.name, i.folder, i.sha256, b.sha1, b.md5, b.size, i.sha1_original, i.md5_original, i.sha256_original, i.created, i.created_by, i.modified, i.modified_by, i.updated"
FROM="FROM items i LEFT JOIN binaries b ON b.sha256 = i.sha256"
N=$((ITEMS / 2 + 345))
declare -a NAMES QUERIES SQLS
add() { NAMES+=("$1"); QUERIES+=("$2"); SQLS+=("$3"); }
add "name \$match with a prefix (lib-$N*)" \
    "items.find({\"repo\":\"bench\",\"name\":{\"\$match\":\"lib-$N*\"}})" \
    "SELECT $COLS $FROM WHERE (i.folder = 0 AND (i.repo = 'bench' AND i.name $MATCH_OP '$([[ $MATCH_OP == GLOB ]] && echo "lib-$N*" || echo "lib-$N%")')) ORDER BY i.id"
add "name \$match, leading wildcard (*-$N.jar)" \
    "items.find({\"repo\":\"bench\",\"name\":{\"\$match\":\"*-$N.jar\"}})" \
    "SELECT $COLS $FROM WHERE (i.folder = 0 AND (i.repo = 'bench' AND i.id IN (SELECT n.id FROM items n WHERE n.name $MATCH_OP '$([[ $MATCH_OP == GLOB ]] && echo "*-$N.jar" || echo "%-$N.jar")'))) ORDER BY i.id"
add "property equality, 1 result (@build)" \
    "items.find({\"@build\":\"b$N\"})" \
    "SELECT $COLS $FROM WHERE (i.folder = 0 AND i.id IN (SELECT p.item_id FROM item_props p WHERE p.key = 'build' AND p.value = 'b$N')) ORDER BY i.id"
add "property equality, $((ITEMS / 1000)) results (@qa)" \
    "items.find({\"@qa\":\"pass\"})" \
    "SELECT $COLS $FROM WHERE (i.folder = 0 AND i.id IN (SELECT p.item_id FROM item_props p WHERE p.key = 'qa' AND p.value = 'pass')) ORDER BY i.id"
add "first 1000 of the repository (.limit)" \
    "items.find({\"repo\":\"bench\"}).limit(1000)" \
    "SELECT $COLS $FROM WHERE (i.folder = 0 AND i.repo = 'bench') ORDER BY i.id LIMIT 1000"

aql_time "${QUERIES[0]}" >/dev/null # warm the connection and the page cache
printf '\nAQL over %s items (%s), %s runs, milliseconds: best / median\n' "$ITEMS" "$BACKEND" "$RUNS"
printf '%-46s %8s %16s %16s\n' "query" "results" "arca (HTTP)" "same SQL on DB"
for q in "${!QUERIES[@]}"; do
    http="" db="" results=0
    for ((r = 1; r <= RUNS; r++)); do
        read -r t results < <(aql_time "${QUERIES[$q]}")
        http+="$t"$'\n'
        read -r t _ < <(run_sql "${SQLS[$q]}")
        db+="$t"$'\n'
    done
    printf '%-46s %8s %16s %16s\n' "${NAMES[$q]}" "$results" "$(grep . <<<"$http" | stats | tr ' ' '/')" \
        "$(grep . <<<"$db" | stats | tr ' ' '/')"
done
rss_before=$(awk '/VmRSS/ {print $2}' "/proc/$ARCA_PID/status")
read -r t results < <(aql_time 'items.find({"repo":"bench"})')
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$ARCA_PID/status")
printf '%-46s %8s %16s\n' "the whole repository, streamed" "$results" "$(awk -v t="$t" 'BEGIN { printf "%.0f", t * 1000 }')"
printf '%-46s %8s\n' "answer size (MB)" "$(awk -v s="$(stat -c %s "$WORK/answer.json")" 'BEGIN { printf "%.0f", s / 1e6 }')"
printf '%-46s %8s\n' "arca RSS before / peak of the run (MiB)" "$((rss_before / 1024)) / $((hwm / 1024))"
