//! Benchmarks of the token engine's hot paths.
//!
//! ```text
//! cargo bench -p tessera-core --bench core -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! | group | what | target (2-core machine) |
//! |---|---|---|
//! | `access_token` | issue and verify (cache off) with HS256 and EdDSA, and a bare Ed25519 check of the same signing input and signature | EdDSA verify ≤ 1.3 × bare Ed25519 |
//! | `authorize/1k`, `authorize/1M` | `Sessions::authorize` over the memory store holding 1,000 or 1,000,000 live sessions: HS256 with the cache off (every token first-seen), EdDSA with every token already seen (cache on) | HS256 < 3 µs; EdDSA seen < 5 µs; 1M within 20 % of 1k |
//! | `refresh` | `Sessions::refresh` on the memory store, each iteration rotating the latest successor (asserted: the session's generation grows by the iteration count) | < 10 µs (HS256; with EdDSA the new access token's Ed25519 signature alone costs about twice that, see `access_token/issue/EdDSA`) |
//!
//! Authorize cycles over the tokens of [`HOT`] different sessions, in both store sizes: the
//! same amount of work on the same number of distinct records, so the comparison isolates the
//! size of the store (an O(n) step anywhere would show at once). In the 1M store those records
//! are spread over the whole table, so what remains of the difference is the memory hierarchy
//! (cache and TLB misses on a 1 GB heap), not the algorithm.
//!
//! Everything runs on a current-thread tokio runtime with a [`ManualClock`] that stands still
//! (so no `last_used_at` write happens on the measured path).

#![allow(clippy::unwrap_used, clippy::expect_used)] // bench set-up: failing loudly is the point

use std::hint::black_box;
use std::sync::Arc;

use aws_lc_rs::signature::{ED25519, UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use tessera_core::csrf::CsrfSecret;
use tessera_core::refresh::TokenHash;
use tessera_core::session::SessionsConfig;
use tessera_core::store::{ClientInfo, SessionRecord};
use tessera_core::token::{AccessTokenConfig, AccessTokens, Payload};
use tessera_core::{
    KeyAlgorithm, KeySet, ManualClock, MemoryStore, SessionId, SessionStore, Sessions, Timestamp,
    UserId,
};
use tokio::runtime::Runtime;

const NOW: Timestamp = Timestamp::from_secs(1_800_000_000);
/// How many distinct sessions' tokens the authorize benchmarks cycle through.
const HOT: usize = 1_000;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

fn tokens(alg: KeyAlgorithm, cache_capacity: usize) -> AccessTokens {
    AccessTokens::new(
        Arc::new(KeySet::generate(alg).unwrap()),
        AccessTokenConfig {
            cache_capacity,
            ..Default::default()
        },
    )
}

fn access_token(c: &mut Criterion) {
    let user = UserId::new("user-12345").unwrap();
    let sid = SessionId::generate().unwrap();
    let app = Payload::default();
    let mut g = c.benchmark_group("access_token");
    for alg in [KeyAlgorithm::HS256, KeyAlgorithm::EdDSA] {
        let t = tokens(alg, 0);
        g.bench_function(format!("issue/{alg}"), |b| {
            b.iter(|| t.issue(black_box(&user), &sid, &app, NOW).unwrap());
        });
        let token = t.issue(&user, &sid, &app, NOW).unwrap().token;
        g.bench_function(format!("verify/{alg}"), |b| {
            b.iter(|| t.verify(black_box(token.expose()), NOW).unwrap());
        });
        if alg == KeyAlgorithm::EdDSA {
            // The same signing input and signature, checked with aws-lc-rs directly.
            let (input, sig) = token.expose().rsplit_once('.').unwrap();
            let sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
            let jwks = t.keys().jwks();
            let x = jwks["keys"][0]["x"].as_str().unwrap();
            let public = URL_SAFE_NO_PAD.decode(x).unwrap();
            UnparsedPublicKey::new(&ED25519, &public)
                .verify(input.as_bytes(), &sig)
                .unwrap();
            g.bench_function("ed25519_bare_verify", |b| {
                b.iter(|| {
                    UnparsedPublicKey::new(&ED25519, black_box(&public))
                        .verify(black_box(input.as_bytes()), black_box(&sig))
                        .unwrap();
                });
            });
            let cached = tokens(alg, 1024);
            let token = cached.issue(&user, &sid, &app, NOW).unwrap().token;
            cached.verify(token.expose(), NOW).unwrap();
            g.bench_function("verify_cached/EdDSA", |b| {
                b.iter(|| cached.verify(black_box(token.expose()), NOW).unwrap());
            });
        }
    }
    g.finish();
}

/// A live session record, built directly (no signing) so that a million fit in the set-up time.
fn record(i: usize) -> SessionRecord {
    let mut hash = [0u8; 32];
    hash[..8].copy_from_slice(&(i as u64).to_le_bytes());
    SessionRecord {
        id: SessionId::generate().unwrap(),
        user_id: UserId::new(format!("user-{}", i % 100_000)).unwrap(),
        created_at: NOW,
        expires_at: NOW.plus(std::time::Duration::from_secs(7 * 24 * 3600)),
        idle_expires_at: None,
        last_used_at: NOW,
        generation: 0,
        refresh_hash: TokenHash(hash),
        superseded: Vec::new(),
        rotated_at: None,
        csrf: CsrfSecret::from_bytes(&hash).unwrap(),
        payload: Payload::default(),
        client: ClientInfo::new(Some("Mozilla/5.0 (X11; Linux x86_64) Bench/1.0"), None),
    }
}

fn engine(store: Arc<MemoryStore>, alg: KeyAlgorithm, cache_capacity: usize) -> Sessions {
    Sessions::builder(Arc::new(KeySet::generate(alg).unwrap()), store)
        .clock(Arc::new(ManualClock::new(NOW)))
        .config(SessionsConfig {
            access: AccessTokenConfig {
                cache_capacity,
                ..Default::default()
            },
            ..Default::default()
        })
        .build()
}

fn authorize(c: &mut Criterion) {
    let rt = runtime();
    for (label, n) in [("1k", 1_000usize), ("1M", 1_000_000)] {
        let store = Arc::new(MemoryStore::new());
        let mut picked = Vec::with_capacity(HOT);
        rt.block_on(async {
            for i in 0..n {
                let r = record(i);
                // Spread the benchmarked sessions evenly over the whole population.
                if i % (n / HOT) == 0 {
                    picked.push((r.user_id.clone(), r.id.clone()));
                }
                store.create(&r).await.unwrap();
            }
        });
        assert_eq!(picked.len(), HOT);
        assert_eq!(store.len(), n);

        let hs = engine(store.clone(), KeyAlgorithm::HS256, 0);
        let ed = engine(store.clone(), KeyAlgorithm::EdDSA, 65_536);
        let issue = |s: &Sessions| -> Vec<String> {
            picked
                .iter()
                .map(|(u, sid)| {
                    s.tokens()
                        .issue(u, sid, &Payload::default(), NOW)
                        .unwrap()
                        .token
                        .expose()
                        .to_owned()
                })
                .collect()
        };
        let hs_tokens = issue(&hs);
        let ed_tokens = issue(&ed);
        // Every token authorizes; the EdDSA ones are now in the verified-token cache.
        rt.block_on(async {
            for (h, e) in hs_tokens.iter().zip(&ed_tokens) {
                hs.authorize(h).await.unwrap();
                ed.authorize(e).await.unwrap();
            }
        });

        let mut g = c.benchmark_group(format!("authorize/{label}"));
        g.bench_function("HS256_first_seen", |b| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) % HOT;
                rt.block_on(hs.authorize(black_box(&hs_tokens[i]))).unwrap()
            });
        });
        g.bench_function("EdDSA_already_seen", |b| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) % HOT;
                rt.block_on(ed.authorize(black_box(&ed_tokens[i]))).unwrap()
            });
        });
        g.finish();
        drop((hs, ed));
        drop(store);
    }
}

fn refresh(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("refresh");
    for alg in [KeyAlgorithm::HS256, KeyAlgorithm::EdDSA] {
        let store = Arc::new(MemoryStore::new());
        rt.block_on(async {
            for i in 0..1_000 {
                store.create(&record(i)).await.unwrap();
            }
        });
        let s = engine(store, alg, 65_536);
        let user = UserId::new("alice").unwrap();
        let login = rt
            .block_on(s.login(&user, Payload::default(), ClientInfo::default()))
            .unwrap();
        let mut current = login.refresh;
        let before = rt
            .block_on(s.store().get(&login.session_id, NOW))
            .unwrap()
            .unwrap()
            .generation;
        let mut rotations = 0u64;
        g.bench_function(format!("memory/{alg}"), |b| {
            b.iter(|| {
                let r = rt.block_on(s.refresh(black_box(current.expose()))).unwrap();
                current = r.refresh;
                rotations += 1;
            });
        });
        // Every iteration was a real rotation, not a grace-window answer.
        let after = rt
            .block_on(s.store().get(&login.session_id, NOW))
            .unwrap()
            .unwrap()
            .generation;
        assert_eq!(after - before, rotations);
    }
    g.finish();
}

criterion_group!(benches, access_token, authorize, refresh);
criterion_main!(benches);
