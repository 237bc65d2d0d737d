//! The module layout of ARCHITECTURE.md, checked on the source: no import cycle between files
//! (except a parent module and its own children), and no stage importing a later one.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module path (`["search", "run"]`; empty for the crate root).
type ModPath = Vec<String>;

/// Every module file of `src/` (the binary's `main.rs` and `cli/` excepted: nothing imports
/// them) by module path.
fn modules(src: &Path) -> BTreeMap<ModPath, PathBuf> {
    let mut out = BTreeMap::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().and_then(|e| e.to_str()) != Some("rs") {
                continue;
            }
            let rel = path
                .strip_prefix(src)
                .expect("under src")
                .with_extension("");
            let mut parts: ModPath = rel
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            if parts.last().is_some_and(|p| p == "mod") || parts == ["lib"] {
                parts.pop();
            }
            if parts.first().is_some_and(|p| p == "main" || p == "cli") {
                continue;
            }
            out.insert(parts, path);
        }
    }
    out
}

/// The code of a file without comments, string contents and its bottom `#[cfg(test)]` module.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("read source");
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => &text[..],
    };
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let line = line.split("//").next().unwrap_or("");
        let mut in_str = false;
        let mut escaped = false;
        for c in line.chars() {
            if in_str {
                match (escaped, c) {
                    (false, '\\') => escaped = true,
                    (false, '"') => in_str = false,
                    _ => escaped = false,
                }
                continue;
            }
            if c == '"' {
                in_str = true;
            }
            out.push(c);
        }
        out.push('\n');
    }
    out
}

/// The paths of a `use` tree (`a::{b, c::{d, e}}` -> `a::b`, `a::c::d`, `a::c::e`).
fn use_paths(tree: &str, prefix: &[String], out: &mut Vec<Vec<String>>) {
    let mut depth = 0;
    let mut start = 0;
    let mut parts = Vec::new();
    for (i, c) in tree.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&tree[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&tree[start..]);
    for part in parts.into_iter().map(str::trim).filter(|p| !p.is_empty()) {
        match part.find('{') {
            Some(open) => {
                let head: Vec<String> = part[..open]
                    .split("::")
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect();
                let inner = part[open + 1..].trim_end().trim_end_matches('}');
                use_paths(inner, &[prefix, &head].concat(), out);
            }
            None => {
                let name = part.split(" as ").next().unwrap_or(part);
                let mut path = prefix.to_vec();
                path.extend(name.split("::").map(|s| s.trim().to_string()));
                out.push(path);
            }
        }
    }
}

/// The module a `crate::`/`super::`/`self::` path of module `from` lands in, if any.
fn resolve(from: &[String], path: &[String], mods: &BTreeMap<ModPath, PathBuf>) -> Option<ModPath> {
    let mut base: ModPath = from.to_vec();
    let mut rest = path;
    match rest.first().map(String::as_str) {
        Some("crate") => {
            base.clear();
            rest = &rest[1..];
        }
        Some("self") => rest = &rest[1..],
        Some("super") => {
            while rest.first().is_some_and(|p| p == "super") {
                base.pop();
                rest = &rest[1..];
            }
        }
        _ => return None,
    }
    base.extend(rest.iter().cloned());
    (0..=base.len())
        .rev()
        .map(|n| base[..n].to_vec())
        .find(|m| mods.contains_key(m))
}

/// Which modules each module's code refers to (itself excluded).
fn imports(mods: &BTreeMap<ModPath, PathBuf>) -> BTreeMap<ModPath, BTreeSet<ModPath>> {
    let mut out = BTreeMap::new();
    for (module, file) in mods {
        let code = code(file);
        let mut paths = Vec::new();
        for stmt in code.split(';') {
            let stmt = stmt.trim();
            let body = stmt
                .strip_prefix("pub use ")
                .or_else(|| stmt.strip_prefix("pub(crate) use "))
                .or_else(|| stmt.rsplit_once("\nuse ").map(|(_, b)| b))
                .or_else(|| stmt.strip_prefix("use "));
            if let Some(tree) = body {
                let tree: String = tree.split_whitespace().collect::<Vec<_>>().join(" ");
                use_paths(&tree, &[], &mut paths);
            }
        }
        // Paths written inline (`crate::search::browse::facets(..)`, `super::state::X`).
        for (i, _) in code
            .match_indices("crate::")
            .chain(code.match_indices("super::"))
        {
            let tail: String = code[i..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            paths.push(
                tail.split("::")
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect(),
            );
        }
        let refs: BTreeSet<ModPath> = paths
            .iter()
            .filter_map(|p| resolve(module, p, mods))
            .filter(|m| m != module)
            .collect();
        out.insert(module.clone(), refs);
    }
    out
}

fn name(m: &[String]) -> String {
    if m.is_empty() {
        "crate".into()
    } else {
        m.join("::")
    }
}

#[test]
fn no_import_cycles_between_files_and_stages_import_only_earlier_ones() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mods = modules(&src);
    assert!(mods.len() > 60, "found only {} modules", mods.len());
    let imports = imports(&mods);
    // A parent module and its own children may refer to each other (re-exports, `super::`).
    let direct_family = |a: &[String], b: &[String]| {
        (a.len() + 1 == b.len() && b.starts_with(a)) || (b.len() + 1 == a.len() && a.starts_with(b))
    };
    let edges: BTreeMap<&ModPath, Vec<&ModPath>> = imports
        .iter()
        .map(|(m, refs)| (m, refs.iter().filter(|r| !direct_family(m, r)).collect()))
        .collect();
    // Any cycle shows up as a path from a module back to itself.
    let mut cycles = Vec::new();
    for start in edges.keys() {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<(&ModPath, Vec<&ModPath>)> = vec![(start, vec![start])];
        while let Some((at, trail)) = stack.pop() {
            for next in edges.get(at).into_iter().flatten() {
                if next == start {
                    let mut names: Vec<String> = trail.iter().map(|m| name(m)).collect();
                    names.push(name(start));
                    cycles.push(names.join(" -> "));
                } else if seen.insert(*next) {
                    let mut t = trail.clone();
                    t.push(next);
                    stack.push((next, t));
                }
            }
        }
    }
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));

    // The data flow of ARCHITECTURE.md: a stage knows nothing of the stages after it.
    let later: &[(&str, &[&str])] = &[
        (
            "index",
            &[
                "ingest", "search", "radar", "briefing", "delivery", "eval", "http",
            ],
        ),
        (
            "search",
            &["ingest", "radar", "briefing", "delivery", "eval", "http"],
        ),
        (
            "ingest",
            &["search", "radar", "briefing", "delivery", "eval", "http"],
        ),
        ("radar", &["briefing", "delivery", "eval", "http"]),
        ("briefing", &["delivery", "eval", "http"]),
        ("delivery", &["eval", "http"]),
        ("eval", &["http", "radar", "briefing", "delivery"]),
        ("normalize", &["index", "ingest", "search", "http"]),
        ("paper", &["index", "ingest", "search", "http"]),
    ];
    let mut wrong = Vec::new();
    for (module, refs) in &imports {
        for (stage, forbidden) in later {
            if module.first().map(String::as_str) != Some(stage) {
                continue;
            }
            for r in refs {
                if r.first()
                    .is_some_and(|top| forbidden.contains(&top.as_str()))
                {
                    wrong.push(format!("{} imports {}", name(module), name(r)));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "stages importing later ones:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn use_trees_expand_to_their_paths() {
    let mut out = Vec::new();
    use_paths(
        "crate::search::{bm25, dense::leg, fusion::{self, Fusion}}",
        &[],
        &mut out,
    );
    let joined: Vec<String> = out.iter().map(|p| p.join("::")).collect();
    assert_eq!(
        joined,
        [
            "crate::search::bm25",
            "crate::search::dense::leg",
            "crate::search::fusion::self",
            "crate::search::fusion::Fusion"
        ]
    );
}
