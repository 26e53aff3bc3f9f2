//! A Redis [`SessionStore`] for Tessera: sessions, refresh families, relay codes and login
//! throttling counters shared by every API instance, on one Redis (or Valkey) server or a
//! Redis Cluster.
//!
//! # Design
//!
//! - **Every key is named.** A session is one hash, `<prefix>s:{<session id>}`; a refresh
//!   token names its session, so `authorize` and `refresh` go straight to it. A user's
//!   sessions are listed by a set, `<prefix>u:{<user id>}`. Relay codes and counters are
//!   keyed by their hash or name. Nothing runs `KEYS` or `SCAN`: every operation is O(1) in the
//!   number of sessions (O(sessions of one user) for the per-user calls).
//! - **One script per decision.** [`SessionStore::rotate`] is one Lua script that makes
//!   exactly the decision of [`SessionRecord::classify`] and applies
//!   [`SessionRecord::apply_rotation`], so concurrent refreshes on any number of API instances
//!   see exactly one rotation. Scripts run by `EVALSHA`, falling back to `EVAL` (script load)
//!   when the server does not know them yet, for example after a restart.
//! - **Cluster-ready.** The braces are hash tags: all keys one script touches live in one
//!   slot, so the same scripts run on a Redis Cluster ([`RedisStore::connect_cluster`]).
//! - **`delete_all` bumps an epoch.** Every record carries the epoch it was created in, and
//!   every script reads the current epoch in the same atomic step; a record of an earlier
//!   epoch is dead. On one server there is one epoch hash, so ending every session is one
//!   `HINCRBY`. On a cluster each of the 16,384 hash slots has its own epoch hash, named to
//!   live in that slot, so scripts still touch one slot and no single key is read by every
//!   call; `delete_all` then bumps all of them (a fixed cost, whatever the number of
//!   sessions). Dead records disappear by their TTL.
//! - **Time comes from the caller.** Liveness is decided only by the `now` argument. TTLs
//!   (`PEXPIREAT` at the record's effective expiry) only clean up, so nothing outlives its
//!   session.
//! - **Bounded calls.** Every call finishes within the configured timeout (default
//!   [`DEFAULT_TIMEOUT`]), and within the request's store budget when the server set one
//!   ([`tessera_core::deadline`]), with a result or [`StoreError::Timeout`] /
//!   [`StoreError::Unavailable`]; the connection reconnects by itself.
//!
//! `docs/redis.md` in the repository describes the key layout, the scripts' contracts and
//! the failure modes in detail.
//!
//! ```no_run
//! # async fn demo() -> Result<(), tessera_core::StoreError> {
//! use std::time::Duration;
//! use tessera_store_redis::RedisStore;
//!
//! let store = RedisStore::connect("redis://127.0.0.1:6379/").await?;
//! let cluster = RedisStore::builder()
//!     .prefix("myapp:")
//!     .timeout(Duration::from_millis(250))
//!     .connect_cluster(["redis://10.0.0.1:6379/", "redis://10.0.0.2:6379/"])
//!     .await?;
//! # let _ = (store, cluster);
//! # Ok(())
//! # }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::stream::{self, StreamExt, TryStreamExt};
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::Slot;
use redis::{Cmd, Pipeline, RedisError, RedisFuture, Script, ScriptInvocation, Value};
use tessera_core::clock::Timestamp;
use tessera_core::deadline;
use tessera_core::ids::{SessionId, UserId};
use tessera_core::refresh::TokenHash;
use tessera_core::store::{
    Hits, RotateOutcome, RotateRequest, SUPERSEDED_KEPT, SessionRecord, SessionStore, StoreError,
};

mod codec;
mod scripts;

use codec::{corrupt, decode_record, integer, millis, optional_text};
use scripts::Scripts;

/// The key prefix used unless [`RedisStoreBuilder::prefix`] sets another.
pub const DEFAULT_PREFIX: &str = "tessera:";

/// How long a store call may take, unless [`RedisStoreBuilder::timeout`] sets another.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(500);

/// How long connecting may take, unless [`RedisStoreBuilder::connect_timeout`] sets another.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest key prefix accepted.
pub const MAX_PREFIX_LEN: usize = 64;

/// Connection attempts per reconnection cycle of a single-node connection (after the first).
const RECONNECT_ATTEMPTS: usize = 2;

/// How many session keys a per-user call (list, delete) works on at once.
const FAN_OUT: usize = 64;

/// On a cluster, `delete_all` makes one call per hash slot; it may take this many times the
/// call timeout.
pub const CLUSTER_DELETE_ALL_TIMEOUT_FACTOR: u32 = 20;

/// How many epoch hashes a cluster `delete_all` bumps at once. Each bump is a tiny script;
/// the multiplexed node connections pipeline them.
const EPOCH_FAN_OUT: usize = 128;

/// Hash slots in a Redis Cluster.
const SLOTS: usize = 16_384;

/// How many sessions [`RedisStore::import`] sends per pipeline.
const IMPORT_BATCH: usize = 500;

/// Why a store could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The key prefix would break the key layout.
    #[error("invalid redis key prefix: {0}")]
    InvalidPrefix(&'static str),
    /// A timeout of zero would fail every call.
    #[error("redis timeouts must be greater than zero")]
    ZeroTimeout,
    /// [`RedisStore::connect_cluster`] got no node URL.
    #[error("no redis cluster node URL given")]
    NoNodes,
    /// A URL did not parse. The URL itself is not repeated: it may hold a password.
    #[error("invalid redis URL: {0}")]
    InvalidUrl(String),
    /// The server did not answer.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ConnectError> for StoreError {
    fn from(e: ConnectError) -> Self {
        match e {
            ConnectError::Store(e) => e,
            other => StoreError::Unavailable(other.to_string()),
        }
    }
}

/// Settings for a [`RedisStore`]; see [`RedisStore::builder`].
#[derive(Debug, Clone)]
pub struct RedisStoreBuilder {
    prefix: String,
    timeout: Duration,
    connect_timeout: Duration,
}

impl Default for RedisStoreBuilder {
    fn default() -> Self {
        Self {
            prefix: DEFAULT_PREFIX.to_owned(),
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }
}

impl RedisStoreBuilder {
    /// The prefix of every key (default [`DEFAULT_PREFIX`]). Several applications, or test
    /// runs, can share one server by using different prefixes. At most [`MAX_PREFIX_LEN`]
    /// bytes, without braces (they would change the cluster hash tags), spaces or control
    /// characters.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The most a store call may take, retries and reconnects included (default
    /// [`DEFAULT_TIMEOUT`]). It also bounds each request to the server.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The most connecting may take (default [`DEFAULT_CONNECT_TIMEOUT`]); a cluster
    /// connection also discovers the slot map in that time.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    fn check(&self) -> Result<(), ConnectError> {
        if self.prefix.len() > MAX_PREFIX_LEN {
            return Err(ConnectError::InvalidPrefix("longer than 64 bytes"));
        }
        if self
            .prefix
            .chars()
            .any(|c| c == '{' || c == '}' || c.is_whitespace() || c.is_control())
        {
            return Err(ConnectError::InvalidPrefix(
                "braces, spaces and control characters are not allowed",
            ));
        }
        if self.timeout.is_zero() || self.connect_timeout.is_zero() {
            return Err(ConnectError::ZeroTimeout);
        }
        Ok(())
    }

    /// Connects to one server: `redis://[user:password@]host[:port][/db]`, or `rediss://`
    /// for TLS (verified against the system's root certificates).
    ///
    /// The connection is multiplexed (one socket carries concurrent calls) and reconnects by
    /// itself after a failure; calls made while it is down fail fast with
    /// [`StoreError::Unavailable`].
    pub async fn connect(self, url: &str) -> Result<RedisStore, ConnectError> {
        self.check()?;
        if url.starts_with("rediss:") || url.starts_with("valkeys:") {
            ensure_crypto_provider();
        }
        let client =
            redis::Client::open(url).map_err(|e| ConnectError::InvalidUrl(e.to_string()))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.connect_timeout.min(self.timeout)))
            .set_response_timeout(Some(self.timeout))
            // A reconnection cycle is short (a few quick attempts), so calls made during an
            // outage fail fast instead of queueing behind a long backoff; the next call after
            // a failed cycle starts a new one, so a Redis restart never needs an API restart.
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(500))
            .set_number_of_retries(RECONNECT_ATTEMPTS);
        let manager = tokio::time::timeout(
            self.connect_timeout,
            ConnectionManager::new_with_config(client, config),
        )
        .await
        .map_err(|_| StoreError::Timeout)?
        .map_err(backend)?;
        Ok(self.build(Conn::Single(manager)))
    }

    /// Connects to a Redis Cluster through any of its nodes (the others are discovered).
    ///
    /// Each request goes to the node owning its slot; `MOVED`/`ASK` redirects and failovers
    /// are followed within the call's timeout.
    pub async fn connect_cluster<I, S>(self, urls: I) -> Result<RedisStore, ConnectError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.check()?;
        let urls: Vec<String> = urls.into_iter().map(|u| u.as_ref().to_owned()).collect();
        if urls.is_empty() {
            return Err(ConnectError::NoNodes);
        }
        if urls
            .iter()
            .any(|u| u.starts_with("rediss:") || u.starts_with("valkeys:"))
        {
            ensure_crypto_provider();
        }
        let client = ClusterClientBuilder::new(urls.iter().map(String::as_str))
            .connection_timeout(self.connect_timeout.min(self.timeout))
            .response_timeout(self.timeout)
            .overall_response_timeout(Some(self.timeout))
            .build()
            .map_err(|e| ConnectError::InvalidUrl(e.to_string()))?;
        let conn = tokio::time::timeout(self.connect_timeout, client.get_async_connection())
            .await
            .map_err(|_| StoreError::Timeout)?
            .map_err(backend)?;
        Ok(self.build(Conn::Cluster(conn)))
    }

    fn build(self, conn: Conn) -> RedisStore {
        let slot_tags = match conn {
            Conn::Single(_) => None,
            Conn::Cluster(_) => Some(slot_tags()),
        };
        RedisStore {
            conn,
            keys: Keys {
                prefix: self.prefix,
                slot_tags,
            },
            scripts: Scripts::new(),
            timeout: self.timeout,
        }
    }
}

/// Makes sure rustls has a process-wide crypto provider before a TLS connection is made.
/// rustls refuses to pick one when none, or several, are compiled in; ours is aws-lc-rs, like
/// the rest of the workspace. An application that installed its own keeps it.
fn ensure_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing the race to another installer is fine: a provider is then installed.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    }
}

/// The Redis session store. Cloning is cheap and shares the connection.
#[derive(Clone)]
pub struct RedisStore {
    conn: Conn,
    keys: Keys,
    scripts: Scripts,
    timeout: Duration,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field(
                "mode",
                &match self.conn {
                    Conn::Single(_) => "single",
                    Conn::Cluster(_) => "cluster",
                },
            )
            .field("prefix", &self.keys.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// The two connection kinds behind one interface.
#[derive(Clone)]
enum Conn {
    /// One server: a multiplexed connection that reconnects by itself.
    Single(ConnectionManager),
    /// A Redis Cluster: one multiplexed connection per node, routed by slot.
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// For every hash slot, a short string that hashes to it: `{prefix}epoch:{<tag>}` is then
/// the epoch hash living in that slot. Computed once per process (about 170,000 CRC16s of a
/// few bytes, a few milliseconds), shared by every cluster store.
fn slot_tags() -> &'static HashMap<Slot, String> {
    static TAGS: OnceLock<HashMap<Slot, String>> = OnceLock::new();
    TAGS.get_or_init(|| {
        let mut tags = HashMap::with_capacity(SLOTS);
        // Hex counters cover every slot long before five digits run out.
        for i in 0u32..(1 << 20) {
            let tag = format!("{i:x}");
            tags.entry(Slot::for_key(&tag)).or_insert(tag);
            if tags.len() == SLOTS {
                break;
            }
        }
        tags
    })
}

/// The key layout (see `docs/redis.md`).
#[derive(Clone)]
struct Keys {
    prefix: String,
    /// Cluster only: a tag per slot, for the per-slot epoch hashes.
    slot_tags: Option<&'static HashMap<Slot, String>>,
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keys")
            .field("prefix", &self.prefix)
            .field("per_slot_epochs", &self.slot_tags.is_some())
            .finish()
    }
}

impl Keys {
    /// A session's hash. The braces make the session id the hash tag.
    fn session(&self, id: &SessionId) -> String {
        format!("{}s:{{{}}}", self.prefix, id.as_str())
    }

    /// The epoch hash that governs the session key `session_key`: the only one on a single
    /// server, the one in the key's slot on a cluster.
    fn epoch_for(&self, session_key: &str) -> String {
        match self
            .slot_tags
            .and_then(|tags| tags.get(&Slot::for_key(session_key)))
        {
            Some(tag) => self.slot_epoch(tag),
            None => format!("{}epoch", self.prefix),
        }
    }

    fn slot_epoch(&self, tag: &str) -> String {
        format!("{}epoch:{{{tag}}}", self.prefix)
    }

    /// Every epoch hash: one, or one per slot.
    fn epochs(&self) -> Vec<String> {
        match self.slot_tags {
            Some(tags) => tags.values().map(|t| self.slot_epoch(t)).collect(),
            None => vec![format!("{}epoch", self.prefix)],
        }
    }

    /// A user's set of session ids. A user id holding `}` only moves the set to another slot;
    /// key names stay distinct because the whole id is in the name.
    fn user(&self, user: &UserId) -> String {
        format!("{}u:{{{}}}", self.prefix, user.as_str())
    }

    fn relay(&self, code: &TokenHash) -> String {
        format!("{}r:{}", self.prefix, code.to_hex())
    }

    fn counter(&self, key: &str) -> String {
        format!("{}c:{}", self.prefix, key)
    }
}

impl RedisStore {
    /// Connects to one server with the default settings; see [`RedisStoreBuilder::connect`].
    pub async fn connect(url: &str) -> Result<Self, ConnectError> {
        Self::builder().connect(url).await
    }

    /// Connects to a Redis Cluster with the default settings; see
    /// [`RedisStoreBuilder::connect_cluster`].
    pub async fn connect_cluster<I, S>(urls: I) -> Result<Self, ConnectError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self::builder().connect_cluster(urls).await
    }

    /// Settings: key prefix and timeouts.
    pub fn builder() -> RedisStoreBuilder {
        RedisStoreBuilder::default()
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.keys.prefix
    }

    /// The bound on every call.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Whether this store talks to a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self.conn, Conn::Cluster(_))
    }

    /// Stores many sessions at once (a migration from another store, a benchmark fixture),
    /// with the same layout and checks as [`SessionStore::create`]; returns how many were
    /// created (a session whose id exists already is skipped).
    ///
    /// On one server the sessions go out in pipelines of a few hundred, each bounded by the
    /// call timeout; on a cluster they are created one by one, several at a time.
    pub async fn import(&self, records: &[SessionRecord]) -> Result<u64, StoreError> {
        if self.is_cluster() {
            let created = stream::iter(records)
                .map(|r| async move {
                    match self.create(r).await {
                        Ok(()) => Ok(1),
                        Err(StoreError::Unavailable(m)) if m.contains("collision") => Ok(0),
                        Err(e) => Err(e),
                    }
                })
                .buffer_unordered(FAN_OUT)
                .try_fold(0u64, |n, c| async move { Ok(n + c) })
                .await?;
            return Ok(created);
        }
        let mut conn = self.conn.clone();
        // Pipelined EVALSHA cannot fall back to EVAL per command, so load the scripts first.
        self.bounded(async {
            for script in [&self.scripts.create, &self.scripts.user_add] {
                script
                    .prepare_invoke()
                    .load_async(&mut conn)
                    .await
                    .map_err(backend)?;
            }
            Ok(())
        })
        .await?;
        let mut created = 0;
        for batch in records.chunks(IMPORT_BATCH) {
            let mut pipe = redis::pipe();
            for r in batch {
                let session = self.keys.session(&r.id);
                let epoch = self.keys.epoch_for(&session);
                let create = pipe
                    .cmd("EVALSHA")
                    .arg(self.scripts.create.get_hash())
                    .arg(2)
                    .arg(session)
                    .arg(epoch)
                    .arg(r.effective_expiry().as_millis());
                for (field, value) in codec::encode_record(r) {
                    create.arg(field).arg(value);
                }
                pipe.cmd("EVALSHA")
                    .arg(self.scripts.user_add.get_hash())
                    .arg(1)
                    .arg(self.keys.user(&r.user_id))
                    .arg(r.id.as_str())
                    .arg(r.expires_at.as_millis())
                    .ignore();
            }
            let replies: Vec<i64> = self
                .bounded(async { pipe.query_async(&mut conn).await.map_err(backend) })
                .await?;
            created += replies.iter().filter(|&&c| c == 1).count() as u64;
        }
        Ok(created)
    }

    /// Runs `fut` within the call timeout, and within what is left of the request's store
    /// budget when the server set one ([`tessera_core::deadline`]).
    async fn bounded<T>(
        &self,
        fut: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        deadline::bounded(self.timeout, fut).await
    }

    /// A session script invocation: `KEYS[1]` = the session, `KEYS[2]` = its epoch hash.
    /// Arguments follow.
    fn session_call<'s>(&self, script: &'s Script, id: &SessionId) -> ScriptInvocation<'s> {
        let session = self.keys.session(id);
        let epoch = self.keys.epoch_for(&session);
        let mut call = script.key(session);
        call.key(epoch);
        call
    }

    /// Removes ids from a user's set. Best effort: a leftover id is pruned when the user's
    /// sessions are next listed.
    async fn unindex(&self, conn: &mut Conn, user: &UserId, ids: &[&str]) {
        if ids.is_empty() {
            return;
        }
        let result: Result<i64, _> = redis::cmd("SREM")
            .arg(self.keys.user(user))
            .arg(ids)
            .query_async(conn)
            .await;
        if let Err(e) = result {
            tracing::debug!(error = %e, "redis store: could not unindex sessions");
        }
    }

    async fn delete_with(
        &self,
        conn: &mut Conn,
        id: &SessionId,
    ) -> Result<Option<Deleted>, StoreError> {
        let reply: Value = self
            .session_call(&self.scripts.delete, id)
            .invoke_async(conn)
            .await
            .map_err(backend)?;
        decode_deleted(reply)
    }

    /// Runs a session script that takes no argument on many sessions, answering in the order
    /// of `ids`. On one server that is a single pipeline (one round trip for a user's whole
    /// device list); on a cluster the sessions live on different nodes, so the calls go out
    /// separately, [`FAN_OUT`] at a time.
    async fn run_many(
        &self,
        conn: &mut Conn,
        script: &Script,
        ids: &[SessionId],
    ) -> Result<Vec<Value>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        if self.is_cluster() {
            // Owned ids: a closure over borrowed ones is not `Send` enough for async_trait.
            return stream::iter(ids.to_vec())
                .map(|id| {
                    let mut conn = self.conn.clone();
                    async move {
                        self.session_call(script, &id)
                            .invoke_async::<Value>(&mut conn)
                            .await
                            .map_err(backend)
                    }
                })
                .buffered(FAN_OUT)
                .try_collect()
                .await;
        }
        let pipe = || {
            let mut pipe = redis::pipe();
            for id in ids {
                let session = self.keys.session(id);
                let epoch = self.keys.epoch_for(&session);
                pipe.cmd("EVALSHA")
                    .arg(script.get_hash())
                    .arg(2)
                    .arg(session)
                    .arg(epoch);
            }
            pipe
        };
        match pipe().query_async(conn).await {
            // A pipeline cannot fall back to EVAL per command: load the script, send again.
            Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => {
                script
                    .prepare_invoke()
                    .load_async(conn)
                    .await
                    .map_err(backend)?;
                pipe().query_async(conn).await.map_err(backend)
            }
            result => result.map_err(backend),
        }
    }

    /// The user's indexed session ids; entries that are not session ids at all (never
    /// written by this store) are dropped from the set.
    async fn members(&self, conn: &mut Conn, user: &UserId) -> Result<Vec<SessionId>, StoreError> {
        let members: Vec<String> = redis::cmd("SMEMBERS")
            .arg(self.keys.user(user))
            .query_async(conn)
            .await
            .map_err(backend)?;
        let mut ids = Vec::with_capacity(members.len());
        let mut junk = Vec::new();
        for member in &members {
            match SessionId::parse(member) {
                Some(id) => ids.push(id),
                None => junk.push(member.as_str()),
            }
        }
        self.unindex(conn, user, &junk).await;
        Ok(ids)
    }
}

/// What `DELETE` found.
struct Deleted {
    /// Whether the session was alive in the current epoch.
    alive: bool,
    user: Option<UserId>,
}

/// Decodes `DELETE`'s reply.
fn decode_deleted(reply: Value) -> Result<Option<Deleted>, StoreError> {
    match reply {
        Value::Nil => Ok(None),
        Value::Array(v) => {
            let mut v = v.into_iter();
            let alive = integer(v.next().unwrap_or(Value::Nil))? == 1;
            let user = optional_text(v.next().unwrap_or(Value::Nil))?.and_then(UserId::new);
            Ok(Some(Deleted { alive, user }))
        }
        _ => Err(corrupt("unexpected reply to DELETE")),
    }
}

#[async_trait]
impl SessionStore for RedisStore {
    fn name(&self) -> &'static str {
        "redis"
    }

    async fn create(&self, record: &SessionRecord) -> Result<(), StoreError> {
        self.bounded(async {
            let mut conn = self.conn.clone();
            let mut call = self.session_call(&self.scripts.create, &record.id);
            call.arg(record.effective_expiry().as_millis());
            for (field, value) in codec::encode_record(record) {
                call.arg(field).arg(value);
            }
            let created: i64 = call.invoke_async(&mut conn).await.map_err(backend)?;
            if created != 1 {
                return Err(StoreError::Unavailable("session id collision".into()));
            }
            // Indexed only once the session exists, so an index entry without its session
            // always means the session has ended, and listing may prune it. If this call
            // dies in between, the session has no index entry, but its creator never handed
            // out its tokens, so nobody can use it; it expires with its TTL.
            let indexed: Result<i64, _> = self
                .scripts
                .user_add
                .key(self.keys.user(&record.user_id))
                .arg(record.id.as_str())
                .arg(record.expires_at.as_millis())
                .invoke_async(&mut conn)
                .await;
            if let Err(e) = indexed {
                // A session that "logout everywhere" could not find must not be used.
                let _ = self.delete_with(&mut conn, &record.id).await;
                return Err(backend(e));
            }
            Ok(())
        })
        .await
    }

    async fn get(
        &self,
        id: &SessionId,
        now: Timestamp,
    ) -> Result<Option<SessionRecord>, StoreError> {
        self.bounded(async {
            let mut conn = self.conn.clone();
            let reply: Value = self
                .session_call(&self.scripts.get, id)
                .invoke_async(&mut conn)
                .await
                .map_err(backend)?;
            match reply {
                Value::Nil => Ok(None),
                fields => Ok(Some(decode_record(id, fields)?).filter(|r| r.is_live(now))),
            }
        })
        .await
    }

    async fn touch(&self, id: &SessionId, now: Timestamp) -> Result<(), StoreError> {
        self.bounded(async {
            let mut conn = self.conn.clone();
            let _live: i64 = self
                .session_call(&self.scripts.touch, id)
                .arg(now.as_millis())
                .invoke_async(&mut conn)
                .await
                .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn rotate(
        &self,
        req: &RotateRequest,
        now: Timestamp,
    ) -> Result<RotateOutcome, StoreError> {
        self.bounded(async {
            let mut conn = self.conn.clone();
            let grace_ms = i64::try_from(req.grace.as_millis()).unwrap_or(i64::MAX);
            let idle = req
                .idle_expires_at
                .map(|t| t.as_millis().to_string())
                .unwrap_or_default();
            let reply: Value = self
                .session_call(&self.scripts.rotate, &req.session_id)
                .arg(now.as_millis())
                .arg(req.presented.to_hex())
                .arg(req.successor.to_hex())
                .arg(grace_ms)
                .arg(idle)
                .arg(SUPERSEDED_KEPT)
                .invoke_async(&mut conn)
                .await
                .map_err(backend)?;
            let Value::Array(parts) = reply else {
                return Err(corrupt("unexpected reply to ROTATE"));
            };
            let mut parts = parts.into_iter();
            let tag = optional_text(parts.next().unwrap_or(Value::Nil))?;
            let rest = parts.next().unwrap_or(Value::Nil);
            match tag.as_deref() {
                Some("rotated") => Ok(RotateOutcome::Rotated(decode_record(
                    &req.session_id,
                    rest,
                )?)),
                Some("grace") => Ok(RotateOutcome::Grace(decode_record(&req.session_id, rest)?)),
                Some("reused") => {
                    let user_id = optional_text(rest)?
                        .and_then(UserId::new)
                        .ok_or_else(|| corrupt("reused session without a valid user"))?;
                    self.unindex(&mut conn, &user_id, &[req.session_id.as_str()])
                        .await;
                    Ok(RotateOutcome::Reused { user_id })
                }
                Some("notfound") => Ok(RotateOutcome::NotFound),
                _ => Err(corrupt("unexpected reply to ROTATE")),
            }
        })
        .await
    }

    async fn delete(&self, id: &SessionId) -> Result<bool, StoreError> {
        self.bounded(async {
            let mut conn = self.conn.clone();
            let Some(deleted) = self.delete_with(&mut conn, id).await? else {
                return Ok(false);
            };
            if let Some(user) = &deleted.user {
                self.unindex(&mut conn, user, &[id.as_str()]).await;
            }
            Ok(deleted.alive)
        })
        .await
    }

    async fn delete_user(&self, user: &UserId) -> Result<u64, StoreError> {
        self.bounded(async {
            let mut conn = self.conn.clone();
            let ids = self.members(&mut conn, user).await?;
            let replies = self.run_many(&mut conn, &self.scripts.delete, &ids).await?;
            let mut ended = 0u64;
            for reply in replies {
                ended += u64::from(decode_deleted(reply)?.is_some_and(|d| d.alive));
            }
            // Only the ids handled here leave the set (never `DEL` of the set): a session
            // created meanwhile keeps its entry.
            let done: Vec<&str> = ids.iter().map(SessionId::as_str).collect();
            self.unindex(&mut conn, user, &done).await;
            Ok(ended)
        })
        .await
    }

    async fn delete_all(&self) -> Result<u64, StoreError> {
        let bump = async {
            let epochs = self.keys.epochs();
            stream::iter(epochs)
                .map(|key| {
                    let mut conn = self.conn.clone();
                    async move {
                        self.scripts
                            .delete_all
                            .key(key)
                            .invoke_async::<i64>(&mut conn)
                            .await
                            .map_err(backend)
                    }
                })
                .buffer_unordered(EPOCH_FAN_OUT)
                .try_fold(0u64, |n, c| async move {
                    Ok(n.saturating_add(u64::try_from(c).unwrap_or(0)))
                })
                .await
        };
        // On a cluster this is one call per slot: a fixed cost, but more than one call's.
        let limit = if self.is_cluster() {
            self.timeout
                .saturating_mul(CLUSTER_DELETE_ALL_TIMEOUT_FACTOR)
        } else {
            self.timeout
        };
        deadline::bounded(limit, bump).await
    }

    async fn list_user(
        &self,
        user: &UserId,
        now: Timestamp,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        self.bounded(async {
            let mut conn = self.conn.clone();
            let ids = self.members(&mut conn, user).await?;
            let replies = self.run_many(&mut conn, &self.scripts.get, &ids).await?;
            let mut live = Vec::new();
            let mut gone = Vec::new();
            for (id, reply) in ids.iter().zip(replies) {
                match reply {
                    // Prune only entries whose session is gone or of an earlier epoch: those
                    // can never come back. A session that is merely expired at this `now`
                    // stays indexed until its key expires, so a caller with another clock
                    // never loses one.
                    Value::Nil => gone.push(id.as_str()),
                    fields => {
                        let record = decode_record(id, fields)?;
                        if record.is_live(now) && &record.user_id == user {
                            live.push(record);
                        }
                    }
                }
            }
            self.unindex(&mut conn, user, &gone).await;
            live.sort_by(|a, b| {
                b.created_at
                    .cmp(&a.created_at)
                    .then_with(|| a.id.cmp(&b.id))
            });
            Ok(live)
        })
        .await
    }

    async fn put_relay_code(
        &self,
        code: &TokenHash,
        session: &SessionId,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        self.bounded(async {
            let mut conn = self.conn.clone();
            // The expiry is stored with the session id, because liveness is decided by the
            // caller's `now`, not by the TTL.
            let value = format!("{}:{}", expires_at.as_millis(), session.as_str());
            let _: Value = redis::cmd("SET")
                .arg(self.keys.relay(code))
                .arg(value)
                .arg("PXAT")
                .arg(expires_at.as_millis().max(1))
                .query_async(&mut conn)
                .await
                .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn take_relay_code(
        &self,
        code: &TokenHash,
        now: Timestamp,
    ) -> Result<Option<SessionId>, StoreError> {
        self.bounded(async {
            let mut conn = self.conn.clone();
            // GETDEL: exactly one of any number of concurrent redemptions gets the value.
            let value: Option<String> = redis::cmd("GETDEL")
                .arg(self.keys.relay(code))
                .query_async(&mut conn)
                .await
                .map_err(backend)?;
            let Some(value) = value else {
                return Ok(None);
            };
            let (expires, sid) = value
                .split_once(':')
                .ok_or_else(|| corrupt("relay code value is not <expiry>:<session>"))?;
            let sid =
                SessionId::parse(sid).ok_or_else(|| corrupt("relay code: invalid session id"))?;
            Ok((now < millis(expires)?).then_some(sid))
        })
        .await
    }

    async fn hit(&self, key: &str, window: Duration, now: Timestamp) -> Result<Hits, StoreError> {
        self.bounded(async {
            let mut conn = self.conn.clone();
            let (count, resets_at): (i64, i64) = self
                .scripts
                .hit
                .key(self.keys.counter(key))
                .arg(now.as_millis())
                .arg(now.plus(window).as_millis())
                .invoke_async(&mut conn)
                .await
                .map_err(backend)?;
            Ok(Hits {
                count: u32::try_from(count).map_err(|_| corrupt("counter out of range"))?,
                resets_at: Timestamp::from_millis(resets_at),
            })
        })
        .await
    }

    async fn hits(&self, key: &str, now: Timestamp) -> Result<Option<Hits>, StoreError> {
        self.bounded(async {
            let mut conn = self.conn.clone();
            let (count, resets_at): (Option<String>, Option<String>) = redis::cmd("HMGET")
                .arg(self.keys.counter(key))
                .arg("n")
                .arg("r")
                .query_async(&mut conn)
                .await
                .map_err(backend)?;
            let (Some(count), Some(resets_at)) = (count, resets_at) else {
                return Ok(None);
            };
            let hits = Hits {
                count: count.parse().map_err(|_| corrupt("counter out of range"))?,
                resets_at: millis(&resets_at)?,
            };
            Ok((now < hits.resets_at).then_some(hits))
        })
        .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.bounded(async {
            let mut conn = self.conn.clone();
            let _: Value = redis::cmd("PING")
                .query_async(&mut conn)
                .await
                .map_err(backend)?;
            Ok(())
        })
        .await
    }
}

/// Maps a client error. Parsing failures mean the stored data is bad, not the backend.
fn backend(e: RedisError) -> StoreError {
    if e.is_timeout() {
        StoreError::Timeout
    } else if e.kind() == redis::ErrorKind::Parse {
        StoreError::Corrupt(format!("redis: {e}"))
    } else {
        StoreError::Unavailable(format!("redis: {e}"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn keys_follow_the_documented_layout() {
        let keys = Keys {
            prefix: "t:".into(),
            slot_tags: None,
        };
        let sid = SessionId::parse("AAAAAAAAAAAAAAAAAAAAAA").unwrap();
        assert_eq!(keys.session(&sid), "t:s:{AAAAAAAAAAAAAAAAAAAAAA}");
        assert_eq!(
            keys.user(&UserId::new("42").unwrap()),
            "t:u:{42}",
            "the user id is the hash tag"
        );
        let h = TokenHash([0xab; 32]);
        assert_eq!(keys.relay(&h), format!("t:r:{}", "ab".repeat(32)));
        assert_eq!(keys.counter("login:ip:1"), "t:c:login:ip:1");
        let session = keys.session(&sid);
        assert_eq!(keys.epoch_for(&session), "t:epoch");
        assert_eq!(keys.epochs(), vec!["t:epoch".to_owned()]);

        // On a cluster each slot has its epoch hash, in that slot.
        let cluster = Keys {
            prefix: "t:".into(),
            slot_tags: Some(slot_tags()),
        };
        let epoch = cluster.epoch_for(&session);
        assert!(epoch.starts_with("t:epoch:{"), "{epoch}");
        assert_eq!(Slot::for_key(&epoch), Slot::for_key(&session));
        assert_eq!(cluster.epochs().len(), SLOTS);
    }

    #[test]
    fn prefixes_that_would_break_the_layout_are_refused() {
        for bad in ["a{b", "a}b", "a b", "a\nb", &"x".repeat(65)] {
            assert!(
                RedisStore::builder().prefix(bad).check().is_err(),
                "{bad:?}"
            );
        }
        assert!(RedisStore::builder().prefix("").check().is_ok());
        assert!(RedisStore::builder().prefix("app-1:").check().is_ok());
        assert!(matches!(
            RedisStore::builder().timeout(Duration::ZERO).check(),
            Err(ConnectError::ZeroTimeout)
        ));
    }

    /// The store never scans the keyspace: no script and no command uses KEYS or SCAN.
    #[test]
    fn nothing_scans_the_keyspace() {
        let this_file = include_str!("lib.rs");
        for source in scripts::ALL_SOURCES.iter().chain([&this_file]) {
            let upper = source.to_uppercase();
            for banned in [
                "'KEYS'", "\"KEYS\"", "'SCAN'", "\"SCAN\"", "FLUSHDB", "FLUSHALL",
            ] {
                // The test's own list of banned words is the one allowed occurrence.
                let allowed = usize::from(std::ptr::eq(*source, this_file));
                assert!(
                    upper.matches(banned).count() <= allowed,
                    "{banned} used in a store command"
                );
            }
        }
    }

    #[test]
    fn timeouts_map_to_timeout() {
        let e = RedisError::from(std::io::Error::new(std::io::ErrorKind::TimedOut, "slow"));
        assert!(matches!(backend(e), StoreError::Timeout));
        let e = RedisError::from(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "down",
        ));
        assert!(matches!(backend(e), StoreError::Unavailable(_)));
    }
}
