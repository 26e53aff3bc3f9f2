//! Arbitrary input → `csrf::unmask` and `CsrfSecret::verify`. Must never panic, and the two
//! must agree: a string verifies exactly when it unmasks to the secret.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_core::csrf::{self, CsrfSecret, MASKED_LEN, SECRET_LEN};

const SECRET: [u8; SECRET_LEN] = *b"tessera-fuzz-csrf-secret-32bytes";

fuzz_target!(|data: &[u8]| {
    let secret = CsrfSecret::from_bytes(&SECRET).unwrap();
    if let Ok(text) = std::str::from_utf8(data) {
        let unmasked = csrf::unmask(text);
        if unmasked.is_some() {
            assert_eq!(text.len(), MASKED_LEN);
        }
        assert_eq!(secret.verify(text), unmasked == Some(SECRET));
    }
    // Raw bytes as secret and pad: masking then unmasking gives the secret back, and the mask
    // verifies only for that secret.
    if let Some((s, rest)) = data.split_first_chunk::<SECRET_LEN>()
        && let Some((pad, _)) = rest.split_first_chunk::<SECRET_LEN>()
    {
        let masked = csrf::mask_with(s, pad);
        assert_eq!(masked.len(), MASKED_LEN);
        assert_eq!(csrf::unmask(&masked), Some(*s));
        assert!(CsrfSecret::from_bytes(s).unwrap().verify(&masked));
        assert_eq!(secret.verify(&masked), *s == SECRET);
    }
});
