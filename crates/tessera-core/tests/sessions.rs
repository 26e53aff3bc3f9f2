//! The session engine's behaviour over the memory store, driven by a [`ManualClock`]: no test
//! here sleeps.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::sync::Arc;
use std::time::Duration;

use tessera_core::events::{EventKind, MemorySink};
use tessera_core::session::{LoginTokens, SessionsConfig};
use tessera_core::store::ClientInfo;
use tessera_core::token::{AccessTokenConfig, Payload};
use tessera_core::{
    Clock, Error, KeyAlgorithm, KeySet, ManualClock, MemoryStore, SessionId, SessionStore,
    Sessions, Timestamp, UserId,
};

const START_SECS: i64 = 1_800_000_000;

struct Engine {
    sessions: Sessions,
    clock: ManualClock,
    store: Arc<MemoryStore>,
    events: MemorySink,
}

impl Engine {
    fn new() -> Self {
        Self::with_config(SessionsConfig::default())
    }

    fn with_config(config: SessionsConfig) -> Self {
        let clock = ManualClock::new(Timestamp::from_secs(START_SECS));
        Self::on_store(Arc::new(MemoryStore::new()), clock, config)
    }

    fn on_store(store: Arc<MemoryStore>, clock: ManualClock, config: SessionsConfig) -> Self {
        let events = MemorySink::new();
        let keys = Arc::new(KeySet::generate(KeyAlgorithm::EdDSA).unwrap());
        let sessions = Sessions::builder(keys, store.clone())
            .clock(Arc::new(clock.clone()))
            .events(Arc::new(events.clone()))
            .config(config)
            .build();
        Self {
            sessions,
            clock,
            store,
            events,
        }
    }

    async fn login(&self, user: &UserId) -> LoginTokens {
        self.sessions
            .login(user, Payload::default(), ClientInfo::default())
            .await
            .unwrap()
    }

    fn advance(&self, d: Duration) {
        self.clock.advance(d);
    }

    async fn authorized(&self, tokens: &LoginTokens) -> bool {
        match self.sessions.authorize(tokens.access.token.expose()).await {
            Ok(a) => {
                assert_eq!(a.session.id, tokens.session_id);
                true
            }
            Err(Error::SessionNotFound) => false,
            Err(e) => panic!("unexpected error: {e:?}"),
        }
    }
}

fn user(name: &str) -> UserId {
    UserId::new(name).unwrap()
}

const fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

// ---------------------------------------------------------------------------------------------
// Login, authorize, logout.

#[tokio::test]
async fn login_then_authorize() {
    let e = Engine::new();
    let alice = user("alice");
    let t = e.login(&alice).await;
    let a = e.sessions.authorize(t.access.token.expose()).await.unwrap();
    assert_eq!(a.claims.sub, alice);
    assert_eq!(a.claims.sid, t.session_id);
    assert_eq!(a.session.user_id, alice);
    assert!(a.verify_csrf(t.csrf.as_str()));
    assert!(!a.verify_csrf(e.login(&alice).await.csrf.as_str()));
    assert_eq!(
        t.refresh_expires_at,
        Timestamp::from_secs(START_SECS).plus(secs(7 * 24 * 3600))
    );
    assert_eq!(e.events.count(EventKind::Login), 2);
}

#[tokio::test]
async fn logout_ends_the_session_at_once() {
    let e = Engine::new();
    let alice = user("alice");
    let t = e.login(&alice).await;
    let other = e.login(&alice).await;
    assert!(e.authorized(&t).await);
    assert!(e.sessions.logout(&t.session_id).await.unwrap());
    assert!(!e.authorized(&t).await);
    // The refresh token is dead too, and a second logout reports nothing to end.
    assert!(matches!(
        e.sessions.refresh(t.refresh.expose()).await,
        Err(Error::InvalidRefreshToken)
    ));
    assert!(!e.sessions.logout(&t.session_id).await.unwrap());
    // The user's other session is untouched.
    assert!(e.authorized(&other).await);
}

#[tokio::test]
async fn logout_user_ends_every_session_of_that_user_only() {
    let e = Engine::new();
    let (alice, bob) = (user("alice"), user("bob"));
    let a1 = e.login(&alice).await;
    let a2 = e.login(&alice).await;
    let b1 = e.login(&bob).await;
    assert_eq!(e.sessions.logout_user(&alice).await.unwrap(), 2);
    assert!(!e.authorized(&a1).await);
    assert!(!e.authorized(&a2).await);
    assert!(e.authorized(&b1).await);
    assert!(e.sessions.list_sessions(&alice).await.unwrap().is_empty());
    assert!(matches!(
        e.sessions.refresh(a2.refresh.expose()).await,
        Err(Error::InvalidRefreshToken)
    ));
}

#[tokio::test]
async fn logout_everything_ends_every_session() {
    let e = Engine::new();
    let (alice, bob) = (user("alice"), user("bob"));
    let a = e.login(&alice).await;
    let b = e.login(&bob).await;
    assert_eq!(e.sessions.logout_everything().await.unwrap(), 2);
    assert!(!e.authorized(&a).await);
    assert!(!e.authorized(&b).await);
    assert!(e.store.is_empty());
    // New logins still work afterwards.
    let c = e.login(&alice).await;
    assert!(e.authorized(&c).await);
}

#[tokio::test]
async fn revoke_ends_own_session_but_not_another_users() {
    let e = Engine::new();
    let (alice, bob) = (user("alice"), user("bob"));
    let a1 = e.login(&alice).await;
    let a2 = e.login(&alice).await;
    let b = e.login(&bob).await;
    // Bob cannot revoke Alice's session, and cannot tell it exists.
    assert!(!e.sessions.revoke(&bob, &a1.session_id).await.unwrap());
    assert!(
        !e.sessions
            .revoke(&bob, &SessionId::generate().unwrap())
            .await
            .unwrap()
    );
    assert!(e.authorized(&a1).await);
    assert_eq!(e.events.count(EventKind::Revoke), 0);
    // Alice revokes her other device.
    assert!(e.sessions.revoke(&alice, &a2.session_id).await.unwrap());
    assert!(!e.authorized(&a2).await);
    assert!(e.authorized(&a1).await);
    assert!(e.authorized(&b).await);
    assert_eq!(e.events.count(EventKind::Revoke), 1);
    assert!(!e.sessions.revoke(&alice, &a2.session_id).await.unwrap());
}

// ---------------------------------------------------------------------------------------------
// Refresh rotation, grace window, reuse detection.

#[tokio::test]
async fn refresh_rotates_and_the_old_token_works_only_inside_the_grace_window() {
    let e = Engine::new(); // grace: 10 s
    let alice = user("alice");
    let t0 = e.login(&alice).await;
    e.advance(secs(60));
    let t1 = e.sessions.refresh(t0.refresh.expose()).await.unwrap();
    assert_ne!(t1.refresh.expose(), t0.refresh.expose());
    assert_eq!(t1.session_id, t0.session_id);
    assert!(e.authorized(&t1).await);

    // Inside the grace window the old token gets the very same successor (two tabs).
    e.advance(Duration::from_millis(9_999));
    let again = e.sessions.refresh(t0.refresh.expose()).await.unwrap();
    assert_eq!(again.refresh.expose(), t1.refresh.expose());
    e.advance(Duration::from_millis(1));
    let again = e.sessions.refresh(t0.refresh.expose()).await.unwrap();
    assert_eq!(again.refresh.expose(), t1.refresh.expose());
    assert_eq!(e.events.count(EventKind::ReuseDetected), 0);

    // Just after it, the old token is reuse: the session is revoked, once.
    e.advance(Duration::from_millis(1));
    assert!(matches!(
        e.sessions.refresh(t0.refresh.expose()).await,
        Err(Error::RefreshReuse)
    ));
    assert_eq!(e.events.count(EventKind::ReuseDetected), 1);
    let ev = e
        .events
        .events()
        .into_iter()
        .find(|ev| ev.kind == EventKind::ReuseDetected)
        .unwrap();
    assert_eq!(ev.session_id.as_ref(), Some(&t0.session_id));
    assert_eq!(ev.user_id.as_ref(), Some(&alice));
    assert!(!e.authorized(&t1).await);
    assert!(matches!(
        e.sessions.refresh(t1.refresh.expose()).await,
        Err(Error::InvalidRefreshToken)
    ));
    // Presenting the reused token again finds nothing and does not report reuse twice.
    assert!(matches!(
        e.sessions.refresh(t0.refresh.expose()).await,
        Err(Error::InvalidRefreshToken)
    ));
    assert_eq!(e.events.count(EventKind::ReuseDetected), 1);
}

#[tokio::test]
async fn a_grace_answer_does_not_rotate_and_the_successor_keeps_working() {
    let e = Engine::new();
    let t0 = e.login(&user("alice")).await;
    let t1 = e.sessions.refresh(t0.refresh.expose()).await.unwrap();
    let g = e.sessions.refresh(t0.refresh.expose()).await.unwrap();
    assert_eq!(g.refresh.expose(), t1.refresh.expose());
    // The successor rotates normally after the grace answer.
    let t2 = e.sessions.refresh(t1.refresh.expose()).await.unwrap();
    assert_ne!(t2.refresh.expose(), t1.refresh.expose());
    // Now t0 is two generations old: reuse, even though its rotation was seconds ago.
    assert!(matches!(
        e.sessions.refresh(t0.refresh.expose()).await,
        Err(Error::RefreshReuse)
    ));
    assert!(!e.authorized(&t2).await);
}

#[tokio::test]
async fn an_unknown_refresh_secret_does_not_revoke_the_session() {
    let e = Engine::new();
    let t = e.login(&user("alice")).await;
    // Same session id, other secret.
    let forged = format!("{}.{}", t.session_id, "A".repeat(42) + "A");
    assert!(matches!(
        e.sessions.refresh(&forged).await,
        Err(Error::InvalidRefreshToken)
    ));
    assert!(matches!(
        e.sessions.refresh("garbage").await,
        Err(Error::InvalidRefreshToken)
    ));
    assert!(e.authorized(&t).await);
    assert!(e.sessions.refresh(t.refresh.expose()).await.is_ok());
    assert_eq!(e.events.count(EventKind::ReuseDetected), 0);
}

#[tokio::test]
async fn rotation_never_extends_the_absolute_expiry() {
    let e = Engine::new(); // refresh_ttl: 7 days
    let t = e.login(&user("alice")).await;
    let absolute = t.refresh_expires_at;
    let mut current = t.refresh.expose().to_owned();
    // Refresh every day, then once more just before the end.
    for _ in 0..6 {
        e.advance(secs(24 * 3600));
        let r = e.sessions.refresh(&current).await.unwrap();
        assert_eq!(r.refresh_expires_at, absolute);
        current = r.refresh.expose().to_owned();
    }
    e.clock.set(absolute.minus(Duration::from_millis(1)));
    let last = e.sessions.refresh(&current).await.unwrap();
    assert!(last.refresh_expires_at <= absolute);
    assert_eq!(last.refresh_expires_at, absolute);
    // The access token of that last refresh is valid beyond the session, but the session is
    // not: at the absolute expiry everything ends.
    e.clock.set(absolute);
    assert!(!e.authorized(&last).await);
    assert!(matches!(
        e.sessions.refresh(last.refresh.expose()).await,
        Err(Error::InvalidRefreshToken)
    ));
    assert!(
        e.sessions
            .list_sessions(&user("alice"))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn with_an_idle_timeout_the_successor_expiry_stays_within_the_absolute_one() {
    let e = Engine::with_config(SessionsConfig {
        refresh_ttl: secs(3600),
        idle_timeout: Some(secs(1800)),
        ..Default::default()
    });
    let t = e.login(&user("alice")).await;
    let start = Timestamp::from_secs(START_SECS);
    assert_eq!(t.refresh_expires_at, start.plus(secs(1800)));
    let absolute = start.plus(secs(3600));
    let mut current = t.refresh.expose().to_owned();
    for _ in 0..5 {
        e.advance(secs(1000));
        let r = e.sessions.refresh(&current).await.unwrap();
        let idle = e.clock.now().plus(secs(1800));
        assert_eq!(r.refresh_expires_at, idle.min(absolute));
        assert!(r.refresh_expires_at <= absolute);
        current = r.refresh.expose().to_owned();
        if e.clock.now().plus(secs(1000)) >= absolute {
            break;
        }
    }
}

#[tokio::test]
async fn idle_timeout_ends_an_unrefreshed_session_and_each_refresh_pushes_it() {
    let e = Engine::with_config(SessionsConfig {
        // Long-lived access tokens, so that only the session decides.
        access: AccessTokenConfig {
            ttl: secs(24 * 3600),
            ..Default::default()
        },
        idle_timeout: Some(secs(30 * 60)),
        ..Default::default()
    });
    let alice = user("alice");
    let t = e.login(&alice).await;
    e.advance(secs(29 * 60));
    assert!(e.authorized(&t).await);
    // Authorizing is not activity that extends the idle timeout; refreshing is.
    let r1 = e.sessions.refresh(t.refresh.expose()).await.unwrap();
    e.advance(secs(29 * 60)); // 58 min after login: past the first idle deadline.
    assert!(e.authorized(&r1).await);
    let r2 = e.sessions.refresh(r1.refresh.expose()).await.unwrap();
    e.advance(secs(30 * 60) - Duration::from_millis(1));
    assert!(e.authorized(&r2).await);
    e.advance(Duration::from_millis(1));
    // 30 minutes without a refresh: the session is over, for every token.
    assert!(!e.authorized(&r2).await);
    assert!(!e.authorized(&t).await);
    assert!(matches!(
        e.sessions.refresh(r2.refresh.expose()).await,
        Err(Error::InvalidRefreshToken)
    ));
    assert!(e.sessions.list_sessions(&alice).await.unwrap().is_empty());
}

#[tokio::test]
async fn without_refresh_the_idle_timeout_ends_the_session_even_if_authorize_is_used() {
    let e = Engine::with_config(SessionsConfig {
        access: AccessTokenConfig {
            ttl: secs(24 * 3600),
            ..Default::default()
        },
        idle_timeout: Some(secs(600)),
        ..Default::default()
    });
    let t = e.login(&user("alice")).await;
    for _ in 0..9 {
        e.advance(secs(60));
        assert!(e.authorized(&t).await);
    }
    e.advance(secs(60));
    assert!(!e.authorized(&t).await);
}

// ---------------------------------------------------------------------------------------------
// Relay codes.

#[tokio::test]
async fn relay_code_is_single_use_and_bound_to_its_session() {
    let e = Engine::new();
    let alice = user("alice");
    let a = e.login(&alice).await;
    let b = e.login(&alice).await;
    let code_a = e.sessions.create_relay_code(&a.session_id).await.unwrap();
    let code_b = e.sessions.create_relay_code(&b.session_id).await.unwrap();
    assert_ne!(code_a.expose(), code_b.expose());

    let grant = e.sessions.redeem_relay_code(code_b.expose()).await.unwrap();
    assert_eq!(grant.session_id, b.session_id);
    assert_eq!(grant.user_id, alice);
    let auth = e
        .sessions
        .authorize(grant.access.token.expose())
        .await
        .unwrap();
    assert_eq!(auth.claims.sid, b.session_id);
    assert!(auth.verify_csrf(grant.csrf.as_str()));
    assert!(auth.verify_csrf(b.csrf.as_str()));
    assert!(!auth.verify_csrf(a.csrf.as_str()));

    // Used once: gone.
    assert!(matches!(
        e.sessions.redeem_relay_code(code_b.expose()).await,
        Err(Error::InvalidRelayCode)
    ));
    let grant = e.sessions.redeem_relay_code(code_a.expose()).await.unwrap();
    assert_eq!(grant.session_id, a.session_id);
    let auth = e
        .sessions
        .authorize(grant.access.token.expose())
        .await
        .unwrap();
    assert_eq!(auth.claims.sid, a.session_id);
}

#[tokio::test]
async fn relay_code_expires_after_thirty_seconds() {
    let e = Engine::new();
    let t = e.login(&user("alice")).await;
    let early = e.sessions.create_relay_code(&t.session_id).await.unwrap();
    let late = e.sessions.create_relay_code(&t.session_id).await.unwrap();
    e.advance(secs(30) - Duration::from_millis(1));
    assert!(e.sessions.redeem_relay_code(early.expose()).await.is_ok());
    e.advance(Duration::from_millis(1));
    assert!(matches!(
        e.sessions.redeem_relay_code(late.expose()).await,
        Err(Error::InvalidRelayCode)
    ));
}

#[tokio::test]
async fn relay_code_of_a_logged_out_session_fails() {
    let e = Engine::new();
    let alice = user("alice");
    let t = e.login(&alice).await;
    let code = e.sessions.create_relay_code(&t.session_id).await.unwrap();
    e.sessions.logout(&t.session_id).await.unwrap();
    assert!(matches!(
        e.sessions.redeem_relay_code(code.expose()).await,
        Err(Error::InvalidRelayCode)
    ));
    // Same after logout of every session of the user, and after revocation.
    let t = e.login(&alice).await;
    let code = e.sessions.create_relay_code(&t.session_id).await.unwrap();
    e.sessions.logout_user(&alice).await.unwrap();
    assert!(matches!(
        e.sessions.redeem_relay_code(code.expose()).await,
        Err(Error::InvalidRelayCode)
    ));
    let t = e.login(&alice).await;
    let code = e.sessions.create_relay_code(&t.session_id).await.unwrap();
    e.sessions.revoke(&alice, &t.session_id).await.unwrap();
    assert!(matches!(
        e.sessions.redeem_relay_code(code.expose()).await,
        Err(Error::InvalidRelayCode)
    ));
}

#[tokio::test]
async fn malformed_relay_codes_are_refused() {
    let e = Engine::new();
    for code in [
        "",
        "x",
        &"A".repeat(43),
        &"A".repeat(44),
        "../../etc/passwd",
    ] {
        assert!(matches!(
            e.sessions.redeem_relay_code(code).await,
            Err(Error::InvalidRelayCode)
        ));
    }
}

// ---------------------------------------------------------------------------------------------
// Device list.

#[tokio::test]
async fn list_sessions_is_newest_first_with_client_info() {
    let e = Engine::new();
    let (alice, bob) = (user("alice"), user("bob"));
    let mut ids = Vec::new();
    for (ua, ip) in [
        ("Firefox/140", "192.0.2.1"),
        ("Chrome/150", "2001:db8::1"),
        ("curl/8.0", "198.51.100.7"),
    ] {
        let t = e
            .sessions
            .login(
                &alice,
                Payload::default(),
                ClientInfo::new(Some(ua), Some(ip.to_owned())),
            )
            .await
            .unwrap();
        ids.push((t.session_id, ua, ip));
        e.advance(secs(1));
    }
    e.login(&bob).await;
    let list = e.sessions.list_sessions(&alice).await.unwrap();
    assert_eq!(list.len(), 3);
    for (rec, (id, ua, ip)) in list.iter().zip(ids.iter().rev()) {
        assert_eq!(&rec.id, id);
        assert_eq!(rec.user_id, alice);
        assert_eq!(rec.client.user_agent.as_deref(), Some(*ua));
        assert_eq!(rec.client.ip.as_deref(), Some(*ip));
    }
    assert!(list.windows(2).all(|w| w[0].created_at > w[1].created_at));
    // A long user agent is kept, truncated on a character boundary.
    let long = "é".repeat(300);
    e.advance(secs(1));
    e.sessions
        .login(&bob, Payload::default(), ClientInfo::new(Some(&long), None))
        .await
        .unwrap();
    let newest = &e.sessions.list_sessions(&bob).await.unwrap()[0];
    let ua = newest.client.user_agent.as_deref().unwrap();
    assert!(ua.len() <= 256 && long.starts_with(ua) && !ua.is_empty());
    // After a revoke, the device is gone from the list.
    e.sessions.revoke(&alice, &ids[1].0).await.unwrap();
    let list = e.sessions.list_sessions(&alice).await.unwrap();
    assert_eq!(
        list.iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
        vec![ids[2].0.clone(), ids[0].0.clone()]
    );
}

// ---------------------------------------------------------------------------------------------
// Events.

#[tokio::test]
async fn events_never_contain_token_text() {
    let e = Engine::with_config(SessionsConfig {
        refresh_by_access: true,
        ..Default::default()
    });
    let (alice, bob) = (user("alice"), user("bob"));
    let mut secrets: Vec<String> = Vec::new();
    fn keep(t: &LoginTokens, secrets: &mut Vec<String>) {
        secrets.push(t.access.token.expose().to_owned());
        // Each part of the JWT on its own, too.
        secrets.extend(t.access.token.expose().split('.').map(str::to_owned));
        secrets.push(t.refresh.expose().to_owned());
        // The secret half of the refresh token (the session id half is not a secret).
        secrets.push(t.refresh.expose().split_once('.').unwrap().1.to_owned());
        secrets.push(t.csrf.as_str().to_owned());
    }

    let t0 = e.login(&alice).await;
    keep(&t0, &mut secrets);
    e.sessions
        .authorize(t0.access.token.expose())
        .await
        .unwrap();
    let t1 = e.sessions.refresh(t0.refresh.expose()).await.unwrap();
    keep(&t1, &mut secrets);
    let g = e.sessions.refresh(t0.refresh.expose()).await.unwrap();
    keep(&g, &mut secrets);
    let code = e.sessions.create_relay_code(&t1.session_id).await.unwrap();
    secrets.push(code.expose().to_owned());
    let grant = e.sessions.redeem_relay_code(code.expose()).await.unwrap();
    secrets.push(grant.access.token.expose().to_owned());
    secrets.push(grant.csrf.as_str().to_owned());
    let _ = e.sessions.redeem_relay_code(code.expose()).await;
    let _ = e.sessions.redeem_relay_code("not-a-code").await;
    let _ = e.sessions.authorize("not.a.token").await;
    let _ = e.sessions.authorize(t0.refresh.expose()).await;
    let _ = e.sessions.refresh(t0.access.token.expose()).await;
    let _ = e.sessions.refresh("x").await;
    e.advance(secs(3600));
    let grant = e
        .sessions
        .refresh_by_access(t1.access.token.expose())
        .await
        .unwrap();
    secrets.push(grant.access.token.expose().to_owned());
    let _ = e.sessions.refresh(t0.refresh.expose()).await; // reuse
    let _ = e.sessions.refresh(t0.refresh.expose()).await; // unknown (session revoked)
    let _ = e.sessions.refresh(t1.refresh.expose()).await; // unknown (session revoked)
    let b = e.login(&bob).await;
    keep(&b, &mut secrets);
    let b2 = e.login(&bob).await;
    keep(&b2, &mut secrets);
    e.sessions.revoke(&bob, &b2.session_id).await.unwrap();
    e.sessions.record_login_failure(Some(&bob), "bad password");
    e.sessions.logout(&b.session_id).await.unwrap();
    let _ = e.sessions.refresh(b.refresh.expose()).await; // unknown (logged out)
    let _ = e.sessions.authorize(b.access.token.expose()).await; // session gone
    e.sessions.logout_user(&alice).await.unwrap();
    e.sessions.logout_everything().await.unwrap();

    let events = e.events.events();
    for kind in [
        EventKind::Login,
        EventKind::LoginFailed,
        EventKind::Refresh,
        EventKind::ReuseDetected,
        EventKind::Logout,
        EventKind::LogoutAll,
        EventKind::Revoke,
        EventKind::VerificationFailed,
    ] {
        assert!(e.events.count(kind) > 0, "no {kind:?} event was emitted");
    }
    for ev in &events {
        let text = format!("{ev:?} {ev:#?}");
        for s in &secrets {
            assert!(!text.contains(s.as_str()), "event {text} contains {s}");
        }
    }
    // The raw CSRF secret never appears either (in hex or base64).
    let rec = {
        let t = e.login(&alice).await;
        e.store
            .get(&t.session_id, e.clock.now())
            .await
            .unwrap()
            .unwrap()
    };
    let raw = rec.csrf.as_bytes();
    let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    for ev in e.events.events() {
        assert!(!format!("{ev:?}").contains(&hex));
    }
}

// ---------------------------------------------------------------------------------------------
// Memory store eviction.

/// The documented per-call budget of the memory store's sweep is 64 entries; allow some slack
/// so that tuning it does not break this test, while still catching a full scan.
const MAX_EVICTED_PER_CALL: usize = 100;

#[tokio::test]
async fn memory_store_evicts_expired_sessions_incrementally() {
    let clock = ManualClock::new(Timestamp::from_secs(START_SECS));
    let store = Arc::new(MemoryStore::new());
    let short = Engine::on_store(
        store.clone(),
        clock.clone(),
        SessionsConfig {
            refresh_ttl: secs(60),
            ..Default::default()
        },
    );
    // A long-lived session on the same store must survive the sweep.
    let long = Engine::on_store(store.clone(), clock.clone(), SessionsConfig::default());
    let keeper = long.login(&user("keeper")).await;

    for i in 0..1_000 {
        short.login(&user(&format!("user-{}", i % 37))).await;
        if i % 100 == 99 {
            clock.advance(Duration::from_millis(1_500));
        }
    }
    // Some relay codes too, which expire on their own schedule.
    for _ in 0..10 {
        short
            .sessions
            .create_relay_code(&keeper.session_id)
            .await
            .unwrap();
    }
    assert_eq!(store.len(), 1_001);

    clock.advance(secs(120));
    // Expired sessions are invisible at once...
    assert!(
        short
            .sessions
            .list_sessions(&user("user-1"))
            .await
            .unwrap()
            .is_empty()
    );
    // ...but only evicted by the operations that follow, a bounded number per call.
    assert_eq!(store.len(), 1_001);
    let mut calls = 0;
    let mut before = store.len();
    while store.len() > 1 {
        calls += 1;
        assert!(
            calls <= 1_000,
            "eviction stalled at {} sessions",
            store.len()
        );
        // Ordinary operations: an unknown relay code, an unknown refresh token, an authorize.
        match calls % 3 {
            0 => {
                let _ = short
                    .sessions
                    .redeem_relay_code(&("B".repeat(42) + "A"))
                    .await;
            }
            1 => {
                let unknown = format!("{}.{}", SessionId::generate().unwrap(), "A".repeat(43));
                let _ = short.sessions.refresh(&unknown).await;
            }
            _ => assert!(long.authorized(&keeper).await),
        }
        let after = store.len();
        assert!(
            before - after <= MAX_EVICTED_PER_CALL,
            "one call evicted {} sessions",
            before - after
        );
        before = after;
    }
    assert!(calls >= 1_000 / MAX_EVICTED_PER_CALL, "only {calls} calls");
    assert_eq!(store.len(), 1);
    assert!(long.authorized(&keeper).await);
}

#[tokio::test]
async fn memory_store_keeps_sessions_whose_idle_expiry_moved() {
    let clock = ManualClock::new(Timestamp::from_secs(START_SECS));
    let store = Arc::new(MemoryStore::new());
    let e = Engine::on_store(
        store.clone(),
        clock.clone(),
        SessionsConfig {
            idle_timeout: Some(secs(60)),
            ..Default::default()
        },
    );
    let kept = e.login(&user("alice")).await;
    let dropped = e.login(&user("bob")).await;
    clock.advance(secs(50));
    let kept = e.sessions.refresh(kept.refresh.expose()).await.unwrap();
    clock.advance(secs(50)); // Bob idle for 100 s, Alice for 50 s.
    for _ in 0..10 {
        let _ = e.sessions.refresh("x.y").await;
        let _ = e.store.get(&dropped.session_id, clock.now()).await;
    }
    assert_eq!(store.len(), 1);
    assert!(e.sessions.refresh(kept.refresh.expose()).await.is_ok());
}
