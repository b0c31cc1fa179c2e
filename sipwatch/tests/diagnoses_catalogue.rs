//! The catalogue of diagnoses (docs/diagnoses.md, "Catalogue") against the
//! code: every `kind` a `Diagnosis` can be serialised as has an entry, every
//! entry names a kind the code has, gives its evidence, and names tests that
//! exist. No root needed.
use std::{
    collections::BTreeSet,
    fs,
    path::{Path, PathBuf},
};

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// "AnswersFromOtherAddress" → "answers_from_other_address" (serde's
/// `rename_all = "snake_case"`).
fn snake(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The serde names of the variants of `pub enum Diagnosis`.
fn kinds_in_code() -> BTreeSet<String> {
    let src = fs::read_to_string(crate_dir().join("src/track/diagnosis.rs")).unwrap();
    let start = src.find("pub enum Diagnosis {").expect("the enum");
    assert!(
        src[..start]
            .trim_end()
            .ends_with("#[serde(tag = \"kind\", rename_all = \"snake_case\")]"),
        "Diagnosis is serialised with tag kind, snake_case: the names below assume it"
    );
    let body = &src[start..];
    let end = body.find("\n}\n").expect("the enum's end");
    body[..end]
        .lines()
        .skip(1)
        .filter_map(|l| {
            let name = l.strip_prefix("    ")?;
            let first = name.chars().next()?;
            if !first.is_ascii_uppercase() {
                return None;
            }
            let ident: String = name
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            Some(snake(&ident))
        })
        .collect()
}

/// The catalogue's entries: (kind, the entry's text).
fn catalogue() -> Vec<(String, String)> {
    let doc = fs::read_to_string(crate_dir().join("../docs/diagnoses.md")).unwrap();
    let section = doc
        .split("\n## Catalogue\n")
        .nth(1)
        .expect("a Catalogue section in docs/diagnoses.md");
    let section = section.split("\n## ").next().unwrap_or(section);
    section
        .split("\n### ")
        .skip(1)
        .map(|entry| {
            let heading = entry.lines().next().unwrap_or_default();
            let kind = heading
                .split('`')
                .nth(1)
                .unwrap_or_else(|| panic!("an entry heading without a `kind`: {heading}"));
            (kind.to_owned(), entry.to_owned())
        })
        .collect()
}

/// Every `fn name(` in the crate's sources and tests.
fn test_functions() -> BTreeSet<String> {
    fn walk(dir: &Path, out: &mut BTreeSet<String>) {
        for e in fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let text = fs::read_to_string(&p).unwrap_or_default();
                for part in text.split("fn ").skip(1) {
                    let name: String = part
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    if part[name.len()..].starts_with('(') {
                        out.insert(name);
                    }
                }
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(&crate_dir().join("src"), &mut out);
    walk(&crate_dir().join("tests"), &mut out);
    out
}

#[test]
fn every_kind_the_code_can_emit_has_a_catalogue_entry_and_no_entry_is_stale() {
    let code = kinds_in_code();
    assert!(code.len() >= 20, "{code:?}");
    let entries: Vec<String> = catalogue().into_iter().map(|(k, _)| k).collect();
    let documented: BTreeSet<String> = entries.iter().cloned().collect();
    assert_eq!(
        entries.len(),
        documented.len(),
        "an entry twice: {entries:?}"
    );
    let missing: Vec<&String> = code.difference(&documented).collect();
    let stale: Vec<&String> = documented.difference(&code).collect();
    assert!(
        missing.is_empty(),
        "kinds without a catalogue entry: {missing:?}"
    );
    assert!(
        stale.is_empty(),
        "entries for no kind the code has: {stale:?}"
    );
}

#[test]
fn every_entry_gives_its_evidence_and_names_tests_that_exist() {
    let functions = test_functions();
    for (kind, entry) in catalogue() {
        assert!(entry.contains("**Evidence**"), "{kind}: no evidence");
        let tests = entry
            .split("**Tests**:")
            .nth(1)
            .unwrap_or_else(|| panic!("{kind}: no tests named"));
        let named: Vec<&str> = tests.split('`').skip(1).step_by(2).collect();
        assert!(!named.is_empty(), "{kind}: no tests named");
        for t in named {
            assert!(functions.contains(t), "{kind}: no test named {t}");
        }
    }
}
