//! The failure record, the PBX's next move (each rule of Asterisk PJSIP and
//! FreeSWITCH, with and without Retry-After, and wire behaviour that
//! contradicts the defaults), gaps and RRD, and the Contacts the registrar
//! kept, through the tracker.
use super::*;

const ASTERISK: &str = "Asterisk PBX 22.0.0";
const FREESWITCH: &str = "FreeSWITCH-mod_sofia/1.10.12-release";

/// `request` as sent by `agent`.
fn from(agent: &str, request: String) -> String {
    request.replace(
        "Content-Length",
        &format!("User-Agent: {agent}\r\nContent-Length"),
    )
}

/// A REGISTER without credentials answered at once with `status`.
fn answered(
    agent: &str,
    cseq: u32,
    secs: f64,
    status: &str,
    extra: &str,
) -> Vec<(String, f64, bool)> {
    let r = from(agent, register(cseq, None, 3600));
    vec![
        (r.clone(), secs, true),
        (response(&r, status, extra), secs + 0.01, false),
    ]
}

/// The same answer `times` times, `every` seconds apart.
fn answered_again(agent: &str, times: u32, every: f64, status: &str, extra: &str) -> Tracker {
    let mut steps = Vec::new();
    for i in 0..times {
        steps.extend(answered(agent, i + 1, f64::from(i) * every, status, extra));
    }
    run(&steps)
}

/// `times` REGISTERs nobody answers, each sent `wait` seconds after the
/// previous one timed out (Timer F).
fn unanswered(agent: &str, times: u32, wait: f64) -> Tracker {
    let mut t = Tracker::default();
    let mut events = Vec::new();
    let mut sent = 0.0;
    for i in 0..times {
        let r = from(agent, register(i + 1, None, 3600));
        t.push(&message(&r, sent, true).parsed(), &mut events);
        t.tick(at(sent + 33.0), &mut events);
        sent += 32.0 + wait;
    }
    t
}

/// A registration by `agent` granted `expires` seconds at `secs`.
fn granted(agent: &str, cseq: u32, secs: f64, expires: u32) -> Vec<(String, f64, bool)> {
    answered(
        agent,
        cseq,
        secs,
        "200 OK",
        &format!("Contact: <sip:1001@192.168.77.10:5060>;expires={expires}\r\n"),
    )
}

// --- Asterisk PJSIP ---

#[test]
fn asterisk_stops_for_good_when_its_credentials_are_rejected() {
    let steps: Vec<_> = wrong_password_round(1, 0.0)
        .into_iter()
        .map(|(text, secs, out)| (if out { from(ASTERISK, text) } else { text }, secs, out))
        .collect();
    let reg = only(&run(&steps));
    assert_eq!(reg.pbx, PbxKind::Asterisk);
    let next = reg.next_move();
    assert_eq!(
        next,
        NextMove::GivesUp {
            rule: Rule::AsteriskAuthRejectionPermanent,
            brought_back_by: Revival::AsteriskSendRegister,
            shows: Some(PbxShows::AsteriskRejected),
        }
    );
    let words = next.words(reg.pbx).unwrap();
    assert!(
        words.contains(
            "`pjsip show registrations` shows Rejected until `pjsip send register` or a reload"
        ),
        "{words}"
    );
    assert!(reg.status().ends_with(", gave up"), "{}", reg.status());
}

#[test]
fn asterisk_stops_after_a_403_while_forbidden_retry_interval_is_zero() {
    let reg = only(&answered_again(ASTERISK, 1, 0.0, "403 Forbidden", ""));
    assert!(matches!(
        reg.next_move(),
        NextMove::GivesUp {
            rule: Rule::AsteriskForbidden,
            ..
        }
    ));
    assert_eq!(
        reg.status(),
        "Rejected 403 since 22:13:20, gave up",
        "the short form"
    );
}

#[test]
fn asterisk_stops_after_another_permanent_code_while_fatal_retry_interval_is_zero() {
    let reg = only(&answered_again(ASTERISK, 1, 0.0, "404 Not Found", ""));
    assert!(matches!(
        reg.next_move(),
        NextMove::GivesUp {
            rule: Rule::AsteriskFatal,
            ..
        }
    ));
}

#[test]
fn an_asterisk_that_retries_a_403_is_configured_otherwise_not_guessed_at() {
    let reg = only(&answered_again(ASTERISK, 7, 10.0, "403 Forbidden", ""));
    match reg.next_move() {
        NextMove::ConfigDiffers {
            rule: Rule::AsteriskForbidden,
            deviation: Deviation::KeptTrying { attempts: 7 },
            next_at,
        } => assert_eq!(next_at, Some(at(70.01))),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        reg.status(),
        "Rejected 403 ×7 since 22:13:20, retry every 10 s"
    );
    let words = reg.next_move().words(reg.pbx).unwrap();
    assert!(words.contains("differs from the defaults"), "{words}");
    assert!(words.contains("forbidden_retry_interval"), "{words}");
}

#[test]
fn asterisk_waits_as_the_retry_after_of_a_503_says() {
    let reg = only(&answered_again(
        ASTERISK,
        1,
        0.0,
        "503 Service Unavailable",
        "Retry-After: 120\r\n",
    ));
    assert_eq!(
        reg.next_move(),
        NextMove::RetriesAt {
            at: at(120.01),
            wait_s: 120,
            rule: Rule::AsteriskRetryAfter,
            shows: Some(PbxShows::AsteriskRejected),
        }
    );
    assert_eq!(reg.record().unwrap().retry_after_s, Some(120));
    assert!(
        reg.status().ends_with("retry at 22:15:20"),
        "{}",
        reg.status()
    );
}

#[test]
fn asterisk_retries_a_503_without_retry_after_after_retry_interval() {
    let reg = only(&answered_again(
        ASTERISK,
        2,
        60.0,
        "503 Service Unavailable",
        "",
    ));
    assert!(matches!(
        reg.next_move(),
        NextMove::RetriesAt {
            wait_s: 60,
            rule: Rule::AsteriskRetryInterval,
            ..
        }
    ));
}

#[test]
fn asterisk_retries_no_answer_every_retry_interval_then_stops_after_max_retries() {
    let reg = only(&unanswered(ASTERISK, 3, 60.0));
    let last = reg.failures.unwrap().last_at;
    assert_eq!(
        reg.next_move(),
        NextMove::RetriesAt {
            at: last + Duration::from_secs(60),
            wait_s: 60,
            rule: Rule::AsteriskRetryInterval,
            shows: Some(PbxShows::AsteriskRejected),
        }
    );
    let record = reg.record().unwrap();
    assert_eq!(record.ended_by, Some(EndedBy::NoAnswer));
    assert_eq!((record.code, record.reason), (Some(408), None));
    let reg = only(&unanswered(ASTERISK, 11, 60.0));
    assert!(matches!(
        reg.next_move(),
        NextMove::GivesUp {
            rule: Rule::AsteriskMaxRetries,
            ..
        }
    ));
}

#[test]
fn an_asterisk_retrying_past_max_retries_has_it_raised() {
    let reg = only(&unanswered(ASTERISK, 13, 60.0));
    assert!(matches!(
        reg.next_move(),
        NextMove::ConfigDiffers {
            rule: Rule::AsteriskMaxRetries,
            deviation: Deviation::KeptTrying { attempts: 13 },
            ..
        }
    ));
}

#[test]
fn an_asterisk_retrying_no_answer_sooner_has_another_retry_interval() {
    let reg = only(&unanswered(ASTERISK, 3, 20.0));
    match reg.next_move() {
        NextMove::ConfigDiffers {
            rule: Rule::AsteriskRetryInterval,
            deviation:
                Deviation::Interval {
                    default_s: 60,
                    seen_ms,
                },
            next_at: Some(_),
        } => assert!((19_000..=21_000).contains(&seen_ms), "{seen_ms}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_registered_asterisk_refreshes_ten_seconds_before_the_granted_expiry() {
    let reg = only(&run(&granted(ASTERISK, 1, 0.0, 600)));
    assert_eq!(
        reg.next_move(),
        NextMove::Refreshes {
            at: at(590.01),
            rule: Rule::AsteriskRefresh,
            shows: Some(PbxShows::AsteriskRegistered),
        }
    );
}

// --- FreeSWITCH ---

#[test]
fn freeswitch_waits_retry_seconds_times_its_failures() {
    // FAIL_WAIT 30 s after the first failure, 60 s after the second.
    let mut steps = answered(FREESWITCH, 1, 0.0, "403 Forbidden", "");
    steps.extend(answered(FREESWITCH, 2, 30.0, "403 Forbidden", ""));
    steps.extend(answered(FREESWITCH, 3, 90.0, "403 Forbidden", ""));
    let reg = only(&run(&steps));
    assert_eq!(
        reg.next_move(),
        NextMove::RetriesAt {
            at: at(180.01),
            wait_s: 90,
            rule: Rule::FreeSwitchBackoff,
            shows: Some(PbxShows::FreeSwitchFailWait),
        }
    );
}

#[test]
fn freeswitch_retries_a_503_flat_every_retry_seconds() {
    let reg = only(&answered_again(
        FREESWITCH,
        3,
        30.0,
        "503 Service Unavailable",
        "Retry-After: 300\r\n",
    ));
    assert!(
        matches!(
            reg.next_move(),
            NextMove::RetriesAt {
                wait_s: 30,
                rule: Rule::FreeSwitchFlat,
                ..
            }
        ),
        "FreeSWITCH does not read Retry-After: {:?}",
        reg.next_move()
    );
}

#[test]
fn a_freeswitch_backing_off_otherwise_has_another_retry_seconds() {
    let reg = only(&answered_again(FREESWITCH, 3, 5.0, "403 Forbidden", ""));
    assert!(matches!(
        reg.next_move(),
        NextMove::ConfigDiffers {
            rule: Rule::FreeSwitchBackoff,
            deviation: Deviation::Interval { default_s: 60, .. },
            ..
        }
    ));
}

#[test]
fn a_registered_freeswitch_refreshes_fifteen_seconds_before_the_granted_expiry() {
    let reg = only(&run(&granted(FREESWITCH, 1, 0.0, 600)));
    assert!(matches!(
        reg.next_move(),
        NextMove::Refreshes {
            rule: Rule::FreeSwitchRefresh,
            ..
        }
    ));
    assert_eq!(
        reg.next_move(),
        NextMove::Refreshes {
            at: at(585.01),
            rule: Rule::FreeSwitchRefresh,
            shows: Some(PbxShows::FreeSwitchReged),
        }
    );
}

#[test]
fn another_client_is_predicted_from_the_interval_seen_on_the_wire() {
    let reg = only(&answered_again("Z 5.6.4", 2, 45.0, "403 Forbidden", ""));
    assert_eq!(reg.pbx, PbxKind::Other);
    assert!(matches!(
        reg.next_move(),
        NextMove::RetriesAt {
            wait_s: 45,
            rule: Rule::SeenOnWire,
            ..
        }
    ));
    let once = only(&answered_again("Z 5.6.4", 1, 0.0, "403 Forbidden", ""));
    assert_eq!(once.next_move(), NextMove::Unknown);
}

// --- The failure record ---

#[test]
fn the_record_keeps_the_answer_exactly_as_sent_and_since_when_it_fails() {
    let mut steps = granted(ASTERISK, 1, 0.0, 60);
    for i in 0..3u32 {
        steps.extend(answered(
            ASTERISK,
            i + 2,
            100.0 + f64::from(i) * 10.0,
            "403 Account  Suspended",
            "Warning: 399 sip.provider.example \"Account suspended: unpaid\"\r\n",
        ));
    }
    let reg = only(&run(&steps));
    let record = reg.record().expect("failing");
    assert_eq!(
        record,
        FailureRecord {
            code: Some(403),
            reason: Some("Account  Suspended".into()),
            warning: Some("399 sip.provider.example \"Account suspended: unpaid\"".into()),
            retry_after_s: None,
            ended_by: Some(EndedBy::Registrar),
            since: at(100.01),
            attempts: 3,
            last_success_at: Some(at(0.01)),
            interval_ms: Some(10_000),
        }
    );
    let json = serde_json::to_value(&reg).unwrap();
    assert_eq!(
        json["failure_record"]["since"],
        "2023-11-14T22:15:00.010000Z"
    );
    assert_eq!(json["next_move"]["next"], "config_differs");
    assert_eq!(json["pbx"], "asterisk");
}

// --- Continuity: gaps and RRD ---

#[test]
fn a_refresh_after_the_binding_expired_reports_the_gap_and_its_length() {
    let mut steps = granted(ASTERISK, 1, 0.0, 60);
    // The refresh comes 30 s after the 60 s granted at 0.01 s had lapsed.
    steps.extend(granted(ASTERISK, 2, 90.0, 60));
    let reg = only(&run(&steps));
    let gap = reg.continuity.last_gap.expect("a gap");
    assert_eq!(
        (gap.lapsed_at, gap.registered_at, gap.length_ms),
        (at(60.01), at(90.01), 30_000)
    );
    assert_eq!(reg.continuity.gaps, 1);
    let words = reg.continuity.gap_words().unwrap();
    assert!(
        words.contains("(30 s)") && words.contains("inbound calls"),
        "{words}"
    );
}

#[test]
fn a_refresh_in_time_leaves_no_gap() {
    let mut steps = granted(ASTERISK, 1, 0.0, 60);
    steps.extend(granted(ASTERISK, 2, 50.0, 60));
    assert_eq!(only(&run(&steps)).continuity.gaps, 0);
}

#[test]
fn the_request_delay_runs_from_the_first_register_to_the_final_answer() {
    // RFC 6076 §4.1: through the challenge, 30 ms; the next one 10 ms.
    let r1 = register(1, None, 600);
    let r2 = register(2, Some(("1001", "provider.example")), 600);
    let mut steps = vec![
        (r1.clone(), 0.0, true),
        (response(&r1, "401 Unauthorized", CHALLENGE), 0.01, false),
        (r2.clone(), 0.02, true),
        (response(&r2, "200 OK", ""), 0.03, false),
    ];
    steps.extend(granted("x", 3, 100.0, 600));
    let reg = only(&run(&steps));
    assert_eq!(reg.continuity.rrd_last_us, Some(10_000));
    assert_eq!(reg.continuity.rrd_max_us, Some(30_000));
    let words = reg.continuity.rrd_words().unwrap();
    assert!(
        words.starts_with("10.0 ms last, 30.0 ms at most"),
        "{words}"
    );
}

// --- The Contacts the registrar kept ---

fn kept(contacts: &str, via_seen: bool) -> ContactsKept {
    let r = register(1, None, 600);
    let mut ok = response(&r, "200 OK", contacts);
    if via_seen {
        ok = ok.replacen(";rport", ";rport=40000;received=198.51.100.7", 1);
    }
    let reg = only(&run(&[(r, 0.0, true), (ok, 0.01, false)]));
    reg.contacts_kept.expect("contacts listed")
}

#[test]
fn a_contact_returned_as_the_address_the_registrar_saw_is_its_nat_fixup() {
    let k = kept(
        "Contact: <sip:1001@198.51.100.7:40000>;expires=600\r\n",
        true,
    );
    assert_eq!(k.rewritten_by, Some(Rewriter::RegistrarNatFixup));
    assert_eq!(k.returned[0].relation, Relation::Rewritten);
    let (seen, means) = &k.words("sip:1001@192.168.77.10:5060")[0];
    assert!(
        seen.contains("kept the Contact as sip:1001@198.51.100.7:40000"),
        "{seen}"
    );
    assert!(
        means.contains("may not recognise its own binding"),
        "{means}"
    );
}

#[test]
fn a_contact_returned_with_another_address_than_either_is_an_alg() {
    let k = kept(
        "Contact: <sip:1001@198.51.100.99:5060>;expires=600\r\n",
        true,
    );
    assert_eq!(k.rewritten_by, Some(Rewriter::Alg));
}

#[test]
fn a_contact_returned_as_sent_is_kept() {
    let k = kept("Contact: <sip:1001@192.168.77.10>;expires=600\r\n", false);
    assert_eq!(k.rewritten_by, None, "5060 is the default port");
    assert!(!k.notable());
}

#[test]
fn several_contacts_for_the_aor_are_listed_with_their_expiry() {
    let k = kept(
        "Contact: <sip:1001@192.168.77.10:5060>;expires=600, <sip:1001@192.168.77.10:5072>;expires=120\r\n\
         Contact: <sip:1001@10.0.0.5:5060>;expires=30\r\n",
        false,
    );
    let relations: Vec<Relation> = k.returned.iter().map(|c| c.relation).collect();
    assert_eq!(
        relations,
        [Relation::Sent, Relation::Other, Relation::Other]
    );
    let (seen, _) = &k.words("sip:1001@192.168.77.10:5060")[0];
    assert!(
        seen.starts_with(
            "3 bindings for this AOR; 2 of them point to addresses this PBX no longer uses"
        ),
        "{seen}"
    );
    assert!(
        seen.contains("sip:1001@10.0.0.5:5060 (expires in 30 s)"),
        "{seen}"
    );
}

// --- Retry storms ---

#[test]
fn registers_several_a_second_are_a_storm_with_its_rate() {
    let mut steps = Vec::new();
    for i in 0..10u32 {
        steps.extend(wrong_password_round(2 * i + 1, f64::from(i) * 0.1));
    }
    let reg = only(&run(&steps));
    match reg.storm() {
        Some(RetryStorm::Burst { rate_per_s }) => assert!(rate_per_s > 5.0, "{rate_per_s}"),
        other => panic!("{other:?}"),
    }
    let (seen, _) = reg.storm().unwrap().words(reg.pbx);
    assert!(
        seen.contains("the provider may block this address"),
        "{seen}"
    );
}

#[test]
fn a_permanent_failure_retried_without_end_is_a_storm_with_the_option_that_slows_it() {
    let reg = only(&answered_again(ASTERISK, 6, 10.0, "403 Forbidden", ""));
    assert_eq!(
        reg.storm(),
        Some(RetryStorm::PermanentRetried {
            code: 403,
            attempts: 6,
            interval_ms: Some(10_000),
        })
    );
    let (_, slow) = reg.storm().unwrap().words(reg.pbx);
    assert!(slow.contains("forbidden_retry_interval"), "{slow}");
    let calm = only(&answered_again(
        ASTERISK,
        6,
        60.0,
        "503 Service Unavailable",
        "",
    ));
    assert_eq!(
        calm.storm(),
        None,
        "a temporary failure retried is no storm"
    );
}

#[test]
fn among_several_contacts_ours_rewritten_is_the_one_at_the_address_the_registrar_saw() {
    let k = kept(
        "Contact: <sip:1001@198.51.100.7:40000>;expires=600, <sip:1001@198.51.100.8:5060>;expires=90\r\n",
        true,
    );
    assert_eq!(k.rewritten_by, Some(Rewriter::RegistrarNatFixup));
    assert_eq!(k.ours().and_then(|c| c.expires_s), Some(600));
    assert_eq!(k.others().count(), 1);
    let unsure = kept(
        "Contact: <sip:1001@198.51.100.9:5060>;expires=600, <sip:1001@198.51.100.8:5060>;expires=90\r\n",
        true,
    );
    assert_eq!(unsure.rewritten_by, None, "no guess among several");
}

#[test]
fn an_asterisk_sending_again_after_a_fatal_answer_is_configured_otherwise() {
    let mut steps = answered(ASTERISK, 1, 0.0, "404 Not Found", "");
    steps.push((from(ASTERISK, register(2, None, 3600)), 300.0, true));
    let reg = only(&run(&steps));
    assert!(
        matches!(
            reg.next_move(),
            NextMove::ConfigDiffers {
                rule: Rule::AsteriskFatal,
                deviation: Deviation::KeptTrying { attempts: 1 },
                ..
            }
        ),
        "{:?}",
        reg.next_move()
    );
}
