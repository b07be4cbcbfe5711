//! Argon2's working memory (19 MiB per hash or check) goes back to the OS once a password is
//! checked: a server that verified one Basic-auth password must not keep it. A test binary of its
//! own, so that no other test allocates while the resident memory is read.

#![cfg(target_os = "linux")]

/// `RssAnon` of this process in KiB (anonymous resident memory: the heap, not the binary's pages).
fn rss_anon_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("RssAnon:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("RssAnon in /proc/self/status")
}

#[test]
fn password_checks_give_their_working_memory_back() {
    // A first hash, as a server's first start does (the admin password): with glibc it raised the
    // allocator's mmap threshold to its own size, after which every check kept 19 MiB in the heap.
    let phc = arca_crypto::hash_password("right").expect("hash");
    let before = rss_anon_kib();
    for _ in 0..3 {
        assert!(arca_crypto::verify_password("right", &phc).expect("verify"));
        assert!(!arca_crypto::verify_password("wrong", &phc).expect("verify"));
    }
    let _another = arca_crypto::hash_password("other").expect("hash");
    let after = rss_anon_kib();
    // one check's working memory is 19 MiB: anything kept shows far above this margin
    assert!(
        after < before + 8 * 1024,
        "anonymous RSS grew from {before} KiB to {after} KiB over 6 checks and a hash"
    );
}
