#!/usr/bin/env bash
# A Maven "central" on this machine: nginx serving Debian's /usr/share/maven-repo (a real Maven layout: the
# packaged plugins and libraries, no maven-metadata.xml, no checksum files), plus an extra directory at /extra/
# for test files (a 64 MiB artifact, …). Every request is in its access log, so tests can count upstream hits.
# Source it after tests/lib/arca.sh (it uses arca_free_port, arca_wait_for, arca_on_exit, arca_die).
#
#   central_start DIR [ADDRESS]  start nginx with its files in DIR, listening on ADDRESS (default 127.0.0.1) and a
#                                free port; sets CENTRAL_URL, CENTRAL_PID, CENTRAL_LOG (access log), CENTRAL_EXTRA
#   central_stop                 stop it (also done at exit)
#   central_hits PATH            how many GETs of /PATH (exact) nginx has answered so far

central_start() {
    local dir=$1 address=${2:-127.0.0.1} port
    command -v nginx >/dev/null 2>&1 || arca_apt_ensure nginx-light
    [[ -d /usr/share/maven-repo ]] || arca_die "/usr/share/maven-repo is missing (apt-get install maven)"
    mkdir -p "$dir/extra" "$dir/tmp"
    # nginx's worker runs as nobody: the files under /extra/ must be reachable through a test's private (0700) dirs
    local d=$dir
    while [[ "$d" != / && "$d" != . ]]; do
        [[ -O "$d" ]] && chmod a+x "$d"
        d=$(dirname "$d")
    done
    chmod a+rx "$dir/extra"
    port=$(arca_free_port)
    cat >"$dir/nginx.conf" <<CONF
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 1024; }
http {
    log_format central '\$request_method \$uri \$status \$body_bytes_sent';
    access_log $dir/access.log central;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    types { application/xml pom xml; application/java-archive jar; }
    default_type application/octet-stream;
    sendfile on;
    server {
        listen $address:$port;
        root /usr/share/maven-repo;
        disable_symlinks off;
        location /extra/ { alias $dir/extra/; }
    }
}
CONF
    : >"$dir/access.log"
    nginx -c "$dir/nginx.conf" -g 'daemon off;' 2>"$dir/stderr.log" &
    CENTRAL_PID=$!
    arca_on_exit central_stop
    CENTRAL_URL="http://$address:$port"
    CENTRAL_LOG="$dir/access.log"
    CENTRAL_EXTRA="$dir/extra"
    arca_wait_for 10 "nginx (central) on $address:$port" \
        curl -fsS -o /dev/null "$CENTRAL_URL/junit/junit/4.13.2/junit-4.13.2.pom" ||
        arca_die "nginx did not start: $(cat "$dir/stderr.log" "$dir/error.log" 2>/dev/null | tail -n 5)"
}

central_stop() {
    if [[ -n "${CENTRAL_PID:-}" ]] && kill -0 "$CENTRAL_PID" 2>/dev/null; then
        kill "$CENTRAL_PID" 2>/dev/null || true
        arca_wait_exit "$CENTRAL_PID" 50 || kill -9 "$CENTRAL_PID" 2>/dev/null || true
    fi
    CENTRAL_PID=
}

central_hits() {
    grep -c "^GET /$1 " "$CENTRAL_LOG" || true
}
