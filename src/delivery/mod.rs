//! Delivery: what takes papers out of AcademicHub to a reader's own tools. `export`: BibTeX
//! and RIS of papers (one, a radar's, a search's). Pure rendering; the HTTP and CLI layers
//! choose the papers and the format.

pub mod export;

pub use export::{export, ExportFormat};
