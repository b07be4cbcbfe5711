#!/usr/bin/env bash
# Real-client test: JFrog's JavaScript client library (npm jfrog-client-js 2.9.0, pure JS) against arca, used as its
# README shows (platformUrl → {platformUrl}/artifactory/):
#
#  1. start arca, create a generic repository from the reference's complete configuration document (fields of every
#     package type: the ignored ones are named in X-Arca-Ignored-Fields) and deploy two files with properties;
#  2. in node: system().ping() and .version(); download().downloadArtifact() (the content), .downloadArtifactToFile(),
#     .getArtifactChecksum() (the X-Checksum-* headers); search().aqlSearch() with include/sort/limit as in the README;
#     build info uploaded and read back with the library's HttpClient (doAuthRequest: the same auth as the others),
#     then found by AQL on the build.name property arca set on the file;
#  3. the same calls with an access token instead of the password.
#
# Prints "PASS jfrog-client-js" or "FAIL jfrog-client-js: reason"; exit status 0 / 1.
# Env: ARCA_SKIP_BUILD=1, ARCA_KEEP_TMP=1, ARCA_SKIP_INSTALL=1 (no apt-get), ARCA_NPM_CACHE (where the library is
#      installed once; default /var/cache/arca-test/jfrog-client-js-2.9.0).
set -Eeuo pipefail

export ARCA_TEST_NAME=jfrog-client-js
# shellcheck source-path=SCRIPTDIR source=../lib/arca.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/arca.sh"

fail() {
    trap - ERR
    arca_dump_log 30
    printf 'FAIL jfrog-client-js: %s\n' "$*"
    exit 1
}
arca_die_hook() { fail "$*"; }
trap 'fail "unexpected error (exit $?) at line $LINENO: $BASH_COMMAND"' ERR

VERSION=2.9.0
if [[ "${ARCA_SKIP_INSTALL:-0}" != 1 ]]; then
    arca_apt_ensure curl
    # by command: a NodeSource node bundles npm and conflicts with Debian's npm package
    command -v npm >/dev/null 2>&1 || arca_apt_ensure nodejs npm
fi
for c in node npm curl python3; do
    command -v "$c" >/dev/null 2>&1 || fail "$c is not installed"
done

LIB=${ARCA_NPM_CACHE:-/var/cache/arca-test/jfrog-client-js-$VERSION}
if [[ ! -f "$LIB/node_modules/jfrog-client-js/package.json" ]]; then
    mkdir -p "$LIB"
    arca_log "npm install jfrog-client-js@$VERSION into $LIB"
    (cd "$LIB" && NPM_CONFIG_USERCONFIG=/dev/null npm install --no-audit --no-fund --no-save \
        "jfrog-client-js@$VERSION" >"$LIB/npm-install.log" 2>&1) || fail "npm install: $(tail -n 5 "$LIB/npm-install.log")"
fi
installed=$(node -p "require('$LIB/node_modules/jfrog-client-js/package.json').version")
[[ "$installed" == "$VERSION" ]] || fail "jfrog-client-js $installed installed, $VERSION expected"

arca_ensure_built
arca_tmpdir WORK jfrog-client-js-work
arca_start
U="$ARCA_URL"

# --- a repository from the reference's complete document, and two files ---------------------------------------------
headers="$WORK/create.headers"
code=$(arca_curl -o "$WORK/create.out" -D "$headers" -w '%{http_code}' -X PUT -H 'Content-Type: application/json' \
    --data '{"key":"generic-local","rclass":"local","packageType":"generic","description":"d","notes":"n",
             "includesPattern":"**/*","excludesPattern":"","repoLayoutRef":"simple-default","debianTrivialLayout":false,
             "checksumPolicyType":"client-checksums","handleReleases":true,"handleSnapshots":true,"maxUniqueSnapshots":0,
             "maxUniqueTags":0,"snapshotVersionBehavior":"unique","suppressPomConsistencyChecks":false,"blackedOut":false,
             "xrayIndex":false,"propertySets":["artifactory"],"archiveBrowsingEnabled":false,"calculateYumMetadata":false,
             "yumRootDepth":0,"dockerApiVersion":"V2","enableFileListsIndexing":"false","downloadRedirect":"false",
             "cdnRedirect":"false","blockPushingSchema1":"false","priorityResolution":"false"}' \
    "$U/api/repositories/generic-local")
[[ "$code" == 200 ]] || fail "creating generic-local: HTTP $code $(cat "$WORK/create.out")"
grep -qi '^x-arca-ignored-fields:.*dockerApiVersion' "$headers" || fail "dockerApiVersion not named as ignored: $(cat "$headers")"
[[ "$(arca_curl "$U/api/repositories/generic-local" | arca_json_get propertySets)" == '["artifactory"]' ]] ||
    fail "propertySets did not round-trip"

printf 'hello from arca\n' >"$WORK/hello.txt"
head -c 300000 /dev/urandom >"$WORK/big.bin"
for f in hello.txt big.bin; do
    code=$(arca_curl -o /dev/null -w '%{http_code}' -T "$WORK/$f" "$U/generic-local/demo/1.0/$f;qa=passed")
    [[ "$code" == 201 ]] || fail "deploy $f: HTTP $code"
done
SHA1=$(sha1sum "$WORK/hello.txt" | cut -d' ' -f1)
BIG_SHA256=$(sha256sum "$WORK/big.bin" | cut -d' ' -f1)
TOKEN=$(arca_token) || fail "no access token"

# --- the library ------------------------------------------------------------------------------------------------------
cat >"$WORK/client.js" <<'JS'
const assert = require('assert');
const fs = require('fs');
const crypto = require('crypto');
const { JfrogClient, HttpClient } = require(process.env.LIB + '/node_modules/jfrog-client-js');

async function run(label, auth) {
  const jfrogClient = new JfrogClient({ platformUrl: process.env.PLATFORM, retries: 0, ...auth });
  const rt = jfrogClient.artifactory();

  assert.strictEqual(await rt.system().ping(), 'OK', 'ping');
  const version = await rt.system().version();
  assert.ok(typeof version.version === 'string' && version.version.length > 0, 'version: ' + JSON.stringify(version));

  const content = await rt.download().downloadArtifact('generic-local/demo/1.0/hello.txt');
  assert.strictEqual(content, 'hello from arca\n', 'downloadArtifact');
  const to = process.env.WORK + '/big-' + label + '.bin';
  await rt.download().downloadArtifactToFile('generic-local/demo/1.0/big.bin', to);
  const sha256 = crypto.createHash('sha256').update(fs.readFileSync(to)).digest('hex');
  assert.strictEqual(sha256, process.env.BIG_SHA256, 'downloadArtifactToFile');
  const sums = await rt.download().getArtifactChecksum('generic-local/demo/1.0/hello.txt');
  assert.strictEqual(sums.sha1, process.env.SHA1, 'getArtifactChecksum sha1');
  assert.ok(/^[0-9a-f]{64}$/.test(sums.sha256) && /^[0-9a-f]{32}$/.test(sums.md5), 'checksums: ' + JSON.stringify(sums));

  // the README's AQL example
  const found = await rt.search().aqlSearch(
    'items.find({' + '"repo":"generic-local",' + '"path":{"$match":"*"}}' +
      ').include("name","repo","path","created").sort({"$desc":["created"]}).limit(10)');
  assert.deepStrictEqual(found.results.map((r) => r.name).sort(), ['big.bin', 'hello.txt'], 'aql: ' + JSON.stringify(found));
  assert.strictEqual(found.results[0].path, 'demo/1.0');
  assert.ok(found.results[0].created.endsWith('Z'));
  assert.strictEqual(found.range.total, 2);
  assert.strictEqual(found.range.limit, 10);
  const byProp = await rt.search().aqlSearch('items.find({"@qa":"passed","name":{"$match":"*.txt"}})');
  assert.deepStrictEqual(byProp.results.map((r) => r.name), ['hello.txt'], 'aql by property');

  // build info, through the library's HTTP client (the same authentication)
  const http = new HttpClient({ serverUrl: process.env.PLATFORM + 'artifactory/', ...auth });
  const build = {
    version: '1.0.1', name: 'js-client ' + label, number: '7', type: 'GENERIC',
    started: '2026-12-07T10:00:00.000+0000', durationMillis: 1000,
    modules: [{ id: 'demo:hello:1.0', artifacts: [{ type: 'txt', sha1: process.env.SHA1, name: 'hello.txt' }] }],
  };
  const put = await http.doAuthRequest({ url: '/api/build', method: 'PUT', data: build });
  assert.strictEqual(put.status, 204, 'PUT /api/build');
  const back = await http.doAuthRequest({ url: '/api/build/' + encodeURIComponent(build.name) + '/7', method: 'GET' });
  assert.deepStrictEqual(back.data.buildInfo, build, 'build info round trip');
  const linked = await rt.search().aqlSearch('items.find({"@build.name":"' + build.name + '"}).include("name","property.*")');
  assert.deepStrictEqual(linked.results.map((r) => r.name), ['hello.txt'], 'aql on build.name: ' + JSON.stringify(linked));
  assert.ok(linked.results[0].properties.some((p) => p.key === 'build.number' && p.value === '7'));

  // a refused query is the reference's error envelope
  await assert.rejects(rt.search().aqlSearch('items.find({"nmae":"x"})'), (e) => {
    const body = e.response && e.response.data;
    return e.response.status === 400 && /nmae/.test(body.errors[0].message);
  });
  console.log('ok ' + label);
}

(async () => {
  await run('password', { username: 'admin', password: process.env.ARCA_ADMIN_PW });
  await run('token', { accessToken: process.env.TOKEN });
})().catch((e) => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
});
JS

out=$(cd "$WORK" && LIB="$LIB" WORK="$WORK" PLATFORM="$ARCA_BASE/" SHA1="$SHA1" BIG_SHA256="$BIG_SHA256" TOKEN="$TOKEN" \
    timeout 300 node client.js 2>&1) || fail "the client: $(printf '%s' "$out" | tail -n 25)"
printf '%s\n' "$out"
grep -q '^ok password$' <<<"$out" && grep -q '^ok token$' <<<"$out" || fail "the client did not finish: $out"
printf 'PASS jfrog-client-js\n'
