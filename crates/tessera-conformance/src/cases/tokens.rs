//! Forged and tampered access tokens: every one must get 401 on `GET /auth/me`.
//!
//! A black-box suite cannot sign with the deployment's key, so "wrong `aud`", "wrong `iss`",
//! "wrong `typ`" and "extended `exp`" are a real token with that one field changed and its
//! original signature kept: a verifier that checks claims before (or instead of) the signature,
//! or that caches by anything less than the whole token, accepts them.

use serde_json::{Value, json};

use crate::case::CaseResult;
use crate::case::{Case, Verdict, case};
use crate::context::Context;
use crate::error::CaseError;
use crate::http::send;
use crate::jwt::{self, AttackerKey, Parts};

/// The token cases.
pub fn cases() -> Vec<Case> {
    vec![
        case!(
            "tokens.baseline",
            "A real access token works (control for the rows below)",
            "200",
            baseline
        ),
        case!(
            "tokens.alg-none",
            "alg none/None/NONE/nOnE, with and without the real signature",
            "401",
            alg_none
        ),
        case!(
            "tokens.hs256-key-confusion",
            "HS256 signed with the JWKS public key (raw, x, JWK, PEM)",
            "401",
            key_confusion
        ),
        case!(
            "tokens.expired-forged",
            "exp in the past, signed with alg none and with HS256/public key",
            "401",
            expired_forged
        ),
        case!(
            "tokens.exp-extended",
            "A real token with exp moved a day ahead, original signature",
            "401",
            exp_extended
        ),
        case!(
            "tokens.tampered-sub",
            "A real token with sub set to another user, original signature",
            "401",
            tampered_sub
        ),
        case!(
            "tokens.tampered-signature",
            "A real token with one signature byte flipped",
            "401",
            tampered_signature
        ),
        case!(
            "tokens.wrong-aud",
            "A real token with another aud, original signature",
            "401",
            wrong_aud
        ),
        case!(
            "tokens.wrong-iss",
            "A real token with another iss, original signature",
            "401",
            wrong_iss
        ),
        case!(
            "tokens.wrong-typ",
            "A real token with typ JWT / rt+jwt / none, original signature",
            "401",
            wrong_typ
        ),
        case!(
            "tokens.refresh-as-bearer",
            "The refresh token presented as Bearer",
            "401",
            refresh_as_bearer
        ),
        case!(
            "tokens.kid-traversal",
            "kid ../../dev/null, HS256 with an empty key",
            "401",
            kid_traversal
        ),
        case!(
            "tokens.kid-absolute-path",
            "kid /etc/passwd, HS256 with the file's usual first line",
            "401",
            kid_absolute
        ),
        case!(
            "tokens.jku",
            "jku pointing at an attacker's JWKS, signed with the attacker's key",
            "401",
            jku
        ),
        case!(
            "tokens.x5u",
            "x5u pointing at an attacker's certificate, signed with the attacker's key",
            "401",
            x5u
        ),
        case!(
            "tokens.embedded-jwk",
            "The attacker's key embedded as jwk, signed with it",
            "401",
            embedded_jwk
        ),
    ]
}

/// Sends each labelled token to `GET /auth/me`; passes when every one gets 401.
async fn all_refused(cx: &Context, tokens: Vec<(String, String)>) -> CaseResult {
    let mut ok = true;
    let mut seen = Vec::new();
    for (label, token) in tokens {
        let status = cx.me_status(&token).await?;
        ok &= status == 401;
        seen.push(format!("{label} {status}"));
    }
    Ok(Verdict::check(ok, seen.join(", ")))
}

fn real(cx: &Context) -> Result<Parts, CaseError> {
    jwt::split(&cx.main.access)
}

/// Re-encodes the real token with `edit` applied to its claims, keeping its signature.
fn with_claims(cx: &Context, edit: impl FnOnce(&mut Value)) -> Result<String, CaseError> {
    let mut p = real(cx)?;
    edit(&mut p.claims);
    Ok(jwt::assemble(&p.header, &p.claims, &p.signature))
}

fn set(v: &mut Value, key: &str, value: Value) {
    if let Some(obj) = v.as_object_mut() {
        obj.insert(key.to_owned(), value);
    }
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

async fn baseline(cx: &Context) -> CaseResult {
    let status = cx.me_status(&cx.main.access).await?;
    Ok(Verdict::check(status == 200, status.to_string()))
}

async fn alg_none(cx: &Context) -> CaseResult {
    let p = real(cx)?;
    let mut tokens = Vec::new();
    for alg in ["none", "None", "NONE", "nOnE"] {
        let mut h = p.header.clone();
        set(&mut h, "alg", json!(alg));
        tokens.push((alg.to_owned(), jwt::assemble(&h, &p.claims, "")));
    }
    let mut h = p.header.clone();
    set(&mut h, "alg", json!("none"));
    tokens.push((
        "none+sig".to_owned(),
        jwt::assemble(&h, &p.claims, &p.signature),
    ));
    all_refused(cx, tokens).await
}

/// The JWKS key the real token names, or the first one.
async fn public_jwk(cx: &Context, kid: Option<&str>) -> Result<Option<Value>, CaseError> {
    let r = send(
        cx.target
            .client
            .get(cx.target.api_url("/.well-known/jwks.json")),
    )
    .await?;
    let keys = r
        .json()
        .and_then(|v| v.get("keys").and_then(Value::as_array).cloned())
        .unwrap_or_default();
    let by_kid = keys
        .iter()
        .find(|k| kid.is_some() && k.get("kid").and_then(Value::as_str) == kid);
    Ok(by_kid.or_else(|| keys.first()).cloned())
}

async fn key_confusion(cx: &Context) -> CaseResult {
    let p = real(cx)?;
    let kid = p.header.get("kid").and_then(Value::as_str);
    let Some(jwk) = public_jwk(cx, kid).await? else {
        // A deployment with only shared-secret keys publishes none: nothing to confuse.
        let mut h = p.header.clone();
        set(&mut h, "alg", json!("HS256"));
        let t = jwt::sign_hs256(&h, &p.claims, b"");
        let v = all_refused(cx, vec![("empty-key".into(), t)]).await?;
        return Ok(Verdict::check(
            v.passed,
            format!("JWKS has no public key; {}", v.observed),
        ));
    };
    let mut h = p.header.clone();
    set(&mut h, "alg", json!("HS256"));
    let tokens = jwt::confusion_keys(&jwk)
        .into_iter()
        .map(|(label, key)| (label.to_owned(), jwt::sign_hs256(&h, &p.claims, &key)))
        .collect();
    all_refused(cx, tokens).await
}

async fn expired_forged(cx: &Context) -> CaseResult {
    let p = real(cx)?;
    let mut claims = p.claims.clone();
    let now = now_secs();
    set(&mut claims, "iat", json!(now - 7200));
    set(&mut claims, "exp", json!(now - 3600));
    let mut none = p.header.clone();
    set(&mut none, "alg", json!("none"));
    let mut tokens = vec![("none".to_owned(), jwt::assemble(&none, &claims, ""))];
    let mut hs = p.header.clone();
    set(&mut hs, "alg", json!("HS256"));
    let kid = p.header.get("kid").and_then(Value::as_str);
    let key = match public_jwk(cx, kid).await? {
        Some(jwk) => jwt::confusion_keys(&jwk)
            .into_iter()
            .find(|(l, _)| *l == "raw")
            .map(|(_, k)| k)
            .unwrap_or_default(),
        None => Vec::new(),
    };
    tokens.push(("hs256".to_owned(), jwt::sign_hs256(&hs, &claims, &key)));
    // And the real signature over the expired claims (tampered and expired at once).
    tokens.push((
        "real-sig".to_owned(),
        jwt::assemble(&p.header, &claims, &p.signature),
    ));
    all_refused(cx, tokens).await
}

async fn exp_extended(cx: &Context) -> CaseResult {
    let t = with_claims(cx, |c| {
        let exp = c.get("exp").and_then(Value::as_i64).unwrap_or_default();
        set(c, "exp", json!(exp + 86_400));
    })?;
    all_refused(cx, vec![("exp+1d".into(), t)]).await
}

async fn tampered_sub(cx: &Context) -> CaseResult {
    let other = cx.other.user_id.clone();
    let t = with_claims(cx, |c| set(c, "sub", json!(other)))?;
    all_refused(cx, vec![("sub=other".into(), t)]).await
}

async fn tampered_signature(cx: &Context) -> CaseResult {
    let p = real(cx)?;
    let mut sig: Vec<char> = p.signature.chars().collect();
    // Flip a character in the middle (the last one may only carry padding bits).
    if let Some(c) = sig.get_mut(p.signature.len() / 2) {
        *c = if *c == 'A' { 'B' } else { 'A' };
    }
    let sig: String = sig.into_iter().collect();
    all_refused(
        cx,
        vec![("flipped".into(), jwt::assemble(&p.header, &p.claims, &sig))],
    )
    .await
}

async fn wrong_aud(cx: &Context) -> CaseResult {
    let a = with_claims(cx, |c| set(c, "aud", json!("someone-else")))?;
    let b = with_claims(cx, |c| set(c, "aud", json!(["someone-else"])))?;
    all_refused(cx, vec![("aud=other".into(), a), ("aud=[other]".into(), b)]).await
}

async fn wrong_iss(cx: &Context) -> CaseResult {
    let t = with_claims(cx, |c| set(c, "iss", json!("https://evil.example")))?;
    all_refused(cx, vec![("iss=evil".into(), t)]).await
}

async fn wrong_typ(cx: &Context) -> CaseResult {
    let p = real(cx)?;
    let mut tokens = Vec::new();
    for typ in [Some("JWT"), Some("rt+jwt"), None] {
        let mut h = p.header.clone();
        match typ {
            Some(t) => set(&mut h, "typ", json!(t)),
            None => {
                if let Some(obj) = h.as_object_mut() {
                    obj.remove("typ");
                }
            }
        }
        tokens.push((
            typ.unwrap_or("no-typ").to_owned(),
            jwt::assemble(&h, &p.claims, &p.signature),
        ));
    }
    all_refused(cx, tokens).await
}

async fn refresh_as_bearer(cx: &Context) -> CaseResult {
    all_refused(cx, vec![("refresh".into(), cx.main.refresh.clone())]).await
}

async fn kid_traversal(cx: &Context) -> CaseResult {
    let p = real(cx)?;
    let mut tokens = Vec::new();
    for kid in ["../../dev/null", "../../../../../../dev/null"] {
        let h = json!({ "alg": "HS256", "typ": "at+jwt", "kid": kid });
        tokens.push((kid.to_owned(), jwt::sign_hs256(&h, &p.claims, b"")));
    }
    all_refused(cx, tokens).await
}

async fn kid_absolute(cx: &Context) -> CaseResult {
    let p = real(cx)?;
    let h = json!({ "alg": "HS256", "typ": "at+jwt", "kid": "/etc/passwd" });
    let mut tokens = vec![(
        "/etc/passwd".to_owned(),
        jwt::sign_hs256(&h, &p.claims, b"root:x:0:0:root:/root:/bin/bash\n"),
    )];
    let h = json!({ "alg": "HS256", "typ": "at+jwt", "kid": "' OR '1'='1" });
    tokens.push(("sql".to_owned(), jwt::sign_hs256(&h, &p.claims, b"")));
    all_refused(cx, tokens).await
}

/// Tokens signed with the attacker's key, whose header points at the key by `field`, once
/// under the attacker's `kid` and once under the real one.
fn attacker_tokens(
    cx: &Context,
    field: &str,
    value: impl Fn(&AttackerKey) -> Value,
) -> Result<Vec<(String, String)>, CaseError> {
    let p = real(cx)?;
    let key = AttackerKey::generate()?;
    let real_kid = p.header.get("kid").cloned().unwrap_or(Value::Null);
    let mut out = Vec::new();
    for (label, kid) in [("attacker-kid", json!("attacker")), ("real-kid", real_kid)] {
        let mut h = json!({ "alg": "EdDSA", "typ": "at+jwt", "kid": kid });
        set(&mut h, field, value(&key));
        out.push((label.to_owned(), key.sign(&h, &p.claims)));
    }
    Ok(out)
}

async fn jku(cx: &Context) -> CaseResult {
    let tokens = attacker_tokens(cx, "jku", |_| {
        json!("https://evil.example/.well-known/jwks.json")
    })?;
    all_refused(cx, tokens).await
}

async fn x5u(cx: &Context) -> CaseResult {
    let tokens = attacker_tokens(cx, "x5u", |_| json!("https://evil.example/cert.pem"))?;
    all_refused(cx, tokens).await
}

async fn embedded_jwk(cx: &Context) -> CaseResult {
    let tokens = attacker_tokens(cx, "jwk", |k| k.jwk("attacker"))?;
    all_refused(cx, tokens).await
}
