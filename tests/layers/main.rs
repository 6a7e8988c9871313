//! The workspace's shape, as ARCHITECTURE.md states it: no module imports one that imports it
//! back (inside each crate, every arrow points one way), and `shelfmark-core` knows nothing of
//! I/O. Read from the sources themselves, so a change that breaks the shape fails here.
//!
//! A module's imports are the `crate::…` and `super::…` paths its code names (comments and its
//! `#[cfg(test)]` module left out, since tests may look anywhere). A path names the deepest
//! module it reaches; an item of a parent module is an import of the parent, which a child may
//! always use (a parent declares its children, so parent and child are one place).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_path_buf()
}

/// The `src/` folder of every crate of the workspace.
fn crate_sources() -> Vec<PathBuf> {
    let root = workspace();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root.join("crates"))
        .expect("crates/ is readable")
        .filter_map(|e| e.ok().map(|e| e.path().join("src")))
        .collect();
    dirs.push(root.join("src-tauri/src"));
    dirs.sort();
    dirs.into_iter().filter(|d| d.is_dir()).collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("a source folder is readable") {
        let path = entry.expect("a folder entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `store/ops.rs` is `["store", "ops"]`; `lib.rs`, `main.rs` and `mod.rs` name their folder.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).expect("a file of the crate");
    let mut parts: Vec<String> = rel
        .with_extension("")
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("lib" | "main" | "mod")
    ) {
        parts.pop();
    }
    parts
}

/// The code of a file without comments and without its trailing `#[cfg(test)]` module.
fn code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod ") {
        Some(at) => &text[..at],
        None => text,
    };
    text.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The paths after each `crate::` and `super::` (`a::b::{c, d}` gives `a::b`, then stops).
fn paths(code: &str, prefix: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for (at, _) in code.match_indices(prefix) {
        let before = code[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let rest = &code[at + prefix.len()..];
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(rest.len());
        let path: Vec<String> = rest[..end]
            .split("::")
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        out.push(path);
    }
    out
}

/// Each module's imports of other modules of its crate (not of its parents).
fn graph(src: &Path) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let modules: BTreeMap<Vec<String>, PathBuf> =
        files.into_iter().map(|f| (module_of(src, &f), f)).collect();
    let known: BTreeSet<&Vec<String>> = modules.keys().collect();
    let deepest = |path: &[String]| -> Option<Vec<String>> {
        (1..=path.len())
            .rev()
            .map(|n| path[..n].to_vec())
            .find(|m| known.contains(m))
    };
    let mut graph = BTreeMap::new();
    for (module, file) in &modules {
        let text = std::fs::read_to_string(file).expect("a source file is readable");
        let code = code(&text);
        // `super` of `a::b` (a/b.rs or a/b/mod.rs alike) is `a`.
        let parent: Vec<String> = module
            .iter()
            .take(module.len().saturating_sub(1))
            .cloned()
            .collect();
        let mut targets = BTreeSet::new();
        for path in paths(&code, "crate::") {
            targets.extend(deepest(&path));
        }
        for path in paths(&code, "super::") {
            let mut full = parent.clone();
            full.extend(path);
            targets.extend(deepest(&full));
        }
        // A module's own items, its parents and its children are not arrows between places.
        targets.retain(|t| !module.starts_with(t) && !t.starts_with(module));
        graph.insert(module.clone(), targets);
    }
    graph
}

/// The strongly connected groups of more than one module (each one a cycle of imports).
fn cycles(graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Vec<Vec<Vec<String>>> {
    // Kosaraju: an order by finishing time, then the reversed graph in that order.
    fn visit<'a>(
        g: &'a BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        v: &'a Vec<String>,
        seen: &mut BTreeSet<&'a Vec<String>>,
        order: &mut Vec<&'a Vec<String>>,
    ) {
        if !seen.insert(v) {
            return;
        }
        for w in g.get(v).into_iter().flatten() {
            visit(g, w, seen, order);
        }
        order.push(v);
    }
    let mut seen = BTreeSet::new();
    let mut order = Vec::new();
    for v in graph.keys() {
        visit(graph, v, &mut seen, &mut order);
    }
    let mut reversed: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (v, ws) in graph {
        for w in ws {
            reversed.entry(w.clone()).or_default().insert(v.clone());
        }
    }
    let mut assigned = BTreeSet::new();
    let mut groups = Vec::new();
    for v in order.into_iter().rev() {
        let mut group = Vec::new();
        let mut stack = vec![v.clone()];
        while let Some(x) = stack.pop() {
            if !assigned.insert(x.clone()) {
                continue;
            }
            stack.extend(reversed.get(&x).into_iter().flatten().cloned());
            group.push(x);
        }
        if group.len() > 1 {
            group.sort();
            groups.push(group);
        }
    }
    groups
}

#[test]
fn no_module_of_any_crate_imports_one_that_imports_it_back() {
    let mut found = Vec::new();
    for src in crate_sources() {
        for group in cycles(&graph(&src)) {
            let names: Vec<String> = group.iter().map(|m| m.join("::")).collect();
            found.push(format!("{}: {}", src.display(), names.join(" <-> ")));
        }
    }
    assert!(found.is_empty(), "import cycles:\n{}", found.join("\n"));
}

#[test]
fn the_cycle_finder_sees_a_cycle_of_three_and_not_a_chain() {
    let m = |s: &str| vec![s.to_owned()];
    let edges = |pairs: &[(&str, &str)]| {
        let mut g: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
        for (a, b) in pairs {
            g.entry(m(a)).or_default().insert(m(b));
            g.entry(m(b)).or_default();
        }
        g
    };
    let ring = edges(&[("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")]);
    assert_eq!(cycles(&ring), vec![vec![m("a"), m("b"), m("c")]]);
    let chain = edges(&[("a", "b"), ("b", "c"), ("a", "c")]);
    assert!(cycles(&chain).is_empty());
}

#[test]
fn a_path_names_the_deepest_module_it_reaches() {
    let code = code(
        "use crate::store::ops::{Op, Outcome};\n// use crate::http::x;\nfn f() { super::mail::send(); }",
    );
    assert_eq!(
        paths(&code, "crate::"),
        vec![vec!["store".to_owned(), "ops".to_owned()]]
    );
    assert_eq!(
        paths(&code, "super::"),
        vec![vec!["mail".to_owned(), "send".to_owned()]]
    );
}

#[test]
fn the_core_crate_does_no_io() {
    let src = workspace().join("crates/shelfmark-core/src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let forbidden = [
        "std::fs",
        "std::net",
        "std::process",
        "tokio",
        "rusqlite",
        "reqwest",
        "tauri",
        "sqlx",
        "async fn",
    ];
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("a source file is readable");
        for word in forbidden {
            if code(&text).contains(word) {
                found.push(format!("{}: {word}", file.display()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "I/O in shelfmark-core:\n{}",
        found.join("\n")
    );
}
