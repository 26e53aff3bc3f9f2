//! Property tests: round trips, and that no single-byte or single-character change to a token
//! is ever accepted.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::sync::{Arc, LazyLock};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::Value;
use tessera_core::csrf::{self, CsrfSecret, MASKED_LEN};
use tessera_core::refresh::{RefreshToken, RelayCode};
use tessera_core::session::SessionsConfig;
use tessera_core::store::ClientInfo;
use tessera_core::token::{AccessTokenConfig, AccessTokens, Payload};
use tessera_core::{
    Error, KeyAlgorithm, KeySet, ManualClock, MemoryStore, SessionId, Sessions, Timestamp, UserId,
};

const NOW: Timestamp = Timestamp::from_secs(1_800_000_000);

fn service(alg: KeyAlgorithm, cache_capacity: usize) -> AccessTokens {
    AccessTokens::new(
        Arc::new(KeySet::generate(alg).unwrap()),
        AccessTokenConfig {
            cache_capacity,
            ..Default::default()
        },
    )
}

static EDDSA: LazyLock<AccessTokens> = LazyLock::new(|| service(KeyAlgorithm::EdDSA, 1024));
static HS256: LazyLock<AccessTokens> = LazyLock::new(|| service(KeyAlgorithm::HS256, 1024));
static EDDSA_NO_CACHE: LazyLock<AccessTokens> = LazyLock::new(|| service(KeyAlgorithm::EdDSA, 0));

fn services() -> [&'static AccessTokens; 3] {
    [&EDDSA, &HS256, &EDDSA_NO_CACHE]
}

/// User ids: any text without control characters, 1 to 32 characters (at most 128 bytes).
fn user_id() -> impl Strategy<Value = UserId> {
    "[^\\p{Cc}]{1,32}".prop_map(|s| UserId::new(s).unwrap())
}

/// JSON values that round-trip exactly (no floats: their text form is not canonical).
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        ".{0,24}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-z_]{1,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn payload() -> impl Strategy<Value = Payload> {
    prop::collection::btree_map(".{1,12}", json_value(), 0..6)
        .prop_filter_map("payload over the size limit", |m| {
            Payload::new(m.into_iter().collect()).ok()
        })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

fn engine() -> Sessions {
    Sessions::builder(
        Arc::new(KeySet::generate(KeyAlgorithm::HS256).unwrap()),
        Arc::new(MemoryStore::new()),
    )
    .clock(Arc::new(ManualClock::new(NOW)))
    .config(SessionsConfig::default())
    .build()
}

/// Replaces the character at `at` (by char index) with `c`.
fn replace_char(text: &str, at: usize, c: char) -> String {
    text.chars()
        .enumerate()
        .map(|(i, old)| if i == at { c } else { old })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn access_tokens_round_trip(user in user_id(), app in payload()) {
        let sid = SessionId::generate().unwrap();
        for s in services() {
            let issued = s.issue(&user, &sid, &app, NOW).unwrap();
            let claims = s.verify(issued.token.expose(), NOW).unwrap();
            prop_assert_eq!(&claims.sub, &user);
            prop_assert_eq!(&claims.sid, &sid);
            prop_assert_eq!(&claims.app, &app);
            prop_assert_eq!(&claims.jti, &issued.jti);
            prop_assert_eq!(claims.exp, issued.expires_at.as_secs());
            prop_assert_eq!(claims.iat, NOW.as_secs());
            prop_assert_eq!(claims.iss.as_str(), "tessera");
            prop_assert_eq!(claims.aud.as_str(), "tessera");
            // A second verification (a cache hit where the cache is on) agrees.
            prop_assert_eq!(&*s.verify(issued.token.expose(), NOW).unwrap(), &*claims);
        }
    }

    #[test]
    fn any_single_byte_change_makes_a_token_fail(
        user in user_id(),
        app in payload(),
        at in any::<Index>(),
        byte in any::<u8>(),
    ) {
        let sid = SessionId::generate().unwrap();
        for s in services() {
            let issued = s.issue(&user, &sid, &app, NOW).unwrap();
            let original = issued.token.expose();
            // The original verifies (and sits in the cache where there is one).
            prop_assert!(s.verify(original, NOW).is_ok());
            let mut bytes = original.as_bytes().to_vec();
            let i = at.index(bytes.len());
            prop_assume!(bytes[i] != byte);
            bytes[i] = byte;
            // A byte that breaks UTF-8 cannot even be a `&str`; the lossy form keeps the change.
            let changed = String::from_utf8_lossy(&bytes);
            prop_assert!(
                s.verify(&changed, NOW).is_err(),
                "byte {} set to {:#04x} was accepted", i, byte
            );
            prop_assert!(s.verify_allow_expired(&changed, NOW).is_err());
        }
    }

    #[test]
    fn every_mask_of_a_csrf_secret_verifies_and_no_other_secret_does(
        secret in any::<[u8; 32]>(),
        other in any::<[u8; 32]>(),
        pad in any::<[u8; 32]>(),
    ) {
        let s = CsrfSecret::from_bytes(&secret).unwrap();
        let masked = csrf::mask_with(&secret, &pad);
        prop_assert_eq!(masked.len(), MASKED_LEN);
        prop_assert!(s.verify(&masked));
        prop_assert_eq!(csrf::unmask(&masked), Some(secret));
        // Random masks from the library verify as well.
        let fresh = s.mask().unwrap();
        prop_assert!(s.verify(fresh.as_str()));
        prop_assume!(other != secret);
        let o = CsrfSecret::from_bytes(&other).unwrap();
        prop_assert!(!o.verify(&masked));
        prop_assert!(!o.verify(fresh.as_str()));
        prop_assert!(!s.verify(&csrf::mask_with(&other, &pad)));
        // The unmasked secret itself is never accepted.
        prop_assert!(!s.verify(&base64::engine::general_purpose::STANDARD.encode(secret)));
    }

    #[test]
    fn any_single_character_change_to_a_csrf_mask_fails(
        secret in any::<[u8; 32]>(),
        pad in any::<[u8; 32]>(),
        at in any::<Index>(),
        c in any::<char>(),
    ) {
        let s = CsrfSecret::from_bytes(&secret).unwrap();
        let masked = csrf::mask_with(&secret, &pad);
        let i = at.index(masked.len());
        prop_assume!(masked.chars().nth(i) != Some(c));
        prop_assert!(!s.verify(&replace_char(&masked, i, c)));
    }

    #[test]
    fn refresh_tokens_reject_any_single_character_change(
        at in any::<Index>(),
        c in any::<char>(),
    ) {
        let original = RefreshToken::generate(SessionId::generate().unwrap()).unwrap();
        let text = original.to_secret_string();
        let text = text.expose();
        prop_assert_eq!(RefreshToken::parse(text).map(|t| t.hash()), Some(original.hash()));
        let i = at.index(text.len());
        prop_assume!(text.chars().nth(i) != Some(c));
        let changed = replace_char(text, i, c);
        // Either it does not parse, or it names another token (never the same one).
        if let Some(t) = RefreshToken::parse(&changed) {
            prop_assert!(
                t.session_id() != original.session_id() || t.hash() != original.hash(),
                "{changed} parsed as the original"
            );
        }
    }

    #[test]
    fn relay_codes_reject_any_single_character_change(
        at in any::<Index>(),
        c in any::<char>(),
    ) {
        let original = RelayCode::generate().unwrap();
        let text = original.to_secret_string();
        let text = text.expose();
        prop_assert_eq!(RelayCode::parse(text).map(|t| t.hash()), Some(original.hash()));
        let i = at.index(text.len());
        prop_assume!(text.chars().nth(i) != Some(c));
        let changed = replace_char(text, i, c);
        if let Some(t) = RelayCode::parse(&changed) {
            prop_assert!(t.hash() != original.hash(), "{changed} parsed as the original");
        }
    }

    #[test]
    fn session_ids_from_generate_round_trip(bytes in any::<[u8; 16]>()) {
        // `generate` is URL-safe base64 of 16 random bytes: every such text parses back.
        let text = URL_SAFE_NO_PAD.encode(bytes);
        let id = SessionId::parse(&text).unwrap();
        prop_assert_eq!(id.as_str(), text.as_str());
        let json = serde_json::to_string(&id).unwrap();
        prop_assert_eq!(serde_json::from_str::<SessionId>(&json).unwrap(), id);
    }

    #[test]
    fn session_id_parse_accepts_only_what_generate_produces(
        text in prop_oneof![
            ".{0,30}",
            "[A-Za-z0-9_-]{21,23}",
            "[A-Za-z0-9_+/=-]{22}",
            "[A-Za-z0-9_-]{21}[A-Za-z0-9_=.+/ -]",
        ],
    ) {
        let canonical = URL_SAFE_NO_PAD
            .decode(&text)
            .ok()
            .filter(|b| b.len() == 16 && URL_SAFE_NO_PAD.encode(b) == text);
        match SessionId::parse(&text) {
            Some(id) => {
                prop_assert!(canonical.is_some(), "{text:?} is not an encoding of 16 bytes");
                prop_assert_eq!(id.as_str(), text.as_str());
            }
            None => prop_assert!(canonical.is_none(), "{text:?} was refused"),
        }
        // Serde obeys the same rule.
        let json = serde_json::to_string(&text).unwrap();
        prop_assert_eq!(
            serde_json::from_str::<SessionId>(&json).is_ok(),
            canonical.is_some()
        );
    }
}

proptest! {
    // Each case logs in on a fresh engine: fewer cases.
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn the_engine_refuses_a_changed_refresh_token_and_keeps_the_session(
        at in any::<Index>(),
        c in any::<char>(),
    ) {
        let rt = runtime();
        let e = engine();
        let user = UserId::new("alice").unwrap();
        let t = rt
            .block_on(e.login(&user, Payload::default(), ClientInfo::default()))
            .unwrap();
        let text = t.refresh.expose();
        let i = at.index(text.len());
        prop_assume!(text.chars().nth(i) != Some(c));
        let changed = replace_char(text, i, c);
        let got = rt.block_on(e.refresh(&changed));
        prop_assert!(matches!(got, Err(Error::InvalidRefreshToken)), "{changed}: {got:?}");
        // The guess neither revoked the session nor consumed the real token.
        prop_assert!(rt.block_on(e.authorize(t.access.token.expose())).is_ok());
        prop_assert!(rt.block_on(e.refresh(text)).is_ok());
    }

    #[test]
    fn the_engine_refuses_a_changed_relay_code_and_keeps_the_real_one(
        at in any::<Index>(),
        c in any::<char>(),
    ) {
        let rt = runtime();
        let e = engine();
        let user = UserId::new("alice").unwrap();
        let t = rt
            .block_on(e.login(&user, Payload::default(), ClientInfo::default()))
            .unwrap();
        let code = rt.block_on(e.create_relay_code(&t.session_id)).unwrap();
        let text = code.expose();
        let i = at.index(text.len());
        prop_assume!(text.chars().nth(i) != Some(c));
        let changed = replace_char(text, i, c);
        let got = rt.block_on(e.redeem_relay_code(&changed));
        prop_assert!(matches!(got, Err(Error::InvalidRelayCode)), "{changed}: {got:?}");
        let grant = rt.block_on(e.redeem_relay_code(text)).unwrap();
        prop_assert_eq!(grant.session_id, t.session_id);
    }
}

#[test]
fn generated_session_ids_parse_back() {
    for _ in 0..10_000 {
        let id = SessionId::generate().unwrap();
        assert_eq!(id.as_str().len(), SessionId::LEN);
        assert_eq!(SessionId::parse(id.as_str()), Some(id));
    }
}

/// The exhaustive form of the single-byte property for one token per algorithm: every
/// position, every other byte value (this covers the base64 trailing bits of each part, which
/// random sampling rarely hits).
#[test]
fn every_single_byte_change_of_one_token_fails() {
    let user = UserId::new("alice").unwrap();
    let sid = SessionId::generate().unwrap();
    for s in [&*EDDSA_NO_CACHE, &*HS256] {
        let issued = s.issue(&user, &sid, &Payload::default(), NOW).unwrap();
        let original = issued.token.expose().as_bytes().to_vec();
        assert!(s.verify(issued.token.expose(), NOW).is_ok());
        for i in 0..original.len() {
            for byte in 0..=u8::MAX {
                if byte == original[i] {
                    continue;
                }
                let mut bytes = original.clone();
                bytes[i] = byte;
                let changed = String::from_utf8_lossy(&bytes);
                assert!(
                    s.verify(&changed, NOW).is_err(),
                    "byte {i} set to {byte:#04x} was accepted"
                );
            }
        }
    }
}

/// Every character a URL-safe base64 text could be changed to, plus separators and padding.
const NEAR_MISSES: &str =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/=. \u{0}é";

/// The exhaustive form of the single-character properties for refresh tokens and relay codes:
/// every position, every base64 character (this covers the trailing bits of each base64 part,
/// where a lenient decoder would let two texts name one token).
#[test]
fn every_single_character_change_of_a_refresh_token_or_relay_code_fails() {
    for _ in 0..8 {
        let token = RefreshToken::generate(SessionId::generate().unwrap()).unwrap();
        let text = token.to_secret_string();
        let text = text.expose();
        let code = RelayCode::generate().unwrap();
        let code_text = code.to_secret_string();
        let code_text = code_text.expose();
        for c in NEAR_MISSES.chars() {
            for i in 0..text.len() {
                if text[i..].starts_with(c) {
                    continue;
                }
                let changed = replace_char(text, i, c);
                if let Some(t) = RefreshToken::parse(&changed) {
                    assert!(
                        t.session_id() != token.session_id() || t.hash() != token.hash(),
                        "{changed} parsed as {text}"
                    );
                }
            }
            for i in 0..code_text.len() {
                if code_text[i..].starts_with(c) {
                    continue;
                }
                let changed = replace_char(code_text, i, c);
                if let Some(t) = RelayCode::parse(&changed) {
                    assert!(t.hash() != code.hash(), "{changed} parsed as {code_text}");
                }
            }
        }
    }
}

/// Session ids, likewise: a changed id is either refused or another id, never a second
/// spelling of the same one.
#[test]
fn every_single_character_change_of_a_session_id_is_another_id_or_refused() {
    for _ in 0..8 {
        let id = SessionId::generate().unwrap();
        let raw = URL_SAFE_NO_PAD.decode(id.as_str()).unwrap();
        for c in NEAR_MISSES.chars() {
            for i in 0..id.as_str().len() {
                if id.as_str()[i..].starts_with(c) {
                    continue;
                }
                let changed = replace_char(id.as_str(), i, c);
                if let Some(other) = SessionId::parse(&changed) {
                    assert_ne!(URL_SAFE_NO_PAD.decode(other.as_str()).unwrap(), raw);
                }
            }
        }
    }
}
