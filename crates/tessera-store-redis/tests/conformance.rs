//! The Redis store against the shared store conformance suite, on one server and on a
//! 3-node Redis Cluster, plus what only a networked store has to show: the same rotation
//! decisions as the reference store, the epoch behind `delete_all`, TTLs, bounded calls and
//! reconnection.
//!
//! The servers come from `TESSERA_TEST_REDIS_URL` and `TESSERA_TEST_REDIS_CLUSTER_URLS`
//! (comma-separated), which `source scripts/services` exports (`scripts/test` does). Without
//! them the tests fail: a store suite that passes by skipping would prove nothing. Each store
//! gets a fresh random key prefix, so tests never see each other's keys.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tessera_core::clock::{Clock, SystemClock, Timestamp};
use tessera_core::refresh::TokenHash;
use tessera_core::store::{RotateOutcome, RotateRequest, SessionRecord};
use tessera_core::{MemoryStore, SessionId, SessionStore, StoreError, UserId};
use tessera_store_conformance::cases::record;
use tessera_store_redis::{ConnectError, RedisStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;

fn env(name: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v,
        _ => panic!(
            "{name} is not set. These tests need a Redis server and a Redis Cluster: run \
             `source scripts/services` first (scripts/test does), then `cargo test -p \
             tessera-store-redis`."
        ),
    }
}

fn single_url() -> String {
    env("TESSERA_TEST_REDIS_URL")
}

fn cluster_urls() -> Vec<String> {
    env("TESSERA_TEST_REDIS_CLUSTER_URLS")
        .split(',')
        .map(|u| u.trim().to_owned())
        .filter(|u| !u.is_empty())
        .collect()
}

fn fresh_prefix() -> String {
    format!("tessera-test:{}:", SessionId::generate().unwrap())
}

async fn single_store() -> RedisStore {
    RedisStore::builder()
        .prefix(fresh_prefix())
        .connect(&single_url())
        .await
        .unwrap()
}

async fn cluster_store() -> RedisStore {
    RedisStore::builder()
        .prefix(fresh_prefix())
        .connect_cluster(cluster_urls())
        .await
        .unwrap()
}

async fn single() -> Arc<dyn SessionStore> {
    Arc::new(single_store().await)
}

async fn cluster() -> Arc<dyn SessionStore> {
    Arc::new(cluster_store().await)
}

/// The suite on one server.
mod single_node {
    tessera_store_conformance::store_conformance_tests!(super::single);
}

/// The suite on a Redis Cluster: every script touches one slot only.
mod redis_cluster {
    tessera_store_conformance::store_conformance_tests!(super::cluster);
}

/// A raw connection to the single server, to look at keys the way an operator would.
async fn raw() -> redis::aio::MultiplexedConnection {
    redis::Client::open(single_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

async fn pexpiretime(conn: &mut redis::aio::MultiplexedConnection, key: &str) -> i64 {
    redis::cmd("PEXPIRETIME")
        .arg(key)
        .query_async(conn)
        .await
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// Same decisions as the reference store

/// A small deterministic generator, so a failure replays exactly.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Drives the store and the in-process reference store ([`MemoryStore`], which decides with
/// `SessionRecord::classify` + `apply_rotation`) through the same random refreshes: current,
/// predecessor, older and unknown tokens, matching and mismatched successors, times inside
/// and outside the grace window, idle expiry. Every outcome and every record must agree.
async fn same_decisions_as_the_reference(store: Arc<dyn SessionStore>, seed: u64) {
    let reference = MemoryStore::new();
    let mut rng = Rng(seed);
    let user = UserId::new(format!("diff-{}", SessionId::generate().unwrap())).unwrap();
    let grace = Duration::from_secs(10);
    let idle = Duration::from_secs(60);
    let mut now = SystemClock.now();
    let fresh = |now: Timestamp| {
        let mut rec = record(&user, now);
        rec.idle_expires_at = Some(now.plus(idle));
        rec
    };
    let mut rec = fresh(now);
    store.create(&rec).await.unwrap();
    reference.create(&rec).await.unwrap();
    // Every refresh hash the current session has had, oldest first.
    let mut history = vec![rec.refresh_hash];
    let (mut rotated, mut grace_answers, mut reused, mut not_found) = (0, 0, 0, 0);

    for step in 0..400u64 {
        // Mostly inside the grace window, sometimes past it, rarely past the idle timeout.
        now = now.plus(Duration::from_millis(match rng.below(20) {
            0 => 61_000,
            1..=4 => 10_000 + rng.below(3),
            _ => rng.below(12_000),
        }));
        let n = history.len();
        let presented = match rng.below(10) {
            0..=4 => history[n - 1],
            5..=7 if n >= 2 => history[n - 2],
            8 if n >= 3 => history[rng.below(n as u64 - 2) as usize],
            _ => TokenHash::of(&rng.next().to_le_bytes()),
        };
        // The derived successor is a function of the presented token (as in the engine),
        // except when instances disagree on the rotation key.
        let successor = if rng.below(8) == 0 {
            TokenHash::of(&rng.next().to_be_bytes())
        } else {
            TokenHash::of(&presented.0)
        };
        let req = RotateRequest {
            session_id: rec.id.clone(),
            presented,
            successor,
            grace,
            idle_expires_at: (rng.below(2) == 0).then(|| now.plus(idle)),
        };
        let expected = reference.rotate(&req, now).await.unwrap();
        let got = store.rotate(&req, now).await.unwrap();
        let restart = match (&expected, &got) {
            (RotateOutcome::Rotated(a), RotateOutcome::Rotated(b)) => {
                assert!(
                    a == b,
                    "step {step}: rotated records differ: {a:?} vs {b:?}"
                );
                history.push(successor);
                rotated += 1;
                false
            }
            (RotateOutcome::Grace(a), RotateOutcome::Grace(b)) => {
                assert!(a == b, "step {step}: grace records differ");
                grace_answers += 1;
                false
            }
            (RotateOutcome::Reused { user_id: a }, RotateOutcome::Reused { user_id: b }) => {
                assert_eq!(a, b);
                reused += 1;
                true
            }
            (RotateOutcome::NotFound, RotateOutcome::NotFound) => {
                not_found += 1;
                // An unknown token changes nothing; an expired session stays dead.
                reference.get(&rec.id, now).await.unwrap().is_none()
            }
            (a, b) => panic!("step {step}: reference says {a:?}, redis says {b:?} for {req:?}"),
        };
        let (a, b) = (
            reference.get(&rec.id, now).await.unwrap(),
            store.get(&rec.id, now).await.unwrap(),
        );
        assert!(a == b, "step {step}: stored records differ: {a:?} vs {b:?}");
        if restart {
            rec = fresh(now);
            store.create(&rec).await.unwrap();
            reference.create(&rec).await.unwrap();
            history = vec![rec.refresh_hash];
        }
    }
    // The walk must have visited every kind of outcome to mean anything.
    assert!(
        rotated > 20 && grace_answers > 5 && reused > 5 && not_found > 5,
        "rotated {rotated}, grace {grace_answers}, reused {reused}, not found {not_found}"
    );
}

#[tokio::test]
async fn single_node_decides_like_the_reference_store() {
    for seed in [1, 2, 3] {
        same_decisions_as_the_reference(single().await, seed).await;
    }
}

#[tokio::test]
async fn cluster_decides_like_the_reference_store() {
    same_decisions_as_the_reference(cluster().await, 4).await;
}

// ---------------------------------------------------------------------------------------------
// delete_all and the epoch

async fn delete_all_bumps_the_epoch(a: RedisStore, b: RedisStore) {
    let t = SystemClock.now();
    let user = UserId::new("epoch-user").unwrap();
    let (a1, a2, b1) = (record(&user, t), record(&user, t), record(&user, t));
    a.create(&a1).await.unwrap();
    a.create(&a2).await.unwrap();
    b.create(&b1).await.unwrap();
    assert!(a.delete(&a2.id).await.unwrap());

    assert_eq!(a.delete_all().await.unwrap(), 1, "a1 only: a2 was deleted");
    assert!(a.get(&a1.id, t).await.unwrap().is_none());
    assert!(a.list_user(&user, t).await.unwrap().is_empty());
    let r = a
        .rotate(
            &RotateRequest {
                session_id: a1.id.clone(),
                presented: a1.refresh_hash,
                successor: TokenHash::of(b"next"),
                grace: Duration::from_secs(10),
                idle_expires_at: None,
            },
            t,
        )
        .await
        .unwrap();
    assert!(matches!(r, RotateOutcome::NotFound), "{r:?}");
    assert!(
        !a.delete(&a1.id).await.unwrap(),
        "a dead session does not exist"
    );
    a.touch(&a1.id, t).await.unwrap();
    assert_eq!(a.delete_user(&user).await.unwrap(), 0);

    // Another prefix on the same server is another store.
    assert!(b.get(&b1.id, t).await.unwrap().is_some());
    assert_eq!(b.list_user(&user, t).await.unwrap().len(), 1);

    // Sessions made after the bump live normally.
    let a3 = record(&user, t);
    a.create(&a3).await.unwrap();
    assert!(a.get(&a3.id, t).await.unwrap().is_some());
    assert_eq!(a.list_user(&user, t).await.unwrap().len(), 1);
    assert_eq!(a.delete_all().await.unwrap(), 1);
    assert_eq!(a.delete_all().await.unwrap(), 0);
}

#[tokio::test]
async fn single_node_delete_all_bumps_the_epoch() {
    delete_all_bumps_the_epoch(single_store().await, single_store().await).await;
}

#[tokio::test]
async fn cluster_delete_all_bumps_the_epoch() {
    delete_all_bumps_the_epoch(cluster_store().await, cluster_store().await).await;
}

/// On a cluster `delete_all` bumps one epoch hash per slot: a fixed cost, well inside its
/// bound, however many sessions there are.
#[tokio::test]
async fn cluster_delete_all_takes_a_fixed_time() {
    let store = cluster_store().await;
    let started = Instant::now();
    assert_eq!(store.delete_all().await.unwrap(), 0);
    let took = started.elapsed();
    eprintln!("cluster delete_all: {took:?}");
    assert!(
        took < store.timeout() * tessera_store_redis::CLUSTER_DELETE_ALL_TIMEOUT_FACTOR / 2,
        "{took:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Keys and TTLs

#[tokio::test]
async fn ttls_follow_the_records_and_nothing_outlives_its_session() {
    let store = single_store().await;
    let p = store.prefix().to_owned();
    let mut conn = raw().await;
    let t = SystemClock.now();
    let user = UserId::new(format!("ttl-{}", SessionId::generate().unwrap())).unwrap();
    let mut rec = record(&user, t);
    rec.idle_expires_at = Some(t.plus(Duration::from_secs(60)));
    store.create(&rec).await.unwrap();
    let session_key = format!("{p}s:{{{}}}", rec.id);
    let user_key = format!("{p}u:{{{user}}}");

    // The session key expires at the effective expiry (idle here), the user set at the
    // latest absolute expiry of its sessions.
    let idle = rec.idle_expires_at.unwrap().as_millis();
    assert_eq!(pexpiretime(&mut conn, &session_key).await, idle);
    assert_eq!(
        pexpiretime(&mut conn, &user_key).await,
        rec.expires_at.as_millis()
    );

    // A refresh moves the idle expiry, and the TTL with it.
    let at = t.plus(Duration::from_secs(30));
    let req = RotateRequest {
        session_id: rec.id.clone(),
        presented: rec.refresh_hash,
        successor: TokenHash::of(b"s1"),
        grace: Duration::from_secs(10),
        idle_expires_at: Some(at.plus(Duration::from_secs(60))),
    };
    assert!(matches!(
        store.rotate(&req, at).await.unwrap(),
        RotateOutcome::Rotated(_)
    ));
    assert_eq!(
        pexpiretime(&mut conn, &session_key).await,
        at.plus(Duration::from_secs(60)).as_millis()
    );

    // A longer-lived second session extends the set's expiry; a shorter one never shortens it.
    let mut long = record(&user, t);
    long.expires_at = t.plus(Duration::from_secs(30 * 24 * 3600));
    store.create(&long).await.unwrap();
    let mut short = record(&user, t);
    short.expires_at = t.plus(Duration::from_secs(3600));
    store.create(&short).await.unwrap();
    assert_eq!(
        pexpiretime(&mut conn, &user_key).await,
        long.expires_at.as_millis()
    );
    assert_eq!(
        pexpiretime(&mut conn, &format!("{p}s:{{{}}}", short.id)).await,
        short.expires_at.as_millis(),
        "without an idle timeout the absolute expiry rules"
    );

    // Relay codes and counters expire when they stop being valid.
    let code = TokenHash::of(b"relay");
    let exp = t.plus(Duration::from_secs(30));
    store.put_relay_code(&code, &rec.id, exp).await.unwrap();
    assert_eq!(
        pexpiretime(&mut conn, &format!("{p}r:{}", code.to_hex())).await,
        exp.as_millis()
    );
    let hits = store
        .hit("login:ip:192.0.2.1", Duration::from_secs(900), t)
        .await
        .unwrap();
    assert_eq!(
        pexpiretime(&mut conn, &format!("{p}c:login:ip:192.0.2.1")).await,
        hits.resets_at.as_millis()
    );

    // Deleting a session removes its key and its index entry.
    assert!(store.delete(&rec.id).await.unwrap());
    let exists: i64 = redis::cmd("EXISTS")
        .arg(&session_key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(exists, 0);
    let member: bool = redis::cmd("SISMEMBER")
        .arg(&user_key)
        .arg(rec.id.as_str())
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(!member);
}

#[tokio::test]
async fn index_entries_of_vanished_sessions_are_pruned_when_listed() {
    let store = single_store().await;
    let p = store.prefix().to_owned();
    let mut conn = raw().await;
    let t = SystemClock.now();
    let user = UserId::new(format!("prune-{}", SessionId::generate().unwrap())).unwrap();
    let (keep, vanish) = (record(&user, t), record(&user, t));
    store.create(&keep).await.unwrap();
    store.create(&vanish).await.unwrap();
    // As if its TTL had fired.
    let _: i64 = redis::cmd("DEL")
        .arg(format!("{p}s:{{{}}}", vanish.id))
        .query_async(&mut conn)
        .await
        .unwrap();
    let user_key = format!("{p}u:{{{user}}}");
    let scard = |mut c: redis::aio::MultiplexedConnection| {
        let key = user_key.clone();
        async move {
            redis::cmd("SCARD")
                .arg(key)
                .query_async::<i64>(&mut c)
                .await
                .unwrap()
        }
    };
    assert_eq!(scard(conn.clone()).await, 2);
    let listed = store.list_user(&user, t).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, keep.id);
    assert_eq!(scard(conn.clone()).await, 1, "the stale entry was pruned");

    // An entry whose session is merely expired at the given `now` stays until its key goes.
    let later = keep.expires_at;
    assert!(store.list_user(&user, later).await.unwrap().is_empty());
    assert_eq!(scard(conn).await, 1);
}

#[tokio::test]
async fn import_loads_sessions_with_the_create_layout() {
    let store = single_store().await;
    let t = SystemClock.now();
    let user = UserId::new(format!("import-{}", SessionId::generate().unwrap())).unwrap();
    let records: Vec<SessionRecord> = (0..1203).map(|_| record(&user, t)).collect();
    assert_eq!(store.import(&records).await.unwrap(), 1203);
    assert_eq!(
        store.import(&records[..10]).await.unwrap(),
        0,
        "existing ids are skipped"
    );
    let got = store.get(&records[777].id, t).await.unwrap().unwrap();
    assert!(got == records[777]);
    assert_eq!(store.list_user(&user, t).await.unwrap().len(), 1203);
    assert_eq!(store.delete_all().await.unwrap(), 1203);

    let cluster = cluster_store().await;
    let records: Vec<SessionRecord> = (0..50).map(|_| record(&user, t)).collect();
    assert_eq!(cluster.import(&records).await.unwrap(), 50);
    assert_eq!(cluster.delete_user(&user).await.unwrap(), 50);
}

/// After a server restart (or `SCRIPT FLUSH`) the scripts are unknown to the server: single
/// calls fall back to loading them, and so do the pipelines of the per-user calls.
#[tokio::test]
async fn scripts_are_reloaded_after_a_script_flush() {
    let store = single_store().await;
    let mut conn = raw().await;
    let t = SystemClock.now();
    let user = UserId::new(format!("flush-{}", SessionId::generate().unwrap())).unwrap();
    let recs: Vec<SessionRecord> = (0..3).map(|_| record(&user, t)).collect();
    for r in &recs {
        store.create(r).await.unwrap();
    }
    let flush = |mut c: redis::aio::MultiplexedConnection| async move {
        let _: () = redis::cmd("SCRIPT")
            .arg("FLUSH")
            .query_async(&mut c)
            .await
            .unwrap();
    };
    flush(conn.clone()).await;
    assert_eq!(store.list_user(&user, t).await.unwrap().len(), 3);
    flush(conn.clone()).await;
    assert!(store.get(&recs[0].id, t).await.unwrap().is_some());
    flush(conn.clone()).await;
    assert_eq!(store.delete_user(&user).await.unwrap(), 3);
    let _: i64 = redis::cmd("DBSIZE").query_async(&mut conn).await.unwrap();
}

/// Hash tags come from the first `{…}` of a key. User ids may hold braces; they then only
/// choose another slot for the user's set, whose name stays distinct.
async fn odd_user_ids_work(store: RedisStore) {
    let t = SystemClock.now();
    let tag = SessionId::generate().unwrap();
    for name in [
        format!("a}}b-{tag}"),
        format!("{{}}-{tag}"),
        format!("x{{y}}z-{tag}"),
    ] {
        let user = UserId::new(name).unwrap();
        let (r1, r2) = (record(&user, t), record(&user, t));
        store.create(&r1).await.unwrap();
        store.create(&r2).await.unwrap();
        assert_eq!(
            store.list_user(&user, t).await.unwrap().len(),
            2,
            "{user:?}"
        );
        assert!(store.delete(&r1.id).await.unwrap());
        assert_eq!(store.delete_user(&user).await.unwrap(), 1, "{user:?}");
        assert!(store.list_user(&user, t).await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn single_node_odd_user_ids_work() {
    odd_user_ids_work(single_store().await).await;
}

#[tokio::test]
async fn cluster_odd_user_ids_work() {
    odd_user_ids_work(cluster_store().await).await;
}

// ---------------------------------------------------------------------------------------------
// Failures: bounded, mapped, recovered

/// A TCP proxy in front of the single server that can hold all traffic (a server that stops
/// answering) or cut every connection (a server restart or a network failure).
struct Proxy {
    addr: SocketAddr,
    frozen: watch::Sender<bool>,
    cut: watch::Sender<u64>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (frozen, _) = watch::channel(false);
        let (cut, _) = watch::channel(0u64);
        let (frozen_rx, cut_rx) = (frozen.subscribe(), cut.subscribe());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = tokio::net::TcpStream::connect(upstream).await else {
                    continue;
                };
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                for (from, to) in [(cr, sw), (sr, cw)] {
                    let (frozen, mut cut) = (frozen_rx.clone(), cut_rx.clone());
                    cut.mark_unchanged();
                    tokio::spawn(async move {
                        tokio::select! {
                            () = pump(from, to, frozen) => {}
                            _ = cut.changed() => {}
                        }
                    });
                }
            }
        });
        Self { addr, frozen, cut }
    }

    fn url(&self) -> String {
        format!("redis://{}/", self.addr)
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut frozen: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        while *frozen.borrow_and_update() {
            if frozen.changed().await.is_err() {
                return;
            }
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

fn single_addr() -> SocketAddr {
    let url = single_url();
    let hostport = url
        .trim_start_matches("redis://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    hostport.parse().unwrap()
}

#[tokio::test]
async fn a_silent_server_times_out_and_a_cut_connection_recovers() {
    let proxy = Proxy::start(single_addr()).await;
    let timeout = Duration::from_millis(200);
    let store = RedisStore::builder()
        .prefix(fresh_prefix())
        .timeout(timeout)
        .connect(&proxy.url())
        .await
        .unwrap();
    let t = SystemClock.now();
    let rec = record(&UserId::new("proxy").unwrap(), t);
    store.create(&rec).await.unwrap();

    // The server stops answering: every call ends in time, with Timeout.
    proxy.frozen.send_replace(true);
    for _ in 0..3 {
        let started = Instant::now();
        let err = store.get(&rec.id, t).await.unwrap_err();
        let took = started.elapsed();
        assert!(matches!(err, StoreError::Timeout), "{err:?}");
        assert!(took < timeout + Duration::from_millis(150), "took {took:?}");
    }
    let err = store.ping().await.unwrap_err();
    assert!(matches!(err, StoreError::Timeout), "{err:?}");
    proxy.frozen.send_replace(false);
    assert!(
        eventually(&store, &rec).await,
        "answers again once the server does"
    );

    // Every connection is cut: calls fail (Unavailable or Timeout), then the store reconnects
    // by itself.
    proxy.cut.send_modify(|n| *n += 1);
    let err = store.get(&rec.id, t).await;
    assert!(
        matches!(
            err,
            Ok(Some(_)) | Err(StoreError::Unavailable(_) | StoreError::Timeout)
        ),
        "{err:?}"
    );
    assert!(eventually(&store, &rec).await, "reconnects by itself");
}

/// Whether the store serves `rec` again within three seconds.
async fn eventually(store: &RedisStore, rec: &SessionRecord) -> bool {
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        if let Ok(Some(got)) = store.get(&rec.id, rec.created_at).await {
            return got == *rec;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test]
async fn connecting_fails_fast_and_clearly() {
    // Nothing listens: refused at once.
    let free = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("redis://{}/", free.local_addr().unwrap());
    drop(free);
    let started = Instant::now();
    let err = RedisStore::connect(&url).await.unwrap_err();
    assert!(matches!(err, ConnectError::Store(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(2));

    // Something accepts but never answers: bounded by the connect timeout.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("redis://{}/", silent.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    let started = Instant::now();
    let err = RedisStore::builder()
        .connect_timeout(Duration::from_millis(300))
        .connect(&url)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ConnectError::Store(StoreError::Timeout | StoreError::Unavailable(_))
        ),
        "{err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );

    // Bad settings are refused before any network traffic; a password never shows up.
    let err = RedisStore::connect("redis://user:hunter2@[::1")
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectError::InvalidUrl(_)), "{err:?}");
    assert!(!err.to_string().contains("hunter2"));
    assert!(matches!(
        RedisStore::builder()
            .prefix("a{b}")
            .connect(&single_url())
            .await,
        Err(ConnectError::InvalidPrefix(_))
    ));
    assert!(matches!(
        RedisStore::connect_cluster(Vec::<String>::new()).await,
        Err(ConnectError::NoNodes)
    ));
}
