//! Delivery: what takes papers out of AcademicHub to their readers, after search, radars and
//! briefings. `export`: BibTeX and RIS of papers (one, a radar's, a search's). `delivered`:
//! which papers each radar has delivered (so each reaches its reader once). `feed`: Atom feeds
//! of radars. Rendering is pure; the service functions below read the stores and the index
//! and block (call them from a blocking thread). Nothing here knows HTTP or the CLI.

pub mod delivered;
pub mod digest;
pub mod export;
pub mod feed;
pub mod mail;
pub mod schedule;

pub use delivered::{DeliveredError, DeliveryLog, RadarMarks, Status, Via};
pub use export::{export, ExportFormat};
pub use feed::{FeedLinks, FeedRequest, RadarFeed};

use crate::embed::Embedder;
use crate::paper::PaperId;
use crate::radar::{self, ErrorKind, PaperSource, Radar, RadarError};

/// Errors of delivery: the radar's (not found, bad parameter, index) or the delivery log's.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error(transparent)]
    Radar(#[from] RadarError),
    #[error(transparent)]
    Log(#[from] DeliveredError),
    #[error(transparent)]
    Mail(#[from] mail::MailError),
}

impl DeliveryError {
    /// What kind of failure this is, for a status code.
    pub fn kind(&self) -> ErrorKind {
        match self {
            DeliveryError::Radar(e) => e.kind(),
            DeliveryError::Log(_) | DeliveryError::Mail(_) => ErrorKind::Internal,
        }
    }

    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            DeliveryError::Radar(e) => e.code(),
            DeliveryError::Log(_) => "store_error",
            DeliveryError::Mail(_) => "mail_failed",
        }
    }
}

/// A radar, its delivery marks, and a tag that changes whenever its feed could change (the
/// radar's definition, its marks, the index, the day, the request): the feed's `ETag`.
pub fn feed_state(
    source: &dyn PaperSource,
    id: &str,
    req: &FeedRequest,
    today: time::Date,
) -> Result<(Radar, RadarMarks, String), DeliveryError> {
    req.validate()?;
    let radar = radar::get_radar(source, id)?;
    let marks = DeliveryLog::new(source.state_dir()?).marks(&radar)?;
    let tag = format!(
        "{}\u{1}{}\u{1}{}\u{1}{}\u{1}{}\u{1}{}\u{1}{}\u{1}{}\u{1}{}",
        radar.id,
        radar.created,
        radar.updated,
        marks.revision,
        // A store without generations (Milvus): the tag changes every minute instead.
        source.generation().unwrap_or_else(|| {
            (time::OffsetDateTime::now_utc().unix_timestamp() / 60).unsigned_abs()
        }),
        crate::paper::format_date(today),
        req.k,
        req.days,
        req.all
    );
    Ok((
        radar,
        marks,
        format!("\"{:016x}{:016x}\"", fnv(&tag, 0), fnv(&tag, 1)),
    ))
}

/// FNV-1a over `s`, from a seed (an ETag needs no cryptographic hash).
fn fnv(s: &str, seed: u8) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in std::iter::once(seed).chain(s.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// A radar's top papers without those already delivered to its reader (a revision of one
/// comes back); returns the ranking (ranks renumbered from 1), how many delivered papers were left
/// out, and the ids of the revisions.
pub fn unread_papers(
    source: &dyn PaperSource,
    id: &str,
    req: &radar::RankRequest,
    embedder: Option<&mut dyn Embedder>,
) -> Result<(radar::RadarPapers, usize, Vec<PaperId>), DeliveryError> {
    let found = radar::get_radar(source, id)?;
    let marks = DeliveryLog::new(source.state_dir()?).marks(&found)?;
    // The radar's top `k`, delivered ones left out (not replaced by lower matches).
    let mut ranked = radar::rank(source, &found, req, embedder)?;
    let mut left_out = 0;
    let mut updated = Vec::new();
    ranked.papers.retain(|h| match marks.status(&h.paper) {
        Status::Delivered => {
            left_out += 1;
            false
        }
        Status::Updated { .. } => {
            updated.push(h.paper.id.clone());
            true
        }
        Status::New => true,
    });
    for (i, h) in ranked.papers.iter_mut().enumerate() {
        h.rank = i + 1;
    }
    Ok((ranked, left_out, updated))
}

/// Marks papers of the index as read by the radar's reader; unknown ids are an error before
/// anything is marked. Returns how many marks were new or raised to a later version.
pub fn mark_read(
    source: &dyn PaperSource,
    id: &str,
    papers: &[PaperId],
) -> Result<usize, DeliveryError> {
    let radar = radar::get_radar(source, id)?;
    let mut versions = Vec::with_capacity(papers.len());
    for pid in papers {
        match source.paper(pid)? {
            Some(p) => versions.push((p.id.clone(), p.version)),
            None => {
                return Err(RadarError::UnknownPaper {
                    kind: "read",
                    id: pid.clone(),
                }
                .into())
            }
        }
    }
    Ok(DeliveryLog::new(source.state_dir()?).mark(&radar, &versions, Via::Read)?)
}

/// Deletes a radar and forgets what it delivered (a radar created again under the same id
/// starts with nothing delivered). Returns the deleted radar. The radar is gone once this
/// returns `Ok`; marks that cannot be forgotten are logged (a later radar of the same id
/// ignores them anyway unless created within the same second).
pub fn delete_radar(source: &dyn PaperSource, id: &str) -> Result<Radar, RadarError> {
    let radar = radar::delete_radar(source, id)?;
    if let Err(e) = DeliveryLog::new(source.state_dir()?).forget(&radar.id) {
        tracing::warn!(radar = %radar.id, error = %e, "cannot forget the deleted radar's delivery marks");
    }
    Ok(radar)
}

/// What sending a digest did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DigestOutcome {
    /// Whether a message went out (nothing is sent when nothing is new).
    pub sent: bool,
    /// Papers in the message.
    pub papers: usize,
    /// Papers newly marked as delivered.
    pub marked: usize,
    /// Radars asked for that no longer exist (skipped).
    pub missing: Vec<String>,
    pub subject: String,
    pub recipients: Vec<String>,
}

/// Builds a digest and sends it to `to` through `mailer` (see [`deliver`]). Every address is
/// checked before anything is built or sent.
#[allow(clippy::too_many_arguments)]
pub fn send_digest(
    source: &dyn PaperSource,
    req: &digest::DigestRequest,
    to: &[String],
    mailer: &mail::Mailer,
    base: &str,
    today: time::Date,
    embedder: Option<&mut dyn Embedder>,
    skip_missing: bool,
) -> Result<DigestOutcome, DeliveryError> {
    check_recipients(to)?;
    let d = digest::build(source, req, today, embedder, skip_missing)?;
    deliver(source, &d, to, mailer, base)
}

fn check_recipients(to: &[String]) -> Result<Vec<lettre::message::Mailbox>, DeliveryError> {
    let recipients = to
        .iter()
        .map(|a| mail::mailbox(a))
        .collect::<Result<Vec<_>, _>>()?;
    if recipients.is_empty() {
        return Err(mail::MailError::Build("no recipient (--to)".into()).into());
    }
    Ok(recipients)
}

/// Sends a built digest to `to` and marks its papers as delivered only after the SMTP server
/// took the message. Nothing new: nothing sent, nothing marked.
pub fn deliver(
    source: &dyn PaperSource,
    d: &digest::Digest,
    to: &[String],
    mailer: &mail::Mailer,
    base: &str,
) -> Result<DigestOutcome, DeliveryError> {
    let recipients = check_recipients(to)?;
    let subject = digest::subject(d);
    let mut outcome = DigestOutcome {
        sent: false,
        papers: d.len(),
        marked: 0,
        missing: d.missing.clone(),
        subject: subject.clone(),
        recipients: recipients.iter().map(|m| m.to_string()).collect(),
    };
    if d.is_empty() {
        return Ok(outcome);
    }
    let message = mailer.message(
        &recipients,
        &subject,
        digest::render_text(d, base),
        digest::render_html(d, base),
    )?;
    mailer.send(&message)?;
    outcome.sent = true;
    outcome.marked = digest::mark_sent(source, d)?;
    Ok(outcome)
}
