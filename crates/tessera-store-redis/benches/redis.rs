//! `source scripts/services && cargo bench -p tessera-store-redis`: the store lookup that
//! `authorize` does (`get`) and a refresh rotation (`rotate`) on one Redis server holding
//! 1,000 and 1,000,000 sessions. Both must cost the same at both sizes: every operation
//! names its key, nothing scans.
//!
//! The server is `TESSERA_BENCH_REDIS_URL`, else `TESSERA_TEST_REDIS_URL`. The two sizes live
//! in databases 14 and 15 of that server (each database has its own keyspace), which the bench
//! **flushes** before loading and at the end, so that a million sessions do not linger in a
//! shared test server. Both are loaded before anything is measured, so the measurements of
//! the two sizes run back to back; on a busy machine that keeps background load from
//! favouring one size. After criterion, a paired run alternates short batches on the two sizes
//! and prints the median ratio, which is steadier than comparing two separate estimates.
//! It also prints how long loading took and how much memory the sessions use (`INFO memory`,
//! `used_memory` before and after).
//!
//! Every session is loaded in its steady state, as after 16 refreshes (16 superseded hashes):
//! rotating it then keeps its size and encoding, so the 1,000 sessions that criterion rotates
//! dozens of times each compare fairly with the million that it rotates about once.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use tessera_core::clock::{Clock, SystemClock, Timestamp};
use tessera_core::refresh::TokenHash;
use tessera_core::store::{
    RotateOutcome, RotateRequest, SUPERSEDED_KEPT, SessionRecord, SessionStore,
};
use tessera_core::{SessionId, UserId};
use tessera_store_conformance::cases::record;
use tessera_store_redis::RedisStore;
use tokio::runtime::Runtime;

const SIZES: [usize; 2] = [1_000, 1_000_000];

/// Records generated and sent per import call, to keep the bench's own memory small.
const LOAD_CHUNK: usize = 20_000;

/// The server URL without a database: the bench picks its own.
fn server_url() -> String {
    let url = std::env::var("TESSERA_BENCH_REDIS_URL")
        .or_else(|_| std::env::var("TESSERA_TEST_REDIS_URL"))
        .expect("set TESSERA_BENCH_REDIS_URL or TESSERA_TEST_REDIS_URL (source scripts/services)");
    let (scheme, rest) = url.split_once("://").expect("a redis:// URL");
    let authority = rest.split('/').next().unwrap_or(rest);
    format!("{scheme}://{authority}")
}

async fn raw(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// Empties the bench's own database (never the test suite's). ASYNC: freeing a million keys
/// takes longer than a client waits for a reply.
async fn flush(conn: &mut redis::aio::MultiplexedConnection) {
    let _: () = redis::cmd("FLUSHDB")
        .arg("ASYNC")
        .query_async(conn)
        .await
        .unwrap();
}

async fn used_memory(conn: &mut redis::aio::MultiplexedConnection) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query_async(conn)
        .await
        .unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap()
}

struct Fixture {
    store: RedisStore,
    ids: Vec<SessionId>,
    /// The current refresh hash of each session.
    current: Vec<TokenHash>,
    /// Counter for fresh successor hashes.
    next: u64,
    now: Timestamp,
}

fn fixture(rt: &Runtime, url: &str, sessions: usize) -> Fixture {
    let now = SystemClock.now();
    rt.block_on(async {
        let mut conn = raw(url).await;
        flush(&mut conn).await;
        let before = used_memory(&mut conn).await;
        let store = RedisStore::builder()
            .prefix(format!("tessera-bench:{}:", SessionId::generate().unwrap()))
            // A pipeline of hundreds of scripts is one call of `import`.
            .timeout(Duration::from_secs(10))
            .connect(url)
            .await
            .unwrap();
        let (mut ids, mut current) = (Vec::new(), Vec::new());
        let started = Instant::now();
        let mut i = 0;
        while i < sessions {
            let n = LOAD_CHUNK.min(sessions - i);
            let chunk: Vec<SessionRecord> = (i..i + n)
                .map(|k| {
                    // About ten sessions per user, as a device list would have.
                    let user = UserId::new(format!("user-{}", k / 10)).unwrap();
                    let mut rec = record(&user, now);
                    rec.refresh_hash = TokenHash::of(&(k as u64).to_le_bytes());
                    // Steady state: as after 16 refreshes, so that a rotation neither grows
                    // the record nor changes its encoding, at either size.
                    rec.superseded = (0..SUPERSEDED_KEPT as u64)
                        .map(|j| {
                            TokenHash::of(&[(k as u64).to_le_bytes(), j.to_le_bytes()].concat())
                        })
                        .collect();
                    rec.generation = SUPERSEDED_KEPT as u64;
                    rec.rotated_at = Some(now.minus(Duration::from_secs(60)));
                    rec
                })
                .collect();
            assert_eq!(store.import(&chunk).await.unwrap(), n as u64);
            ids.extend(chunk.iter().map(|r| r.id.clone()));
            current.extend(chunk.iter().map(|r| r.refresh_hash));
            i += n;
        }
        let loaded = started.elapsed();
        let after = used_memory(&mut conn).await;
        let used = after.saturating_sub(before);
        println!(
            "redis: loaded {sessions} sessions in {loaded:.1?} ({:.0}/s); used_memory +{:.1} MiB, \
             {} bytes per session (hash + user-set entry)",
            sessions as f64 / loaded.as_secs_f64(),
            used as f64 / (1024.0 * 1024.0),
            used / sessions as u64,
        );
        Fixture {
            store,
            ids,
            current,
            next: 1 << 40,
            now,
        }
    })
}

/// A cheap deterministic spread over the sessions, so lookups do not hit one hot key.
fn pick(i: u64, n: usize) -> usize {
    (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 16) as usize % n
}

async fn get_batch(fx: &Fixture, from: u64, count: u64) -> Duration {
    let start = Instant::now();
    for i in from..from + count {
        let id = &fx.ids[pick(i, fx.ids.len())];
        let got = fx.store.get(id, fx.now).await.unwrap();
        black_box(got.unwrap());
    }
    start.elapsed()
}

async fn rotate_batch(fx: &mut Fixture, from: u64, count: u64) -> Duration {
    let mut elapsed = Duration::ZERO;
    for i in from..from + count {
        let k = pick(i, fx.ids.len());
        fx.next += 1;
        let successor = TokenHash::of(&fx.next.to_le_bytes());
        let req = RotateRequest {
            session_id: fx.ids[k].clone(),
            presented: fx.current[k],
            successor,
            grace: Duration::from_secs(10),
            idle_expires_at: None,
        };
        let start = Instant::now();
        let out = fx.store.rotate(&req, fx.now).await.unwrap();
        elapsed += start.elapsed();
        assert!(matches!(out, RotateOutcome::Rotated(_)), "{out:?}");
        fx.current[k] = successor;
    }
    elapsed
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn bench(c: &mut Criterion) {
    let rt = Runtime::new().unwrap();
    let server = server_url();
    let mut fixtures: Vec<Fixture> = SIZES
        .iter()
        .zip([14, 15])
        .map(|(&n, db)| fixture(&rt, &format!("{server}/{db}"), n))
        .collect();

    // Paired: alternate short batches so that both sizes see the same background load, and
    // swap which size goes first every round so that neither gains from going second.
    const ROUNDS: u64 = 60;
    const BATCH: u64 = 200;
    let (mut get_ratio, mut rotate_ratio) = (Vec::new(), Vec::new());
    let (mut get_us, mut rotate_us) = ([Vec::new(), Vec::new()], [Vec::new(), Vec::new()]);
    rt.block_on(async {
        for round in 0..ROUNDS {
            let from = 1_000_000 + round * BATCH;
            let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
            let (mut g, mut r) = ([Duration::ZERO; 2], [Duration::ZERO; 2]);
            for k in order {
                g[k] = get_batch(&fixtures[k], from, BATCH).await;
            }
            for k in order {
                r[k] = rotate_batch(&mut fixtures[k], from, BATCH).await;
            }
            get_ratio.push(g[1].as_secs_f64() / g[0].as_secs_f64());
            rotate_ratio.push(r[1].as_secs_f64() / r[0].as_secs_f64());
            for k in 0..2 {
                get_us[k].push(g[k].as_secs_f64() * 1e6 / BATCH as f64);
                rotate_us[k].push(r[k].as_secs_f64() * 1e6 / BATCH as f64);
            }
        }
    });
    println!(
        "redis paired ({ROUNDS} rounds of {BATCH}): get {:.1} µs at 1k vs {:.1} µs at 1M, median \
         ratio 1M/1k {:.3}; rotate {:.1} µs vs {:.1} µs, median ratio {:.3}",
        median(get_us[0].clone()),
        median(get_us[1].clone()),
        median(get_ratio),
        median(rotate_us[0].clone()),
        median(rotate_us[1].clone()),
        median(rotate_ratio),
    );

    let mut group = c.benchmark_group("redis");
    for fx in &fixtures {
        let mut i = 0u64;
        group.bench_function(BenchmarkId::new("get", fx.ids.len()), |b| {
            b.iter_custom(|iters| {
                i += iters;
                rt.block_on(get_batch(fx, i, iters))
            });
        });
    }
    for fx in &mut fixtures {
        let n = fx.ids.len();
        let mut i = 0u64;
        group.bench_function(BenchmarkId::new("rotate", n), |b| {
            b.iter_custom(|iters| {
                i += iters;
                rt.block_on(rotate_batch(fx, i, iters))
            });
        });
    }
    group.finish();

    rt.block_on(async {
        for db in [14, 15] {
            flush(&mut raw(&format!("{server}/{db}")).await).await;
        }
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
