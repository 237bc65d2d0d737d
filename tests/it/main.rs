//! Integration tests (one binary keeps link times down). Small real fixtures live in
//! `tests/fixtures/`; tests that need `../shared/datasets` skip with a printed reason when it
//! is absent (set `ACADEMICHUB_DATASETS` to point elsewhere).

mod background;
mod briefing;
mod cli;
mod delivery;
mod dense;
mod digest;
mod e2e;
mod eval;
mod export;
mod feeds;
mod fixtures;
mod http;
mod import;
mod layout;
mod milvus;
mod props;
mod radar;
mod reliability;
mod search;
mod translate;
