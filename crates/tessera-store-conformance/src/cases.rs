//! The cases. Each takes a fresh store and panics on a contract violation.

use std::sync::Arc;
use std::time::Duration;

use tessera_core::clock::{Clock, ManualClock, SystemClock, Timestamp};
use tessera_core::csrf::CsrfSecret;
use tessera_core::events::{EventKind, MemorySink};
use tessera_core::refresh::TokenHash;
use tessera_core::store::{
    ClientInfo, RotateOutcome, RotateRequest, SUPERSEDED_KEPT, SessionRecord,
};
use tessera_core::token::Payload;
use tessera_core::{
    Error, KeyAlgorithm, KeySet, SessionId, SessionStore, Sessions, SessionsConfig, UserId,
};

type Store = Arc<dyn SessionStore>;

const GRACE: Duration = Duration::from_secs(10);
const DAY: Duration = Duration::from_secs(24 * 3600);

fn now() -> Timestamp {
    // Real time as the base, so that backends with server-side TTLs keep the records.
    SystemClock.now()
}

fn user() -> UserId {
    UserId::new(format!("user-{}", SessionId::generate().unwrap())).unwrap()
}

fn hash(byte: u8) -> TokenHash {
    TokenHash::of(&[byte; 32])
}

/// A record with distinctive values in every field.
pub fn record(user: &UserId, at: Timestamp) -> SessionRecord {
    let mut payload = serde_json::Map::new();
    payload.insert("role".into(), "editor".into());
    payload.insert("n".into(), 42.into());
    SessionRecord {
        id: SessionId::generate().unwrap(),
        user_id: user.clone(),
        created_at: at,
        expires_at: at.plus(7 * DAY),
        idle_expires_at: None,
        last_used_at: at,
        generation: 0,
        refresh_hash: hash(1),
        superseded: Vec::new(),
        rotated_at: None,
        csrf: CsrfSecret::generate().unwrap(),
        payload: Payload::new(payload).unwrap(),
        client: ClientInfo::new(
            Some("Mozilla/5.0 (Conformance) ünïcode"),
            Some("192.0.2.7".into()),
        ),
    }
}

fn rotate_req(rec: &SessionRecord, presented: TokenHash, successor: TokenHash) -> RotateRequest {
    RotateRequest {
        session_id: rec.id.clone(),
        presented,
        successor,
        grace: GRACE,
        idle_expires_at: None,
    }
}

fn engine(store: Store, clock: &ManualClock, sink: &MemorySink) -> Sessions {
    let keys = Arc::new(KeySet::generate(KeyAlgorithm::HS256).unwrap());
    Sessions::builder(keys, store)
        .clock(Arc::new(clock.clone()))
        .events(Arc::new(sink.clone()))
        .config(SessionsConfig::default())
        .build()
}

pub async fn create_then_get(store: Store) {
    let t = now();
    let rec = record(&user(), t);
    store.create(&rec).await.unwrap();
    let got = store
        .get(&rec.id, t)
        .await
        .unwrap()
        .expect("created session is found");
    assert_eq!(got.id, rec.id);
    assert_eq!(got.user_id, rec.user_id);
}

pub async fn unknown_session_is_none(store: Store) {
    let id = SessionId::generate().unwrap();
    assert!(store.get(&id, now()).await.unwrap().is_none());
    assert!(!store.delete(&id).await.unwrap());
}

pub async fn record_fields_round_trip(store: Store) {
    let t = now();
    let mut rec = record(&user(), t);
    rec.idle_expires_at = Some(t.plus(DAY));
    store.create(&rec).await.unwrap();
    let got = store.get(&rec.id, t).await.unwrap().unwrap();
    assert!(got == rec, "stored record differs: {got:?} vs {rec:?}");
    assert_eq!(got.payload, rec.payload);
    assert_eq!(got.client, rec.client);
    assert_eq!(got.csrf.as_bytes(), rec.csrf.as_bytes());
}

pub async fn absolute_expiry_hides_session(store: Store) {
    let t = now();
    let rec = record(&user(), t);
    store.create(&rec).await.unwrap();
    let just_before = rec.expires_at.minus(Duration::from_millis(1));
    assert!(store.get(&rec.id, just_before).await.unwrap().is_some());
    assert!(store.get(&rec.id, rec.expires_at).await.unwrap().is_none());
    assert!(
        store
            .list_user(&rec.user_id, rec.expires_at)
            .await
            .unwrap()
            .is_empty()
    );
    let r = store
        .rotate(&rotate_req(&rec, rec.refresh_hash, hash(2)), rec.expires_at)
        .await
        .unwrap();
    assert!(matches!(r, RotateOutcome::NotFound), "{r:?}");
}

pub async fn idle_expiry_hides_session_and_refresh_moves_it(store: Store) {
    let t = now();
    let mut rec = record(&user(), t);
    rec.idle_expires_at = Some(t.plus(Duration::from_secs(60)));
    store.create(&rec).await.unwrap();
    let mut req = rotate_req(&rec, rec.refresh_hash, hash(2));
    req.idle_expires_at = Some(t.plus(Duration::from_secs(50 + 60)));
    let r = store
        .rotate(&req, t.plus(Duration::from_secs(50)))
        .await
        .unwrap();
    assert!(matches!(r, RotateOutcome::Rotated(_)), "{r:?}");
    // The old idle expiry has passed, the new one has not.
    assert!(
        store
            .get(&rec.id, t.plus(Duration::from_secs(100)))
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .get(&rec.id, t.plus(Duration::from_secs(110)))
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn rotate_current_replaces_token(store: Store) {
    let t = now();
    let rec = record(&user(), t);
    store.create(&rec).await.unwrap();
    let later = t.plus(Duration::from_secs(60));
    match store
        .rotate(&rotate_req(&rec, rec.refresh_hash, hash(2)), later)
        .await
        .unwrap()
    {
        RotateOutcome::Rotated(r) => {
            assert_eq!(r.refresh_hash, hash(2));
            assert_eq!(r.superseded.first(), Some(&rec.refresh_hash));
            assert_eq!(r.generation, 1);
            assert_eq!(r.rotated_at, Some(later));
            assert_eq!(
                r.expires_at, rec.expires_at,
                "rotation never extends the absolute expiry"
            );
        }
        other => panic!("expected Rotated, got {other:?}"),
    }
    let stored = store.get(&rec.id, later).await.unwrap().unwrap();
    assert_eq!(stored.refresh_hash, hash(2));
    assert_eq!(stored.last_used_at, later);
}

pub async fn rotate_in_grace_answers_same_successor_without_change(store: Store) {
    let t = now();
    let rec = record(&user(), t);
    store.create(&rec).await.unwrap();
    let req = rotate_req(&rec, rec.refresh_hash, hash(2));
    assert!(matches!(
        store.rotate(&req, t).await.unwrap(),
        RotateOutcome::Rotated(_)
    ));
    let r = store.rotate(&req, t.plus(GRACE)).await.unwrap();
    match r {
        RotateOutcome::Grace(r) => assert_eq!(r.refresh_hash, hash(2)),
        other => panic!("expected Grace, got {other:?}"),
    }
    let stored = store.get(&rec.id, t).await.unwrap().unwrap();
    assert_eq!(stored.generation, 1, "a grace answer changes nothing");
    // A predecessor whose claimed successor is not the current token is reuse, not grace.
    let mismatched = rotate_req(&rec, rec.refresh_hash, hash(9));
    assert!(matches!(
        store.rotate(&mismatched, t).await.unwrap(),
        RotateOutcome::Reused { .. }
    ));
}

pub async fn rotate_predecessor_after_grace_revokes(store: Store) {
    let t = now();
    let rec = record(&user(), t);
    store.create(&rec).await.unwrap();
    let req = rotate_req(&rec, rec.refresh_hash, hash(2));
    store.rotate(&req, t).await.unwrap();
    let late = t.plus(GRACE).plus(Duration::from_millis(1));
    match store.rotate(&req, late).await.unwrap() {
        RotateOutcome::Reused { user_id } => assert_eq!(user_id, rec.user_id),
        other => panic!("expected Reused, got {other:?}"),
    }
    assert!(
        store.get(&rec.id, late).await.unwrap().is_none(),
        "reuse revokes the whole session"
    );
    let r = store
        .rotate(&rotate_req(&rec, hash(2), hash(3)), late)
        .await
        .unwrap();
    assert!(
        matches!(r, RotateOutcome::NotFound),
        "the successor dies with the session: {r:?}"
    );
}

pub async fn rotate_older_superseded_revokes(store: Store) {
    let t = now();
    let rec = record(&user(), t);
    store.create(&rec).await.unwrap();
    store
        .rotate(&rotate_req(&rec, hash(1), hash(2)), t)
        .await
        .unwrap();
    store
        .rotate(&rotate_req(&rec, hash(2), hash(3)), t)
        .await
        .unwrap();
    // hash(1) is two generations old: reuse even inside the grace window.
    let r = store
        .rotate(&rotate_req(&rec, hash(1), hash(2)), t)
        .await
        .unwrap();
    assert!(matches!(r, RotateOutcome::Reused { .. }), "{r:?}");
    assert!(store.get(&rec.id, t).await.unwrap().is_none());
}

pub async fn rotate_unknown_token_is_not_found_and_harmless(store: Store) {
    let t = now();
    let rec = record(&user(), t);
    store.create(&rec).await.unwrap();
    // Someone who knows the session id but not a token cannot revoke the session.
    let r = store
        .rotate(&rotate_req(&rec, hash(77), hash(78)), t)
        .await
        .unwrap();
    assert!(matches!(r, RotateOutcome::NotFound), "{r:?}");
    let stored = store.get(&rec.id, t).await.unwrap().unwrap();
    assert_eq!(stored.refresh_hash, rec.refresh_hash);
    let missing = SessionRecord {
        id: SessionId::generate().unwrap(),
        ..rec.clone()
    };
    assert!(matches!(
        store
            .rotate(&rotate_req(&missing, hash(1), hash(2)), t)
            .await
            .unwrap(),
        RotateOutcome::NotFound
    ));
}

pub async fn rotate_expired_session_is_not_found(store: Store) {
    let t = now();
    let rec = record(&user(), t);
    store.create(&rec).await.unwrap();
    let r = store
        .rotate(
            &rotate_req(&rec, hash(1), hash(2)),
            rec.expires_at.plus(Duration::from_secs(1)),
        )
        .await
        .unwrap();
    assert!(matches!(r, RotateOutcome::NotFound), "{r:?}");
}

pub async fn superseded_history_is_bounded(store: Store) {
    let t = now();
    let rec = record(&user(), t);
    store.create(&rec).await.unwrap();
    let mut current = hash(1);
    for i in 0..(SUPERSEDED_KEPT as u8 + 4) {
        let next = TokenHash::of(&[i, 200, 7]);
        let r = store
            .rotate(&rotate_req(&rec, current, next), t)
            .await
            .unwrap();
        assert!(matches!(r, RotateOutcome::Rotated(_)), "{r:?}");
        current = next;
    }
    let stored = store.get(&rec.id, t).await.unwrap().unwrap();
    assert_eq!(stored.superseded.len(), SUPERSEDED_KEPT);
    assert_eq!(stored.generation, u64::from(SUPERSEDED_KEPT as u8 + 4));
}

pub async fn concurrent_rotations_agree_on_one_successor(store: Store) {
    let t = now();
    let rec = record(&user(), t);
    store.create(&rec).await.unwrap();
    let req = rotate_req(&rec, rec.refresh_hash, hash(2));
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let (s, r) = (store.clone(), req.clone());
        tasks.push(tokio::spawn(async move { s.rotate(&r, t).await.unwrap() }));
    }
    let (mut rotated, mut grace) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            RotateOutcome::Rotated(r) => {
                rotated += 1;
                assert_eq!(r.refresh_hash, hash(2));
            }
            RotateOutcome::Grace(r) => {
                grace += 1;
                assert_eq!(r.refresh_hash, hash(2));
            }
            other => panic!("a concurrent caller got {other:?}"),
        }
    }
    assert_eq!(
        (rotated, grace),
        (1, 31),
        "exactly one rotation, the rest from the grace window"
    );
    assert_eq!(store.get(&rec.id, t).await.unwrap().unwrap().generation, 1);
}

pub async fn engine_concurrent_refreshes_get_same_successor(store: Store) {
    let clock = ManualClock::starting_now();
    let sink = MemorySink::new();
    let sessions = engine(store, &clock, &sink);
    let login = sessions
        .login(&user(), Payload::default(), ClientInfo::default())
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let (s, token) = (sessions.clone(), login.refresh.clone());
        tasks.push(tokio::spawn(async move { s.refresh(token.expose()).await }));
    }
    let mut successors = Vec::new();
    for task in tasks {
        let r = task
            .await
            .unwrap()
            .expect("every concurrent refresh succeeds");
        successors.push(r.refresh.expose().to_owned());
        assert!(sessions.authorize(r.access.token.expose()).await.is_ok());
    }
    successors.dedup();
    assert_eq!(successors.len(), 1, "all 32 callers got the same successor");
    assert_ne!(successors[0], login.refresh.expose());
    assert_eq!(sink.count(EventKind::ReuseDetected), 0);
    // The successor itself rotates normally.
    assert!(sessions.refresh(&successors[0]).await.is_ok());
}

pub async fn engine_reuse_after_grace_revokes_and_emits(store: Store) {
    let clock = ManualClock::starting_now();
    let sink = MemorySink::new();
    let sessions = engine(store, &clock, &sink);
    let login = sessions
        .login(&user(), Payload::default(), ClientInfo::default())
        .await
        .unwrap();
    let next = sessions.refresh(login.refresh.expose()).await.unwrap();
    clock.advance(GRACE + Duration::from_secs(1));
    let err = sessions.refresh(login.refresh.expose()).await.unwrap_err();
    assert!(matches!(err, Error::RefreshReuse), "{err:?}");
    assert_eq!(sink.count(EventKind::ReuseDetected), 1);
    assert!(matches!(
        sessions.refresh(next.refresh.expose()).await.unwrap_err(),
        Error::InvalidRefreshToken
    ));
    assert!(matches!(
        sessions
            .authorize(next.access.token.expose())
            .await
            .unwrap_err(),
        Error::SessionNotFound
    ));
}

pub async fn two_sessions_never_share_state(store: Store) {
    let t = now();
    let u = user();
    let a = record(&u, t);
    let mut b = record(&u, t);
    b.refresh_hash = a.refresh_hash; // same token hash, different session
    store.create(&a).await.unwrap();
    store.create(&b).await.unwrap();
    store
        .rotate(&rotate_req(&a, a.refresh_hash, hash(2)), t)
        .await
        .unwrap();
    let b_now = store.get(&b.id, t).await.unwrap().unwrap();
    assert_eq!(b_now.refresh_hash, b.refresh_hash);
    assert_eq!(b_now.generation, 0);
    assert_ne!(
        b_now.csrf.as_bytes(),
        store.get(&a.id, t).await.unwrap().unwrap().csrf.as_bytes()
    );
    assert!(store.delete(&a.id).await.unwrap());
    assert!(store.get(&b.id, t).await.unwrap().is_some());
}

pub async fn delete_is_visible_at_once(store: Store) {
    let t = now();
    let rec = record(&user(), t);
    store.create(&rec).await.unwrap();
    assert!(store.delete(&rec.id).await.unwrap());
    assert!(store.get(&rec.id, t).await.unwrap().is_none());
    assert!(matches!(
        store
            .rotate(&rotate_req(&rec, rec.refresh_hash, hash(2)), t)
            .await
            .unwrap(),
        RotateOutcome::NotFound
    ));
    assert!(!store.delete(&rec.id).await.unwrap());
    assert!(store.list_user(&rec.user_id, t).await.unwrap().is_empty());
}

pub async fn delete_user_ends_only_that_users_sessions(store: Store) {
    let t = now();
    let (u1, u2) = (user(), user());
    let a1 = record(&u1, t);
    let a2 = record(&u1, t);
    let b = record(&u2, t);
    for r in [&a1, &a2, &b] {
        store.create(r).await.unwrap();
    }
    assert_eq!(store.delete_user(&u1).await.unwrap(), 2);
    assert!(store.get(&a1.id, t).await.unwrap().is_none());
    assert!(store.get(&a2.id, t).await.unwrap().is_none());
    assert!(store.get(&b.id, t).await.unwrap().is_some());
    assert_eq!(store.delete_user(&u1).await.unwrap(), 0);
}

pub async fn delete_all_ends_everything(store: Store) {
    let t = now();
    let recs: Vec<_> = (0..3).map(|_| record(&user(), t)).collect();
    for r in &recs {
        store.create(r).await.unwrap();
    }
    assert!(store.delete_all().await.unwrap() >= 3);
    for r in &recs {
        assert!(store.get(&r.id, t).await.unwrap().is_none());
    }
}

pub async fn list_user_is_newest_first_and_live_only(store: Store) {
    let t = now();
    let u = user();
    let old = record(&u, t);
    let mut new = record(&u, t.plus(Duration::from_secs(5)));
    new.created_at = t.plus(Duration::from_secs(5));
    let mut short = record(&u, t);
    short.expires_at = t.plus(Duration::from_secs(10));
    for r in [&old, &new, &short] {
        store.create(r).await.unwrap();
    }
    store.create(&record(&user(), t)).await.unwrap();
    let at = t.plus(Duration::from_secs(20));
    let list = store.list_user(&u, at).await.unwrap();
    let ids: Vec<_> = list.iter().map(|r| r.id.clone()).collect();
    assert_eq!(ids, vec![new.id.clone(), old.id.clone()]);
    assert_eq!(list[0].client, new.client);
}

pub async fn touch_records_use(store: Store) {
    let t = now();
    let rec = record(&user(), t);
    store.create(&rec).await.unwrap();
    let later = t.plus(Duration::from_secs(120));
    store.touch(&rec.id, later).await.unwrap();
    assert_eq!(
        store
            .get(&rec.id, later)
            .await
            .unwrap()
            .unwrap()
            .last_used_at,
        later
    );
    store
        .touch(&SessionId::generate().unwrap(), later)
        .await
        .unwrap();
}

pub async fn relay_code_is_single_use(store: Store) {
    let t = now();
    let sid = SessionId::generate().unwrap();
    let code = hash(42);
    store
        .put_relay_code(&code, &sid, t.plus(Duration::from_secs(30)))
        .await
        .unwrap();
    assert_eq!(store.take_relay_code(&code, t).await.unwrap(), Some(sid));
    assert_eq!(store.take_relay_code(&code, t).await.unwrap(), None);
    assert_eq!(store.take_relay_code(&hash(43), t).await.unwrap(), None);
}

pub async fn relay_code_expires(store: Store) {
    let t = now();
    let sid = SessionId::generate().unwrap();
    let code = hash(44);
    store
        .put_relay_code(&code, &sid, t.plus(Duration::from_secs(30)))
        .await
        .unwrap();
    assert_eq!(
        store
            .take_relay_code(&code, t.plus(Duration::from_secs(30)))
            .await
            .unwrap(),
        None
    );
}

pub async fn concurrent_relay_redemptions_have_one_winner(store: Store) {
    let t = now();
    let sid = SessionId::generate().unwrap();
    let code = hash(45);
    store
        .put_relay_code(&code, &sid, t.plus(Duration::from_secs(30)))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            s.take_relay_code(&code, t).await.unwrap()
        }));
    }
    let mut winners = 0;
    for task in tasks {
        winners += usize::from(task.await.unwrap().is_some());
    }
    assert_eq!(winners, 1);
}

pub async fn hits_count_in_a_fixed_window(store: Store) {
    let t = now();
    let key = format!("login:test:{}", SessionId::generate().unwrap());
    let window = Duration::from_secs(900);
    assert!(store.hits(&key, t).await.unwrap().is_none());
    let h1 = store.hit(&key, window, t).await.unwrap();
    assert_eq!(h1.count, 1);
    let h2 = store
        .hit(&key, window, t.plus(Duration::from_secs(10)))
        .await
        .unwrap();
    assert_eq!(h2.count, 2);
    assert_eq!(
        h2.resets_at, h1.resets_at,
        "the window starts at the first hit"
    );
    assert_eq!(store.hits(&key, t).await.unwrap().map(|h| h.count), Some(2));
    let after = h1.resets_at;
    assert!(store.hits(&key, after).await.unwrap().is_none());
    assert_eq!(
        store.hit(&key, window, after).await.unwrap().count,
        1,
        "a new window starts"
    );
}

pub async fn concurrent_hits_are_all_counted(store: Store) {
    let t = now();
    let key = format!("login:test:{}", SessionId::generate().unwrap());
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (s, k) = (store.clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            s.hit(&k, Duration::from_secs(60), t).await.unwrap()
        }));
    }
    let mut counts: Vec<u32> = Vec::new();
    for task in tasks {
        counts.push(task.await.unwrap().count);
    }
    counts.sort_unstable();
    assert_eq!(counts, (1..=20).collect::<Vec<u32>>());
}

pub async fn ping_answers(store: Store) {
    store.ping().await.unwrap();
    assert!(!store.name().is_empty());
}
