//! The one command that checks everything: what CI runs.
use std::path::Path;

use crate::{
    run::{cargo, run_command, workspace_root},
    setup::{self, Scope},
};

/// Set-up, `cargo fmt --check`, clippy with warnings denied, then the
/// tests: all of them and the package installed into a fresh Debian root
/// (`cargo xtask package --verify`), or with `no_lab` only those that need no root (the
/// unit, golden, case, JSON-vocabulary and command-reference tests, not the
/// `*_lab` suites that build network namespaces and attach eBPF programs).
pub fn run(no_lab: bool) -> anyhow::Result<()> {
    setup::run_for(if no_lab { Scope::Build } else { Scope::All })?;
    println!("==> cargo fmt --check");
    run_command(cargo().args(["fmt", "--all", "--", "--check"]))?;
    println!("==> cargo clippy -D warnings");
    run_command(cargo().args(["clippy", "--all-targets", "--", "-D", "warnings"]))?;
    if !no_lab {
        println!("==> cargo test (unit and lab tests; the lab tests need root)");
        run_command(cargo().args(["test"]))?;
        println!("==> the Debian package, installed into a fresh root (needs root)");
        let deb = crate::package::build()?;
        return crate::package::verify(&deb);
    }
    println!("==> cargo test, without the lab tests (--no-lab)");
    run_command(cargo().args(["test", "--lib", "--bins"]))?;
    run_command(cargo().args(["test", "--doc"]))?;
    let mut tests = cargo();
    tests.args(["test", "--package", "sipwatch"]);
    for name in test_targets(&workspace_root().join("sipwatch/tests"))? {
        if !name.ends_with("_lab") {
            tests.args(["--test", &name]);
        }
    }
    run_command(&mut tests)
}

/// The integration test targets in `dir`: one per `*.rs` file.
fn test_targets(dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "rs")
            && let Some(stem) = path.file_stem()
        {
            names.push(stem.to_string_lossy().into_owned());
        }
    }
    names.sort();
    Ok(names)
}
