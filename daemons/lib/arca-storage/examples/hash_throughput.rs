//! Throughput of the upload pipeline vs. plain sequential hashing and plain file writes.
//!
//! `cargo run --release -p arca-storage --example hash_throughput -- [MiB=1024] [runs=3] [dir]`
//!
//! Pushes MiB of 256 KiB chunks through `Upload::write` → `finish` (fsync) → `commit` on a
//! temporary store and prints MB/s (1 MB = 10^6 bytes).

use std::error::Error;
use std::io::Write;
use std::time::{Duration, Instant};

use bytes::Bytes;
use digest::Digest;
use rand::RngCore;

const CHUNK: usize = 256 * 1024;
/// Distinct data (larger than the CPU caches), repeated to reach the requested size.
const POOL: usize = 64 * 1024 * 1024;

fn mbps(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / d.as_secs_f64() / 1e6
}

fn chunks(pool: &Bytes, total: u64) -> impl Iterator<Item = Bytes> + '_ {
    let n = total / CHUNK as u64;
    (0..n).map(move |i| {
        let off = (i as usize * CHUNK) % pool.len();
        pool.slice(off..off + CHUNK)
    })
}

fn seq<D: Digest>(name: &str, pool: &Bytes, total: u64) {
    let t = Instant::now();
    let mut d = D::new();
    for c in chunks(pool, total) {
        d.update(&c);
    }
    let out = d.finalize();
    println!(
        "sequential {name:<22} {:>7.0} MB/s  ({})",
        mbps(total, t.elapsed()),
        &hex::encode(out)[..8]
    );
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let mib: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(1024);
    let runs: u32 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(3);
    let dir = match args.next() {
        Some(d) => tempfile::tempdir_in(d)?,
        None => tempfile::tempdir()?,
    };
    let total = mib * 1024 * 1024;

    let mut pool = vec![0u8; POOL];
    rand::thread_rng().fill_bytes(&mut pool);
    let pool = Bytes::from(pool);
    println!(
        "{mib} MiB in {} KiB chunks, dir {}",
        CHUNK / 1024,
        dir.path().display()
    );

    seq::<sha2::Sha256>("sha256", &pool, total);
    seq::<sha1::Sha1>("sha1", &pool, total);
    seq::<md5::Md5>("md5", &pool, total);
    {
        let t = Instant::now();
        let (mut a, mut b, mut c) = (sha2::Sha256::new(), sha1::Sha1::new(), md5::Md5::new());
        for ch in chunks(&pool, total) {
            a.update(&ch);
            b.update(&ch);
            c.update(&ch);
        }
        let _ = (a.finalize(), b.finalize(), c.finalize());
        println!(
            "sequential {:<22} {:>7.0} MB/s",
            "sha256+sha1+md5",
            mbps(total, t.elapsed())
        );
    }

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;

    for run in 1..=runs {
        // Plain write (what a non-hashing server does), then the same with fsync.
        let path = dir.path().join("plain.bin");
        let t = Instant::now();
        let mut f = std::fs::File::create(&path)?;
        for c in chunks(&pool, total) {
            f.write_all(&c)?;
        }
        let written = t.elapsed();
        f.sync_all()?;
        let synced = t.elapsed();
        drop(f);
        std::fs::remove_file(&path)?;

        let store =
            arca_storage::FileStore::open(dir.path().join("store"), dir.path().join("store/_pre"))?;
        let (w, fin, total_t) = rt.block_on(async {
            let t = Instant::now();
            let mut up = store.begin_upload().await?;
            for c in chunks(&pool, total) {
                up.write(c).await?;
            }
            let w = t.elapsed();
            let staged = up.finish().await?;
            let fin = t.elapsed();
            let sha = staged.checksums().sha256.clone();
            tokio::task::spawn_blocking(move || staged.commit()).await??;
            let total_t = t.elapsed();
            store.remove_blob(&sha)?;
            Ok::<_, Box<dyn Error>>((w, fin, total_t))
        })?;
        println!(
            "run {run}: plain write {:>5.0} MB/s (+fsync {:>5.0}) | upload pipeline: writes {:>5.0} MB/s, \
             +finish/fsync {:>5.0} MB/s, +commit {:>5.0} MB/s end-to-end",
            mbps(total, written),
            mbps(total, synced),
            mbps(total, w),
            mbps(total, fin),
            mbps(total, total_t)
        );
    }
    Ok(())
}
