//! Email digests against a real SMTP server on loopback (aiosmtpd, from PyPI: skipped with a
//! printed reason when it is not installed): the message the server received is parsed back
//! (mail-parser) and checked; a second digest sends nothing; a refused send marks nothing and
//! exits non-zero; bad addresses fail before anything is sent; a scheduled digest skips a
//! deleted radar.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use academichub::delivery::{self, digest::DigestRequest, mail};
use academichub::radar::{self, RadarSpec};
use mail_parser::{MessageParser, MimeHeaders};

use crate::fixtures::{fixture_index, free_port};

/// The SMTP server, killed when the test ends.
struct Smtp {
    child: Child,
    port: u16,
    maildir: PathBuf,
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Python that has aiosmtpd: `ACADEMICHUB_TEST_PYTHON`, the venv of `scripts/test-tools`,
/// or `python3`.
fn python() -> Option<PathBuf> {
    let candidates = std::env::var_os("ACADEMICHUB_TEST_PYTHON")
        .map(PathBuf::from)
        .into_iter()
        .chain(crate::fixtures::test_venv().map(|v| v.join("bin/python")))
        .chain(std::iter::once(PathBuf::from("python3")));
    candidates.into_iter().find(|py| {
        Command::new(py)
            .args(["-c", "import aiosmtpd"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// aiosmtpd storing every message in a Maildir, or why it cannot run.
fn smtp_server(dir: &Path) -> Result<Smtp, String> {
    let Some(py) = python() else {
        return Err("no Python with aiosmtpd: run scripts/test-tools (make test does)".into());
    };
    let maildir = dir.join("maildir");
    let port = free_port();
    let child = Command::new(py)
        .args(["-m", "aiosmtpd", "-n", "-l"])
        .arg(format!("127.0.0.1:{port}"))
        .args(["-c", "aiosmtpd.handlers.Mailbox"])
        .arg(&maildir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let server = Smtp {
        child,
        port,
        maildir,
    };
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if started.elapsed() > Duration::from_secs(20) {
            return Err("aiosmtpd did not start listening within 20 s".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(server)
}

/// Messages the server stored, oldest first.
fn received(maildir: &Path) -> Vec<Vec<u8>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(maildir.join("new"))
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    files.sort_by_key(|p| std::fs::metadata(p).unwrap().modified().unwrap());
    files.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

fn config(dir: &Path, port: u16, attempts: u32) -> PathBuf {
    let path = dir.join(format!("academichub-{port}-{attempts}.toml"));
    std::fs::write(
        &path,
        format!(
            "[smtp]\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\n\
             from = \"AcademicHub <radar@example.org>\"\nattempts = {attempts}\nretry_delay_ms = 100\ntimeout_secs = 5\n"
        ),
    )
    .unwrap();
    path
}

fn digest(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_academichub"))
        .arg("digest")
        .args(args)
        .env_remove("ACADEMICHUB_INDEX")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_digest_reaches_a_real_smtp_server_once_and_nothing_is_marked_when_sending_fails() {
    let (d, index) = fixture_index(false);
    let smtp = match smtp_server(d.path()) {
        Ok(s) => s,
        Err(why) => {
            println!("skipped: {why}");
            return;
        }
    };
    let idx = d.path().join("idx");
    let idx = idx.to_str().unwrap();
    let spec = |name: &str, q: &str| RadarSpec {
        name: name.into(),
        queries: vec![q.into()],
        ..RadarSpec::default()
    };
    radar::create_radar(
        &index,
        &spec("Streaming LLMs", "streaming large language models"),
    )
    .unwrap();
    radar::create_radar(
        &index,
        &spec("Diffusion", "diffusion models image generation"),
    )
    .unwrap();
    let cfg = config(d.path(), smtp.port, 3);
    let cfg = cfg.to_str().unwrap();
    let common = ["--index", idx, "--config", cfg, "--days", "30", "-k", "5"];

    // A bad address: a clear error, nothing sent.
    let (ok, _, err) =
        digest(&[&["--radar", "streaming-llms", "--to", "ada@"][..], &common].concat());
    assert!(!ok && err.contains("invalid email address"), "{err}");
    assert!(received(&smtp.maildir).is_empty());

    // The digest: one multipart message, English labels.
    let args = [
        &[
            "--radar",
            "streaming-llms",
            "--radar",
            "diffusion",
            "--to",
            "Ada <ada@example.org>",
            "--to",
            "bo@example.org",
            "--lang",
            "en",
            "--json",
        ][..],
        &common,
    ]
    .concat();
    let (ok, out, err) = digest(&args);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["sent"], true, "{v}");
    assert_eq!(v["papers"], 10);
    assert_eq!(v["marked"], 10);
    let mails = received(&smtp.maildir);
    assert_eq!(mails.len(), 1);
    let m = MessageParser::default().parse(&mails[0]).unwrap();
    assert_eq!(
        m.from().unwrap().first().unwrap().address(),
        Some("radar@example.org")
    );
    let to: Vec<_> = m.to().unwrap().iter().filter_map(|a| a.address()).collect();
    assert_eq!(to, ["ada@example.org", "bo@example.org"]);
    let subject = m.subject().unwrap();
    assert!(
        subject
            .starts_with("AcademicHub research radar: Streaming LLMs, Diffusion · 10 new papers"),
        "{subject}"
    );
    assert!(
        m.content_type().unwrap().subtype() == Some("alternative"),
        "multipart/alternative"
    );
    let text = m.body_text(0).unwrap().to_string();
    let html = m.body_html(0).unwrap().to_string();
    assert!(m.html_part(0).unwrap().content_type().unwrap().ctype() == "text");

    // The papers are the radars' own unread matches, numbered, with source, date, key
    // sentence and reason.
    let ranked = delivery::digest::build(
        &index,
        &DigestRequest {
            radars: vec!["streaming-llms".into(), "diffusion".into()],
            days: 30,
            k: 5,
            lang: academichub::briefing::Lang::En,
            ..DigestRequest::default()
        },
        radar::rank::today_utc(),
        None,
        false,
    )
    .unwrap();
    assert!(ranked.is_empty(), "delivered papers are not offered again");
    let all = radar::radar_papers(
        &index,
        "streaming-llms",
        &radar::RankRequest {
            k: 50,
            ..Default::default()
        },
        None,
    )
    .unwrap();
    let first = &all.papers[0].paper;
    assert!(html.contains(">1. arXiv (CS."), "{html}");
    assert!(
        html.contains(&first.title.replace('&', "&amp;")),
        "{} not in the HTML",
        first.title
    );
    assert!(text.contains(&first.title), "{text}");
    assert!(html.contains("Why: "), "{html}");
    assert!(text.contains("== Streaming LLMs (5 new papers)"), "{text}");
    assert!(text.contains("== Diffusion (5 new papers)"), "{text}");
    assert!(!html.contains("<script"), "no script in a mail");

    // Right after: nothing new, nothing sent, and it says so.
    let (ok, out, err) = digest(
        &[
            &["--radar", "streaming-llms", "--to", "ada@example.org"][..],
            &common,
        ]
        .concat(),
    );
    assert!(ok, "{err}");
    assert!(out.contains("nothing new"), "{out}");
    assert_eq!(received(&smtp.maildir).len(), 1);

    // A Chinese digest (the default) of a new radar, previewed without sending.
    radar::create_radar(
        &index,
        &spec("Robots", "robot manipulation policy learning"),
    )
    .unwrap();
    let (ok, out, err) = digest(&[&["--radar", "robots", "--dry-run"][..], &common].concat());
    assert!(ok, "{err}");
    assert!(
        out.contains("入选原因") && out.contains("5 篇新论文"),
        "{out}"
    );

    // The server down: retried, a non-zero exit, nothing marked.
    drop(smtp);
    let down = config(d.path(), free_port(), 2);
    let started = Instant::now();
    let (ok, _, err) = digest(
        &[
            &[
                "--radar",
                "robots",
                "--to",
                "ada@example.org",
                "--config",
                down.to_str().unwrap(),
            ][..],
            &["--index", idx, "--days", "30", "-k", "5"],
        ]
        .concat(),
    );
    assert!(!ok, "a failed send fails the command");
    assert!(
        err.contains("did not take the message after 2 attempts"),
        "{err}"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(100),
        "backed off between attempts"
    );
    let robots = radar::get_radar(&index, "robots").unwrap();
    let marks = delivery::DeliveryLog::new(&d.path().join("idx"))
        .marks(&robots)
        .unwrap();
    assert!(
        marks.papers.is_empty(),
        "nothing marked after a failed send"
    );
}

#[test]
fn a_scheduled_digest_skips_a_deleted_radar_and_sends_the_rest() {
    let (d, index) = fixture_index(false);
    let smtp = match smtp_server(d.path()) {
        Ok(s) => s,
        Err(why) => {
            println!("skipped: {why}");
            return;
        }
    };
    let spec = RadarSpec {
        name: "Streaming LLMs".into(),
        queries: vec!["streaming large language models".into()],
        ..RadarSpec::default()
    };
    radar::create_radar(&index, &spec).unwrap();
    let cfg = academichub::config::Config::load(Some(&config(d.path(), smtp.port, 2))).unwrap();
    let schedule: delivery::schedule::DigestSchedule = toml::from_str(
        "radars = [\"gone\", \"streaming-llms\"]\nto = [\"ada@example.org\"]\ntime = \"07:00\"\nk = 3\ndays = 30\nlang = \"en\"",
    )
    .unwrap();
    delivery::schedule::validate(std::slice::from_ref(&schedule)).unwrap();
    let mailer = mail::Mailer::new(cfg.smtp.as_ref().unwrap()).unwrap();
    let outcome = delivery::send_digest(
        &index,
        &schedule.request(),
        &schedule.to,
        &mailer,
        "http://127.0.0.1:8080",
        radar::rank::today_utc(),
        None,
        true,
    )
    .unwrap();
    assert_eq!((outcome.sent, outcome.papers), (true, 3), "{outcome:?}");
    assert_eq!(outcome.missing, ["gone"]);
    assert_eq!(received(&smtp.maildir).len(), 1);
    // Run by hand (not scheduled), a missing radar is an error before anything is sent.
    let e = delivery::send_digest(
        &index,
        &schedule.request(),
        &schedule.to,
        &mailer,
        "http://127.0.0.1:8080",
        radar::rank::today_utc(),
        None,
        false,
    )
    .unwrap_err();
    assert!(e.to_string().contains("gone"), "{e}");
    assert_eq!(received(&smtp.maildir).len(), 1);
}
