//! The attack suite: hand-forged JWTs that a verifier must refuse, each with the precise
//! [`TokenError`] it must be refused with.
//!
//! Tokens are forged from raw parts (base64url + aws-lc-rs), not through the library under
//! test. Where it matters, a forged token is signed with the key set's **real** signing key, so
//! that the refusal provably comes from the header or claim rule being tested and not from a
//! bad signature. [`forged_control_token_is_accepted`] proves that the forging harness itself
//! produces tokens the verifier accepts when nothing is wrong with them.
//!
//! Decisions documented here:
//! - `aud` must be a single string equal to the configured audience. An array is refused with
//!   [`TokenError::InvalidClaims`] even when it contains the right value (RFC 7519 allows an
//!   array; Tessera never issues one, so accepting one would only widen what it accepts).
//! - `typ` must be `at+jwt` or `application/at+jwt` (RFC 9068), compared ASCII case-insensitively.
//! - `exp` is valid while `now < exp + leeway`; `nbf` and `iat` may be at most `leeway` ahead.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::hmac;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tessera_core::keys::{KeyFile, KeySet};
use tessera_core::session::{LoginTokens, SessionsConfig};
use tessera_core::store::ClientInfo;
use tessera_core::token::{AccessTokenConfig, MAX_TOKEN_LEN, Payload};
use tessera_core::{
    Clock, Error, KeyAlgorithm, ManualClock, MemoryStore, SessionId, Sessions, Timestamp,
    TokenError, UserId,
};

const NOW_SECS: i64 = 1_800_000_000;

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(text).unwrap()
}

/// How a forged token is signed.
enum Sig<'a> {
    /// No signature part at all (`header.payload.`).
    Empty,
    /// HMAC-SHA256 with these key bytes.
    Hs256(&'a [u8]),
    /// Ed25519 with this PKCS#8 document.
    Ed25519(&'a [u8]),
    /// ECDSA P-256 with this PKCS#8 document.
    Es256(&'a [u8]),
    /// These literal signature bytes.
    Raw(&'a [u8]),
}

/// `base64url(header) . base64url(claims) . base64url(signature)`, from raw JSON.
fn forge(header: &Value, claims: &Value, sig: Sig<'_>) -> String {
    forge_raw(
        &serde_json::to_vec(header).unwrap(),
        &serde_json::to_vec(claims).unwrap(),
        sig,
    )
}

fn forge_raw(header: &[u8], claims: &[u8], sig: Sig<'_>) -> String {
    let input = format!("{}.{}", b64(header), b64(claims));
    let signature = match sig {
        Sig::Empty => Vec::new(),
        Sig::Hs256(key) => {
            let key = hmac::Key::new(hmac::HMAC_SHA256, key);
            hmac::sign(&key, input.as_bytes()).as_ref().to_vec()
        }
        Sig::Ed25519(pkcs8) => Ed25519KeyPair::from_pkcs8(pkcs8)
            .unwrap()
            .sign(input.as_bytes())
            .as_ref()
            .to_vec(),
        Sig::Es256(pkcs8) => {
            let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8).unwrap();
            pair.sign(&SystemRandom::new(), input.as_bytes())
                .unwrap()
                .as_ref()
                .to_vec()
        }
        Sig::Raw(bytes) => bytes.to_vec(),
    };
    format!("{input}.{}", b64(&signature))
}

/// A session engine on a fresh key set of `alg`, with its real signing key material at hand.
struct Fixture {
    sessions: Sessions,
    clock: ManualClock,
    kid: String,
    /// PKCS#8 (asymmetric) or the raw HMAC secret of the active key.
    private: Vec<u8>,
    /// The raw public key (Ed25519: 32 bytes), for asymmetric sets.
    public: Option<Vec<u8>>,
    user: UserId,
    login: LoginTokens,
}

impl Fixture {
    async fn new(alg: KeyAlgorithm) -> Self {
        Self::with_config(alg, SessionsConfig::default()).await
    }

    async fn with_config(alg: KeyAlgorithm, config: SessionsConfig) -> Self {
        Self::with_keys(KeySet::generate(alg).unwrap(), config).await
    }

    async fn with_keys(keys: KeySet, config: SessionsConfig) -> Self {
        let file = keys.to_file();
        let kid = file.active.clone();
        let private = unb64(&file.keys[0].private);
        let public = match keys.active().algorithm() {
            KeyAlgorithm::EdDSA => Some(
                Ed25519KeyPair::from_pkcs8(&private)
                    .unwrap()
                    .public_key()
                    .as_ref()
                    .to_vec(),
            ),
            _ => None,
        };
        let clock = ManualClock::new(Timestamp::from_secs(NOW_SECS));
        let sessions = Sessions::builder(Arc::new(keys), Arc::new(MemoryStore::new()))
            .clock(Arc::new(clock.clone()))
            .config(config)
            .build();
        let user = UserId::new("user-1").unwrap();
        let login = sessions
            .login(&user, Payload::default(), ClientInfo::default())
            .await
            .unwrap();
        Self {
            sessions,
            clock,
            kid,
            private,
            public,
            user,
            login,
        }
    }

    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    fn alg(&self) -> &'static str {
        self.sessions.tokens().keys().active().algorithm().as_str()
    }

    /// A header that is right in every respect.
    fn header(&self) -> Value {
        json!({ "alg": self.alg(), "typ": "at+jwt", "kid": self.kid })
    }

    /// Claims that are right in every respect, for the fixture's live session.
    fn claims(&self) -> Value {
        let now = self.now().as_secs();
        json!({
            "iss": "tessera",
            "aud": "tessera",
            "sub": self.user.as_str(),
            "sid": self.login.session_id.as_str(),
            "jti": "forged-jti",
            "iat": now,
            "exp": now + 900,
        })
    }

    /// Signs with the set's real active key.
    fn sign(&self, header: &Value, claims: &Value) -> String {
        let sig = match self.sessions.tokens().keys().active().algorithm() {
            KeyAlgorithm::EdDSA => Sig::Ed25519(&self.private),
            KeyAlgorithm::ES256 => Sig::Es256(&self.private),
            KeyAlgorithm::HS256 => Sig::Hs256(&self.private),
            other => panic!("fixture does not forge {other}"),
        };
        forge(header, claims, sig)
    }

    /// Asserts that both the verifier and the session engine refuse `token` with `expected`.
    async fn assert_refused(&self, token: &str, expected: TokenError) {
        let got = self.sessions.tokens().verify(token, self.now());
        assert_eq!(
            got.as_ref().err(),
            Some(&expected),
            "verify of {token:.120}: {got:?}"
        );
        match self.sessions.authorize(token).await {
            Err(Error::Token(e)) => assert_eq!(e, expected, "authorize of {token:.120}"),
            other => panic!("authorize of {token:.120} should fail with {expected:?}: {other:?}"),
        }
    }
}

fn modify(mut v: Value, f: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Value {
    f(v.as_object_mut().unwrap());
    v
}

// ---------------------------------------------------------------------------------------------
// The harness itself.

#[tokio::test]
async fn forged_control_token_is_accepted() {
    for alg in [
        KeyAlgorithm::EdDSA,
        KeyAlgorithm::HS256,
        KeyAlgorithm::ES256,
    ] {
        let f = Fixture::new(alg).await;
        let token = f.sign(&f.header(), &f.claims());
        let claims = f.sessions.tokens().verify(&token, f.now()).unwrap();
        assert_eq!(claims.sid, f.login.session_id);
        let auth = f.sessions.authorize(&token).await.unwrap();
        assert_eq!(auth.session.id, f.login.session_id);
    }
}

#[test]
fn every_algorithm_accepts_independently_signed_tokens_and_only_its_own_alg() {
    let now = Timestamp::from_secs(NOW_SECS);
    let claims = json!({
        "iss": "tessera", "aud": "tessera", "sub": "u", "jti": "j",
        "sid": SessionId::generate().unwrap().as_str(), "iat": NOW_SECS, "exp": NOW_SECS + 900,
    });
    for alg in [
        KeyAlgorithm::EdDSA,
        KeyAlgorithm::ES256,
        KeyAlgorithm::HS256,
        KeyAlgorithm::HS384,
        KeyAlgorithm::HS512,
    ] {
        let keys = KeySet::generate(alg).unwrap();
        let file = keys.to_file();
        let private = unb64(&file.keys[0].private);
        let tokens =
            tessera_core::token::AccessTokens::new(Arc::new(keys), AccessTokenConfig::default());
        // Issued by the library.
        let issued = tokens
            .issue(
                &UserId::new("u").unwrap(),
                &SessionId::generate().unwrap(),
                &Payload::default(),
                now,
            )
            .unwrap();
        assert!(tokens.verify(issued.token.expose(), now).is_ok(), "{alg}");
        // Signed here, with aws-lc-rs directly.
        let header = json!({ "alg": alg.as_str(), "typ": "at+jwt", "kid": file.active });
        let input = format!(
            "{}.{}",
            b64(&serde_json::to_vec(&header).unwrap()),
            b64(&serde_json::to_vec(&claims).unwrap())
        );
        let sig = match alg {
            KeyAlgorithm::EdDSA => Ed25519KeyPair::from_pkcs8(&private)
                .unwrap()
                .sign(input.as_bytes())
                .as_ref()
                .to_vec(),
            KeyAlgorithm::ES256 => {
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &private)
                    .unwrap()
                    .sign(&SystemRandom::new(), input.as_bytes())
                    .unwrap()
                    .as_ref()
                    .to_vec()
            }
            hs => {
                let h = match hs {
                    KeyAlgorithm::HS384 => hmac::HMAC_SHA384,
                    KeyAlgorithm::HS512 => hmac::HMAC_SHA512,
                    _ => hmac::HMAC_SHA256,
                };
                hmac::sign(&hmac::Key::new(h, &private), input.as_bytes())
                    .as_ref()
                    .to_vec()
            }
        };
        let token = format!("{input}.{}", b64(&sig));
        assert!(
            tokens.verify(&token, now).is_ok(),
            "{alg}: independently signed token refused"
        );
        // The same token under every other algorithm name is refused.
        for other in ["EdDSA", "ES256", "HS256", "HS384", "HS512"] {
            if other == alg.as_str() {
                continue;
            }
            let h = modify(header.clone(), |h| {
                h.insert("alg".into(), other.into());
            });
            let token = forge(&h, &claims, Sig::Raw(&sig));
            assert_eq!(
                tokens.verify(&token, now).unwrap_err(),
                TokenError::AlgorithmMismatch,
                "{alg} key, {other} header"
            );
        }
    }
}

#[tokio::test]
async fn typ_is_compared_case_insensitively_and_accepts_the_media_type() {
    let f = Fixture::new(KeyAlgorithm::EdDSA).await;
    for typ in [
        "at+jwt",
        "AT+JWT",
        "application/at+jwt",
        "Application/AT+JWT",
    ] {
        let h = modify(f.header(), |h| {
            h.insert("typ".into(), typ.into());
        });
        let token = f.sign(&h, &f.claims());
        assert!(f.sessions.authorize(&token).await.is_ok(), "typ {typ}");
    }
}

// ---------------------------------------------------------------------------------------------
// `alg` attacks.

#[tokio::test]
async fn alg_none_is_refused_with_and_without_signature() {
    let f = Fixture::new(KeyAlgorithm::EdDSA).await;
    // The real token's signature, to staple onto an `alg: none` header.
    let real = f.login.access.token.expose().to_owned();
    let real_sig = unb64(real.rsplit('.').next().unwrap());
    for none in ["none", "None", "NONE", "nOnE"] {
        let h = modify(f.header(), |h| {
            h.insert("alg".into(), none.into());
        });
        f.assert_refused(
            &forge(&h, &f.claims(), Sig::Empty),
            TokenError::AlgorithmMismatch,
        )
        .await;
        f.assert_refused(
            &forge(&h, &f.claims(), Sig::Raw(&real_sig)),
            TokenError::AlgorithmMismatch,
        )
        .await;
        f.assert_refused(
            &forge(&h, &f.claims(), Sig::Hs256(b"anything")),
            TokenError::AlgorithmMismatch,
        )
        .await;
        // Even signed with the real key.
        f.assert_refused(&f.sign(&h, &f.claims()), TokenError::AlgorithmMismatch)
            .await;
    }
    // Only two parts (no trailing dot at all).
    let h = modify(f.header(), |h| {
        h.insert("alg".into(), "none".into());
    });
    let two = format!(
        "{}.{}",
        b64(&serde_json::to_vec(&h).unwrap()),
        b64(&serde_json::to_vec(&f.claims()).unwrap())
    );
    f.assert_refused(&two, TokenError::Malformed).await;
}

#[tokio::test]
async fn hs256_signed_with_the_ed25519_public_key_is_refused() {
    let f = Fixture::new(KeyAlgorithm::EdDSA).await;
    let public = f.public.clone().unwrap();
    let h = modify(f.header(), |h| {
        h.insert("alg".into(), "HS256".into());
    });
    // The raw public key bytes, the JWK `x` text, and the JWKS text: every form an attacker
    // could pick up from `/.well-known/jwks.json`.
    let jwks = serde_json::to_vec(&f.sessions.jwks()).unwrap();
    let x = b64(&public);
    for key in [public.as_slice(), x.as_bytes(), jwks.as_slice()] {
        let token = forge(&h, &f.claims(), Sig::Hs256(key));
        f.assert_refused(&token, TokenError::AlgorithmMismatch)
            .await;
    }
}

#[tokio::test]
async fn es256_header_on_an_eddsa_kid_is_refused() {
    let f = Fixture::new(KeyAlgorithm::EdDSA).await;
    let attacker =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
            .unwrap();
    let h = modify(f.header(), |h| {
        h.insert("alg".into(), "ES256".into());
    });
    let token = forge(&h, &f.claims(), Sig::Es256(attacker.as_ref()));
    f.assert_refused(&token, TokenError::AlgorithmMismatch)
        .await;
    // And every other algorithm name the JWT library knows, against the EdDSA kid.
    for alg in [
        "HS384", "HS512", "ES384", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
    ] {
        let h = modify(f.header(), |h| {
            h.insert("alg".into(), alg.into());
        });
        let token = forge(&h, &f.claims(), Sig::Hs256(b"attacker"));
        f.assert_refused(&token, TokenError::AlgorithmMismatch)
            .await;
    }
}

#[tokio::test]
async fn eddsa_header_on_an_hs256_kid_is_refused() {
    let f = Fixture::new(KeyAlgorithm::HS256).await;
    let attacker = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
    let h = modify(f.header(), |h| {
        h.insert("alg".into(), "EdDSA".into());
    });
    let token = forge(&h, &f.claims(), Sig::Ed25519(attacker.as_ref()));
    f.assert_refused(&token, TokenError::AlgorithmMismatch)
        .await;
}

#[tokio::test]
async fn unsupported_or_misspelled_alg_names_are_refused() {
    let f = Fixture::new(KeyAlgorithm::EdDSA).await;
    for alg in ["eddsa", "Ed25519", "EDDSA", "", "HS256 ", "ES256K"] {
        let h = modify(f.header(), |h| {
            h.insert("alg".into(), alg.into());
        });
        f.assert_refused(&f.sign(&h, &f.claims()), TokenError::AlgorithmMismatch)
            .await;
    }
    // `alg` missing or not a string: a malformed header.
    for alg in [Value::Null, json!(1), json!(["EdDSA"])] {
        let h = modify(f.header(), |h| {
            h.insert("alg".into(), alg);
        });
        f.assert_refused(&f.sign(&h, &f.claims()), TokenError::Malformed)
            .await;
    }
    let h = modify(f.header(), |h| {
        h.remove("alg");
    });
    f.assert_refused(&f.sign(&h, &f.claims()), TokenError::Malformed)
        .await;
}

// ---------------------------------------------------------------------------------------------
// `kid` attacks.

#[tokio::test]
async fn unknown_or_missing_kid_is_refused() {
    let f = Fixture::new(KeyAlgorithm::EdDSA).await;
    let h = modify(f.header(), |h| {
        h.insert("kid".into(), "no-such-key".into());
    });
    f.assert_refused(&f.sign(&h, &f.claims()), TokenError::UnknownKey)
        .await;
    let h = modify(f.header(), |h| {
        h.remove("kid");
    });
    f.assert_refused(&f.sign(&h, &f.claims()), TokenError::UnknownKey)
        .await;
    // A kid differing from the real one only in case, or with padding around it.
    for kid in [
        f.kid.to_uppercase(),
        f.kid.to_lowercase(),
        format!(" {}", f.kid),
        format!("{}\u{0}", f.kid),
    ] {
        if kid == f.kid {
            continue;
        }
        let h = modify(f.header(), |h| {
            h.insert("kid".into(), kid.clone().into());
        });
        f.assert_refused(&f.sign(&h, &f.claims()), TokenError::UnknownKey)
            .await;
    }
}

#[tokio::test]
async fn kid_path_and_injection_tricks_are_refused() {
    let f = Fixture::new(KeyAlgorithm::HS256).await;
    for kid in [
        "../../dev/null",
        "/dev/null",
        "../../../../../../etc/passwd",
        "' OR 1=1 --",
        "\" OR \"\"=\"",
        "x'; DROP TABLE sessions; --",
        "${jndi:ldap://example.invalid/a}",
        "*",
        "",
    ] {
        let h = modify(f.header(), |h| {
            h.insert("kid".into(), kid.into());
        });
        // Signed with the real key, and with the empty key that `/dev/null` would yield.
        f.assert_refused(&f.sign(&h, &f.claims()), TokenError::UnknownKey)
            .await;
        f.assert_refused(
            &forge(&h, &f.claims(), Sig::Hs256(b"")),
            TokenError::UnknownKey,
        )
        .await;
    }
    // A kid that is not a string.
    for kid in [json!(1), json!(["a"]), json!({"a": 1})] {
        let h = modify(f.header(), |h| {
            h.insert("kid".into(), kid);
        });
        f.assert_refused(&f.sign(&h, &f.claims()), TokenError::Malformed)
            .await;
    }
}

#[tokio::test]
async fn a_token_from_another_key_set_with_the_same_kid_is_refused() {
    for alg in [KeyAlgorithm::EdDSA, KeyAlgorithm::HS256] {
        let f = Fixture::new(alg).await;
        // Another key set whose only key has the victim's kid.
        let other = KeySet::generate(alg).unwrap();
        let mut file: KeyFile = other.to_file();
        file.active = f.kid.clone();
        file.keys[0].kid = f.kid.clone();
        let other = KeySet::from_file_struct(file).unwrap();
        assert_eq!(other.active().kid(), f.kid);
        let g = Fixture::with_keys(other, SessionsConfig::default()).await;
        // The other set signs a token for the victim's live session.
        let token = g.sign(&f.header(), &f.claims());
        f.assert_refused(&token, TokenError::BadSignature).await;
        // And its own genuine tokens too.
        f.assert_refused(g.login.access.token.expose(), TokenError::BadSignature)
            .await;
    }
}

#[tokio::test]
async fn a_retired_key_stops_verifying_even_for_cached_tokens() {
    let mut keys = KeySet::generate(KeyAlgorithm::EdDSA).unwrap();
    let now = Timestamp::from_secs(NOW_SECS);
    let old = tessera_core::token::AccessTokens::new(
        Arc::new(KeySet::from_json(&keys.to_json().unwrap()).unwrap()),
        AccessTokenConfig::default(),
    );
    let user = UserId::new("u").unwrap();
    let sid = SessionId::generate().unwrap();
    let token = old.issue(&user, &sid, &Payload::default(), now).unwrap();
    keys.rotate(KeyAlgorithm::EdDSA, now, Duration::from_secs(600))
        .unwrap();
    let tokens = tessera_core::token::AccessTokens::new(
        Arc::new(keys),
        AccessTokenConfig {
            ttl: Duration::from_secs(3600),
            ..Default::default()
        },
    );
    // Verifies (and is cached) while the retired key is still trusted...
    assert!(tokens.verify(token.token.expose(), now).is_ok());
    // ...and is refused from the moment the key's `verify_until` passes, cached or not.
    let later = now.plus(Duration::from_secs(600));
    assert_eq!(
        tokens.verify(token.token.expose(), later).unwrap_err(),
        TokenError::UnknownKey
    );
}

// ---------------------------------------------------------------------------------------------
// Header parameters that carry or point to keys, and `crit`.

#[tokio::test]
async fn key_carrying_header_parameters_are_refused() {
    let f = Fixture::new(KeyAlgorithm::EdDSA).await;
    // The attacker's own Ed25519 key, embedded as a JWK and signing the token.
    let attacker = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
    let attacker_pub = Ed25519KeyPair::from_pkcs8(attacker.as_ref())
        .unwrap()
        .public_key()
        .as_ref()
        .to_vec();
    let jwk = json!({ "kty": "OKP", "crv": "Ed25519", "x": b64(&attacker_pub), "kid": f.kid });
    let cases: Vec<(&str, Value)> = vec![
        ("jku", json!("https://attacker.example.invalid/jwks.json")),
        ("x5u", json!("https://attacker.example.invalid/cert.pem")),
        ("jwk", jwk),
        ("x5c", json!(["MIIBszCCAVmgAwIBAgIUQ"])),
        ("x5t", json!("dGh1bWJwcmludA")),
        ("x5t#S256", json!("dGh1bWJwcmludA")),
        ("crit", json!(["exp"])),
        ("crit", json!(["b64"])),
        ("b64", json!(true)),
        ("x-custom", json!("anything")),
    ];
    for (name, value) in cases {
        let h = modify(f.header(), |h| {
            h.insert(name.into(), value.clone());
        });
        // Signed with the real key: the header rule alone refuses it.
        f.assert_refused(&f.sign(&h, &f.claims()), TokenError::ForbiddenHeader)
            .await;
        // Signed with the attacker's key that the header points to.
        f.assert_refused(
            &forge(&h, &f.claims(), Sig::Ed25519(attacker.as_ref())),
            TokenError::ForbiddenHeader,
        )
        .await;
    }
}

#[tokio::test]
async fn misshapen_header_parameters_are_malformed_not_an_algorithm_problem() {
    // A header whose `alg` is fine but another parameter has the wrong JSON type cannot be
    // parsed: it is malformed (the algorithm is not the problem).
    let f = Fixture::new(KeyAlgorithm::EdDSA).await;
    for (name, value) in [
        ("jwk", json!("not-an-object")),
        ("x5c", json!("not-an-array")),
        ("crit", json!("exp")),
        ("typ", json!(1)),
    ] {
        let h = modify(f.header(), |h| {
            h.insert(name.into(), value);
        });
        f.assert_refused(&f.sign(&h, &f.claims()), TokenError::Malformed)
            .await;
    }
    // Not JSON, or not an object.
    for header in [&b"not json"[..], b"[]", b"\"EdDSA\"", b"", b"{"] {
        let token = forge_raw(
            header,
            &serde_json::to_vec(&f.claims()).unwrap(),
            Sig::Ed25519(&f.private),
        );
        f.assert_refused(&token, TokenError::Malformed).await;
    }
}

// ---------------------------------------------------------------------------------------------
// `typ`.

#[tokio::test]
async fn wrong_or_missing_typ_is_refused() {
    let f = Fixture::new(KeyAlgorithm::EdDSA).await;
    for typ in ["JWT", "jwt", "at+jwt ", "refresh", "application/jwt", ""] {
        let h = modify(f.header(), |h| {
            h.insert("typ".into(), typ.into());
        });
        f.assert_refused(&f.sign(&h, &f.claims()), TokenError::WrongType)
            .await;
    }
    let h = modify(f.header(), |h| {
        h.remove("typ");
    });
    f.assert_refused(&f.sign(&h, &f.claims()), TokenError::WrongType)
        .await;
    let h = modify(f.header(), |h| {
        h.insert("typ".into(), Value::Null);
    });
    f.assert_refused(&f.sign(&h, &f.claims()), TokenError::WrongType)
        .await;
}

// ---------------------------------------------------------------------------------------------
// Claims.

#[tokio::test]
async fn wrong_issuer_is_refused() {
    let f = Fixture::new(KeyAlgorithm::EdDSA).await;
    for iss in [json!("attacker"), json!("Tessera"), json!("tessera ")] {
        let c = modify(f.claims(), |c| {
            c.insert("iss".into(), iss);
        });
        f.assert_refused(&f.sign(&f.header(), &c), TokenError::WrongIssuer)
            .await;
    }
    let c = modify(f.claims(), |c| {
        c.remove("iss");
    });
    f.assert_refused(&f.sign(&f.header(), &c), TokenError::InvalidClaims)
        .await;
}

#[tokio::test]
async fn wrong_audience_is_refused() {
    let f = Fixture::new(KeyAlgorithm::EdDSA).await;
    for aud in ["other-api", "Tessera", "tessera "] {
        let c = modify(f.claims(), |c| {
            c.insert("aud".into(), aud.into());
        });
        f.assert_refused(&f.sign(&f.header(), &c), TokenError::WrongAudience)
            .await;
    }
    let c = modify(f.claims(), |c| {
        c.remove("aud");
    });
    f.assert_refused(&f.sign(&f.header(), &c), TokenError::InvalidClaims)
        .await;
}

/// Decision: `aud` must be one string. An array is refused even when it holds the configured
/// audience (alone or with others), because Tessera only ever issues a string.
#[tokio::test]
async fn audience_as_an_array_is_refused_even_with_the_right_value() {
    let f = Fixture::new(KeyAlgorithm::EdDSA).await;
    for aud in [
        json!(["tessera"]),
        json!(["tessera", "other-api"]),
        json!(["other-api", "tessera"]),
        json!(["other-api"]),
        json!([]),
    ] {
        let c = modify(f.claims(), |c| {
            c.insert("aud".into(), aud.clone());
        });
        f.assert_refused(&f.sign(&f.header(), &c), TokenError::InvalidClaims)
            .await;
    }
}

#[tokio::test]
async fn expiry_is_enforced_beyond_the_leeway() {
    // Default leeway: 5 s. Valid while now < exp + 5.
    let f = Fixture::new(KeyAlgorithm::EdDSA).await;
    let now = f.now().as_secs();
    let at = |exp: i64| {
        let c = modify(f.claims(), |c| {
            c.insert("iat".into(), (now - 1000).into());
            c.insert("exp".into(), exp.into());
        });
        f.sign(&f.header(), &c)
    };
    assert!(f.sessions.authorize(&at(now - 4)).await.is_ok());
    f.assert_refused(&at(now - 5), TokenError::Expired).await;
    f.assert_refused(&at(now - 3600), TokenError::Expired).await;
    f.assert_refused(&at(0), TokenError::Expired).await;
    // A negative `exp` is not a NumericDate the JWT library accepts.
    f.assert_refused(&at(-1), TokenError::InvalidClaims).await;
    f.assert_refused(&at(i64::MIN), TokenError::InvalidClaims)
        .await;
    // A missing or non-numeric `exp` is not "never expires".
    let c = modify(f.claims(), |c| {
        c.remove("exp");
    });
    f.assert_refused(&f.sign(&f.header(), &c), TokenError::InvalidClaims)
        .await;
    let c = modify(f.claims(), |c| {
        c.insert("exp".into(), "9999999999".into());
    });
    f.assert_refused(&f.sign(&f.header(), &c), TokenError::InvalidClaims)
        .await;
    // A genuinely issued token, past its lifetime by the injected clock.
    let genuine = f.login.access.token.expose().to_owned();
    f.clock.advance(Duration::from_secs(15 * 60 + 5));
    f.assert_refused(&genuine, TokenError::Expired).await;
}

#[tokio::test]
async fn future_nbf_and_iat_are_refused() {
    let f = Fixture::new(KeyAlgorithm::EdDSA).await;
    let now = f.now().as_secs();
    let with = |name: &str, v: i64| {
        let c = modify(f.claims(), |c| {
            c.insert(name.into(), v.into());
        });
        f.sign(&f.header(), &c)
    };
    assert!(f.sessions.authorize(&with("nbf", now + 5)).await.is_ok());
    f.assert_refused(&with("nbf", now + 6), TokenError::NotYetValid)
        .await;
    f.assert_refused(&with("nbf", now + 3600), TokenError::NotYetValid)
        .await;
    f.assert_refused(&with("nbf", i64::MAX), TokenError::NotYetValid)
        .await;
    f.assert_refused(&with("iat", now + 6), TokenError::NotYetValid)
        .await;
}

#[tokio::test]
async fn tampered_payload_with_the_original_signature_is_refused() {
    for alg in [KeyAlgorithm::EdDSA, KeyAlgorithm::HS256] {
        let f = Fixture::new(alg).await;
        let real = f.login.access.token.expose().to_owned();
        let parts: Vec<&str> = real.split('.').collect();
        let mut claims: Value = serde_json::from_slice(&unb64(parts[1])).unwrap();
        for (name, value) in [
            ("sub", json!("admin")),
            ("exp", json!(i64::from(i32::MAX))),
            ("sid", json!(SessionId::generate().unwrap().as_str())),
            ("app", json!({"role": "admin"})),
        ] {
            let original = claims[name].clone();
            claims[name] = value;
            let token = format!(
                "{}.{}.{}",
                parts[0],
                b64(&serde_json::to_vec(&claims).unwrap()),
                parts[2]
            );
            f.assert_refused(&token, TokenError::BadSignature).await;
            claims[name] = original;
        }
        // The header swapped for another one with the original signature.
        let h = modify(f.header(), |h| {
            h.insert("typ".into(), "AT+JWT".into());
        });
        let token = format!(
            "{}.{}.{}",
            b64(&serde_json::to_vec(&h).unwrap()),
            parts[1],
            parts[2]
        );
        f.assert_refused(&token, TokenError::BadSignature).await;
        // A truncated or empty signature.
        let sig = parts[2];
        for bad in [&sig[..sig.len() - 4], ""] {
            let token = format!("{}.{}.{bad}", parts[0], parts[1]);
            let err = f.sessions.tokens().verify(&token, f.now()).unwrap_err();
            assert!(
                matches!(err, TokenError::BadSignature | TokenError::Malformed),
                "{err:?}"
            );
        }
    }
}

#[tokio::test]
async fn unknown_extra_claims_are_refused() {
    let f = Fixture::new(KeyAlgorithm::EdDSA).await;
    for (name, value) in [
        ("role", json!("admin")),
        ("scope", json!("admin")),
        ("azp", json!("x")),
        ("refresh", json!(true)),
    ] {
        let c = modify(f.claims(), |c| {
            c.insert(name.into(), value);
        });
        f.assert_refused(&f.sign(&f.header(), &c), TokenError::InvalidClaims)
            .await;
    }
    // Wrong shapes of known claims.
    for (name, value) in [
        ("sub", json!(42)),
        ("sid", json!("not-a-session-id")),
        ("app", json!("not-an-object")),
        ("jti", json!(null)),
    ] {
        let c = modify(f.claims(), |c| {
            c.insert(name.into(), value);
        });
        f.assert_refused(&f.sign(&f.header(), &c), TokenError::InvalidClaims)
            .await;
    }
}

#[tokio::test]
async fn a_valid_token_for_another_users_session_is_not_authorized() {
    // Correctly signed, but `sub` is not the session's owner.
    let f = Fixture::new(KeyAlgorithm::EdDSA).await;
    let c = modify(f.claims(), |c| {
        c.insert("sub".into(), "user-2".into());
    });
    let token = f.sign(&f.header(), &c);
    assert!(f.sessions.tokens().verify(&token, f.now()).is_ok());
    assert!(matches!(
        f.sessions.authorize(&token).await,
        Err(Error::SessionNotFound)
    ));
}

// ---------------------------------------------------------------------------------------------
// Shape and size.

#[tokio::test]
async fn other_tessera_secrets_presented_as_access_tokens_are_malformed() {
    let f = Fixture::new(KeyAlgorithm::EdDSA).await;
    f.assert_refused(f.login.refresh.expose(), TokenError::Malformed)
        .await;
    f.assert_refused(f.login.csrf.as_str(), TokenError::Malformed)
        .await;
    let relay = f
        .sessions
        .create_relay_code(&f.login.session_id)
        .await
        .unwrap();
    f.assert_refused(relay.expose(), TokenError::Malformed)
        .await;
    f.assert_refused(f.login.session_id.as_str(), TokenError::Malformed)
        .await;
}

#[tokio::test]
async fn oversized_tokens_are_refused_before_parsing() {
    let f = Fixture::new(KeyAlgorithm::EdDSA).await;
    // Correctly signed, with valid claims, but over 8 KiB.
    let c = modify(f.claims(), |c| {
        c.insert("app".into(), json!({ "pad": "x".repeat(MAX_TOKEN_LEN) }));
    });
    let token = f.sign(&f.header(), &c);
    assert!(token.len() > MAX_TOKEN_LEN);
    f.assert_refused(&token, TokenError::Malformed).await;
    // Just over the limit with junk.
    f.assert_refused(&"a".repeat(MAX_TOKEN_LEN + 1), TokenError::Malformed)
        .await;
    f.assert_refused(&"a.".repeat(MAX_TOKEN_LEN), TokenError::Malformed)
        .await;
}

#[tokio::test]
async fn non_base64url_and_wrongly_split_tokens_are_malformed() {
    let f = Fixture::new(KeyAlgorithm::EdDSA).await;
    let real = f.login.access.token.expose().to_owned();
    let padded = {
        let mut p: Vec<String> = real.split('.').map(str::to_owned).collect();
        p[0].push('=');
        p.join(".")
    };
    for token in [
        String::new(),
        ".".into(),
        "..".into(),
        "...".into(),
        format!("{real}."),
        format!(".{real}"),
        format!("{real} "),
        format!("Bearer {real}"),
        real.replace('-', "+").replace('_', "/") + "+",
        padded,
        format!("{real}.{}", real.split('.').nth(2).unwrap()),
    ] {
        f.assert_refused(&token, TokenError::Malformed).await;
    }
}

// ---------------------------------------------------------------------------------------------
// jwt_sessions' refresh-by-access flaw.

fn refresh_by_access_on() -> SessionsConfig {
    SessionsConfig {
        refresh_by_access: true,
        ..Default::default()
    }
}

#[tokio::test]
async fn refresh_by_access_is_off_by_default() {
    let f = Fixture::new(KeyAlgorithm::EdDSA).await;
    assert!(!f.sessions.config().refresh_by_access);
    // Neither a valid nor an expired nor a forged token gets anywhere.
    let genuine = f.login.access.token.expose().to_owned();
    assert!(matches!(
        f.sessions.refresh_by_access(&genuine).await,
        Err(Error::RefreshByAccessDisabled)
    ));
    f.clock.advance(Duration::from_secs(3600));
    assert!(matches!(
        f.sessions.refresh_by_access(&genuine).await,
        Err(Error::RefreshByAccessDisabled)
    ));
    let h = modify(f.header(), |h| {
        h.insert("alg".into(), "none".into());
    });
    assert!(matches!(
        f.sessions
            .refresh_by_access(&forge(&h, &f.claims(), Sig::Empty))
            .await,
        Err(Error::RefreshByAccessDisabled)
    ));
}

#[tokio::test]
async fn refresh_by_access_mints_only_for_a_correctly_signed_expired_token() {
    let f = Fixture::with_config(KeyAlgorithm::EdDSA, refresh_by_access_on()).await;
    let genuine = f.login.access.token.expose().to_owned();
    // Expired claims for the victim's live session, as an attacker would craft them.
    let issued = f.now().as_secs();
    let expired_claims = modify(f.claims(), |c| {
        c.insert("iat".into(), issued.into());
        c.insert("exp".into(), (issued + 900).into());
    });
    f.clock.advance(Duration::from_secs(3600));
    assert_eq!(
        f.sessions.tokens().verify(&genuine, f.now()).unwrap_err(),
        TokenError::Expired
    );

    let none = modify(f.header(), |h| {
        h.insert("alg".into(), "none".into());
    });
    let hs_confusion = modify(f.header(), |h| {
        h.insert("alg".into(), "HS256".into());
    });
    let public = f.public.clone().unwrap();
    let attacker = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
    let forged = [
        (
            forge(&none, &expired_claims, Sig::Empty),
            TokenError::AlgorithmMismatch,
        ),
        (
            forge(&none, &expired_claims, Sig::Hs256(b"x")),
            TokenError::AlgorithmMismatch,
        ),
        (
            forge(&hs_confusion, &expired_claims, Sig::Hs256(&public)),
            TokenError::AlgorithmMismatch,
        ),
        (
            // Re-signed with the wrong key under the right kid.
            forge(
                &f.header(),
                &expired_claims,
                Sig::Ed25519(attacker.as_ref()),
            ),
            TokenError::BadSignature,
        ),
        (
            // The genuine expired token with its payload swapped.
            {
                let p: Vec<&str> = genuine.split('.').collect();
                let c = modify(expired_claims.clone(), |c| {
                    c.insert("jti".into(), "other".into());
                });
                format!(
                    "{}.{}.{}",
                    p[0],
                    b64(&serde_json::to_vec(&c).unwrap()),
                    p[2]
                )
            },
            TokenError::BadSignature,
        ),
    ];
    for (token, expected) in forged {
        match f.sessions.refresh_by_access(&token).await {
            Err(Error::Token(e)) => assert_eq!(e, expected),
            Err(e) => panic!("refused for the wrong reason: {e:?}"),
            Ok(_) => panic!("minted a token from a forgery: {token:.80}"),
        }
    }

    // The genuine expired token does get a new one, with the session record's claims.
    let grant = f.sessions.refresh_by_access(&genuine).await.unwrap();
    assert_eq!(grant.session_id, f.login.session_id);
    let auth = f
        .sessions
        .authorize(grant.access.token.expose())
        .await
        .unwrap();
    assert_eq!(auth.claims.sid, f.login.session_id);
    assert_eq!(auth.claims.sub, f.user);

    // Not once the session is gone.
    f.sessions.logout(&f.login.session_id).await.unwrap();
    assert!(matches!(
        f.sessions.refresh_by_access(&genuine).await,
        Err(Error::SessionNotFound)
    ));
}
