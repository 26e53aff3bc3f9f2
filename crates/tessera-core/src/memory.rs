//! The in-process session store: the embedded default for a single instance.
//!
//! Every operation is O(1) in the number of sessions (hash maps keyed by session id, user id
//! or token hash). Expired entries are never returned, and they are also evicted from memory
//! by an incremental sweep: entries are filed in one-second buckets by expiry, and each call
//! advances a cursor over at most a fixed number of buckets and entries, so no call ever scans
//! the whole store.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use async_trait::async_trait;
use parking_lot::Mutex;

use crate::clock::Timestamp;
use crate::ids::{SessionId, UserId};
use crate::refresh::TokenHash;
use crate::store::{
    Hits, Presented, RotateOutcome, RotateRequest, SessionRecord, SessionStore, StoreError,
};

/// Most buckets (seconds) one call advances the sweep cursor over.
const SWEEP_BUCKETS: usize = 1024;
/// Most entries one call evicts.
const SWEEP_ENTRIES: usize = 64;

/// The in-process store. Cheap to share behind an `Arc`.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many sessions are held in memory, live or awaiting eviction.
    pub fn len(&self) -> usize {
        self.inner.lock().sessions.len()
    }

    /// Whether the store holds no session.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Due {
    Session(SessionId),
    Relay(TokenHash),
    Counter(Box<str>),
}

#[derive(Debug, Default)]
struct Inner {
    sessions: HashMap<SessionId, SessionRecord>,
    by_user: HashMap<UserId, HashSet<SessionId>>,
    relay: HashMap<TokenHash, (SessionId, Timestamp)>,
    counters: HashMap<Box<str>, Hits>,
    /// Expiry buckets by Unix second.
    buckets: HashMap<i64, Vec<Due>>,
    /// Every bucket before this second has been swept; `None` until the first call.
    cursor: Option<i64>,
}

impl Inner {
    fn schedule(&mut self, at: Timestamp, due: Due) {
        // Bucket by the second in which the entry stops being live.
        let second = at.as_secs().max(self.cursor.unwrap_or(i64::MIN));
        self.buckets.entry(second).or_default().push(due);
    }

    /// Evicts a bounded number of expired entries.
    fn sweep(&mut self, now: Timestamp) {
        let now_s = now.as_secs();
        let mut cursor = *self.cursor.get_or_insert(now_s);
        let (mut buckets, mut entries) = (0, 0);
        while cursor < now_s && buckets < SWEEP_BUCKETS && entries < SWEEP_ENTRIES {
            buckets += 1;
            let Some(mut due) = self.buckets.remove(&cursor) else {
                cursor += 1;
                continue;
            };
            while let Some(item) = due.pop() {
                entries += 1;
                self.evict_if_expired(item, now);
                if entries >= SWEEP_ENTRIES {
                    break;
                }
            }
            if due.is_empty() {
                cursor += 1;
            } else {
                // Budget spent mid-bucket: keep the rest for the next call.
                self.buckets.insert(cursor, due);
            }
        }
        self.cursor = Some(cursor);
    }

    fn evict_if_expired(&mut self, item: Due, now: Timestamp) {
        match item {
            Due::Session(id) => {
                let Some(rec) = self.sessions.get(&id) else {
                    return;
                };
                if rec.is_live(now) {
                    // Its idle expiry moved forward since it was filed.
                    let at = rec.effective_expiry();
                    self.schedule(at, Due::Session(id));
                } else {
                    self.remove_session(&id);
                }
            }
            Due::Relay(hash) => {
                if self.relay.get(&hash).is_some_and(|(_, exp)| *exp <= now) {
                    self.relay.remove(&hash);
                }
            }
            Due::Counter(key) => {
                if self.counters.get(&key).is_some_and(|h| h.resets_at <= now) {
                    self.counters.remove(&key);
                }
            }
        }
    }

    fn remove_session(&mut self, id: &SessionId) -> Option<SessionRecord> {
        let rec = self.sessions.remove(id)?;
        if let Some(set) = self.by_user.get_mut(&rec.user_id) {
            set.remove(id);
            if set.is_empty() {
                self.by_user.remove(&rec.user_id);
            }
        }
        Some(rec)
    }

    fn live(&self, id: &SessionId, now: Timestamp) -> Option<&SessionRecord> {
        self.sessions.get(id).filter(|r| r.is_live(now))
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    fn name(&self) -> &'static str {
        "memory"
    }

    async fn create(&self, record: &SessionRecord) -> Result<(), StoreError> {
        let mut g = self.inner.lock();
        g.sweep(record.created_at);
        if g.sessions.contains_key(&record.id) {
            return Err(StoreError::Unavailable("session id collision".into()));
        }
        g.by_user
            .entry(record.user_id.clone())
            .or_default()
            .insert(record.id.clone());
        g.sessions.insert(record.id.clone(), record.clone());
        g.schedule(record.effective_expiry(), Due::Session(record.id.clone()));
        Ok(())
    }

    async fn get(
        &self,
        id: &SessionId,
        now: Timestamp,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let mut g = self.inner.lock();
        g.sweep(now);
        Ok(g.live(id, now).cloned())
    }

    async fn touch(&self, id: &SessionId, now: Timestamp) -> Result<(), StoreError> {
        let mut g = self.inner.lock();
        if let Some(rec) = g.sessions.get_mut(id).filter(|r| r.is_live(now)) {
            rec.last_used_at = rec.last_used_at.max(now);
        }
        Ok(())
    }

    async fn rotate(
        &self,
        req: &RotateRequest,
        now: Timestamp,
    ) -> Result<RotateOutcome, StoreError> {
        let mut g = self.inner.lock();
        g.sweep(now);
        let Some(rec) = g.sessions.get_mut(&req.session_id) else {
            return Ok(RotateOutcome::NotFound);
        };
        Ok(match rec.classify(req, now) {
            Presented::Current => {
                rec.apply_rotation(req.successor, now, req.idle_expires_at);
                RotateOutcome::Rotated(rec.clone())
            }
            Presented::InGrace => RotateOutcome::Grace(rec.clone()),
            Presented::Reused => {
                let user_id = rec.user_id.clone();
                g.remove_session(&req.session_id);
                RotateOutcome::Reused { user_id }
            }
            Presented::Unknown => RotateOutcome::NotFound,
        })
    }

    async fn delete(&self, id: &SessionId) -> Result<bool, StoreError> {
        Ok(self.inner.lock().remove_session(id).is_some())
    }

    async fn delete_user(&self, user: &UserId) -> Result<u64, StoreError> {
        let mut g = self.inner.lock();
        let ids = g.by_user.remove(user).unwrap_or_default();
        let mut n = 0;
        for id in ids {
            n += u64::from(g.sessions.remove(&id).is_some());
        }
        Ok(n)
    }

    async fn delete_all(&self) -> Result<u64, StoreError> {
        let mut g = self.inner.lock();
        let n = g.sessions.len() as u64;
        g.sessions.clear();
        g.by_user.clear();
        g.relay.clear();
        // The expiry buckets stay: they also file throttling counters, and entries naming
        // deleted sessions or codes are skipped when swept.
        Ok(n)
    }

    async fn list_user(
        &self,
        user: &UserId,
        now: Timestamp,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let g = self.inner.lock();
        let mut out: Vec<SessionRecord> = g
            .by_user
            .get(user)
            .into_iter()
            .flatten()
            .filter_map(|id| g.live(id, now).cloned())
            .collect();
        out.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then_with(|| a.id.cmp(&b.id))
        });
        Ok(out)
    }

    async fn put_relay_code(
        &self,
        code: &TokenHash,
        session: &SessionId,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut g = self.inner.lock();
        g.relay.insert(*code, (session.clone(), expires_at));
        g.schedule(expires_at, Due::Relay(*code));
        Ok(())
    }

    async fn take_relay_code(
        &self,
        code: &TokenHash,
        now: Timestamp,
    ) -> Result<Option<SessionId>, StoreError> {
        let mut g = self.inner.lock();
        g.sweep(now);
        Ok(g.relay
            .remove(code)
            .filter(|(_, exp)| now < *exp)
            .map(|(sid, _)| sid))
    }

    async fn hit(&self, key: &str, window: Duration, now: Timestamp) -> Result<Hits, StoreError> {
        let mut g = self.inner.lock();
        g.sweep(now);
        let fresh = Hits {
            count: 0,
            resets_at: now.plus(window),
        };
        let entry = g.counters.entry(key.into()).or_insert(fresh);
        if entry.resets_at <= now {
            *entry = fresh;
        }
        let is_new = entry.count == 0;
        entry.count = entry.count.saturating_add(1);
        let hits = *entry;
        if is_new {
            g.schedule(hits.resets_at, Due::Counter(key.into()));
        }
        Ok(hits)
    }

    async fn hits(&self, key: &str, now: Timestamp) -> Result<Option<Hits>, StoreError> {
        let g = self.inner.lock();
        Ok(g.counters.get(key).copied().filter(|h| now < h.resets_at))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counters_are_still_evicted_after_delete_all() {
        let store = MemoryStore::new();
        let t = Timestamp::from_secs(1_000);
        store
            .hit("login:ip:192.0.2.1", Duration::from_secs(60), t)
            .await
            .unwrap();
        store.delete_all().await.unwrap();
        // Any later call past the window sweeps the counter away.
        let later = t.plus(Duration::from_secs(61));
        assert!(
            store
                .hits("login:ip:192.0.2.1", later)
                .await
                .unwrap()
                .is_none()
        );
        store
            .get(&SessionId::generate().unwrap(), later)
            .await
            .unwrap();
        assert!(
            store.inner.lock().counters.is_empty(),
            "the counter was leaked"
        );
    }
}
