//! Many instances, one deployment: two API servers and two web servers, in-process on loopback
//! ports of their own, sharing one Redis (sessions, under one key prefix), one PostgreSQL
//! schema (users and notes), one key set, one relay secret and one web cookie key, as a
//! deployment behind a load balancer does. Each instance has its own connections.
//!
//! Needs `source scripts/services` (Redis and PostgreSQL); fails without it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

mod testkit;

use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use tessera_axum::server::serve;
use tessera_core::secret::SecretString;
use tessera_web::seal::CookieKey;
use tessera_web::{WebConfig, WebContext};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use testkit::{Deployment, ORIGIN, Options, PASSWORD, Resp, TestServer, send};

/// The web server's cookie.
const WEB_COOKIE: &str = tessera_web::cookie::NAME;

/// Two API instances of one deployment.
async fn two_apis(dep: &Deployment, opts: impl Fn(Options) -> Options) -> (TestServer, TestServer) {
    let a = opts(Options::new(testkit::Store::PgRedis).shared(dep))
        .start()
        .await;
    let b = opts(Options::new(testkit::Store::PgRedis).shared(dep))
        .start()
        .await;
    (a, b)
}

/// A web instance (the notes app) in front of one API instance.
struct Web {
    base: String,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Drop for Web {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.task.abort();
    }
}

impl Web {
    /// Serves the notes app on a port of its own, calling `api`, with the deployment's relay
    /// secret, clock and the shared cookie `key`.
    fn start(api: &TestServer, dep: &Deployment, key: &[u8; 32]) -> Self {
        let mut config = WebConfig::new(ORIGIN, api.base.clone());
        config.api_public_url = "https://api.tessera.test".into();
        config.relay_secret = Some(SecretString::new(dep.relay_secret.clone()));
        let ctx = WebContext::new(
            config,
            CookieKey::from_bytes(key).unwrap(),
            Arc::new(dep.clock.clone()),
            None,
        )
        .unwrap();
        let router = tessera_web_app::router(ctx, tessera_web_app::AppOptions::default());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, router, None, async {
            let _ = rx.await;
        }));
        Self {
            base: format!("http://{addr}"),
            shutdown: Some(tx),
            task,
        }
    }

    /// `POST /session` with a relay code, as `tessera.js` sends it.
    async fn relay(&self, http: &reqwest::Client, code: &str) -> Resp {
        send(
            http.post(format!("{}/session", self.base))
                .header("sec-fetch-site", "same-origin")
                .header("origin", ORIGIN)
                .header("x-relay-code", code),
        )
        .await
    }

    /// A page navigation with the web cookie.
    async fn page(&self, http: &reqwest::Client, path: &str, cookie: &str) -> Resp {
        send(
            http.get(format!("{}{path}", self.base))
                .header("sec-fetch-site", "same-origin")
                .header("sec-fetch-mode", "navigate")
                .header("cookie", format!("{WEB_COOKIE}={cookie}")),
        )
        .await
    }
}

async fn me_status(srv: &TestServer, access: &str) -> u16 {
    send(srv.get("/auth/me").bearer_auth(access)).await.status
}

async fn refresh_by_header(srv: &TestServer, token: &str) -> Resp {
    send(
        srv.req(Method::POST, "/auth/refresh")
            .header("x-refresh-token", token),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_refreshes_on_two_instances_get_one_successor() {
    let dep = Deployment::on_services().await;
    let (a, b) = two_apis(&dep, |o| o).await;
    a.create_user("alice@example.com", PASSWORD).await;
    // Several rounds: each time both instances get the same token at the same moment.
    let login = b.login("alice@example.com", PASSWORD).await;
    let mut token = login.refresh;
    for round in 0..5 {
        let (ra, rb) = tokio::join!(refresh_by_header(&a, &token), refresh_by_header(&b, &token));
        assert_eq!(ra.status, 200, "round {round}, A: {}", ra.text());
        assert_eq!(rb.status, 200, "round {round}, B: {}", rb.text());
        let (na, nb) = (ra.json(), rb.json());
        assert_eq!(na["refresh"], nb["refresh"], "round {round}: one successor");
        assert_ne!(na["refresh"], token.as_str());
        // Both answers' access tokens work on both instances.
        for access in [&na["access"], &nb["access"]] {
            let access = access.as_str().unwrap();
            assert_eq!(me_status(&a, access).await, 200);
            assert_eq!(me_status(&b, access).await, 200);
        }
        token = na["refresh"].as_str().unwrap().to_owned();
    }
    // After the grace window the superseded token is reuse, whichever instance sees it: the
    // session ends on both.
    let before = token.clone();
    let r = refresh_by_header(&b, &token).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let newest = r.json()["access"].as_str().unwrap().to_owned();
    dep.clock.advance(testkit::GRACE + Duration::from_secs(1));
    refresh_by_header(&a, &before)
        .await
        .assert_problem(401, "unauthorized");
    assert_eq!(me_status(&b, &newest).await, 401);
    assert_eq!(me_status(&a, &newest).await, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_on_one_instance_is_refused_at_once_on_the_other() {
    let dep = Deployment::on_services().await;
    let (a, b) = two_apis(&dep, |o| o).await;
    a.create_user("alice@example.com", PASSWORD).await;
    let one = a.login("alice@example.com", PASSWORD).await;
    let two = b.login("alice@example.com", PASSWORD).await;
    assert_eq!(me_status(&b, &one.access).await, 200);

    // Logout on A: B refuses the access token, the refresh token and the relay code at once.
    let r = send(a.req(Method::POST, "/auth/logout").bearer_auth(&one.access)).await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(me_status(&b, &one.access).await, 401);
    refresh_by_header(&b, &one.refresh)
        .await
        .assert_problem(401, "unauthorized");
    send(
        b.post_json("/auth/relay", &json!({ "code": one.relay_code }))
            .bearer_auth(&dep.relay_secret),
    )
    .await
    .assert_problem(401, "unauthorized");

    // The user's other session lives on; "logout everywhere" on B ends it on A too.
    assert_eq!(me_status(&a, &two.access).await, 200);
    let three = a.login("alice@example.com", PASSWORD).await;
    let r = send(
        b.req(Method::POST, "/auth/logout-all")
            .bearer_auth(&two.access),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(me_status(&a, &two.access).await, 401);
    assert_eq!(me_status(&a, &three.access).await, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_code_from_one_api_instance_is_redeemed_through_the_other() {
    let dep = Deployment::on_services().await;
    let (a, b) = two_apis(&dep, |o| o).await;
    let key = CookieKey::generate_bytes().unwrap();
    let web_a = Web::start(&a, &dep, &key);
    let web_b = Web::start(&b, &dep, &key);
    let http = &a.http;

    a.create_user("alice@example.com", PASSWORD).await;
    let login = a.login("alice@example.com", PASSWORD).await;
    // A note written through API B.
    let r = send(
        b.post_json("/notes", &json!({ "body": "written through instance B" }))
            .bearer_auth(&login.access),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());

    // The code API A made is exchanged by web B with API B.
    let r = web_b.relay(http, &login.relay_code).await;
    assert_eq!(r.status, 204, "relay through web B: {}", r.text());
    let cookie = r.cookie(WEB_COOKIE).expect("relay set no web cookie").value;
    // Single use across the deployment: web A (API A) refuses it now.
    let again = web_a.relay(http, &login.relay_code).await;
    assert_eq!(again.status, 401, "second use: {}", again.text());
    assert!(again.cookie(WEB_COOKIE).is_none());

    // The web cookie (one key) works on both web instances, each rendering through its API.
    for web in [&web_a, &web_b] {
        let page = web.page(http, "/", &cookie).await;
        assert_eq!(page.status, 200, "{}", page.text());
        assert!(
            page.header("x-tessera-refresh").is_none(),
            "refresh document"
        );
        assert!(
            page.text().contains("written through instance B"),
            "{}",
            page.text()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_throttling_counts_failures_on_every_instance() {
    let dep = Deployment::on_services().await;
    let (a, b) = two_apis(&dep, |o| o.throttle(3, 100, Duration::from_secs(60))).await;
    a.create_user("alice@example.com", PASSWORD).await;
    for srv in [&a, &a, &b] {
        srv.login_raw("alice@example.com", "wrong password 123")
            .await
            .assert_problem(401, "unauthorized");
    }
    // Three failures in all: the limit is reached on both instances, even for the right
    // password.
    for srv in [&a, &b] {
        let r = srv.login_raw("alice@example.com", PASSWORD).await;
        r.assert_problem(429, "too-many-requests");
        assert!(r.header("retry-after").is_some());
    }
    // When the window has passed, either instance lets the user in.
    dep.clock.advance(Duration::from_secs(61));
    b.login("alice@example.com", PASSWORD).await;
}
