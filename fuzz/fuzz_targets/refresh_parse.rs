//! Arbitrary input → `RefreshToken::parse`, `RelayCode::parse`, `SessionId::parse` and
//! `TokenHash::from_hex`. Must never panic, and whatever parses must be canonical: its text
//! form is exactly the input (no two texts name the same token).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_core::SessionId;
use tessera_core::refresh::{RefreshToken, RelayCode, TokenHash};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(t) = RefreshToken::parse(text) {
        assert_eq!(t.to_secret_string().expose(), text);
        assert_eq!(t.session_id().as_str(), text.split_once('.').unwrap().0);
    }
    if let Some(c) = RelayCode::parse(text) {
        assert_eq!(c.to_secret_string().expose(), text);
    }
    if let Some(id) = SessionId::parse(text) {
        assert_eq!(id.as_str(), text);
        assert_eq!(id.as_str().len(), SessionId::LEN);
    }
    if let Some(h) = TokenHash::from_hex(text) {
        assert_eq!(h.to_hex(), text);
    }
});
