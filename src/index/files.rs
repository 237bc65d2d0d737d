//! Durable small files beside the index (its metadata, the feeds' state, the radars, the
//! background embedder's progress): written whole or not at all, and still there after a
//! power cut once the call returns.

use std::io::Write;
use std::path::Path;

/// Opens (creating it when missing) the lock file `path` and takes an advisory lock on it:
/// exclusive for a writer, shared for a reader; blocks until granted. The lock is released when
/// the returned file is dropped. Files replaced by rename (`radars.json`, `delivered.json`)
/// are guarded by a separate lock file like this one.
pub fn lock_file(path: &Path, exclusive: bool) -> std::io::Result<std::fs::File> {
    use fs4::fs_std::FileExt;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)?;
    if exclusive {
        FileExt::lock_exclusive(&file)?;
    } else {
        FileExt::lock_shared(&file)?;
    }
    Ok(file)
}

/// Writes `bytes` to `path` atomically and durably: to `path.tmp` first, flushed to disk, then
/// renamed over `path`, then the directory entry flushed too (a rename is only durable once
/// its directory is). A crash at any point leaves either the old file or the new one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other(format!("{} is not a file path", path.display())))?;
    let mut tmp_name = name.to_os_string();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_and_leaves_no_temporary() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("state.json");
        write_atomic(&p, b"{\"a\": 1}").unwrap();
        write_atomic(&p, b"{\"b\": 2}").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"{\"b\": 2}");
        let names: Vec<_> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["state.json"]);
        assert!(write_atomic(&d.path().join("missing/x.json"), b"1").is_err());
    }
}
