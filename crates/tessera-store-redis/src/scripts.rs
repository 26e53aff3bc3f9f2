//! The Lua scripts. Each one is the whole read-modify-write of one operation, so Redis runs
//! it atomically (no other command interleaves), and each touches only keys of one hash slot
//! in cluster mode. `docs/redis.md` states every script's contract.
//!
//! Conventions shared by the session scripts:
//! - `KEYS[1]` is the session hash, `KEYS[2]` the epoch hash of the session's slot (on one
//!   server there is a single epoch hash; on a cluster there is one per hash slot, named so
//!   that it lives in that slot). The epoch hash holds `epoch` and `count` (sessions created
//!   in this epoch and not deleted since).
//! - A record is dead when its epoch (`e`) is lower than the current epoch: `delete_all` bumps
//!   the epoch instead of scanning.
//! - Times are integer milliseconds passed in as strings. They are compared with `tonumber`,
//!   but always written back as the caller's strings: Lua would print a large number in
//!   exponent form, which Redis refuses as an integer.
//! - Hashes are lower-case hex; the superseded list is their concatenation, newest first.

use redis::Script;

/// The record fields, in the order [`crate::codec::decode_record`] reads them.
macro_rules! record_fields {
    () => {
        "'e', 'u', 'c', 'x', 'i', 'l', 'g', 'h', 'p', 'r', 'k', 'd', 'a', 'ip'"
    };
}
#[cfg(test)]
pub(crate) use record_fields;

/// Helpers every session script starts with.
macro_rules! prelude {
    () => {
        r"
local function current_epoch()
  return redis.call('HGET', KEYS[2], 'epoch') or '0'
end
local function dead_epoch(e, ep)
  return (not e) or tonumber(e) < tonumber(ep)
end
local function expired(x, i, now)
  return now >= tonumber(x) or (i and now >= tonumber(i))
end
local function count(delta)
  redis.call('HINCRBY', KEYS[2], 'count', delta)
end
"
    };
}

/// `GET`: the record's fields, or nil when the session is absent or of an earlier epoch.
/// Liveness by time is left to the caller ([`tessera_core::store::SessionRecord::is_live`]).
const GET: &str = concat!(
    prelude!(),
    r"
local ep = current_epoch()
local v = redis.call('HMGET', KEYS[1], ",
    record_fields!(),
    r")
if dead_epoch(v[1], ep) then return false end
return v
"
);

/// `TOUCH`: `ARGV[1]` = now. Moves `last_used_at` forward on a live session; 1 if live.
const TOUCH: &str = concat!(
    prelude!(),
    r"
local ep = current_epoch()
local v = redis.call('HMGET', KEYS[1], 'e', 'x', 'i', 'l')
local now = tonumber(ARGV[1])
if dead_epoch(v[1], ep) or expired(v[2], v[3], now) then return 0 end
if now > tonumber(v[4]) then redis.call('HSET', KEYS[1], 'l', ARGV[1]) end
return 1
"
);

/// `CREATE`: `ARGV[1]` = effective expiry, `ARGV[2..]` = field/value pairs. Writes the record
/// stamped with the current epoch unless the key exists; 1 if created, 0 on a collision.
const CREATE: &str = concat!(
    prelude!(),
    r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local ep = current_epoch()
redis.call('HSET', KEYS[1], 'e', ep, unpack(ARGV, 2))
redis.call('PEXPIREAT', KEYS[1], ARGV[1])
count(1)
return 1
"
);

/// `ROTATE`: `ARGV[1]` = now, `ARGV[2]` = presented hash, `ARGV[3]` = successor hash,
/// `ARGV[4]` = grace (ms), `ARGV[5]` = new idle expiry or `''`, `ARGV[6]` = how many
/// superseded hashes to keep.
///
/// The decision is `SessionRecord::classify` followed by `apply_rotation`, step for step:
/// dead or expired → `notfound`; current → rotate; immediate predecessor inside the grace
/// window whose successor is the current token → `grace`; any other superseded hash →
/// `reused` (the session is deleted); anything else → `notfound`.
const ROTATE: &str = concat!(
    prelude!(),
    r"
local s = KEYS[1]
local ep = current_epoch()
local v = redis.call('HMGET', s, 'e', 'x', 'i', 'h', 'p', 'r', 'u')
local now = tonumber(ARGV[1])
if dead_epoch(v[1], ep) or expired(v[2], v[3], now) then return {'notfound'} end
local presented, successor = ARGV[2], ARGV[3]
local superseded = v[5] or ''
if v[4] == presented then
  superseded = string.sub(presented .. superseded, 1, 64 * tonumber(ARGV[6]))
  redis.call('HSET', s, 'h', successor, 'p', superseded, 'r', ARGV[1], 'l', ARGV[1])
  redis.call('HINCRBY', s, 'g', 1)
  local idle = v[3]
  if ARGV[5] ~= '' then
    redis.call('HSET', s, 'i', ARGV[5])
    idle = ARGV[5]
  end
  local rec = redis.call('HMGET', s, ",
    record_fields!(),
    r")
  local expiry = v[2]
  if idle and tonumber(idle) < tonumber(expiry) then expiry = idle end
  redis.call('PEXPIREAT', s, expiry)
  return {'rotated', rec}
end
local pos = nil
for at = 1, #superseded, 64 do
  if string.sub(superseded, at, at + 63) == presented then
    pos = at
    break
  end
end
if not pos then return {'notfound'} end
if pos == 1 and v[6] and now - tonumber(v[6]) <= tonumber(ARGV[4]) and v[4] == successor then
  return {'grace', redis.call('HMGET', s, ",
    record_fields!(),
    r")}
end
redis.call('DEL', s)
count(-1)
return {'reused', v[7]}
"
);

/// `DELETE`: deletes the session key. Nil if absent; else `{1, user}` when the session was
/// alive in the current epoch, `{0, user}` for a leftover of an earlier epoch.
const DELETE: &str = concat!(
    prelude!(),
    r"
local ep = current_epoch()
local v = redis.call('HMGET', KEYS[1], 'e', 'u')
if not v[1] then return false end
redis.call('DEL', KEYS[1])
if dead_epoch(v[1], ep) then return {0, v[2]} end
count(-1)
return {1, v[2]}
"
);

/// `USER_ADD`: `KEYS[1]` = the user's set, `ARGV[1]` = session id, `ARGV[2]` = the session's
/// absolute expiry. Adds the id and extends the set's expiry to the latest absolute expiry of
/// its sessions (never shortens it). Uses the server's clock only to compare two expiries.
const USER_ADD: &str = r"
redis.call('SADD', KEYS[1], ARGV[1])
local t = redis.call('TIME')
local server_now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 or server_now + ttl < tonumber(ARGV[2]) then
  redis.call('PEXPIREAT', KEYS[1], ARGV[2])
end
return 1
";

/// `DELETE_ALL`: `KEYS[1]` = an epoch hash. Bumps its epoch, which ends every session it
/// governs at once, and returns (and resets) its session count.
const DELETE_ALL: &str = r"
local n = tonumber(redis.call('HGET', KEYS[1], 'count') or '0')
redis.call('HINCRBY', KEYS[1], 'epoch', 1)
redis.call('HSET', KEYS[1], 'count', 0)
if n < 0 then n = 0 end
return n
";

/// `HIT`: `KEYS[1]` = the counter hash, `ARGV[1]` = now, `ARGV[2]` = now + window. Starts a
/// window at the first hit (or when the stored one has ended at `now`), else counts one more
/// (saturating at `u32::MAX`). Returns `{count, window end}`.
const HIT: &str = r"
local v = redis.call('HMGET', KEYS[1], 'n', 'r')
if not v[1] or tonumber(v[2]) <= tonumber(ARGV[1]) then
  redis.call('HSET', KEYS[1], 'n', 1, 'r', ARGV[2])
  redis.call('PEXPIREAT', KEYS[1], ARGV[2])
  return {1, ARGV[2]}
end
local n = tonumber(v[1])
if n < 4294967295 then n = redis.call('HINCRBY', KEYS[1], 'n', 1) end
return {n, v[2]}
";

/// Every script, hashed once per store.
#[derive(Debug, Clone)]
pub(crate) struct Scripts {
    pub(crate) get: Script,
    pub(crate) touch: Script,
    pub(crate) create: Script,
    pub(crate) rotate: Script,
    pub(crate) delete: Script,
    pub(crate) user_add: Script,
    pub(crate) delete_all: Script,
    pub(crate) hit: Script,
}

impl Scripts {
    pub(crate) fn new() -> Self {
        Self {
            get: Script::new(GET),
            touch: Script::new(TOUCH),
            create: Script::new(CREATE),
            rotate: Script::new(ROTATE),
            delete: Script::new(DELETE),
            user_add: Script::new(USER_ADD),
            delete_all: Script::new(DELETE_ALL),
            hit: Script::new(HIT),
        }
    }
}

#[cfg(test)]
pub(crate) const ALL_SOURCES: [&str; 8] = [
    GET, TOUCH, CREATE, ROTATE, DELETE, USER_ADD, DELETE_ALL, HIT,
];
