//! Scheduled digests (`[[digest]]` in `academichub.toml`): `serve` sends each at its daily
//! time (UTC) on a thread of its own. Validation happens at start-up, so a bad address or
//! time stops the server before anything is sent; a radar deleted later is skipped with a log
//! line when its digest runs; a failed send has been retried by the mailer and leaves nothing
//! marked, so the next run includes those papers again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use time::{OffsetDateTime, Time};

use super::digest::{DigestRequest, DEFAULT_DIGEST_K};
use super::feed::{DEFAULT_FEED_DAYS, MAX_FEED_DAYS};
use super::mail::{self, MailError};
use crate::briefing::Lang;

/// One `[[digest]]` table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DigestSchedule {
    /// Radar ids.
    pub radars: Vec<String>,
    /// Recipients.
    pub to: Vec<String>,
    /// Daily time, `HH:MM` in UTC.
    pub time: String,
    #[serde(default)]
    pub lang: Lang,
    /// Papers per radar.
    #[serde(default = "default_k")]
    pub k: usize,
    /// Days of papers the digest looks back over (its unread papers only).
    #[serde(default = "default_days")]
    pub days: u32,
}

fn default_k() -> usize {
    DEFAULT_DIGEST_K
}
fn default_days() -> u32 {
    DEFAULT_FEED_DAYS
}

impl DigestSchedule {
    /// The digest this schedule sends.
    pub fn request(&self) -> DigestRequest {
        DigestRequest {
            radars: self.radars.clone(),
            since: None,
            days: self.days,
            k: self.k,
            lang: self.lang,
        }
    }

    /// The daily time.
    pub fn at(&self) -> Result<Time, MailError> {
        parse_time(&self.time)
    }
}

/// `HH:MM` (24-hour).
pub fn parse_time(s: &str) -> Result<Time, MailError> {
    let bad = || MailError::Config(format!("[[digest]] time must be HH:MM (UTC), got {s:?}"));
    let (h, m) = s.trim().split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let h: u8 = h.parse().map_err(|_| bad())?;
    let m: u8 = m.parse().map_err(|_| bad())?;
    Time::from_hms(h, m, 0).map_err(|_| bad())
}

/// Checks every schedule: radars named, recipients valid addresses, time valid, sizes in range.
pub fn validate(schedules: &[DigestSchedule]) -> Result<(), MailError> {
    for (i, s) in schedules.iter().enumerate() {
        let n = i + 1;
        if s.radars.is_empty() {
            return Err(MailError::Config(format!("[[digest]] #{n} names no radar")));
        }
        if s.to.is_empty() {
            return Err(MailError::Config(format!(
                "[[digest]] #{n} has no recipient (to)"
            )));
        }
        for a in &s.to {
            mail::mailbox(a)?;
        }
        s.at()?;
        if s.k == 0 || s.k > 100 {
            return Err(MailError::Config(format!(
                "[[digest]] #{n}: k must be between 1 and 100, got {}",
                s.k
            )));
        }
        if s.days == 0 || s.days > MAX_FEED_DAYS {
            return Err(MailError::Config(format!(
                "[[digest]] #{n}: days must be between 1 and {MAX_FEED_DAYS}, got {}",
                s.days
            )));
        }
    }
    Ok(())
}

/// The first time at `at` (UTC) strictly after `now`.
pub fn next_due(now: OffsetDateTime, at: Time) -> OffsetDateTime {
    let now = now.to_offset(time::UtcOffset::UTC);
    let today = now.replace_time(at);
    if today > now {
        today
    } else {
        today + time::Duration::days(1)
    }
}

/// Runs `send` for each schedule at its time every day until `stop` is set; returns the
/// thread. `send` does the work (build, send with retries, mark) and its own logging.
pub fn spawn<F>(
    schedules: Vec<DigestSchedule>,
    stop: Arc<AtomicBool>,
    send: F,
) -> std::io::Result<std::thread::JoinHandle<()>>
where
    F: Fn(&DigestSchedule) + Send + 'static,
{
    std::thread::Builder::new()
        .name("digests".into())
        .spawn(move || {
            let times: Vec<Time> = schedules
                .iter()
                .map(|s| s.at().unwrap_or(Time::MIDNIGHT))
                .collect();
            let mut due: Vec<OffsetDateTime> = times
                .iter()
                .map(|&t| next_due(OffsetDateTime::now_utc(), t))
                .collect();
            for (s, d) in schedules.iter().zip(&due) {
                tracing::info!(radars = ?s.radars, next = %d, "digest scheduled");
            }
            while !stop.load(Ordering::SeqCst) {
                let now = OffsetDateTime::now_utc();
                for i in 0..schedules.len() {
                    if due[i] <= now {
                        send(&schedules[i]);
                        due[i] = next_due(OffsetDateTime::now_utc(), times[i]);
                        tracing::info!(radars = ?schedules[i].radars, next = %due[i], "next digest");
                    }
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{datetime, time};

    #[test]
    fn times_and_next_runs() {
        assert_eq!(parse_time("07:30").unwrap(), time!(07:30));
        for bad in ["7:30", "24:00", "07:60", "0730", "", "ab:cd"] {
            assert!(parse_time(bad).is_err(), "{bad:?}");
        }
        let now = datetime!(2026-12-05 07:29:59 UTC);
        assert_eq!(next_due(now, time!(07:30)), datetime!(2026-12-05 07:30 UTC));
        let now = datetime!(2026-12-05 07:30:00 UTC);
        assert_eq!(next_due(now, time!(07:30)), datetime!(2026-12-06 07:30 UTC));
        let now = datetime!(2026-12-31 23:59:00 UTC);
        assert_eq!(next_due(now, time!(00:00)), datetime!(2027-01-01 00:00 UTC));
    }

    #[test]
    fn schedules_are_checked_before_anything_is_sent() {
        let ok: DigestSchedule =
            toml::from_str("radars = [\"speech\"]\nto = [\"ada@example.org\"]\ntime = \"07:00\"")
                .unwrap();
        assert_eq!(
            (ok.k, ok.days, ok.lang),
            (DEFAULT_DIGEST_K, DEFAULT_FEED_DAYS, Lang::Zh)
        );
        assert!(validate(std::slice::from_ref(&ok)).is_ok());
        let mut bad = ok.clone();
        bad.to = vec!["not-an-address".into()];
        assert!(matches!(
            validate(&[ok.clone(), bad]),
            Err(MailError::Address { .. })
        ));
        let mut bad = ok.clone();
        bad.time = "25:00".into();
        assert!(validate(&[bad]).is_err());
        let mut bad = ok;
        bad.radars.clear();
        assert!(validate(&[bad]).is_err());
    }
}
