//! The one HTTP client every feed goes through: connect/read timeouts, a descriptive user
//! agent, retries with exponential backoff and full jitter on timeouts, connection errors, 5xx
//! and 429 (honouring `Retry-After`), conditional GET (ETag / Last-Modified), a body size cap,
//! and a minimum spacing between arXiv API calls (arXiv asks for 3 s).
//!
//! No parsing here: it returns bytes (or "not modified") and typed errors.

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

/// arXiv's published minimum gap between API calls.
pub const ARXIV_API_MIN_INTERVAL: Duration = Duration::from_secs(3);
/// Responses larger than this are refused (a feed is a few MB at most).
pub const DEFAULT_MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// The user agent: `academichub/<version> (+<contact or repository>)`.
pub fn user_agent(contact: Option<&str>) -> String {
    let contact = contact
        .map(str::to_string)
        .unwrap_or_else(|| "https://github.com/academichub/academichub".into());
    format!("academichub/{} (+{contact})", env!("CARGO_PKG_VERSION"))
}

/// Client settings. Tests shrink the delays; production uses the defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientConfig {
    pub user_agent: String,
    pub connect_timeout: Duration,
    /// Longest silence while reading a response.
    pub read_timeout: Duration,
    /// Whole-request limit (headers and body).
    pub total_timeout: Duration,
    /// Retries after the first attempt.
    pub retries: u32,
    /// First backoff delay; doubled per retry, full jitter, capped by `max_backoff`.
    pub backoff: Duration,
    /// Cap of a backoff delay and of an honoured `Retry-After`.
    pub max_backoff: Duration,
    /// Minimum time between two arXiv API calls.
    pub arxiv_api_interval: Duration,
    pub max_body_bytes: usize,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            user_agent: user_agent(None),
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            total_timeout: Duration::from_secs(300),
            retries: 4,
            backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(300),
            arxiv_api_interval: ARXIV_API_MIN_INTERVAL,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

/// Validators of the last successful fetch, sent back as If-None-Match / If-Modified-Since.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Validators {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
}

/// A successful fetch.
#[derive(Debug, Clone)]
pub enum Fetched {
    /// 304: the feed did not change since the validators were issued.
    NotModified,
    Body {
        bytes: Vec<u8>,
        validators: Validators,
        content_type: Option<String>,
        /// Attempts it took (1 = first try).
        attempts: u32,
    },
}

/// Why a fetch failed (after retries where retrying made sense).
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{url}: HTTP {status}{hint} (after {attempts} attempt(s))")]
    Status {
        url: String,
        status: u16,
        hint: String,
        attempts: u32,
    },
    #[error("{url}: {reason} (after {attempts} attempt(s))")]
    Transport {
        url: String,
        reason: String,
        attempts: u32,
    },
    #[error("{url}: response larger than {limit} bytes, refused")]
    TooLarge { url: String, limit: usize },
    #[error("{url}: the server asks to wait {secs}s (Retry-After), more than the {max}s limit; giving up for this poll")]
    RetryAfterTooLong { url: String, secs: u64, max: u64 },
    #[error("cannot build the HTTP client: {0}")]
    Build(String),
}

/// One shared client (cheap to clone the inner reqwest client; keep one per process).
pub struct FeedClient {
    http: reqwest::Client,
    config: ClientConfig,
    last_arxiv_api_call: Mutex<Option<Instant>>,
}

enum Attempt {
    Done(Fetched),
    Retry {
        error: FetchError,
        wait: Option<Duration>,
    },
    Fail(FetchError),
}

/// Most redirects followed for one request.
pub const MAX_REDIRECTS: usize = 5;

/// Redirects are followed only to the same host (and port), never from https to http, and at
/// most [`MAX_REDIRECTS`] times: a feed must not be able to point the fetcher at another host
/// (an internal address, say) and have that page indexed.
fn same_host_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let Some(first) = attempt.previous().first() else {
            return attempt.follow();
        };
        let next = attempt.url();
        let same_host = next.host_str() == first.host_str()
            && next.port_or_known_default() == first.port_or_known_default();
        let downgrade = first.scheme() == "https" && next.scheme() != "https";
        let upgrade_only = first.scheme() == "http"
            && next.scheme() == "https"
            && next.host_str() == first.host_str();
        let refusal = if attempt.previous().len() > MAX_REDIRECTS {
            Some(format!("more than {MAX_REDIRECTS} redirects"))
        } else if !matches!(next.scheme(), "http" | "https") || downgrade {
            Some(format!("redirect to {}:// refused", next.scheme()))
        } else if same_host || upgrade_only {
            None
        } else {
            Some(format!(
                "redirect to another host ({}) refused",
                next.host_str().unwrap_or("?")
            ))
        };
        match refusal {
            None => attempt.follow(),
            Some(why) => attempt.error(why),
        }
    })
}

impl FeedClient {
    /// Builds the client.
    pub fn new(config: ClientConfig) -> Result<Self, FetchError> {
        let http = reqwest::Client::builder()
            .user_agent(config.user_agent.clone())
            .connect_timeout(config.connect_timeout)
            .read_timeout(config.read_timeout)
            .timeout(config.total_timeout)
            .gzip(true)
            .redirect(same_host_redirects())
            .build()
            .map_err(|e| FetchError::Build(e.to_string()))?;
        Ok(FeedClient {
            http,
            config,
            last_arxiv_api_call: Mutex::new(None),
        })
    }

    /// The settings in use.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Waits until at least `arxiv_api_interval` has passed since the previous arXiv API call
    /// (across every source sharing this client), then records this call.
    pub async fn arxiv_api_gate(&self) {
        let mut last = self.last_arxiv_api_call.lock().await;
        if let Some(t) = *last {
            let ready = t + self.config.arxiv_api_interval;
            tokio::time::sleep_until(ready).await;
        }
        *last = Some(Instant::now());
    }

    /// GETs `url`, sending `validators` for a conditional request, retrying transient failures.
    pub async fn get(
        &self,
        url: &str,
        validators: Option<&Validators>,
    ) -> Result<Fetched, FetchError> {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let outcome = self.try_once(url, validators, attempt).await;
            match outcome {
                Attempt::Done(f) => return Ok(f),
                Attempt::Fail(e) => return Err(e),
                Attempt::Retry { error, wait } => {
                    if attempt > self.config.retries {
                        return Err(error);
                    }
                    let delay = retry_delay(wait, self.backoff(attempt), self.config.max_backoff)
                        .map_err(|w| FetchError::RetryAfterTooLong {
                        url: url.to_string(),
                        secs: w.as_secs(),
                        max: self.config.max_backoff.as_secs(),
                    })?;
                    tracing::warn!(url, attempt, delay_ms = delay.as_millis() as u64, error = %error, "retrying");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    /// Full-jitter exponential backoff: uniform in [base*2^(n-1)/2, base*2^(n-1)], capped.
    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .config
            .backoff
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(self.config.max_backoff);
        let half = exp / 2;
        half + half.mul_f64(fastrand::f64())
    }

    async fn try_once(&self, url: &str, validators: Option<&Validators>, attempt: u32) -> Attempt {
        let mut req = self.http.get(url);
        if let Some(v) = validators {
            if let Some(etag) = &v.etag {
                req = req.header(reqwest::header::IF_NONE_MATCH, etag);
            }
            if let Some(lm) = &v.last_modified {
                req = req.header(reqwest::header::IF_MODIFIED_SINCE, lm);
            }
        }
        let resp = match req.send().await {
            Ok(r) => r,
            // A refused redirect is refused again next time: not retried.
            Err(e) if e.is_redirect() => {
                return Attempt::Fail(FetchError::Transport {
                    url: url.to_string(),
                    reason: describe(&e),
                    attempts: attempt,
                })
            }
            Err(e) => {
                return Attempt::Retry {
                    error: FetchError::Transport {
                        url: url.to_string(),
                        reason: describe(&e),
                        attempts: attempt,
                    },
                    wait: None,
                }
            }
        };
        let status = resp.status();
        if status == reqwest::StatusCode::NOT_MODIFIED {
            return Attempt::Done(Fetched::NotModified);
        }
        let header = |name: reqwest::header::HeaderName| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        if status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408 {
            let wait = header(reqwest::header::RETRY_AFTER).and_then(|v| parse_retry_after(&v));
            return Attempt::Retry {
                error: FetchError::Status {
                    url: url.to_string(),
                    status: status.as_u16(),
                    hint: String::new(),
                    attempts: attempt,
                },
                wait,
            };
        }
        if !status.is_success() {
            let hint = match status.as_u16() {
                404 => " (not found: check the source's url/category)",
                403 => " (forbidden: the server refuses this client)",
                400 => " (bad request: check the source's query)",
                _ => "",
            };
            return Attempt::Fail(FetchError::Status {
                url: url.to_string(),
                status: status.as_u16(),
                hint: hint.into(),
                attempts: attempt,
            });
        }
        if resp
            .content_length()
            .is_some_and(|n| n as usize > self.config.max_body_bytes)
        {
            return Attempt::Fail(FetchError::TooLarge {
                url: url.to_string(),
                limit: self.config.max_body_bytes,
            });
        }
        let validators = Validators {
            etag: header(reqwest::header::ETAG),
            last_modified: header(reqwest::header::LAST_MODIFIED),
        };
        let content_type = header(reqwest::header::CONTENT_TYPE);
        let mut resp = resp;
        let mut bytes = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    if bytes.len() + chunk.len() > self.config.max_body_bytes {
                        return Attempt::Fail(FetchError::TooLarge {
                            url: url.to_string(),
                            limit: self.config.max_body_bytes,
                        });
                    }
                    bytes.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                // A body cut short (connection closed early, read timeout): fetch again.
                Err(e) => {
                    return Attempt::Retry {
                        error: FetchError::Transport {
                            url: url.to_string(),
                            reason: format!("reading the body: {}", describe(&e)),
                            attempts: attempt,
                        },
                        wait: None,
                    }
                }
            }
        }
        Attempt::Done(Fetched::Body {
            bytes,
            validators,
            content_type,
            attempts: attempt,
        })
    }
}

/// A reqwest error with its causes (reqwest's Display alone says little).
fn describe(e: &reqwest::Error) -> String {
    let mut out = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "connection failed".to_string()
    } else {
        e.to_string()
    };
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        let t = s.to_string();
        if !out.contains(&t) {
            out.push_str(": ");
            out.push_str(&t);
        }
        src = s.source();
    }
    out
}

/// How long to wait before the next attempt: the server's `Retry-After` when it sent one (an
/// error carrying it when it exceeds `max`, the cap of any wait), else the backoff.
pub fn retry_delay(
    retry_after: Option<Duration>,
    backoff: Duration,
    max: Duration,
) -> Result<Duration, Duration> {
    match retry_after {
        Some(w) if w > max => Err(w),
        Some(w) => Ok(w),
        None => Ok(backoff),
    }
}

/// `Retry-After` as seconds or an HTTP date.
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn retry_after_wins_over_the_backoff_up_to_the_cap() {
        let (backoff, max) = (Duration::from_millis(40), Duration::from_secs(60));
        assert_eq!(retry_delay(None, backoff, max), Ok(backoff));
        let server = Duration::from_secs(1);
        assert_eq!(retry_delay(Some(server), backoff, max), Ok(server));
        assert_eq!(
            retry_delay(Some(Duration::ZERO), backoff, max),
            Ok(Duration::ZERO)
        );
        let too_long = Duration::from_secs(61);
        assert_eq!(retry_delay(Some(too_long), backoff, max), Err(too_long));
    }

    #[test]
    fn backoff_grows_with_jitter_and_cap() {
        let c = FeedClient::new(ClientConfig {
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(500),
            ..Default::default()
        })
        .unwrap();
        for _ in 0..50 {
            let b1 = c.backoff(1);
            assert!(b1 >= Duration::from_millis(50) && b1 <= Duration::from_millis(100));
            let b3 = c.backoff(3);
            assert!(b3 >= Duration::from_millis(200) && b3 <= Duration::from_millis(400));
            assert!(c.backoff(10) <= Duration::from_millis(500));
        }
        assert!(user_agent(None).starts_with("academichub/"));
    }
}
