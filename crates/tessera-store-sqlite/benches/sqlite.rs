//! `cargo bench -p tessera-store-sqlite`: the store lookup that `authorize` does (`get`) and a
//! refresh rotation (`rotate`), on a WAL database file holding 1,000 and 100,000 sessions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use tessera_core::clock::{Clock, SystemClock, Timestamp};
use tessera_core::refresh::TokenHash;
use tessera_core::store::{RotateOutcome, RotateRequest, SessionStore};
use tessera_core::{SessionId, UserId};
use tessera_store_conformance::cases::record;
use tessera_store_sqlite::SqliteStore;
use tokio::runtime::Runtime;

const SIZES: [usize; 2] = [1_000, 100_000];

struct Fixture {
    store: SqliteStore,
    ids: Vec<SessionId>,
    /// The current refresh hash of each session.
    current: Vec<TokenHash>,
    now: Timestamp,
    _dir: tempfile::TempDir,
}

fn fixture(rt: &Runtime, sessions: usize) -> Fixture {
    let dir = tempfile::Builder::new()
        .prefix("tessera-sqlite-bench-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let now = SystemClock.now();
    let started = Instant::now();
    let (store, ids, current) = rt.block_on(async {
        let store = SqliteStore::connect(&url).await.unwrap();
        let (mut ids, mut current) = (Vec::new(), Vec::new());
        for i in 0..sessions {
            // About ten sessions per user, as a device list would have.
            let user = UserId::new(format!("user-{}", i / 10)).unwrap();
            let mut rec = record(&user, now);
            rec.refresh_hash = TokenHash::of(&(i as u64).to_le_bytes());
            store.create(&rec).await.unwrap();
            ids.push(rec.id.clone());
            current.push(rec.refresh_hash);
        }
        (store, ids, current)
    });
    eprintln!("populated {sessions} sessions in {:.1?}", started.elapsed());
    Fixture {
        store,
        ids,
        current,
        now,
        _dir: dir,
    }
}

/// A cheap deterministic spread over the sessions, so lookups do not hit one hot row.
fn pick(i: u64, n: usize) -> usize {
    (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 16) as usize % n
}

fn bench(c: &mut Criterion) {
    let rt = Runtime::new().unwrap();
    let mut group = c.benchmark_group("sqlite");
    for &n in &SIZES {
        let mut fx = fixture(&rt, n);

        let mut i = 0u64;
        group.bench_function(BenchmarkId::new("get", n), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        i += 1;
                        let id = &fx.ids[pick(i, n)];
                        let got = fx.store.get(id, fx.now).await.unwrap();
                        black_box(got.unwrap());
                    }
                    start.elapsed()
                })
            });
        });

        let mut i = 0u64;
        let mut next = 1u64 << 40;
        group.bench_function(BenchmarkId::new("rotate", n), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut elapsed = Duration::ZERO;
                    for _ in 0..iters {
                        i += 1;
                        next += 1;
                        let k = pick(i, n);
                        let successor = TokenHash::of(&next.to_le_bytes());
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
                })
            });
        });

        rt.block_on(fx.store.close());
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
