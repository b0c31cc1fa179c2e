//! The library's modules depend on each other one way (lib.rs, STYLE.md):
//! no top-level module reaches, through any chain of `crate::…` uses,
//! back to itself. A cycle is a type in the wrong place. Read from the
//! sources, so that it needs no tool and no root.
use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
};

/// Every `.rs` file under `dir`, test files and modules left out.
fn sources(dir: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).expect("a source folder") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "tests") {
                sources(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs")
            && path.file_name().is_some_and(|n| n != "tests.rs")
        {
            sources_of_file(&path, out);
        }
    }
}

/// The top-level modules each one names: `crate::x…` or `use crate::{x…`.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut modules = BTreeMap::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if ["lib", "main", "cli"].contains(&name.as_str()) {
            continue;
        }
        let mut code = Vec::new();
        if path.is_dir() {
            sources(&path, &mut code);
        } else {
            sources_of_file(&path, &mut code);
        }
        modules.insert(name, code.join("\n"));
    }
    let names: Vec<String> = modules.keys().cloned().collect();
    modules
        .iter()
        .map(|(name, code)| {
            let uses = names
                .iter()
                .filter(|other| *other != name && names_module(code, other))
                .cloned()
                .collect();
            (name.clone(), uses)
        })
        .collect()
}

/// A file's code without comments and without its inline unit tests
/// (`#[cfg(test)] mod … { … }`, which may reach anywhere).
fn sources_of_file(path: &Path, out: &mut Vec<String>) {
    let text = std::fs::read_to_string(path).expect("a source file");
    let mut code = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[cfg(test)]") {
            match lines.peek() {
                // An inline test module runs to the end of the file.
                Some(next)
                    if next.trim_start().starts_with("mod ") && next.trim_end().ends_with('{') =>
                {
                    break;
                }
                _ => continue,
            }
        }
        if !trimmed.starts_with("//") {
            code.push_str(line);
            code.push('\n');
        }
    }
    out.push(code);
}

/// Whether `code` uses top-level module `m`: `crate::m::`, `crate::m;`,
/// or `m` at the start of an item inside `use crate::{…}`.
fn names_module(code: &str, m: &str) -> bool {
    let direct = [
        format!("crate::{m}::"),
        format!("crate::{m};"),
        format!("crate::{m},"),
    ];
    if direct.iter().any(|d| code.contains(d.as_str())) {
        return true;
    }
    code.split("use crate::{").skip(1).any(|group| {
        let group = group.split("};").next().unwrap_or("");
        let mut depth = 0;
        let mut item_start = true;
        let mut word = String::new();
        for c in group.chars() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                _ => {}
            }
            if depth == 0 && item_start && (c.is_alphanumeric() || c == '_') {
                word.push(c);
                continue;
            }
            if !word.is_empty() {
                if word == m {
                    return true;
                }
                word.clear();
            }
            item_start = depth == 0 && (c == ',' || c.is_whitespace() && item_start);
        }
        word == m
    })
}

#[test]
fn the_modules_depend_on_each_other_one_way() {
    let graph = graph();
    assert!(
        graph["say"].contains("track") && graph["report"].contains("say"),
        "the graph is read: {graph:?}"
    );
    for start in graph.keys() {
        let mut stack = vec![vec![start.clone()]];
        while let Some(path) = stack.pop() {
            let last = path.last().unwrap();
            for next in &graph[last] {
                assert!(
                    next != start,
                    "a cycle between modules: {} → {start}",
                    path.join(" → ")
                );
                if !path.contains(next) {
                    let mut longer = path.clone();
                    longer.push(next.clone());
                    stack.push(longer);
                }
            }
        }
    }
}
