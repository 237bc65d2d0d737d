//! `academichub serve`: the HTTP API and the web page.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use academichub::http::{self, AppState};
use academichub::PaperIndex;
use anyhow::Context;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Index directory (opened once; a fresh searcher per request).
    #[arg(long, env = "ACADEMICHUB_INDEX", default_value_os_t = super::default_index())]
    index: PathBuf,
    /// Listen address. Default: `[server] addr` of the config file, else 127.0.0.1:8080.
    #[arg(long)]
    addr: Option<String>,
    #[command(flatten)]
    model: super::ModelArgs,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    init_logging();
    let config = a.model.config()?;
    let mut server = config.server.clone();
    if let Some(addr) = &a.addr {
        server.addr = addr.clone();
    }
    server.check().map_err(anyhow::Error::msg)?;
    let addr: SocketAddr = server.addr.parse().with_context(|| {
        format!(
            "invalid listen address {:?} (use host:port, e.g. 127.0.0.1:8080)",
            server.addr
        )
    })?;
    let index = Arc::new(PaperIndex::open(&a.index)?);
    let mut state = AppState::new(index.clone(), server);
    if let Some(model) = index.embedding_model() {
        match a.model.load(Some(&index)) {
            Ok(e) => match index.check_query_model(academichub::embed::Embedder::id(&e)) {
                Ok(()) => {
                    tracing::info!(model = %model.name, "embedding model loaded: dense and hybrid search enabled");
                    state = state.with_embedder(Box::new(e));
                }
                Err(err) => {
                    tracing::warn!(error = %err, "dense search disabled");
                    state = state.without_embedder(err.to_string());
                }
            },
            Err(err) => {
                let why = crate::describe(&err);
                tracing::warn!(error = %why, "embedding model unavailable: dense search disabled, hybrid falls back to bm25");
                state = state.without_embedder(why);
            }
        }
    } else {
        state = state.without_embedder(format!(
            "the index has no vectors (run `academichub embed --index {}`)",
            a.index.display()
        ));
    }
    if state.token.is_some() {
        state = match state.clone().open_writer() {
            Ok(s) => s,
            Err(err) => {
                tracing::warn!(error = %err, "writes will answer 503 index_busy until restarted");
                state
            }
        };
    } else {
        tracing::info!(
            "write endpoints disabled: set [server] token or ACADEMICHUB_TOKEN to enable them"
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let local = listener.local_addr()?;
        tracing::info!(papers = index.num_papers(), index = %a.index.display(), "serving");
        println!("AcademicHub is serving {} papers at http://{local}/ (API: http://{local}/api/openapi.json); Ctrl-C stops it", index.num_papers());
        http::serve(listener, state, shutdown_signal()).await?;
        tracing::info!("stopped");
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Structured logs on stderr; `RUST_LOG` filters (default: info).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown requested: finishing requests in flight");
}
