//! Arbitrary input → `AccessTokens::verify` / `verify_allow_expired` with a fixed key set.
//! Must never panic.
//!
//! The first byte picks a mode:
//! - `0..=127`: the rest is the token text, verified as is (header parsing, shape checks;
//!   the signature stops everything else);
//! - `128..=191`: bytes 1..9 are `now` (Unix seconds, little-endian), the rest is the claims
//!   JSON, signed with the real HS256 key under a correct header, so that claim parsing and
//!   time checks are reached;
//! - `192..=255`: like the previous mode, but the rest is `header JSON 0xFF claims JSON`, both
//!   signed with the real HS256 key, so that the header rules are reached behind a valid signature.
#![no_main]

use std::sync::{Arc, LazyLock};

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libfuzzer_sys::fuzz_target;
use tessera_core::token::{AccessTokenConfig, AccessTokens};
use tessera_core::{KeyAlgorithm, KeySet, Timestamp};

const HMAC_SECRET: &[u8] = b"tessera-fuzz-fixed-hmac-secret-0123456789";
const HMAC_KID: &str = "fuzz-hs";
const ED_KEYS: &str = r#"{
  "tessera_keys": 1,
  "active": "fuzz-ed",
  "rotation_key": "dGVzc2VyYS1mdXp6LXJvdGF0aW9uLWtleS0wMTIzNDU2Nzg5",
  "keys": [
    { "kid": "fuzz-ed", "alg": "EdDSA",
      "private": "MC4CAQAwBQYDK2VwBCIEILQkuRy6hkboqL58tRBVw9B6QDl92ABTUoEVccKdJosT" }
  ]
}"#;
const NOW: Timestamp = Timestamp::from_secs(1_800_000_000);

fn service(keys: KeySet, cache_capacity: usize) -> AccessTokens {
    AccessTokens::new(
        Arc::new(keys),
        AccessTokenConfig {
            cache_capacity,
            ..Default::default()
        },
    )
}

static HS: LazyLock<AccessTokens> = LazyLock::new(|| {
    service(
        KeySet::from_hmac_secret(HMAC_KID, KeyAlgorithm::HS256, HMAC_SECRET).unwrap(),
        64,
    )
});
static ED: LazyLock<AccessTokens> =
    LazyLock::new(|| service(KeySet::from_json(ED_KEYS).unwrap(), 0));
static HMAC_KEY: LazyLock<hmac::Key> =
    LazyLock::new(|| hmac::Key::new(hmac::HMAC_SHA256, HMAC_SECRET));

fn sign(header: &[u8], claims: &[u8]) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let tag = hmac::sign(&HMAC_KEY, input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

fn check(token: &str, now: Timestamp) {
    for s in [&*HS, &*ED] {
        let strict = s.verify(token, now);
        let relaxed = s.verify_allow_expired(token, now);
        // Whatever verifies strictly also verifies with expiry relaxed, with the same claims.
        if let Ok(claims) = &strict {
            assert_eq!(relaxed.as_deref(), Ok(&**claims));
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode {
        0..=127 => {
            if let Ok(text) = std::str::from_utf8(rest) {
                check(text, NOW);
            }
        }
        _ => {
            let Some((now, rest)) = rest.split_first_chunk::<8>() else {
                return;
            };
            let now = Timestamp::from_secs(i64::from_le_bytes(*now));
            let token = if mode < 192 {
                let header = format!(r#"{{"alg":"HS256","typ":"at+jwt","kid":"{HMAC_KID}"}}"#);
                sign(header.as_bytes(), rest)
            } else {
                let (header, claims) = match rest.iter().position(|&b| b == 0xFF) {
                    Some(i) => (&rest[..i], &rest[i + 1..]),
                    None => (rest, &b"{}"[..]),
                };
                sign(header, claims)
            };
            check(&token, now);
        }
    }
});
