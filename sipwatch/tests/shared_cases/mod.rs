//! Where the registration cases from public bug reports live: beside the
//! repository (`../shared/cases/` from its root, as CI lays them out). A
//! missing file fails the test with the path it looked for, never skips.
use std::path::PathBuf;

/// `shared/cases/<case>/<file>`, or a failure that names where it was looked for.
pub fn case_file(case: &str, file: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/cases")
        .join(case)
        .join(file);
    assert!(
        path.is_file(),
        "case capture {} is missing: check out the shared cases beside the repository (shared/cases/{case}/{file})",
        path.display()
    );
    path
}
