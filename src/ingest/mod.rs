//! Getting papers into the index: bulk import of JSONL corpora ([`import`]), upserts of
//! already-normalized papers through a shared writer ([`upsert`]), the embedding backfill
//! ([`backfill`]; [`background`] runs it beside a server), feed ingestion ([`feeds`]) and
//! copies of a store, vectors included, into a Milvus collection ([`copy`]). Every path
//! upserts by our own paper id, keeps a stored vector when the text is unchanged, and commits
//! so that nothing half-written is ever visible. Blocking (parsing, embedding, commits): async
//! callers use a blocking thread.

pub mod backfill;
pub mod background;
pub mod copy;
pub mod error;
pub mod feeds;
pub mod import;
pub mod upsert;

pub use backfill::{embed_missing, embed_missing_milvus, EmbedReport, EMBED_COMMIT_EVERY};
pub use copy::{copy_into, CopyReport, CopySource};
pub use error::ImportError;
pub use import::{
    import_file, import_file_milvus, open_maybe_gz, Format, ImportOptions, ImportReport,
};
pub use upsert::{upsert_papers, upsert_papers_milvus, UpsertError, UpsertReport};
