//! `GET /openapi.json`: the API description, generated from [`ROUTES`], the one table that
//! also drives the test proving every documented operation is served.

use axum::response::{IntoResponse, Response};
use utoipa::openapi::path::{HttpMethod, OperationBuilder, Paths};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::{Info, OpenApi};

/// One documented operation.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// HTTP method.
    pub method: &'static str,
    /// Path template (`{id}` for parameters).
    pub path: &'static str,
    /// Tag.
    pub tag: &'static str,
    /// One-line summary.
    pub summary: &'static str,
    /// The success status.
    pub ok: u16,
}

const fn r(
    method: &'static str,
    path: &'static str,
    tag: &'static str,
    summary: &'static str,
    ok: u16,
) -> Route {
    Route {
        method,
        path,
        tag,
        summary,
        ok,
    }
}

/// Every operation the API serves.
pub const ROUTES: &[Route] = &[
    r("POST", "/auth/signup", "auth", "Create an account", 201),
    r(
        "POST",
        "/auth/login",
        "auth",
        "Log in: sets the access and refresh cookies, returns CSRF and a relay code",
        200,
    ),
    r(
        "POST",
        "/auth/refresh",
        "auth",
        "Rotate the refresh token (cookie + X-CSRF-Token, or X-Refresh-Token)",
        200,
    ),
    r(
        "POST",
        "/auth/relay",
        "auth",
        "Exchange a relay code for the access token (server to server)",
        200,
    ),
    r(
        "POST",
        "/auth/logout",
        "auth",
        "End this session and clear the cookies",
        204,
    ),
    r(
        "POST",
        "/auth/logout-all",
        "auth",
        "End every session of the user",
        204,
    ),
    r(
        "POST",
        "/auth/password",
        "auth",
        "Change the password; ends all other sessions",
        204,
    ),
    r("GET", "/auth/me", "auth", "The user and this session", 200),
    r(
        "GET",
        "/auth/sessions",
        "auth",
        "The user's sessions (devices)",
        200,
    ),
    r(
        "DELETE",
        "/auth/sessions/{id}",
        "auth",
        "Revoke one of the user's sessions",
        204,
    ),
    r(
        "GET",
        "/.well-known/jwks.json",
        "keys",
        "Public keys for access-token verification",
        200,
    ),
    r(
        "GET",
        "/notes",
        "notes",
        "The user's notes, newest first",
        200,
    ),
    r("POST", "/notes", "notes", "Create a note", 201),
    r("GET", "/notes/{id}", "notes", "One note", 200),
    r("PATCH", "/notes/{id}", "notes", "Edit a note", 200),
    r("DELETE", "/notes/{id}", "notes", "Delete a note", 204),
    r("GET", "/healthz", "operations", "Liveness", 200),
    r(
        "GET",
        "/readyz",
        "operations",
        "Readiness: are the stores reachable",
        200,
    ),
    r("GET", "/metrics", "operations", "Prometheus metrics", 200),
    r("GET", "/openapi.json", "operations", "This document", 200),
];

fn method(m: &str) -> HttpMethod {
    match m {
        "POST" => HttpMethod::Post,
        "PATCH" => HttpMethod::Patch,
        "DELETE" => HttpMethod::Delete,
        "PUT" => HttpMethod::Put,
        _ => HttpMethod::Get,
    }
}

/// The OpenAPI document.
pub fn document() -> OpenApi {
    let mut paths = Paths::new();
    for route in ROUTES {
        let mut op = OperationBuilder::new()
            .tag(route.tag)
            .summary(Some(route.summary))
            .response(
                route.ok.to_string(),
                ResponseBuilder::new().description(route.summary).build(),
            );
        if route.tag != "operations" && route.path != "/.well-known/jwks.json" {
            op = op
                .response(
                    "400",
                    ResponseBuilder::new()
                        .description("Malformed input (application/problem+json)")
                        .build(),
                )
                .response(
                    "401",
                    ResponseBuilder::new()
                        .description("Not authenticated (application/problem+json)")
                        .build(),
                );
        }
        paths.add_path_operation(route.path, vec![method(route.method)], op.build());
    }
    OpenApi::new(Info::new("Tessera API", env!("CARGO_PKG_VERSION")), paths)
}

pub(crate) async fn serve() -> Response {
    axum::Json(document()).into_response()
}
