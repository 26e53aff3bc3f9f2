//! Request guards and response headers, as small `from_fn` middleware and layer builders.

use axum::body::{Body, HttpBody};
use axum::extract::Request;
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::problem::AuthError;

/// Largest total size of request headers (names and values) accepted: 16 KiB.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Largest request body accepted: 64 KiB.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Refuses requests whose headers add up to more than [`MAX_HEADER_BYTES`] (431).
pub async fn limit_headers(req: Request, next: Next) -> Response {
    let size: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if size > MAX_HEADER_BYTES {
        return AuthError::HeadersTooLarge.into_response();
    }
    next.run(req).await
}

/// Refuses requests whose `Content-Length` is over [`MAX_BODY_BYTES`] with a 413 problem,
/// before any of the body is read. (`tower_http`'s `RequestBodyLimitLayer` answers that case
/// with a `text/plain` body of its own; it still bounds bodies without a length, whose
/// overflow the [`JsonBody`](crate::JsonBody) extractor reports as the same problem.)
pub async fn limit_body(req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get_all(header::CONTENT_LENGTH)
        .iter()
        .filter_map(|v| v.to_str().ok().and_then(|s| s.trim().parse::<u64>().ok()))
        .max();
    match declared {
        Some(n) if n > MAX_BODY_BYTES as u64 => {
            if n <= MAX_DRAINED_BYTES {
                drain(req.into_body()).await;
            }
            AuthError::PayloadTooLarge.into_response()
        }
        _ => next.run(req).await,
    }
}

/// Bodies up to this size are read and discarded before a 413 is sent.
const MAX_DRAINED_BYTES: u64 = 1024 * 1024;

/// Reads and discards a body (at most [`MAX_DRAINED_BYTES`], for at most two seconds), so that
/// a client still sending it can finish and read the answer: closing the connection under a
/// client that is writing makes it see a broken pipe instead of the 413.
async fn drain(body: Body) {
    use http_body_util::BodyExt as _;
    let mut body = body;
    let mut seen: u64 = 0;
    let read = async {
        while let Some(Ok(frame)) = body.frame().await {
            if let Some(data) = frame.data_ref() {
                seen += data.len() as u64;
                if seen > MAX_DRAINED_BYTES {
                    break;
                }
            }
        }
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), read).await;
}

/// Refuses unsafe requests that carry a body (or a content type) other than
/// `application/json` with 415. This also closes "simple request" CSRF: a cross-site form or
/// `text/plain` fetch cannot produce `application/json` without a CORS preflight. Bodiless
/// requests (refresh, logout) need no content type.
pub async fn json_only(req: Request, next: Next) -> Response {
    if matches!(
        *req.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    ) {
        let has_body = req.headers().contains_key(header::TRANSFER_ENCODING)
            || req
                .headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.trim() != "0")
            // HTTP/2 frames a body without either header: a body not known to be empty counts.
            || !req.body().is_end_stream();
        let content_type = req.headers().get(header::CONTENT_TYPE);
        if (has_body || content_type.is_some()) && !content_type.is_some_and(is_json) {
            return AuthError::UnsupportedMediaType.into_response();
        }
    }
    next.run(req).await
}

fn is_json(v: &HeaderValue) -> bool {
    v.to_str().is_ok_and(|s| {
        let essence = s.split(';').next().unwrap_or("").trim();
        essence.eq_ignore_ascii_case("application/json")
    })
}

/// Sets `Cache-Control: no-store` on every response: auth responses carry tokens and
/// per-user data, which no cache may keep.
pub async fn no_store(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// Security headers for an API: `nosniff`, no referrer, no framing, a CSP that allows
/// nothing (an API serves no active content), and HSTS when served over TLS.
pub fn security_headers(
    tls: bool,
) -> impl Fn(Request, Next) -> std::pin::Pin<Box<dyn Future<Output = Response> + Send>> + Clone {
    move |req: Request, next: Next| {
        Box::pin(async move {
            let mut res = next.run(req).await;
            let h = res.headers_mut();
            h.insert(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            );
            h.insert(
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            );
            h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
            h.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"),
            );
            h.insert(
                "cross-origin-resource-policy",
                HeaderValue::from_static("same-site"),
            );
            if tls {
                h.insert(
                    header::STRICT_TRANSPORT_SECURITY,
                    HeaderValue::from_static("max-age=63072000; includeSubDomains"),
                );
            }
            res
        })
    }
}

/// Errors in CORS configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CorsError {
    /// An origin is not `scheme://host[:port]`, or is `null` or a wildcard.
    #[error("invalid allowed origin {0:?}: use scheme://host[:port], never null or *")]
    InvalidOrigin(String),
}

/// CORS for credentialed calls from exactly `origins`: no wildcard, never `null`, with
/// `Vary: Origin`. Any other origin gets no `Access-Control-Allow-Origin` at all.
pub fn cors(origins: &[String]) -> Result<CorsLayer, CorsError> {
    let mut values = Vec::with_capacity(origins.len());
    for o in origins {
        let ok = (o.starts_with("https://") || o.starts_with("http://"))
            && !o.contains('*')
            && !o.ends_with('/')
            && o.split("://")
                .nth(1)
                .is_some_and(|rest| !rest.is_empty() && !rest.contains('/'));
        if !ok || o.eq_ignore_ascii_case("null") {
            return Err(CorsError::InvalidOrigin(o.clone()));
        }
        values.push(HeaderValue::from_str(o).map_err(|_| CorsError::InvalidOrigin(o.clone()))?);
    }
    Ok(CorsLayer::new()
        .allow_origin(AllowOrigin::list(values))
        .allow_credentials(true)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PATCH,
            Method::PUT,
            Method::DELETE,
        ])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            header::HeaderName::from_static(crate::CSRF_HEADER),
        ])
        .max_age(std::time::Duration::from_secs(600))
        .vary([header::ORIGIN]))
}

/// Turns a panic inside a handler into a 500 problem response (the process keeps serving).
pub fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    tracing::error!("a request handler panicked");
    AuthError::Internal.into_response()
}

/// How much time one request may spend waiting on stores before it fails with 503.
pub const STORE_BUDGET: std::time::Duration = std::time::Duration::from_secs(1);

/// Gives each request one [`STORE_BUDGET`] shared by all its store calls (see
/// [`tessera_core::deadline`]): when a store is down or hung, the request fails within a
/// second, not after a timeout per call.
pub async fn store_budget(req: Request, next: Next) -> Response {
    tessera_core::deadline::with_budget(STORE_BUDGET, next.run(req)).await
}
