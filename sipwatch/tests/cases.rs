//! Registration cases from public bug reports (`tests/cases/`, each with
//! its source in `expected.md`): one test per capture, asserting what each case's
//! `expected.md` asks for. A missing capture fails the test: the cases are
//! the evidence, never skipped.
mod support;

use serde_json::Value;
use sipwatch::report::{Detail, View};

/// The capture analysed as JSON Lines: messages, events, then the summary.
fn json(case: &str, file: &str) -> Vec<Value> {
    support::analyzed::json(&support::cases::case_file(case, file))
}

/// The capture analysed as text: the message log, events, table and totals.
fn text(case: &str, file: &str) -> String {
    support::analyzed::text(
        &support::cases::case_file(case, file),
        View::Text(Detail::FirstLine),
    )
}

/// Every registration in the final summary.
fn registrations(records: &[Value]) -> Vec<Value> {
    support::analyzed::summary(records)["registrations"]
        .as_array()
        .expect("registrations")
        .clone()
}

/// The only registration in the final summary.
fn only(records: &[Value]) -> Value {
    let regs = registrations(records);
    assert_eq!(regs.len(), 1, "{regs:#?}");
    regs[0].clone()
}

fn registration_events(records: &[Value]) -> Vec<&Value> {
    records
        .iter()
        .filter(|r| r["type"] == "registration")
        .collect()
}

fn kinds(registration: &Value) -> Vec<String> {
    registration["diagnoses"]
        .as_array()
        .expect("diagnoses")
        .iter()
        .filter_map(|d| d["kind"].as_str().map(str::to_owned))
        .collect()
}

fn diagnosis<'a>(registration: &'a Value, kind: &str) -> &'a Value {
    registration["diagnoses"]
        .as_array()
        .expect("diagnoses")
        .iter()
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in {registration:#}"))
}

fn algorithms(d: &Value) -> Vec<&str> {
    d["algorithm_asked"]
        .as_array()
        .expect("algorithm_asked")
        .iter()
        .filter_map(Value::as_str)
        .collect()
}

// Source: baresip/baresip#717, creytiv/re#223 (nonce-expired-no-stale/expected.md).
#[test]
fn nonce_expired_no_stale_retry_is_not_a_failure() {
    let records = json("nonce-expired-no-stale", "a-retry.pcap");
    for e in registration_events(&records) {
        assert_ne!(e["state"]["state"], "rejected", "false failure event: {e}");
    }
    let r = only(&records);
    assert_eq!(r["state"]["state"], "registered", "{r:#}");
    assert_eq!(r["state"]["expires_s"], 120);
}

// Source: baresip/baresip#717, creytiv/re#226 (nonce-expired-no-stale/expected.md).
#[test]
fn nonce_expired_no_stale_giveup_blames_the_rechallenge_not_the_password() {
    let records = json("nonce-expired-no-stale", "b-giveup.pcap");
    let r = only(&records);
    assert!(
        !kinds(&r).contains(&"credentials_rejected".to_owned()),
        "{r:#}"
    );
    let d = diagnosis(&r, "rechallenge_unanswered");
    assert_eq!(d["nonce_sent"], "00A24F3DE3202F6C");
    assert_eq!(d["nonce_new"], "5B1E09C4D77A0E21");
    assert_eq!(d["stale"], false);
    assert_eq!(d["accepted_before"], true, "A was accepted 60 s earlier");
    assert_eq!(
        r["expires_at"], "2025-11-30T10:55:20.060000Z",
        "the binding granted at 10:53:20 still stands"
    );
    let out = text("nonce-expired-no-stale", "b-giveup.pcap");
    assert!(!out.contains("check the password"), "{out}");
    assert!(
        out.contains("stale=true"),
        "the fix names stale=true: {out}"
    );
}

// Source: asterisk/asterisk#702 (asterisk-expires-countdown-423/expected.md).
#[test]
fn asterisk_expires_countdown_423_minimal_stale_rounds_are_not_failures() {
    let records = json("asterisk-expires-countdown-423", "minimal-stale.pcap");
    for e in registration_events(&records) {
        assert_ne!(e["state"]["state"], "rejected", "false failure event: {e}");
        assert!(!kinds(e).contains(&"stale_nonce".to_owned()), "{e}");
    }
    let r = only(&records);
    assert_eq!(r["state"]["state"], "registered", "{r:#}");
    assert_eq!(r["state"]["expires_s"], 120);
}

// Source: asterisk/asterisk#702 (asterisk-expires-countdown-423/expected.md).
#[test]
fn asterisk_expires_countdown_423_is_fixed_on_the_registrar_side() {
    let records = json("asterisk-expires-countdown-423", "countdown.pcap");
    for e in registration_events(&records) {
        assert!(!kinds(e).contains(&"stale_nonce".to_owned()), "{e}");
    }
    let r = only(&records);
    assert_eq!(r["state"]["state"], "rejected", "{r:#}");
    assert_eq!(r["state"]["code"], 423);
    let d = diagnosis(&r, "interval_too_brief");
    assert_eq!(d["asked_s"], 59);
    assert_eq!(d["min_expires_s"], 60);
    assert_eq!(
        d["side"], "registrar",
        "the phones register to this Asterisk"
    );
    assert_eq!(
        d["shrinking_grants"],
        serde_json::json!([
            {"asked_s": 61, "granted_s": 60},
            {"asked_s": 60, "granted_s": 59}
        ])
    );
    let out = text("asterisk-expires-countdown-423", "countdown.pcap");
    assert!(out.contains("minimum_expiration"), "{out}");
    assert!(out.contains("asterisk/asterisk#702"), "{out}");
    assert!(
        !out.contains("PJSIP `expiration`"),
        "outbound advice: {out}"
    );
}

// Source: embox/embox#1965 (sha256-digest-challenge/expected.md, variant a).
#[test]
fn sha256_digest_challenge_md5_second_registers_without_remark() {
    let records = json("sha256-digest-challenge", "a-md5-second.pcap");
    let r = only(&records);
    assert_eq!(r["state"]["state"], "registered", "{r:#}");
    assert_eq!(r["state"]["expires_s"], 3600);
    let k = kinds(&r);
    assert!(
        !k.contains(&"private_contact".to_owned()),
        "the registrar stored the public address: {r:#}"
    );
    assert!(!k.contains(&"credentials_rejected".to_owned()), "{r:#}");
}

// Source: embox/embox#1965, StackOverflow 60683714 (sha256-digest-challenge/expected.md, variant b).
#[test]
fn sha256_digest_challenge_noanswer_both_names_the_offered_algorithms() {
    let records = json("sha256-digest-challenge", "b-noanswer-both.pcap");
    let r = only(&records);
    assert_eq!(r["state"]["state"], "rejected", "{r:#}");
    assert_eq!(r["state"]["code"], 401);
    let d = diagnosis(&r, "no_credentials");
    assert_eq!(algorithms(d), ["SHA-256", "MD5"]);
    let out = text("sha256-digest-challenge", "b-noanswer-both.pcap");
    assert!(out.contains("does not support SHA-256"), "{out}");
    assert!(out.contains("MD5 offered first"), "{out}");
}

// Source: asterisk/asterisk#948 (sha256-digest-challenge/expected.md, variant c).
#[test]
fn sha256_digest_challenge_sha256_only_tells_to_upgrade_or_ask_for_md5() {
    let records = json("sha256-digest-challenge", "c-sha256-only.pcap");
    let r = only(&records);
    assert_eq!(r["state"]["state"], "rejected", "{r:#}");
    let d = diagnosis(&r, "no_credentials");
    assert_eq!(algorithms(d), ["SHA-256"]);
    assert_eq!(d["user_agent"], "Asterisk PBX 20.5.0");
    let out = text("sha256-digest-challenge", "c-sha256-only.pcap");
    assert!(out.contains("20.12.0, 21.7.0 and 22.2.0"), "{out}");
    assert!(
        out.contains("this Asterisk version answers MD5 only"),
        "{out}"
    );
    assert!(out.contains("ask the provider to offer MD5"), "{out}");
}

// Source: Asterisk docs "PJSIP Authentication" (sha256-digest-challenge/expected.md, variant d).
#[test]
fn sha256_digest_challenge_sha256_ok_registers() {
    let records = json("sha256-digest-challenge", "d-sha256-ok.pcap");
    let r = only(&records);
    assert_eq!(r["state"]["state"], "registered", "{r:#}");
    assert_eq!(r["state"]["expires_s"], 3600);
}

// Source: embox/embox#1965 (sha256-digest-challenge/expected.md, variant e).
#[test]
fn sha256_digest_challenge_md5_second_wrong_password_is_no_algorithm_mismatch() {
    let records = json("sha256-digest-challenge", "e-md5-second-wrongpw.pcap");
    let r = only(&records);
    let d = diagnosis(&r, "credentials_rejected");
    assert_eq!(d["algorithm_sent"], "MD5");
    let asked = algorithms(d);
    assert!(asked.contains(&"SHA-256") && asked.contains(&"MD5"), "{d}");
    let out = text("sha256-digest-challenge", "e-md5-second-wrongpw.pcap");
    assert!(!out.contains("does not support"), "{out}");
    assert!(!out.contains("not offered"), "{out}");
    assert!(out.contains("check the password"), "{out}");
}

// Source: Metaswitch/sprout#1640 (unregister-challenged-unanswered/expected.md).
#[test]
fn unregister_challenged_unanswered_keeps_the_binding_registered() {
    let records = json("unregister-challenged-unanswered", "dereg.pcap");
    let r = only(&records);
    assert_eq!(r["state"]["state"], "registered", "{r:#}");
    assert_eq!(r["expires_at"], "2025-11-30T11:03:20.060000Z");
    assert!(!kinds(&r).contains(&"no_credentials".to_owned()), "{r:#}");
    let d = diagnosis(&r, "unregister_not_completed");
    assert_eq!(d["code"], 401);
    assert_eq!(d["challenged"], true);
    assert_eq!(d["registered_until"], "2025-11-30T11:03:20.060000Z");
    let out = text("unregister-challenged-unanswered", "dereg.pcap");
    assert!(out.contains("un-REGISTER not completed"), "{out}");
    assert!(out.contains("1 OK, 0 failing"), "{out}");
    assert!(!out.contains("never sent credentials"), "{out}");
}

// Source: RFC 3261 §10.2.2, pjsip/pjproject#35 (wildcard-unregister/expected.md).
#[test]
fn wildcard_unregister_removes_every_binding_of_the_aor() {
    let records = json("wildcard-unregister", "wildcard.pcap");
    let regs = registrations(&records);
    assert!(!regs.is_empty());
    for r in &regs {
        assert_ne!(r["key"]["contact"], "*", "no row named *: {r:#}");
        if r["key"]["aor"] == "sip:1001@example.com" {
            assert_eq!(r["state"]["state"], "unregistered", "{r:#}");
        }
    }
    let r = only(&records);
    assert_eq!(r["key"]["contact"], "sip:1001@192.0.2.30:5060;ob");
    let registered = registration_events(&records)
        .into_iter()
        .find(|e| e["state"]["state"] == "registered")
        .expect("registered first");
    assert_eq!(registered["last_change"], "2025-11-30T10:53:20.060000Z");
    assert_eq!(r["last_change"], "2025-11-30T10:53:40.020000Z");
    let out = text("wildcard-unregister", "wildcard.pcap");
    assert!(
        out.contains("registrations: 0 OK, 0 failing, 1 unregistered"),
        "{out}"
    );
}
