//! HA nodes and the cluster license pool with the real `arca-license-agent` beside each
//! server (PostgreSQL; heartbeat 1 s, stale period 4 s, agent round every 1 s).

use std::time::{Duration, Instant};

use arca_cluster::node_license::UNLICENSED_MESSAGE;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::ha::{Cluster, NodeSpec};
use super::{Server, error_message, pool, within};

const STALE: Duration = Duration::from_secs(4);
const HEARTBEAT: Duration = Duration::from_secs(1);
const AGENT_ROUND: Duration = Duration::from_secs(1);

/// The pool as `GET /api/system/licenses` lists it.
fn pool_list(s: &Server) -> Vec<Value> {
    s.json("/api/system/licenses").as_array().unwrap().clone()
}

/// The hash of the license `node` holds according to the pool.
fn held_by(s: &Server, node: &str) -> Option<String> {
    pool_list(s)
        .into_iter()
        .find(|l| l["nodeId"] == node)
        .map(|l| l["licenseHash"].as_str().unwrap().to_string())
}

/// Who holds license `hash` (`Not in use` when nobody).
fn holder_of(s: &Server, hash: &str) -> String {
    pool_list(s)
        .into_iter()
        .find(|l| l["licenseHash"] == hash)
        .map(|l| l["nodeId"].as_str().unwrap().to_string())
        .unwrap_or_else(|| panic!("license {hash} is not in the pool"))
}

#[test]
fn nodes_take_licenses_from_the_pool_and_give_them_back() {
    // Two licenses in etc/cluster.license of the primary; three nodes.
    let mut cluster = Cluster::with_pool(2);
    let a = cluster.start(&NodeSpec::new("node-a", "127.0.0.11", true), None);
    let key = a.home.clone();
    let mut b = cluster.start(&NodeSpec::new("node-b", "127.0.0.12", false), Some(&key));
    let mut c = cluster.start_unlicensed(&NodeSpec::new("node-c", "127.0.0.13", false), Some(&key));
    within(
        Duration::from_secs(10),
        "node-c's agent finds no license",
        || c.agent_log().contains(UNLICENSED_MESSAGE),
    );

    // The third node is unlicensed: readiness 503, repository and REST endpoints 503.
    let (status, message) = c.readiness();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{message}");
    assert!(message.contains("unlicensed"), "{message}");
    a.generic_repo("generic-local");
    assert_eq!(
        a.put("/generic-local/a.txt", "hello").status(),
        StatusCode::CREATED
    );
    for (method, path) in [
        (Method::GET, "/generic-local/a.txt"),
        (Method::PUT, "/generic-local/c.txt"),
        (Method::GET, "/api/repositories"),
        (Method::GET, "/api/storage/generic-local/a.txt"),
        (Method::GET, "/api/system/ha/nodes"),
        (Method::GET, "/"),
    ] {
        let r = c.admin(method.clone(), c.url(path)).send().unwrap();
        let (status, message) = error_message(r);
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{method} {path}");
        assert!(
            message.starts_with(UNLICENSED_MESSAGE) && message.contains("node-c"),
            "{method} {path}: {message}"
        );
    }
    // Still served: health, the license endpoints (to add one).
    assert_eq!(c.get("/api/system/ping").status(), StatusCode::OK);
    assert_eq!(c.get("/api/v1/system/liveness").status(), StatusCode::OK);
    let list = pool_list(&c);
    let mut holders: Vec<&str> = list.iter().map(|l| l["nodeId"].as_str().unwrap()).collect();
    holders.sort_unstable();
    assert_eq!(holders, ["node-a", "node-b"], "{list:?}");
    // The HA table names each node's license.
    let nodes = a.json("/api/system/ha/nodes");
    let license_of = |id: &str| {
        nodes
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["id"] == id)
            .map(|n| n["licenseHash"].clone())
            .unwrap()
    };
    assert_eq!(
        license_of("node-a").as_str(),
        held_by(&a, "node-a").as_deref()
    );
    assert_eq!(license_of("node-c"), Value::Null);

    // A license added through the unlicensed node's API licenses it within 5 s.
    let added = pool::key(
        &cluster.issuer,
        "added later",
        pool::today() + time::Duration::days(400),
    );
    let r = c
        .admin(Method::POST, c.url("/api/system/licenses"))
        .json(&json!([{ "licenseKey": added }]))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let took = c.wait_licensed(5);
    eprintln!("license added through the API: node-c ready after {took:?}");
    assert_eq!(
        held_by(&a, "node-c").as_deref(),
        Some(arca_license::license_hash(&added).as_str())
    );
    assert_eq!(c.get("/generic-local/a.txt").status(), StatusCode::OK);

    // A fourth node waits; kill -9 of a licensed node gives it that node's license within
    // the stale period + one heartbeat (+ one agent round).
    let d = cluster.start_unlicensed(&NodeSpec::new("node-d", "127.0.0.14", false), Some(&key));
    within(
        Duration::from_secs(10),
        "node-d's agent finds no license",
        || d.agent_log().contains(UNLICENSED_MESSAGE),
    );
    let b_license = held_by(&a, "node-b").unwrap();
    let killed = Instant::now();
    b.kill9();
    let limit = STALE + HEARTBEAT + AGENT_ROUND + Duration::from_secs(2);
    d.wait_licensed(limit.as_secs());
    let took = killed.elapsed();
    eprintln!("node-b killed: its license served node-d after {took:?} (stale period {STALE:?})");
    assert!(took <= limit, "{took:?}");
    assert!(
        took >= STALE - Duration::from_millis(500),
        "not before the stale period: {took:?}"
    );
    assert_eq!(holder_of(&a, &b_license), "node-d");

    // Stopping a node's agent returns its license at once; the node turns unlicensed.
    let c_license = held_by(&a, "node-c").unwrap();
    c.stop_license_agent();
    assert_eq!(holder_of(&a, &c_license), "Not in use");
    within(
        Duration::from_secs(3),
        "node-c unlicensed after its agent stopped",
        || c.readiness().0 == StatusCode::SERVICE_UNAVAILABLE,
    );
    assert_eq!(
        c.get("/generic-local/a.txt").status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    c.start_license_agent();
    c.wait_licensed(5);
    assert_eq!(holder_of(&a, &c_license), "node-c");

    // Nobody waiting: a killed node's license is reclaimed by the duty holder (node-a, the
    // primary) and shows as free.
    let mut d = d;
    d.kill9();
    let took = within(
        STALE + HEARTBEAT * 2 + Duration::from_secs(2),
        "node-d's license reclaimed",
        || holder_of(&a, &b_license) == "Not in use",
    );
    eprintln!("node-d killed: license back in the pool after {took:?}");
    assert!(
        a.log()
            .contains(&format!("license {b_license} returned to the cluster pool"))
    );
}

#[test]
fn ten_nodes_starting_their_agents_at_once_never_share_one_of_five_licenses() {
    let mut cluster = Cluster::with_pool(5);
    let ids: Vec<String> = (0..10).map(|i| format!("node-{i}")).collect();
    let ips: Vec<String> = (0..10).map(|i| format!("127.0.0.{}", 31 + i)).collect();
    let mut nodes = vec![cluster.start_server(&NodeSpec::new(&ids[0], &ips[0], true), None)];
    let key = nodes[0].home.clone();
    for i in 1..10 {
        let s = cluster.start_server(&NodeSpec::new(&ids[i], &ips[i], false), Some(&key));
        nodes.push(s);
    }
    // Ten agents at once.
    for s in &mut nodes {
        s.start_license_agent();
    }
    within(Duration::from_secs(20), "five nodes ready", || {
        nodes
            .iter()
            .filter(|s| s.readiness().0 == StatusCode::OK)
            .count()
            == 5
    });
    // A few more rounds of all ten: still five, each license held once.
    std::thread::sleep(AGENT_ROUND * 3);
    let list = pool_list(&nodes[0]);
    let holders: std::collections::BTreeSet<&str> =
        list.iter().map(|l| l["nodeId"].as_str().unwrap()).collect();
    assert_eq!(list.len(), 5);
    assert_eq!(holders.len(), 5, "{list:?}");
    assert!(!holders.contains("Not in use"), "{list:?}");
    let ready: Vec<&str> = nodes
        .iter()
        .zip(&ids)
        .filter(|(s, _)| s.readiness().0 == StatusCode::OK)
        .map(|(_, id)| id.as_str())
        .collect();
    assert_eq!(ready.len(), 5);
    assert_eq!(
        ready.into_iter().collect::<std::collections::BTreeSet<_>>(),
        holders
    );
    for (s, id) in nodes.iter().zip(&ids) {
        if !holders.contains(id.as_str()) {
            assert_eq!(
                s.get("/api/repositories").status(),
                StatusCode::SERVICE_UNAVAILABLE,
                "{id}"
            );
        }
    }
}

#[test]
fn a_stopping_agent_takes_the_node_out_of_rotation_before_returning_the_license() {
    // arca.shutdown.drain.delay.secs: readiness 503 first, the license goes back after it.
    let mut cluster = Cluster::with_system("arca.shutdown.drain.delay.secs=2\n");
    let mut a = cluster.start(&NodeSpec::new("node-a", "127.0.0.11", true), None);
    let license = held_by(&a, "node-a").unwrap();
    let stopped = Instant::now();
    a.agent.as_ref().unwrap().signal_term();
    within(Duration::from_secs(1), "readiness 503 at once", || {
        a.readiness().0 == StatusCode::SERVICE_UNAVAILABLE
    });
    let (_, message) = a.readiness();
    assert!(message.contains("returns its license shortly"), "{message}");
    // Still licensed and serving meanwhile.
    assert_eq!(a.get("/api/repositories").status(), StatusCode::OK);
    assert_eq!(holder_of(&a, &license), "node-a");
    a.agent.as_mut().unwrap().wait_success();
    let took = stopped.elapsed();
    assert!(
        took >= Duration::from_secs(2),
        "returned after the delay: {took:?}"
    );
    assert_eq!(holder_of(&a, &license), "Not in use");
    assert_eq!(
        a.get("/api/repositories").status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    // A new agent: licensed and ready again (the notice is over).
    a.start_license_agent();
    a.wait_licensed(5);
}

#[test]
fn a_server_restart_keeps_the_license() {
    // One license, held by node-a; node-b waits for one the whole time.
    let mut cluster = Cluster::with_pool(1);
    let mut a = cluster.start(&NodeSpec::new("node-a", "127.0.0.11", true), None);
    let key = a.home.clone();
    let b = cluster.start_unlicensed(&NodeSpec::new("node-b", "127.0.0.12", false), Some(&key));
    within(
        Duration::from_secs(10),
        "node-b's agent finds no license",
        || b.agent_log().contains(UNLICENSED_MESSAGE),
    );
    let license = held_by(&a, "node-a").unwrap();

    // `systemctl restart arca-server`: SIGTERM, then a new start; the agent keeps running.
    a.process.stop();
    std::thread::sleep(AGENT_ROUND * 2);
    assert_eq!(
        holder_of(&b, &license),
        "node-a",
        "kept while the server is stopped, although node-b's agent looked for one"
    );
    let mut restarted = Server::spawn(&a.home, &a.ip, a.port, "/artifactory");
    restarted.password = a.password.clone();
    restarted.agent = a.agent.take();
    // The restarted server's very first readiness answer is 200: the license is read from the
    // pool before the node reports ready, not left to the agent's next round.
    let client = reqwest::blocking::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let first = loop {
        assert!(Instant::now() < deadline, "{}", restarted.log());
        match client.get(restarted.url("/api/v1/system/readiness")).send() {
            Ok(r) => break r.status(),
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    };
    assert_eq!(first, StatusCode::OK, "{}", restarted.log());
    assert!(
        !restarted.log().contains("UNLICENSED"),
        "{}",
        restarted.log()
    );
    assert_eq!(holder_of(&b, &license), "node-a");
    assert_eq!(b.readiness().0, StatusCode::SERVICE_UNAVAILABLE);

    // A server that stays stopped loses the license after the stale period: node-b takes it.
    let stopped = Instant::now();
    restarted.process.stop();
    let limit = STALE + HEARTBEAT + AGENT_ROUND + Duration::from_secs(2);
    b.wait_licensed(limit.as_secs());
    let took = stopped.elapsed();
    eprintln!("node-a's server stopped: node-b licensed after {took:?} (stale period {STALE:?})");
    assert!(
        took >= STALE - Duration::from_millis(500),
        "not before the stale period: {took:?}"
    );
    assert_eq!(holder_of(&b, &license), "node-b");
}
