//! `analyze` of a capture file in the test's own process, the way the
//! non-root tests read it: as text in a view, or as JSON records.
use std::path::Path;

use serde_json::Value;
use sipwatch::report::View;

/// What `analyze` writes for `path` in `view`, as text. A file that cannot
/// be opened fails the test with its path and the error.
pub fn text(path: &Path, view: View) -> String {
    let mut out = Vec::new();
    sipwatch::analyze::run(path, view.outputs(), &mut out)
        .unwrap_or_else(|e| panic!("analyze {}: {e}", path.display()));
    String::from_utf8(out).expect("UTF-8 output")
}

/// What `analyze --json` writes for `path`: every object in order, the
/// summary last.
pub fn json(path: &Path) -> Vec<Value> {
    super::json_lines(text(path, View::Json).as_bytes())
}

/// The `summary` object that ends `records`.
pub fn summary(records: &[Value]) -> &Value {
    let last = records.last().expect("a summary object");
    assert_eq!(last["type"], "summary", "the summary comes last: {last}");
    last
}

/// What the `sipwatch` binary writes for `sipwatch analyze PATH --json
/// ARGS` (for the flags only the command line takes), every object in
/// order; a failed run fails the test with its standard error.
pub fn json_with(path: &Path, args: &[&str]) -> Vec<Value> {
    let out = std::process::Command::new(super::SIPWATCH)
        .arg("analyze")
        .arg(path)
        .arg("--json")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("sipwatch analyze: {e}"));
    assert!(
        out.status.success(),
        "analyze {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    super::json_lines(&out.stdout)
}
