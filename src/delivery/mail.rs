//! Email through SMTP with `lettre`: the `[smtp]` section (host, port, from, TLS mode,
//! credentials read from named environment variables), message building (one multipart
//! text/plain + text/html alternative), and sending with retries and exponential backoff.
//! Every address is checked before anything is sent. Blocking: call from a blocking thread.

use std::time::Duration;

use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{Message, SmtpTransport, Transport};
use serde::Deserialize;

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Plain SMTP (a relay on localhost or a trusted network only).
    None,
    /// Plain connection upgraded with STARTTLS, which is required (port 587 by default).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465 by default).
    Tls,
}

/// `[smtp]` of `academichub.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    /// Default: 25 without TLS, 587 with STARTTLS, 465 with TLS.
    #[serde(default)]
    pub port: Option<u16>,
    /// The sender, `Name <address>` or `address`.
    pub from: String,
    #[serde(default)]
    pub tls: TlsMode,
    /// Environment variable holding the SMTP user name (no authentication when unset).
    #[serde(default)]
    pub username_env: Option<String>,
    /// Environment variable holding the SMTP password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// Seconds for each SMTP command.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// Attempts per message (1 = no retry).
    #[serde(default = "default_attempts")]
    pub attempts: u32,
    /// Wait before the first retry, doubled for each next one.
    #[serde(default = "default_retry_ms")]
    pub retry_delay_ms: u64,
}

fn default_timeout() -> u64 {
    30
}
fn default_attempts() -> u32 {
    4
}
fn default_retry_ms() -> u64 {
    2000
}

/// Errors of mail.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("invalid email address {value:?} ({reason})")]
    Address { value: String, reason: String },
    #[error("[smtp] {0}")]
    Config(String),
    #[error("the message cannot be built: {0}")]
    Build(String),
    #[error(
        "SMTP server {host}:{port} did not take the message after {attempts} attempts: {last}"
    )]
    Send {
        host: String,
        port: u16,
        attempts: u32,
        last: String,
    },
}

/// Parses one address, naming it in the error.
pub fn mailbox(value: &str) -> Result<Mailbox, MailError> {
    value
        .trim()
        .parse::<Mailbox>()
        .map_err(|e| MailError::Address {
            value: value.to_string(),
            reason: e.to_string(),
        })
}

/// A configured SMTP sender.
pub struct Mailer {
    transport: SmtpTransport,
    from: Mailbox,
    host: String,
    port: u16,
    attempts: u32,
    retry_delay: Duration,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("from", &self.from.to_string())
            .finish()
    }
}

impl Mailer {
    /// Checks the configuration (sender address, credentials' variables, TLS setup) and
    /// builds the transport; connects only when sending.
    pub fn new(c: &SmtpConfig) -> Result<Mailer, MailError> {
        if c.host.trim().is_empty() {
            return Err(MailError::Config("host is empty".into()));
        }
        let from = mailbox(&c.from)?;
        if c.attempts == 0 || c.attempts > 20 {
            return Err(MailError::Config(format!(
                "attempts must be between 1 and 20, got {}",
                c.attempts
            )));
        }
        let env = |name: &Option<String>, what: &str| -> Result<Option<String>, MailError> {
            match name {
                None => Ok(None),
                Some(var) => std::env::var(var).map(Some).map_err(|_| {
                    MailError::Config(format!(
                        "{what}_env names the environment variable {var:?}, which is not set"
                    ))
                }),
            }
        };
        let user = env(&c.username_env, "username")?;
        let password = env(&c.password_env, "password")?;
        let port = c.port.unwrap_or(match c.tls {
            TlsMode::None => 25,
            TlsMode::Starttls => 587,
            TlsMode::Tls => 465,
        });
        let host = c.host.trim();
        let mut builder = match c.tls {
            TlsMode::None => SmtpTransport::builder_dangerous(host),
            TlsMode::Starttls => SmtpTransport::starttls_relay(host)
                .map_err(|e| MailError::Config(format!("STARTTLS setup for {host}: {e}")))?,
            TlsMode::Tls => SmtpTransport::relay(host)
                .map_err(|e| MailError::Config(format!("TLS setup for {host}: {e}")))?,
        }
        .port(port)
        .timeout(Some(Duration::from_secs(c.timeout_secs.max(1))));
        match (user, password) {
            (Some(u), Some(p)) => builder = builder.credentials(Credentials::new(u, p)),
            (None, None) => {}
            _ => {
                return Err(MailError::Config(
                    "username_env and password_env go together".into(),
                ))
            }
        }
        Ok(Mailer {
            transport: builder.build(),
            from,
            host: host.to_string(),
            port,
            attempts: c.attempts,
            retry_delay: Duration::from_millis(c.retry_delay_ms),
        })
    }

    /// A multipart/alternative message (text and HTML) from the configured sender.
    pub fn message(
        &self,
        to: &[Mailbox],
        subject: &str,
        text: String,
        html: String,
    ) -> Result<Message, MailError> {
        if to.is_empty() {
            return Err(MailError::Build("no recipient".into()));
        }
        let mut b = Message::builder().from(self.from.clone()).subject(subject);
        for m in to {
            b = b.to(m.clone());
        }
        b.multipart(
            MultiPart::alternative()
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_PLAIN)
                        .body(text),
                )
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(html),
                ),
        )
        .map_err(|e| MailError::Build(e.to_string()))
    }

    /// Sends `message`, retrying transient failures (connection refused or reset, timeouts,
    /// 4xx answers) with exponential backoff; a permanent refusal (5xx) is not retried.
    pub fn send(&self, message: &Message) -> Result<(), MailError> {
        let mut delay = self.retry_delay;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.transport.send(message) {
                Ok(_) => return Ok(()),
                Err(e) => {
                    let last = e.to_string();
                    if e.is_permanent() || attempt >= self.attempts {
                        tracing::error!(host = %self.host, port = self.port, attempt, error = %last, "SMTP send failed");
                        return Err(MailError::Send {
                            host: self.host.clone(),
                            port: self.port,
                            attempts: attempt,
                            last,
                        });
                    }
                    tracing::warn!(host = %self.host, port = self.port, attempt, error = %last, retry_in_ms = delay.as_millis() as u64, "SMTP send failed; retrying");
                    std::thread::sleep(delay);
                    delay = delay.saturating_mul(2).min(Duration::from_secs(300));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> SmtpConfig {
        SmtpConfig {
            host: "127.0.0.1".into(),
            port: Some(1),
            from: "AcademicHub <radar@example.org>".into(),
            tls: TlsMode::None,
            username_env: None,
            password_env: None,
            timeout_secs: 2,
            attempts: 2,
            retry_delay_ms: 10,
        }
    }

    #[test]
    fn addresses_and_settings_are_checked_before_sending() {
        assert!(mailbox("Ada <ada@example.org>").is_ok());
        for bad in ["", "ada", "ada@", "<ada@example.org", "a b@example.org"] {
            assert!(
                matches!(mailbox(bad), Err(MailError::Address { .. })),
                "{bad:?}"
            );
        }
        let mut c = config();
        c.from = "not an address".into();
        assert!(matches!(Mailer::new(&c), Err(MailError::Address { .. })));
        let mut c = config();
        c.username_env = Some("ACADEMICHUB_TEST_SURELY_UNSET_VAR".into());
        c.password_env = Some("ACADEMICHUB_TEST_SURELY_UNSET_VAR".into());
        let e = Mailer::new(&c).unwrap_err().to_string();
        assert!(e.contains("ACADEMICHUB_TEST_SURELY_UNSET_VAR"), "{e}");
        let mut c = config();
        c.attempts = 0;
        assert!(matches!(Mailer::new(&c), Err(MailError::Config(_))));
        let toml_c: SmtpConfig =
            toml::from_str("host = \"smtp.example.org\"\nfrom = \"a@example.org\"").unwrap();
        assert_eq!(toml_c.tls, TlsMode::Starttls);
        assert!(toml::from_str::<SmtpConfig>(
            "host = \"h\"\nfrom = \"a@example.org\"\ntls = \"ssl\""
        )
        .is_err());
    }

    #[test]
    fn a_refused_connection_is_retried_then_reported() {
        // Port 1 on loopback: nothing listens; every attempt is refused.
        let m = Mailer::new(&config()).unwrap();
        let msg = m
            .message(
                &[mailbox("ada@example.org").unwrap()],
                "s",
                "t".into(),
                "<p>h</p>".into(),
            )
            .unwrap();
        let started = std::time::Instant::now();
        match m.send(&msg) {
            Err(MailError::Send { attempts, .. }) => assert_eq!(attempts, 2),
            other => panic!("{other:?}"),
        }
        assert!(started.elapsed() >= Duration::from_millis(10), "backed off");
    }
}
