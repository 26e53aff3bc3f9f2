//! The deployment under test and the HTTP client that reaches it.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use reqwest::Url;

use crate::error::ConformanceError;

/// A DNS override, as curl's `--resolve HOST:PORT:ADDR`: connections to `HOST` on `PORT` go
/// to `ADDR` (TLS still checks the certificate for `HOST`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolve {
    /// The host name as it appears in URLs.
    pub host: String,
    /// Where to connect instead (the port is the URL's port).
    pub addr: SocketAddr,
}

impl FromStr for Resolve {
    type Err = ConformanceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ConformanceError::InvalidResolve(s.to_owned());
        let mut parts = s.splitn(3, ':');
        let (Some(host), Some(port), Some(addr)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        if host.is_empty() {
            return Err(bad());
        }
        let port: u16 = port.parse().map_err(|_| bad())?;
        let ip: IpAddr = addr
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| bad())?;
        Ok(Self {
            host: host.to_ascii_lowercase(),
            addr: SocketAddr::new(ip, port),
        })
    }
}

/// Where the deployment is and how to reach it.
#[derive(Clone)]
pub struct TargetConfig {
    /// The API's base URL, e.g. `https://api.example.com`.
    pub api: String,
    /// The web server's base URL, e.g. `https://app.example.com`; its origin must be the web
    /// server's configured public origin.
    pub web: String,
    /// An extra trusted root certificate (PEM), for private PKIs and test stacks.
    pub ca_pem: Option<Vec<u8>>,
    /// DNS overrides.
    pub resolve: Vec<Resolve>,
    /// The web server's configured public origin, when it differs from the origin of `web`
    /// (a test stack reached through a port mapping, as browsers reach it by host rules).
    pub web_origin: Option<String>,
    /// Allow `http://` URLs (a local test stack). Cookies must still be `Secure`.
    pub insecure_http: bool,
    /// Timeout of each request.
    pub request_timeout: Duration,
}

impl fmt::Debug for TargetConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TargetConfig")
            .field("api", &self.api)
            .field("web", &self.web)
            .field("ca_pem", &self.ca_pem.as_ref().map(|p| p.len()))
            .field("resolve", &self.resolve)
            .field("web_origin", &self.web_origin)
            .field("insecure_http", &self.insecure_http)
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}

impl TargetConfig {
    /// HTTPS only, no overrides, 30-second requests.
    pub fn new(api: impl Into<String>, web: impl Into<String>) -> Self {
        Self {
            api: api.into(),
            web: web.into(),
            ca_pem: None,
            resolve: Vec::new(),
            web_origin: None,
            insecure_http: false,
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// The deployment under test: the API, the web server and a client for both.
///
/// The client keeps no cookies (every case writes its `Cookie` header by hand, so that what
/// the servers set can be inspected), follows no redirects and uses no proxy.
#[derive(Debug, Clone)]
pub struct Target {
    /// The API's base URL, without a trailing `/`.
    pub api: String,
    /// The web server's base URL, without a trailing `/`.
    pub web: String,
    /// The web server's origin (`scheme://host[:port]`), sent as `Origin` by legitimate
    /// requests.
    pub web_origin: String,
    /// The HTTP client (HTTP/2 where the server offers it).
    pub client: reqwest::Client,
    /// The same client restricted to HTTP/1.1, for cases about header sizes (HTTP/2 clients
    /// refuse to send what the peer's settings forbid).
    pub http1: reqwest::Client,
}

fn base_url(name: &'static str, value: &str, insecure: bool) -> Result<Url, ConformanceError> {
    let invalid = |reason: &str| ConformanceError::InvalidUrl {
        name,
        url: value.to_owned(),
        reason: reason.to_owned(),
    };
    let url = Url::parse(value).map_err(|e| invalid(&e.to_string()))?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("a base URL has no query or fragment"));
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if insecure => Ok(url),
        "http" => Err(ConformanceError::InsecureUrl {
            name,
            url: value.to_owned(),
        }),
        _ => Err(invalid("expected http:// or https://")),
    }
}

impl Target {
    /// Checks the URLs and builds the clients.
    pub fn new(config: &TargetConfig) -> Result<Self, ConformanceError> {
        let api = base_url("--api", &config.api, config.insecure_http)?;
        let web = base_url("--web", &config.web, config.insecure_http)?;
        let web_origin = match &config.web_origin {
            Some(o) => base_url("--web-origin", o, config.insecure_http)?
                .origin()
                .ascii_serialization(),
            None => web.origin().ascii_serialization(),
        };
        let client = build_client(config, false)?;
        let http1 = build_client(config, true)?;
        Ok(Self {
            api: api.as_str().trim_end_matches('/').to_owned(),
            web: web.as_str().trim_end_matches('/').to_owned(),
            web_origin,
            client,
            http1,
        })
    }

    /// The absolute URL of an API path (`/auth/login`).
    pub fn api_url(&self, path: &str) -> String {
        format!("{}{path}", self.api)
    }

    /// The absolute URL of a web path (`/session`).
    pub fn web_url(&self, path: &str) -> String {
        format!("{}{path}", self.web)
    }
}

fn build_client(config: &TargetConfig, http1: bool) -> Result<reqwest::Client, ConformanceError> {
    let mut b = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(config.request_timeout)
        .connect_timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(32)
        .user_agent(concat!("tessera-conformance/", env!("CARGO_PKG_VERSION")));
    if http1 {
        b = b.http1_only();
    }
    if let Some(pem) = &config.ca_pem {
        let certs = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|e| ConformanceError::Ca(e.to_string()))?;
        if certs.is_empty() {
            return Err(ConformanceError::Ca(
                "no certificate in the PEM file".into(),
            ));
        }
        for cert in certs {
            b = b.add_root_certificate(cert);
        }
    }
    for r in &config.resolve {
        b = b.resolve(&r.host, r.addr);
    }
    b.build()
        .map_err(|e| ConformanceError::Client(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_parses_like_curl() {
        let r: Resolve = "api.example.test:443:127.0.0.1".parse().unwrap();
        assert_eq!(r.host, "api.example.test");
        assert_eq!(r.addr, "127.0.0.1:443".parse().unwrap());
        let r: Resolve = "app.example.test:8443:[::1]".parse().unwrap();
        assert_eq!(r.addr, "[::1]:8443".parse().unwrap());
        for bad in [
            "",
            "host",
            "host:443",
            ":443:127.0.0.1",
            "h:x:127.0.0.1",
            "h:1:nope",
        ] {
            assert!(bad.parse::<Resolve>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn urls_need_https_unless_allowed() {
        let mut c = TargetConfig::new("http://127.0.0.1:4000", "https://app.example.test/");
        assert!(matches!(
            Target::new(&c),
            Err(ConformanceError::InsecureUrl { .. })
        ));
        c.insecure_http = true;
        let t = Target::new(&c).unwrap();
        assert_eq!(t.api_url("/auth/me"), "http://127.0.0.1:4000/auth/me");
        assert_eq!(t.web_origin, "https://app.example.test");
        assert_eq!(t.web_url("/session"), "https://app.example.test/session");
        c.api = "ftp://x".into();
        assert!(Target::new(&c).is_err());
    }
}
