//! What `analyze` prints for small committed captures, view by view (the
//! message log, the verbose log, JSON Lines, the live table, the summary),
//! checked against golden files in `tests/snapshots/`. Fast and without
//! root: a change of wording or fields shows here in seconds. After an
//! intended change, review and accept with `INSTA_UPDATE=always cargo test
//! -p sipwatch --test golden` (or `cargo insta review`).
mod fixtures;

use std::path::{Path, PathBuf};

use sipwatch::report::{Detail, LiveTable, Output, Snapshot, View};

/// A committed capture in `tests/fixtures/`.
fn committed(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// `analyze` of `path` in `view`, with the path written as its file name.
fn analyze(path: &Path, view: View) -> String {
    let mut out = Vec::new();
    sipwatch::analyze::run(path, view.outputs(), &mut out).expect("analysed");
    let text = String::from_utf8(out).expect("UTF-8");
    let name = path.file_name().unwrap().to_string_lossy();
    text.replace(&path.display().to_string(), &name)
}

/// The live table as `attach --table` draws it at the end of the capture.
fn table(path: &Path) -> String {
    let mut sink = Vec::new();
    let mut pipeline = sipwatch::pipeline::Pipeline::new(&mut sink, Vec::new());
    for frame in sipwatch::capture::file::CaptureFileReader::open(path).expect("opened") {
        pipeline
            .push(&frame.expect("a whole frame"))
            .expect("pushed");
    }
    let finished = pipeline.finish(None, 0, None).expect("finished");
    let mut out = Vec::new();
    let now = Snapshot {
        tracker: &finished.tracker,
        audit: None,
        kernel: None,
        hep: None,
        tls: Default::default(),
    };
    LiveTable.tick(&mut out, &now).expect("drawn");
    String::from_utf8(out).expect("UTF-8")
}

/// Every view of one capture, each its own golden file.
fn every_view(name: &str, path: &Path) {
    insta::assert_snapshot!(
        format!("{name}.log"),
        analyze(path, View::Text(Detail::FirstLine))
    );
    insta::assert_snapshot!(
        format!("{name}.verbose"),
        analyze(path, View::Text(Detail::Full))
    );
    insta::assert_snapshot!(
        format!("{name}.summary"),
        analyze(path, View::Text(Detail::Quiet))
    );
    insta::assert_snapshot!(format!("{name}.jsonl"), analyze(path, View::Json));
    insta::assert_snapshot!(format!("{name}.table"), table(path));
}

#[test]
fn registrations_challenged_rejected_and_timed_out() {
    every_view("registrations", &fixtures::registrations());
}

/// A failure record (issue 18): a 403 retried against Asterisk's
/// defaults, a Contact the registrar kept as it saw it, stale bindings, a gap.
#[test]
fn failure_record() {
    every_view("failure-record", &fixtures::failure_record());
}

/// Source: RFC 3261 §10.2.2; pjsip/pjproject#35, #36; onsip/SIP.js#204
/// (a copy of `tests/cases/wildcard-unregister/wildcard.pcap`).
#[test]
fn wildcard_unregister() {
    every_view(
        "wildcard-unregister",
        &committed("wildcard-unregister.pcap"),
    );
}

/// `tcpdump -i any` on loopback, Linux cooked v2 (a copy of `tests/cases/sll-loopback-any/any-lo-sll2.pcap`).
#[test]
fn sll_loopback_any_v2() {
    every_view(
        "sll-loopback-any-v2",
        &committed("sll-loopback-any-v2.pcap"),
    );
}

/// A registrar re-challenging a refresh without `stale=true`
/// (a copy of `tests/cases/nonce-expired-no-stale/a-retry.pcap`).
#[test]
fn nonce_expired_no_stale_retry() {
    every_view(
        "nonce-expired-no-stale-retry",
        &committed("nonce-expired-no-stale-retry.pcap"),
    );
}
