//! Every case, grouped by what it attacks.
//!
//! | group | attacks |
//! |---|---|
//! | [`tokens`] | forged, tampered and confused access tokens on `GET /auth/me` |
//! | [`refresh`] | refresh-token reuse after the grace window; concurrent refreshes |
//! | [`csrf`] | cookie-authenticated unsafe API calls without the right CSRF token; non-JSON bodies |
//! | [`origin`] | cross-origin, `null`-origin and cross-site posts to the web server |
//! | [`cors`] | CORS answers to foreign and `null` origins |
//! | [`cookies`] | cookie attributes, `no-store`, session fixation through the relay |
//! | [`redirect`] | open redirects through `/login?next=` |
//! | [`login`] | throttling and account enumeration |
//! | [`limits`] | header and body sizes, malformed, deep and duplicate-key JSON |
//! | [`logout`] | tokens after logout; relay codes by GET or in the URL |

pub mod cookies;
pub mod cors;
pub mod csrf;
pub mod limits;
pub mod login;
pub mod logout;
pub mod origin;
pub mod redirect;
pub mod refresh;
pub mod tokens;

use crate::case::Case;

/// Every case, in the order they run. Timing-sensitive and state-destroying cases come last.
pub fn all() -> Vec<Case> {
    let mut out = Vec::new();
    out.extend(tokens::cases());
    out.extend(csrf::cases());
    out.extend(origin::cases());
    out.extend(cors::cases());
    out.extend(cookies::cases());
    out.extend(redirect::cases());
    out.extend(limits::cases());
    out.extend(logout::cases());
    out.extend(refresh::cases());
    out.extend(login::cases());
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_unique_and_grouped() {
        let all = super::all();
        let mut ids: Vec<&str> = all.iter().map(|c| c.id).collect();
        ids.sort_unstable();
        let n = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), n, "duplicate case ids");
        for c in &all {
            assert!(c.id.contains('.'), "{} has no group", c.id);
            assert!(!c.expected.is_empty() && !c.title.is_empty());
        }
    }
}
