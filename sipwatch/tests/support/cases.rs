//! The registration cases from public bug reports, committed in
//! `tests/cases/<case>/` with the report each comes from in its
//! `expected.md` (copied from the project's shared case collection).
use std::path::PathBuf;

/// `tests/cases/<case>/<file>`, or a failure that names the path.
pub fn case_file(case: &str, file: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/cases")
        .join(case)
        .join(file);
    assert!(
        path.is_file(),
        "case capture {} is missing from the repository",
        path.display()
    );
    path
}
