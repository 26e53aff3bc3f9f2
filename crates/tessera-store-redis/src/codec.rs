//! How a [`SessionRecord`] is laid out in its Redis hash, and back.
//!
//! Everything is text, so `redis-cli HGETALL` shows a readable record: times as integer
//! milliseconds, hashes and the CSRF secret as lower-case hex. An absent optional field is
//! `None`; a present one, even empty, is `Some`.

use redis::Value;
use tessera_core::clock::Timestamp;
use tessera_core::csrf::CsrfSecret;
use tessera_core::ids::{SessionId, UserId};
use tessera_core::refresh::TokenHash;
use tessera_core::store::{ClientInfo, SessionRecord, StoreError};
use tessera_core::token::Payload;

/// Length of one hash in hex.
pub(crate) const HASH_HEX: usize = 64;

/// The field/value pairs `CREATE` writes (everything but the epoch, which the script adds).
pub(crate) fn encode_record(record: &SessionRecord) -> Vec<(&'static str, String)> {
    let mut out = vec![
        ("u", record.user_id.as_str().to_owned()),
        ("c", record.created_at.as_millis().to_string()),
        ("x", record.expires_at.as_millis().to_string()),
        ("l", record.last_used_at.as_millis().to_string()),
        ("g", record.generation.to_string()),
        ("h", record.refresh_hash.to_hex()),
        ("p", encode_superseded(&record.superseded)),
        ("k", hex(record.csrf.as_bytes())),
        ("d", record.payload.to_json()),
    ];
    if let Some(idle) = record.idle_expires_at {
        out.push(("i", idle.as_millis().to_string()));
    }
    if let Some(rotated) = record.rotated_at {
        out.push(("r", rotated.as_millis().to_string()));
    }
    if let Some(ua) = &record.client.user_agent {
        out.push(("a", ua.clone()));
    }
    if let Some(ip) = &record.client.ip {
        out.push(("ip", ip.clone()));
    }
    out
}

/// The superseded hashes as one string: 64 hex digits each, newest first.
pub(crate) fn encode_superseded(hashes: &[TokenHash]) -> String {
    let mut out = String::with_capacity(hashes.len() * HASH_HEX);
    for h in hashes {
        out.push_str(&h.to_hex());
    }
    out
}

fn decode_superseded(text: &str) -> Result<Vec<TokenHash>, StoreError> {
    if !text.len().is_multiple_of(HASH_HEX) {
        return Err(corrupt(
            "superseded hashes are not a multiple of 64 hex digits",
        ));
    }
    text.as_bytes()
        .chunks(HASH_HEX)
        .map(|chunk| {
            std::str::from_utf8(chunk)
                .ok()
                .and_then(TokenHash::from_hex)
                .ok_or_else(|| corrupt("superseded hash is not hex"))
        })
        .collect()
}

/// Decodes the `HMGET` reply of `record_fields!()`:
/// `e u c x i l g h p r k d a ip`.
pub(crate) fn decode_record(id: &SessionId, value: Value) -> Result<SessionRecord, StoreError> {
    let Value::Array(fields) = value else {
        return Err(corrupt("session record is not an array"));
    };
    let fields = fields
        .into_iter()
        .map(optional_text)
        .collect::<Result<Vec<_>, _>>()?;
    let [
        _epoch,
        user,
        created,
        expires,
        idle,
        last_used,
        generation,
        hash,
        superseded,
        rotated,
        csrf,
        payload,
        user_agent,
        ip,
    ] = <[Option<String>; 14]>::try_from(fields)
        .map_err(|_| corrupt("session record has the wrong number of fields"))?;
    let required = |v: Option<String>, what: &str| {
        v.ok_or_else(|| corrupt(&format!("session record lacks {what}")))
    };
    let csrf = required(csrf, "csrf")?;
    Ok(SessionRecord {
        id: id.clone(),
        user_id: UserId::new(required(user, "user")?).ok_or_else(|| corrupt("invalid user id"))?,
        created_at: millis(&required(created, "created_at")?)?,
        expires_at: millis(&required(expires, "expires_at")?)?,
        idle_expires_at: idle.as_deref().map(millis).transpose()?,
        last_used_at: millis(&required(last_used, "last_used_at")?)?,
        generation: required(generation, "generation")?
            .parse()
            .map_err(|_| corrupt("generation is not a number"))?,
        refresh_hash: TokenHash::from_hex(&required(hash, "refresh hash")?)
            .ok_or_else(|| corrupt("refresh hash is not hex"))?,
        superseded: decode_superseded(superseded.as_deref().unwrap_or(""))?,
        rotated_at: rotated.as_deref().map(millis).transpose()?,
        csrf: unhex(&csrf)
            .as_deref()
            .and_then(CsrfSecret::from_bytes)
            .ok_or_else(|| corrupt("csrf secret is not 32 bytes of hex"))?,
        payload: Payload::from_json(&required(payload, "payload")?)
            .map_err(|_| corrupt("payload is not a JSON object"))?,
        // Stored as given; `ClientInfo::new` truncated the user agent before it was stored.
        client: ClientInfo { user_agent, ip },
    })
}

/// A bulk string (or nil) as text.
pub(crate) fn optional_text(value: Value) -> Result<Option<String>, StoreError> {
    match value {
        Value::Nil => Ok(None),
        Value::BulkString(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| corrupt("stored text is not UTF-8")),
        Value::SimpleString(s) => Ok(Some(s)),
        Value::Int(n) => Ok(Some(n.to_string())),
        _ => Err(corrupt("unexpected reply type")),
    }
}

/// A Redis integer (or integer text) as `i64`.
pub(crate) fn integer(value: Value) -> Result<i64, StoreError> {
    match value {
        Value::Int(n) => Ok(n),
        other => optional_text(other)?
            .as_deref()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| corrupt("expected an integer")),
    }
}

pub(crate) fn millis(text: &str) -> Result<Timestamp, StoreError> {
    text.parse()
        .map(Timestamp::from_millis)
        .map_err(|_| corrupt("time is not integer milliseconds"))
}

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    out
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        }
    }
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.as_bytes()
        .chunks(2)
        .map(|pair| Some((nibble(pair[0])? << 4) | nibble(pair[1])?))
        .collect()
}

pub(crate) fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("redis: {what}"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn hex_round_trips() {
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(unhex(&hex(&bytes)).unwrap(), bytes);
        assert_eq!(unhex("0g"), None);
        assert_eq!(unhex("abc"), None);
        assert_eq!(
            unhex("AB"),
            None,
            "only lower case is written, so only it is read"
        );
    }

    #[test]
    fn superseded_round_trips() {
        let hashes: Vec<TokenHash> = (0u8..5).map(|i| TokenHash::of(&[i])).collect();
        let text = encode_superseded(&hashes);
        assert_eq!(text.len(), 5 * HASH_HEX);
        assert_eq!(decode_superseded(&text).unwrap(), hashes);
        assert!(decode_superseded("").unwrap().is_empty());
        assert!(decode_superseded(&text[..70]).is_err());
    }

    #[test]
    fn a_record_round_trips_through_its_fields() {
        let now = Timestamp::from_millis(1_700_000_000_123);
        let record = SessionRecord {
            id: SessionId::generate().unwrap(),
            user_id: UserId::new("u-1").unwrap(),
            created_at: now,
            expires_at: now.plus(std::time::Duration::from_secs(3600)),
            idle_expires_at: Some(now.plus(std::time::Duration::from_secs(60))),
            last_used_at: now,
            generation: 3,
            refresh_hash: TokenHash::of(b"current"),
            superseded: vec![TokenHash::of(b"a"), TokenHash::of(b"b")],
            rotated_at: Some(now),
            csrf: CsrfSecret::generate().unwrap(),
            payload: Payload::default(),
            client: ClientInfo {
                user_agent: Some(String::new()),
                ip: None,
            },
        };
        // What HMGET would answer, in `record_fields!()` order.
        let pairs = encode_record(&record);
        let order = [
            "e", "u", "c", "x", "i", "l", "g", "h", "p", "r", "k", "d", "a", "ip",
        ];
        let reply = Value::Array(
            order
                .iter()
                .map(|name| {
                    if *name == "e" {
                        return Value::BulkString(b"0".to_vec());
                    }
                    pairs
                        .iter()
                        .find(|(f, _)| f == name)
                        .map_or(Value::Nil, |(_, v)| {
                            Value::BulkString(v.clone().into_bytes())
                        })
                })
                .collect(),
        );
        let back = decode_record(&record.id, reply).unwrap();
        assert!(back == record, "{back:?} vs {record:?}");
        assert_eq!(back.client, record.client, "an empty user agent stays Some");
        // The Lua field list names the same fields in the same order.
        let lua: Vec<String> = crate::scripts::record_fields!()
            .split(", ")
            .map(|f| f.trim_matches('\'').to_owned())
            .collect();
        assert_eq!(lua, order);
    }

    #[test]
    fn short_or_bad_records_are_corrupt() {
        let id = SessionId::generate().unwrap();
        assert!(matches!(
            decode_record(&id, Value::Array(vec![Value::Nil; 3])),
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(
            decode_record(&id, Value::Int(1)),
            Err(StoreError::Corrupt(_))
        ));
    }
}
