//! Store outages: the API on Redis (sessions) and PostgreSQL (users and notes) while one of
//! them is stopped, then hung (SIGSTOP), then back.
//!
//! Each test runs a server of its own for the store it breaks (a Redis with AOF,
//! `appendfsync everysec`, data in a temp dir; a PostgreSQL cluster made by `initdb` in a temp
//! dir), on a free loopback port, so breaking it never disturbs other tests; the other store is
//! the one `source scripts/services` provides. A stream of authorized requests (`GET` and
//! `POST /notes` with a Bearer token, which need both stores) runs throughout, and each
//! request's duration is measured. During an outage:
//!
//! - every answer that is not a success is a 503 `application/problem+json` and arrives within
//!   1 s of its request (the request's store budget; a correctness bound, not a performance
//!   threshold), and no request handler panics;
//! - `/readyz` answers 503 and names the store that is down.
//!
//! When the store is back, requests succeed again within 5 s, without restarting anything, and
//! the session made before the outage still works (for Redis: it survives the restart through
//! the AOF).
//!
//! Needs `redis-server`, `redis-cli` and the PostgreSQL server binaries
//! (`TESSERA_TEST_PG_BIN`, or the newest `/usr/lib/postgresql/*/bin`); `scripts/services`
//! installs them when it runs as root.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

mod testkit;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::task::JoinSet;

use testkit::{DATABASE_URL_VAR, Deployment, Login, Options, REDIS_URL_VAR, TestServer, send};

/// The bound on every answer during an outage: the API's per-request store budget.
const ANSWER_BOUND: Duration = Duration::from_secs(1);
/// How soon service must resume once the store is back.
const RECOVERY_BOUND: Duration = Duration::from_secs(5);
/// How long each outage lasts.
const OUTAGE: Duration = Duration::from_millis(2500);
/// Concurrent request streams.
const STREAMS: usize = 4;

// ---------------------------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------------------------

/// Runs a command to completion, panicking with its output when it fails.
fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Sends `signal` (`STOP`, `CONT`, `KILL`) to a process; best effort.
fn signal(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status();
}

/// A loopback port nobody listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn is_root() -> bool {
    run(Command::new("id").arg("-u")).trim() == "0"
}

/// A Redis server of this test's own, with AOF persistence in a temp dir.
struct RedisServer {
    port: u16,
    dir: TempDir,
    child: Mutex<Option<Child>>,
}

impl RedisServer {
    fn start() -> Self {
        let server = Self {
            port: free_port(),
            dir: tempfile::tempdir().unwrap(),
            child: Mutex::new(None),
        };
        server.spawn();
        server
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn cli(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("redis-cli");
        cmd.args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(args);
        cmd
    }

    fn answers(&self) -> bool {
        self.cli(&["ping"])
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("PONG"))
    }

    /// Starts the server (again) on the same port and directory: a restart loads the AOF.
    fn spawn(&self) {
        let dir = self.dir.path();
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--save",
                "",
            ])
            .arg("--dir")
            .arg(dir)
            .arg("--logfile")
            .arg(dir.join("redis.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start redis-server (is it installed?): {e}"));
        *self.child.lock().unwrap() = Some(child);
        let start = Instant::now();
        while !self.answers() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "redis on port {} did not start",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `SHUTDOWN`: Redis writes its AOF and exits.
    fn stop(&self) {
        let _ = self.cli(&["shutdown"]).output();
        if let Some(mut child) = self.child.lock().unwrap().take() {
            let _ = child.wait();
        }
        assert!(!self.answers());
    }

    fn pid(&self) -> u32 {
        self.child.lock().unwrap().as_ref().unwrap().id()
    }

    fn hang(&self) {
        signal(self.pid(), "STOP");
    }

    fn resume(&self) {
        signal(self.pid(), "CONT");
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let child = self.child.get_mut().map_or(None, Option::take);
        if let Some(mut child) = child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The PostgreSQL server binaries.
fn pg_bin() -> PathBuf {
    if let Ok(bin) = std::env::var("TESSERA_TEST_PG_BIN") {
        return PathBuf::from(bin);
    }
    let mut bins: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path().join("bin"))
                .filter(|b| b.join("initdb").exists())
                .collect()
        })
        .unwrap_or_default();
    bins.sort_by_key(|b| {
        b.parent()
            .and_then(Path::file_name)
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
    });
    bins.pop().unwrap_or_else(|| {
        panic!(
            "no PostgreSQL server binaries: install postgresql, or set TESSERA_TEST_PG_BIN \
             (`source scripts/services` does both)"
        )
    })
}

/// A PostgreSQL cluster of this test's own (fsync off), run as the `postgres` user when the
/// test runs as root (the server refuses root).
struct PgServer {
    bin: PathBuf,
    port: u16,
    dir: TempDir,
    root: bool,
}

impl PgServer {
    fn start() -> Self {
        let bin = pg_bin();
        let dir = tempfile::tempdir().unwrap();
        let root = is_root();
        if root {
            run(Command::new("chown").arg("postgres:").arg(dir.path()));
        }
        let server = Self {
            bin,
            port: free_port(),
            dir,
            root,
        };
        run(server.tool("initdb").arg("-D").arg(server.data()).args([
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
        ]));
        server.spawn();
        server
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// A server binary, run as `postgres` when we are root.
    fn tool(&self, name: &str) -> Command {
        let path = self.bin.join(name);
        if self.root {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(path);
            cmd
        } else {
            Command::new(path)
        }
    }

    fn spawn(&self) {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off -c synchronous_commit=off",
            self.port,
            self.dir.path().display()
        );
        run(self
            .tool("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.dir.path().join("server.log"))
            .args(["-w", "-t", "30", "-o", &options, "start"]));
    }

    fn stop(&self) {
        run(self
            .tool("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "fast", "-w", "stop"]));
    }

    /// The postmaster and every backend.
    fn pids(&self) -> Vec<u32> {
        let pidfile = std::fs::read_to_string(self.data().join("postmaster.pid")).unwrap();
        let main: u32 = pidfile.lines().next().unwrap().trim().parse().unwrap();
        let children = Command::new("pgrep")
            .args(["-P", &main.to_string()])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        std::iter::once(main)
            .chain(children.lines().filter_map(|l| l.trim().parse().ok()))
            .collect()
    }

    fn hang(&self) {
        for pid in self.pids() {
            signal(pid, "STOP");
        }
    }

    fn resume(&self) {
        for pid in self.pids() {
            signal(pid, "CONT");
        }
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        if self.data().join("postmaster.pid").exists() {
            self.resume();
            let _ = self
                .tool("pg_ctl")
                .arg("-D")
                .arg(self.data())
                .args(["-m", "immediate", "-w", "stop"])
                .output();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The request stream
// ---------------------------------------------------------------------------------------------

/// One request of the stream.
#[derive(Debug)]
struct Sample {
    /// When it was sent, from the start of the run.
    at: Duration,
    took: Duration,
    status: u16,
    content_type: Option<String>,
    body: String,
}

/// Authorized requests on `STREAMS` connections until `stop` is set.
fn stream(
    srv: &Arc<TestServer>,
    access: &str,
    stop: &Arc<AtomicBool>,
    t0: Instant,
) -> JoinSet<Vec<Sample>> {
    let mut tasks = JoinSet::new();
    for n in 0..STREAMS {
        let (srv, stop, access) = (Arc::clone(srv), Arc::clone(stop), access.to_owned());
        tasks.spawn(async move {
            let mut samples = Vec::new();
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                // Mostly reads, some writes: both need the session store and the database.
                let rb = if (i + n as u64).is_multiple_of(4) {
                    srv.post_json("/notes", &json!({ "body": format!("note {n}-{i}") }))
                } else {
                    srv.get("/notes")
                };
                let sent = Instant::now();
                let r = send(rb.bearer_auth(&access)).await;
                let took = sent.elapsed();
                samples.push(Sample {
                    at: sent - t0,
                    took,
                    status: r.status,
                    content_type: r.header("content-type"),
                    body: r.text(),
                });
                if r.status != 200 && r.status != 201 {
                    // Failing fast must not turn into a busy loop on a 2-core machine.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            samples
        });
    }
    tasks
}

/// A timed `/readyz`.
async fn readyz(srv: &TestServer) -> (u16, Value, Duration) {
    let start = Instant::now();
    let r = send(srv.get("/readyz")).await;
    (r.status, r.json(), start.elapsed())
}

/// Which way a store goes away.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// The process exits (and is started again).
    Stopped,
    /// The process stops answering (SIGSTOP), then continues (SIGCONT).
    Hung,
}

/// Runs the stream through one outage of the store named `down` (`sessions` or `database`):
/// `break_it` takes it away, `heal` brings it back. Returns a one-line summary.
async fn outage(
    srv: &Arc<TestServer>,
    login: &Login,
    fault: Fault,
    down: &str,
    break_it: impl FnOnce(),
    heal: impl FnOnce(),
) -> String {
    let t0 = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = stream(srv, &login.access, &stop, t0);

    // Healthy first.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let broken_at = t0.elapsed();
    tokio::task::block_in_place(break_it);

    // During the outage /readyz names the store.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, body, took) = readyz(srv).await;
    assert_eq!(status, 503, "{fault:?} {down}: /readyz {body}");
    assert_eq!(body["down"], json!([down]), "{fault:?}: {body}");
    assert_eq!(body["stores"][down]["status"], "down", "{body}");
    assert_eq!(body["status"], "unavailable", "{body}");
    assert!(
        took < ANSWER_BOUND,
        "{fault:?} {down}: /readyz took {took:?}"
    );
    tokio::time::sleep(OUTAGE.saturating_sub(Duration::from_millis(300))).await;

    let healed_at = t0.elapsed();
    tokio::task::block_in_place(heal);
    let back_at = t0.elapsed();
    // Service resumes by itself: wait for the first success after the store is back.
    let recovered = loop {
        let r = send(srv.get("/notes").bearer_auth(&login.access)).await;
        if r.status == 200 {
            break t0.elapsed();
        }
        assert!(
            t0.elapsed() - back_at < RECOVERY_BOUND,
            "{fault:?} {down}: no success {RECOVERY_BOUND:?} after the store came back (last: {} {})",
            r.status,
            r.text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let mut samples = Vec::new();
    while let Some(done) = tasks.join_next().await {
        samples.extend(done.unwrap());
    }

    // Every answer: a success, or a 503 problem within the bound.
    let mut failures = 0;
    let mut slowest_failure = Duration::ZERO;
    for s in &samples {
        assert!(
            s.took < ANSWER_BOUND,
            "{fault:?} {down}: a request sent at {:?} took {:?} (status {})",
            s.at,
            s.took,
            s.status
        );
        if s.status == 200 || s.status == 201 {
            continue;
        }
        failures += 1;
        slowest_failure = slowest_failure.max(s.took);
        assert_eq!(
            s.status, 503,
            "{fault:?} {down}: sent at {:?}: {}",
            s.at, s.body
        );
        assert_eq!(
            s.content_type.as_deref(),
            Some("application/problem+json"),
            "{fault:?} {down}: {}",
            s.body
        );
        let body: Value = serde_json::from_str(&s.body).unwrap();
        assert_eq!(body["type"], "urn:tessera:problem:unavailable", "{body}");
        // Failures happen only while the store is away, or until service resumes.
        assert!(
            s.at + s.took >= broken_at && s.at <= back_at + RECOVERY_BOUND,
            "{fault:?} {down}: a failure outside the outage, sent at {:?}: {}",
            s.at,
            s.body
        );
    }
    let during = samples
        .iter()
        .filter(|s| s.at > broken_at + Duration::from_millis(100) && s.at + s.took < healed_at)
        .count();
    assert!(
        failures > 0 && during > 0,
        "{fault:?} {down}: the outage was not noticed"
    );
    let ok_after = samples
        .iter()
        .filter(|s| s.at > recovered && s.status < 300)
        .count();
    assert!(ok_after > 0, "{fault:?} {down}: no success after recovery");

    // The server is alive and ready, and the session from before the outage still works.
    let (status, body, _) = readyz(srv).await;
    assert_eq!(status, 200, "{body}");
    let r = send(srv.get("/auth/me").bearer_auth(&login.access)).await;
    assert_eq!(
        r.status,
        200,
        "{fault:?} {down}: session after the outage: {}",
        r.text()
    );

    format!(
        "{fault:?} {down}: {} requests, {failures} failed (all 503 problem+json, slowest {:?}), \
         service back {:?} after the store",
        samples.len(),
        slowest_failure,
        recovered - back_at
    )
}

fn assert_no_panic() {
    let logs = testkit::logs::captured();
    assert!(
        !logs.contains("panicked"),
        "a request handler panicked during an outage"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outages_fail_fast_and_service_resumes() {
    let redis = RedisServer::start();
    let dep = Deployment::new(&redis.url(), &testkit::service_url(DATABASE_URL_VAR)).await;
    let srv = Arc::new(
        Options::new(testkit::Store::PgRedis)
            .shared(&dep)
            .start()
            .await,
    );
    srv.create_user("alice@example.com", testkit::PASSWORD)
        .await;
    let login = srv.login("alice@example.com", testkit::PASSWORD).await;
    // Let `appendfsync everysec` write the session out, as it would in any real minute.
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let stopped = outage(
        &srv,
        &login,
        Fault::Stopped,
        "sessions",
        || redis.stop(),
        || redis.spawn(),
    )
    .await;
    let hung = outage(
        &srv,
        &login,
        Fault::Hung,
        "sessions",
        || redis.hang(),
        || redis.resume(),
    )
    .await;

    // Refresh rotation works after both outages (the session's family survived the restart).
    let r = send(
        srv.req(reqwest::Method::POST, "/auth/refresh")
            .header("x-refresh-token", &login.refresh),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_no_panic();
    eprintln!("{stopped}\n{hung}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outages_fail_fast_and_service_resumes() {
    let pg = PgServer::start();
    let dep = Deployment::new(&testkit::service_url(REDIS_URL_VAR), &pg.url()).await;
    let srv = Arc::new(
        Options::new(testkit::Store::PgRedis)
            .shared(&dep)
            .start()
            .await,
    );
    srv.create_user("alice@example.com", testkit::PASSWORD)
        .await;
    let login = srv.login("alice@example.com", testkit::PASSWORD).await;

    let stopped = outage(
        &srv,
        &login,
        Fault::Stopped,
        "database",
        || pg.stop(),
        || pg.spawn(),
    )
    .await;
    let hung = outage(
        &srv,
        &login,
        Fault::Hung,
        "database",
        || pg.hang(),
        || pg.resume(),
    )
    .await;

    // The account and its notes are still there.
    let r = send(srv.get("/notes").bearer_auth(&login.access)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(!r.json()["notes"].as_array().unwrap().is_empty());
    assert_no_panic();
    eprintln!("{stopped}\n{hung}");
}
