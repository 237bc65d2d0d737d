use std::path::{Path, PathBuf};

use academichub::import::{import_file, Format, ImportOptions};
use academichub::PaperIndex;

pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

/// The shared datasets directory, or `None` (with the reason printed) when it is absent.
pub fn datasets(test: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("ACADEMICHUB_DATASETS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/datasets"));
    if dir.join("README.md").exists() {
        Some(dir)
    } else {
        eprintln!(
            "SKIPPED {test}: datasets not found at {} (set ACADEMICHUB_DATASETS)",
            dir.display()
        );
        None
    }
}

/// A fresh index in a temp dir with one fixture file imported.
pub fn index_with(format: Format, rel: &str) -> (tempfile::TempDir, PaperIndex) {
    let dir = tempfile::tempdir().expect("temp dir");
    let index = PaperIndex::open_or_create(&dir.path().join("idx")).expect("create index");
    let mut opts = ImportOptions::new(format);
    opts.progress = false;
    import_file(&index, &fixture(rel), &opts, None).expect("import fixture");
    (dir, index)
}
