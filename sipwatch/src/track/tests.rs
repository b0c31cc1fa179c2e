use std::time::{Duration, SystemTime};

use sipwatch_common::Direction;

use super::*;
use crate::{net::Transport, sip::Message};

// The words of what the tracker decided, for the tests that read them: the
// words live in `crate::say` (which `track` itself never calls), so only
// these tests reach up to them, through these traits.
trait Explain {
    fn explain(&self) -> (String, String);
}

impl Explain for Diagnosis {
    fn explain(&self) -> (String, String) {
        crate::say::diagnosis::explain(self, &crate::say::Context::default())
    }
}

trait Status {
    fn status(&self) -> String;
}

impl Status for Registration {
    fn status(&self) -> String {
        crate::say::registration::status(self)
    }
}

trait PbxWords {
    type Said;
    fn words(&self, pbx: PbxKind) -> Self::Said;
}

impl PbxWords for NextMove {
    type Said = Option<String>;
    fn words(&self, pbx: PbxKind) -> Option<String> {
        crate::say::next_move::next_move(self, &crate::say::Context::of_pbx(pbx))
    }
}

impl PbxWords for RetryStorm {
    type Said = (String, String);
    fn words(&self, pbx: PbxKind) -> (String, String) {
        crate::say::storm::retry_storm(self, &crate::say::Context::of_pbx(pbx))
    }
}

trait ContactWords {
    fn words(&self, sent: &str) -> Vec<(String, String)>;
}

impl ContactWords for ContactsKept {
    fn words(&self, sent: &str) -> Vec<(String, String)> {
        crate::say::contacts::contacts_kept(self, sent)
    }
}

trait ContinuityWords {
    fn gap_words(&self) -> Option<String>;
    fn rrd_words(&self) -> Option<String>;
}

impl ContinuityWords for Continuity {
    fn gap_words(&self) -> Option<String> {
        crate::say::continuity::gap(self)
    }
    fn rrd_words(&self) -> Option<String> {
        crate::say::continuity::rrd(self)
    }
}

const T0: u64 = 1_700_000_000;

fn at(secs: f64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(T0) + Duration::from_secs_f64(secs)
}

fn message(text: &str, secs: f64, outbound: bool) -> Message {
    let (pbx, provider) = (
        "192.168.77.10:5060".parse().unwrap(),
        "203.0.113.2:5060".parse().unwrap(),
    );
    Message {
        timestamp: at(secs),
        direction: Some(if outbound {
            Direction::Egress
        } else {
            Direction::Ingress
        }),
        transport: Transport::Udp,
        src: if outbound { pbx } else { provider },
        dst: if outbound { provider } else { pbx },
        vlans: Vec::new(),
        outer: None,
        reassembled: false,
        origin: crate::sip::Origin::CaptureFile,
        bytes: text.as_bytes().to_vec(),
    }
}

fn register(cseq: u32, auth: Option<(&str, &str)>, expires: u32) -> String {
    let auth = auth
        .map(|(user, realm)| {
            format!(
                "Authorization: Digest username=\"{user}\", realm=\"{realm}\", nonce=\"n\", uri=\"sip:provider.example\", response=\"0123456789abcdef\", algorithm=MD5\r\n"
            )
        })
        .unwrap_or_default();
    format!(
        "REGISTER sip:provider.example SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.77.10:5060;branch=z9hG4bK-{cseq};rport\r\n\
         From: <sip:1001@provider.example>;tag=f\r\nTo: <sip:1001@provider.example>\r\nCall-ID: reg@pbx\r\n\
         CSeq: {cseq} REGISTER\r\nContact: <sip:1001@192.168.77.10:5060>\r\nExpires: {expires}\r\n{auth}Content-Length: 0\r\n\r\n"
    )
}

/// The request with its credentials computed for `nonce`.
fn with_nonce(request: &str, nonce: &str) -> String {
    request.replace("nonce=\"n\"", &format!("nonce=\"{nonce}\""))
}

fn response(request: &str, status: &str, extra: &str) -> String {
    let keep: Vec<&str> = request
        .split("\r\n")
        .filter(|l| {
            ["Via:", "From:", "Call-ID:", "CSeq:"]
                .iter()
                .any(|p| l.starts_with(p))
        })
        .collect();
    format!(
        "SIP/2.0 {status}\r\n{}\r\nTo: <sip:1001@provider.example>;tag=t\r\n{extra}Content-Length: 0\r\n\r\n",
        keep.join("\r\n")
    )
}

/// Feeds (text, time, outbound) and returns the tracker.
fn run(steps: &[(String, f64, bool)]) -> Tracker {
    run_events(steps).0
}

/// Feeds (text, time, outbound); returns the tracker and every event.
fn run_events(steps: &[(String, f64, bool)]) -> (Tracker, Vec<Event>) {
    let mut t = Tracker::default();
    let mut events = Vec::new();
    feed(&mut t, &mut events, steps, false);
    (t, events)
}

/// As captured at the registrar: the REGISTERs arrive, the answers leave.
fn run_at_registrar(steps: &[(String, f64, bool)]) -> Tracker {
    let mut t = Tracker::default();
    feed(&mut t, &mut Vec::new(), steps, true);
    t
}

fn feed(t: &mut Tracker, events: &mut Vec<Event>, steps: &[(String, f64, bool)], flip: bool) {
    for (text, secs, outbound) in steps {
        let mut m = message(text, *secs, *outbound);
        if flip {
            m.direction = m.direction.map(|d| match d {
                Direction::Egress => Direction::Ingress,
                Direction::Ingress => Direction::Egress,
            });
        }
        t.push(&m.parsed(), events);
    }
}

/// The registration events whose state is a failure.
fn failure_events(events: &[Event]) -> Vec<&Registration> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Registration(r) if r.state().is_failing() => Some(&**r),
            _ => None,
        })
        .collect()
}

/// One digest round that the registrar rejects: REGISTER, 401, REGISTER
/// with credentials for that nonce, 401 again; `cseq` and `cseq + 1`.
fn wrong_password_round(cseq: u32, secs: f64) -> Vec<(String, f64, bool)> {
    let r1 = register(cseq, None, 3600);
    let r2 = register(cseq + 1, Some(("1001", "provider.example")), 3600);
    vec![
        (r1.clone(), secs, true),
        (
            response(&r1, "401 Unauthorized", CHALLENGE),
            secs + 0.001,
            false,
        ),
        (r2.clone(), secs + 0.002, true),
        (
            response(&r2, "401 Unauthorized", CHALLENGE),
            secs + 0.003,
            false,
        ),
    ]
}

fn only(t: &Tracker) -> Registration {
    let regs = t.registrations();
    assert_eq!(regs.len(), 1, "{regs:?}");
    regs[0].clone()
}

const CHALLENGE: &str = "WWW-Authenticate: Digest realm=\"provider.example\", nonce=\"n\", algorithm=MD5, qop=\"auth\"\r\n";

#[test]
fn the_digest_flow_ends_registered_with_the_granted_expiry() {
    let r1 = register(1, None, 3600);
    let r2 = register(2, Some(("1001", "provider.example")), 3600);
    let t = run(&[
        (r1.clone(), 0.0, true),
        (response(&r1, "401 Unauthorized", CHALLENGE), 0.01, false),
        (r2.clone(), 0.02, true),
        (
            response(
                &r2,
                "200 OK",
                "Contact: <sip:1001@192.168.77.10:5060>;expires=600\r\n",
            ),
            0.03,
            false,
        ),
    ]);
    let reg = only(&t);
    assert_eq!(reg.state(), RegistrationState::Registered { expires: 600 });
    assert_eq!(
        reg.response_us,
        Some(10_000),
        "first send to final response"
    );
    assert_eq!(reg.expires_at(), Some(at(0.03) + Duration::from_secs(600)));
    assert!(
        reg.diagnoses.iter().all(|d| !d.is_failure()),
        "{:?}",
        reg.diagnoses
    );
    assert_eq!(t.stats().transactions, 2);
}

#[test]
fn a_401_after_credentials_is_a_wrong_password_with_the_realms_shown() {
    let r1 = register(1, None, 3600);
    let r2 = register(2, Some(("1001", "other.example")), 3600);
    let t = run(&[
        (r1.clone(), 0.0, true),
        (response(&r1, "401 Unauthorized", CHALLENGE), 0.01, false),
        (r2.clone(), 0.02, true),
        (response(&r2, "401 Unauthorized", CHALLENGE), 0.03, false),
    ]);
    let reg = only(&t);
    assert_eq!(reg.state(), RegistrationState::Rejected { code: 401 });
    match &reg.diagnoses[..] {
        [
            Diagnosis::CredentialsRejected {
                username,
                realm_sent,
                realm_asked,
                ..
            },
        ] => {
            assert_eq!(username.as_deref(), Some("1001"));
            assert_eq!(realm_sent.as_deref(), Some("other.example"));
            assert_eq!(realm_asked.as_deref(), Some("provider.example"));
        }
        other => panic!("{other:?}"),
    }
    let (cause, fix) = reg.diagnoses[0].explain();
    assert!(
        cause.contains("realm provider.example") && fix.contains("outbound_auth"),
        "{cause} / {fix}"
    );
}

#[test]
fn repeated_stale_challenges_blame_the_nonce_not_the_password() {
    // Each answer carries the nonce just issued, and is called stale again.
    let stale = |n: &str| {
        format!(
            "WWW-Authenticate: Digest realm=\"provider.example\", nonce=\"{n}\", stale=true\r\n"
        )
    };
    let r1 = register(1, Some(("1001", "provider.example")), 3600);
    let r2 = with_nonce(&register(2, Some(("1001", "provider.example")), 3600), "n2");
    let t = run(&[
        (r1.clone(), 0.0, true),
        (response(&r1, "401 Unauthorized", &stale("n2")), 0.01, false),
        (r2.clone(), 0.02, true),
        (response(&r2, "401 Unauthorized", &stale("n3")), 0.03, false),
    ]);
    assert!(matches!(
        only(&t).diagnoses[..],
        [Diagnosis::StaleNonce { times: 2, .. }]
    ));
}

#[test]
fn a_challenge_never_answered_means_no_credentials_configured() {
    let r1 = register(1, None, 3600);
    let mut t = run(&[
        (r1.clone(), 0.0, true),
        (response(&r1, "401 Unauthorized", CHALLENGE), 0.01, false),
    ]);
    assert_eq!(
        only(&t).state(),
        RegistrationState::RequestSent,
        "a challenge is the normal first step"
    );
    let mut events = Vec::new();
    t.tick(at(40.0), &mut events);
    let reg = only(&t);
    assert_eq!(reg.state(), RegistrationState::Rejected { code: 401 });
    assert!(matches!(
        reg.diagnoses[..],
        [Diagnosis::NoCredentials {
            challenge: ChallengeKind::Www,
            ..
        }]
    ));
    assert!(events.iter().any(|e| matches!(e, Event::Registration(_))));
}

#[test]
fn a_403_says_whether_it_came_before_or_after_the_challenge() {
    let r1 = register(1, None, 3600);
    let t = run(&[
        (r1.clone(), 0.0, true),
        (
            response(
                &r1,
                "403 Forbidden",
                "Warning: 399 provider \"IP not allowed\"\r\n",
            ),
            0.01,
            false,
        ),
    ]);
    match &only(&t).diagnoses[..] {
        [
            Diagnosis::Forbidden {
                after_challenge: false,
                warning: Some(w),
                ..
            },
        ] => assert!(w.contains("IP not allowed")),
        other => panic!("{other:?}"),
    }
    let r2 = register(2, Some(("1001", "provider.example")), 3600);
    let t = run(&[
        (r1.clone(), 0.0, true),
        (response(&r1, "401 Unauthorized", CHALLENGE), 0.01, false),
        (r2.clone(), 0.02, true),
        (response(&r2, "403 Forbidden", ""), 0.03, false),
    ]);
    assert!(matches!(
        only(&t).diagnoses[..],
        [Diagnosis::Forbidden {
            after_challenge: true,
            ..
        }]
    ));
}

#[test]
fn a_404_names_the_unknown_user() {
    let r1 = register(1, None, 3600);
    let t = run(&[
        (r1.clone(), 0.0, true),
        (response(&r1, "404 Not Found", ""), 0.01, false),
    ]);
    match &only(&t).diagnoses[..] {
        [Diagnosis::UnknownUser { user, .. }] => assert_eq!(user.as_deref(), Some("1001")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn no_answer_by_timer_f_is_a_timeout_with_retransmissions_counted() {
    let r1 = register(1, None, 3600);
    let mut t = run(&[
        (r1.clone(), 0.0, true),
        (r1.clone(), 0.5, true),
        (r1.clone(), 1.5, true),
    ]);
    let mut events = Vec::new();
    t.tick(at(31.0), &mut events);
    assert_eq!(
        only(&t).state(),
        RegistrationState::RequestSent,
        "Timer F is 32 s"
    );
    t.tick(at(32.5), &mut events);
    let reg = only(&t);
    assert_eq!(reg.state(), RegistrationState::Timeout);
    match &reg.diagnoses[..] {
        [
            Diagnosis::Timeout {
                sent: 3,
                left_this_host: Some(true),
                provisional_seen: false,
                ..
            },
        ] => {}
        other => panic!("{other:?}"),
    }
    assert_eq!((t.stats().retransmissions, t.stats().timeouts), (2, 1));
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Timeout(tx) if tx.sent == 3))
    );
    let tally = t.tally();
    assert_eq!(tally.register_retransmissions, 2);
    assert_eq!(tally.attempts.get(&AttemptEnd::NoAnswer), Some(&1));
    assert_eq!(failures(&tally), [(408, "timeout", 1)]);
}

#[test]
fn a_request_with_only_provisional_answers_is_told_apart_from_silence() {
    let r1 = register(1, None, 3600);
    let mut t = run(&[
        (r1.clone(), 0.0, true),
        (response(&r1, "100 Trying", ""), 0.01, false),
    ]);
    t.finish(&mut Vec::new());
    assert_eq!(
        only(&t).state(),
        RegistrationState::RequestSent,
        "the capture ended before Timer F"
    );
    t.tick(at(33.0), &mut Vec::new());
    assert!(matches!(
        only(&t).diagnoses[..],
        [Diagnosis::Timeout {
            provisional_seen: true,
            ..
        }]
    ));
}

#[test]
fn service_unavailable_and_interval_too_brief_carry_their_headers() {
    let r1 = register(1, None, 60);
    let t = run(&[
        (r1.clone(), 0.0, true),
        (
            response(&r1, "503 Service Unavailable", "Retry-After: 30\r\n"),
            0.01,
            false,
        ),
    ]);
    assert!(matches!(
        only(&t).diagnoses[..],
        [Diagnosis::Unavailable {
            retry_after: Some(30),
            ..
        }]
    ));
    let t = run(&[
        (r1.clone(), 0.0, true),
        (
            response(&r1, "423 Interval Too Brief", "Min-Expires: 3600\r\n"),
            0.01,
            false,
        ),
    ]);
    assert!(matches!(
        only(&t).diagnoses[..],
        [Diagnosis::IntervalTooBrief {
            asked: Some(60),
            min_expires: Some(3600),
            ..
        }]
    ));
}

#[test]
fn expires_zero_unregisters_and_a_lapsed_binding_expires() {
    let r1 = register(1, None, 0);
    let t = run(&[
        (r1.clone(), 0.0, true),
        (response(&r1, "200 OK", ""), 0.01, false),
    ]);
    assert_eq!(only(&t).state(), RegistrationState::Unregistered);
    let r1 = register(1, None, 60);
    let mut t = run(&[
        (r1.clone(), 0.0, true),
        (response(&r1, "200 OK", "Expires: 60\r\n"), 0.01, false),
    ]);
    t.tick(at(59.0), &mut Vec::new());
    assert_eq!(
        only(&t).state(),
        RegistrationState::Registered { expires: 60 }
    );
    t.tick(at(61.0), &mut Vec::new());
    assert_eq!(only(&t).state(), RegistrationState::Expired);
}

#[test]
fn nat_shows_in_received_and_rport_and_in_a_private_contact() {
    let r1 = register(1, None, 3600);
    let ok =
        response(&r1, "200 OK", "").replace(";rport\r\n", ";received=203.0.113.1;rport=40000\r\n");
    let t = run(&[(r1.clone(), 0.0, true), (ok, 0.01, false)]);
    let reg = only(&t);
    assert!(reg.state().is_ok());
    assert!(
        reg.diagnoses.iter().any(|d| matches!(
            d,
            Diagnosis::NatRewritesVia {
                rport: Some(40000),
                ..
            }
        )),
        "{:?}",
        reg.diagnoses
    );
    assert!(
        reg.diagnoses
            .iter()
            .any(|d| matches!(d, Diagnosis::PrivateContact { .. }))
    );
    assert!(reg.diagnoses.iter().all(|d| !d.is_failure()));
}

#[test]
fn response_retransmissions_and_unmatched_responses_are_counted() {
    let r1 = register(1, None, 3600);
    let ok = response(&r1, "200 OK", "");
    let other = response(&register(9, None, 3600), "200 OK", "");
    let t = run(&[
        (r1.clone(), 0.0, true),
        (ok.clone(), 0.01, false),
        (ok, 0.02, false),
        (other, 0.03, false),
    ]);
    assert_eq!(t.stats().response_retransmissions, 1);
    assert_eq!(t.stats().unmatched_responses, 1);
}

#[test]
fn a_new_request_reusing_the_branch_is_still_a_new_transaction() {
    // Some clients keep the branch for the authenticated retry; the CSeq tells.
    let r1 = register(1, None, 3600);
    let r2 = register(2, Some(("1001", "provider.example")), 3600)
        .replace("branch=z9hG4bK-2", "branch=z9hG4bK-1");
    let t = run(&[
        (r1.clone(), 0.0, true),
        (response(&r1, "401 Unauthorized", CHALLENGE), 0.01, false),
        (r2.clone(), 0.02, true),
        (response(&r2, "200 OK", ""), 0.03, false),
    ]);
    assert!(only(&t).state().is_ok());
    assert_eq!(t.stats().retransmissions, 0);
}

#[test]
fn branches_without_the_magic_cookie_fall_back_to_rfc_2543_matching() {
    let r1 = register(1, None, 3600).replace("branch=z9hG4bK-1", "branch=old-1");
    let t = run(&[
        (r1.clone(), 0.0, true),
        (response(&r1, "200 OK", ""), 0.01, false),
    ]);
    assert!(only(&t).state().is_ok());
    assert_eq!(t.stats().unmatched_responses, 0);
}

#[test]
fn tracked_state_is_bounded_and_evictions_counted() {
    let mut t = Tracker::new(TrackLimits {
        max_transactions: 10,
        max_registrations: 5,
    });
    let mut events = Vec::new();
    for i in 0..20u32 {
        let text = register(i, None, 3600)
            .replace("sip:1001@192.168.77.10", &format!("sip:{i}@192.168.77.10"))
            .replace("To: <sip:1001@", &format!("To: <sip:{i}@"));
        t.push(
            &message(&text, f64::from(i) * 0.001, true).parsed(),
            &mut events,
        );
    }
    assert_eq!(t.stats().transactions_evicted, 10);
    assert_eq!(t.stats().registrations_evicted, 15);
    assert_eq!(t.registrations().len(), 5);
}

#[test]
fn a_407_is_proxy_authentication_with_its_own_advice() {
    let r1 = register(1, None, 3600);
    let proxy = "Proxy-Authenticate: Digest realm=\"proxy.example\", nonce=\"p\"\r\n";
    let mut t = run(&[
        (r1.clone(), 0.0, true),
        (
            response(&r1, "407 Proxy Authentication Required", proxy),
            0.01,
            false,
        ),
    ]);
    t.finish(&mut Vec::new());
    let reg = only(&t);
    assert_eq!(reg.state(), RegistrationState::Rejected { code: 407 });
    match &reg.diagnoses[..] {
        [
            d @ Diagnosis::NoCredentials {
                challenge: ChallengeKind::Proxy,
                realm,
                ..
            },
        ] => {
            assert_eq!(realm.as_deref(), Some("proxy.example"));
            assert!(
                d.explain()
                    .0
                    .starts_with("407 Proxy Authentication Required")
            );
        }
        other => panic!("{other:?}"),
    }
}

// --- A failure survives the PBX's retry (issue 9.1) ---

#[test]
fn a_timeout_survives_the_retry_and_counts_until_a_success() {
    let r1 = register(1, None, 3600);
    let r2 = register(2, None, 3600);
    let r3 = register(3, None, 3600);
    let mut t = run(&[(r1.clone(), 0.0, true)]);
    let mut events = Vec::new();
    t.tick(at(33.0), &mut events);
    // Asterisk retries after retry_interval: the failure stays shown.
    t.push(&message(&r2, 92.0, true).parsed(), &mut events);
    let reg = only(&t);
    assert_eq!(reg.state(), RegistrationState::Timeout);
    assert!(reg.status().ends_with(", retrying"), "{}", reg.status());
    assert!(reg.state().is_failing(), "the totals count it failing");
    t.tick(at(125.0), &mut events);
    let reg = only(&t);
    assert_eq!(reg.failures.map(|f| f.count), Some(2));
    assert!(
        reg.status().starts_with("Timeout (408) ×2"),
        "{}",
        reg.status()
    );
    assert!(matches!(reg.diagnoses[..], [Diagnosis::Timeout { .. }]));
    t.push(&message(&r3, 184.0, true).parsed(), &mut events);
    t.push(
        &message(&response(&r3, "200 OK", ""), 184.01, false).parsed(),
        &mut events,
    );
    let reg = only(&t);
    assert_eq!(reg.state(), RegistrationState::Registered { expires: 3600 });
    assert_eq!(reg.failures, None, "a success ends the run");
}

#[test]
fn a_rejected_refresh_keeps_its_diagnosis_and_count_through_the_retries() {
    let mut steps = Vec::new();
    for i in 0..3u32 {
        steps.extend(wrong_password_round(10 * i + 1, f64::from(i) * 60.0));
    }
    // The fourth round is in flight: challenged, not yet answered.
    let r = register(31, None, 3600);
    steps.push((r.clone(), 180.0, true));
    steps.push((response(&r, "401 Unauthorized", CHALLENGE), 180.01, false));
    let t = run(&steps);
    let reg = only(&t);
    assert_eq!(reg.state(), RegistrationState::Rejected { code: 401 });
    assert!(
        reg.status()
            .ends_with("Rejected 401 ×3 since 22:13:20, retry every 60 s, retrying"),
        "{}",
        reg.status()
    );
    assert!(matches!(
        reg.diagnoses[..],
        [Diagnosis::CredentialsRejected { .. }]
    ));
}

#[test]
fn a_client_retrying_at_once_in_a_loop_gives_one_event_with_a_count_and_a_rate() {
    // baresip with a wrong password: ten rounds within a few milliseconds.
    let mut steps = Vec::new();
    for i in 0..10u32 {
        steps.extend(wrong_password_round(2 * i + 1, f64::from(i) * 0.004));
    }
    let (t, events) = run_events(&steps);
    assert_eq!(
        failure_events(&events).len(),
        1,
        "one event, not one per flip"
    );
    let run = only(&t).failures.expect("a run of failures");
    assert_eq!(run.count, 10);
    assert_eq!(run.interval_ms, Some(4));
}

#[test]
fn challenges_left_unanswered_keep_their_pace_however_late_the_capture_stops() {
    // Three REGISTERs without credentials, each challenged within a
    // millisecond; a live capture stopped 4, 12 or 25 s later must tell
    // the same pace and the same last failure, as a file does.
    let mut steps = Vec::new();
    for i in 0..3u32 {
        let r = register(i + 1, None, 3600);
        let t = f64::from(i) * 0.001;
        steps.push((r.clone(), t, true));
        steps.push((
            response(&r, "401 Unauthorized", CHALLENGE),
            t + 0.0002,
            false,
        ));
    }
    let mut runs = Vec::new();
    for stop in [4.0, 12.0, 25.0] {
        let (mut t, mut events) = run_events(&steps);
        t.tick(at(stop), &mut events);
        t.finish(&mut events);
        let run = only(&t).failures.expect("a run of failures");
        runs.push((run.count, run.interval_ms, run.last_at));
    }
    assert_eq!(runs[0].0, 3);
    assert!(runs[0].1.is_some_and(|ms| ms <= 1), "{runs:?}");
    assert!(
        runs[0].2 < at(0.01),
        "the last challenge, not the stop: {runs:?}"
    );
    assert!(runs.iter().all(|r| *r == runs[0]), "{runs:?}");
}

#[test]
fn a_repeating_failure_is_reported_again_at_most_once_a_minute() {
    let mut steps = Vec::new();
    for i in 0..13u32 {
        steps.extend(wrong_password_round(2 * i + 1, f64::from(i) * 10.0));
    }
    let (_, events) = run_events(&steps);
    let counts: Vec<u32> = failure_events(&events)
        .iter()
        .filter_map(|r| r.failures.map(|f| f.count))
        .collect();
    assert_eq!(counts, [1, 7, 13], "at 0 s, 60 s and 120 s");
}

// --- Digest re-challenges are not failures (issue 17.3) ---

#[test]
fn a_refresh_with_the_cached_nonce_rechallenged_without_stale_is_a_step() {
    let fresh = "WWW-Authenticate: Digest realm=\"provider.example\", nonce=\"n2\"\r\n";
    let r1 = register(1, Some(("1001", "provider.example")), 3600);
    let r2 = with_nonce(&register(2, Some(("1001", "provider.example")), 3600), "n2");
    let (t, events) = run_events(&[
        (r1.clone(), 0.0, true),
        (response(&r1, "401 Unauthorized", fresh), 0.01, false),
        (r2.clone(), 0.02, true),
        (response(&r2, "200 OK", ""), 0.03, false),
    ]);
    assert!(failure_events(&events).is_empty());
    assert!(only(&t).state().is_ok());
}

#[test]
fn a_proxy_rechallenge_of_a_cached_nonce_is_a_step_too() {
    let fresh = "Proxy-Authenticate: Digest realm=\"proxy.example\", nonce=\"p2\"\r\n";
    let cached = |cseq| {
        register(cseq, None, 3600).replace(
            "Content-Length",
            "Proxy-Authorization: Digest username=\"1001\", realm=\"proxy.example\", nonce=\"p1\", response=\"ab\"\r\nContent-Length",
        )
    };
    let r1 = cached(1);
    let r2 = cached(2).replace("nonce=\"p1\"", "nonce=\"p2\"");
    let (_, events) = run_events(&[
        (r1.clone(), 0.0, true),
        (
            response(&r1, "407 Proxy Authentication Required", fresh),
            0.01,
            false,
        ),
        (r2.clone(), 0.02, true),
        (response(&r2, "200 OK", ""), 0.03, false),
    ]);
    assert!(failure_events(&events).is_empty());
}

#[test]
fn stale_rounds_belong_to_their_attempt_and_never_add_up() {
    let stale = |n: &str| {
        format!(
            "WWW-Authenticate: Digest realm=\"provider.example\", nonce=\"{n}\", stale=true\r\n"
        )
    };
    let mut steps = Vec::new();
    for i in 0..4u32 {
        let cseq = 2 * i + 1;
        let (old, new) = (format!("s{i}"), format!("s{}", i + 1));
        let refresh = with_nonce(
            &register(cseq, Some(("1001", "provider.example")), 120),
            &old,
        );
        let answer = with_nonce(
            &register(cseq + 1, Some(("1001", "provider.example")), 120),
            &new,
        );
        let secs = f64::from(i) * 100.0;
        steps.push((refresh.clone(), secs, true));
        steps.push((
            response(&refresh, "401 Unauthorized", &stale(&new)),
            secs + 0.01,
            false,
        ));
        steps.push((answer.clone(), secs + 0.02, true));
        steps.push((response(&answer, "200 OK", ""), secs + 0.03, false));
    }
    let (t, events) = run_events(&steps);
    assert!(failure_events(&events).is_empty());
    assert!(only(&t).diagnoses.iter().all(|d| !d.is_failure()));
}

#[test]
fn a_client_giving_up_on_a_rechallenge_is_told_so_not_to_check_its_password() {
    let fresh = "WWW-Authenticate: Digest realm=\"provider.example\", nonce=\"n2\"\r\n";
    let r1 = register(1, None, 120);
    let r2 = register(2, Some(("1001", "provider.example")), 120);
    let r3 = register(3, Some(("1001", "provider.example")), 120);
    let mut t = run(&[
        (r1.clone(), 0.0, true),
        (response(&r1, "401 Unauthorized", CHALLENGE), 0.01, false),
        (r2.clone(), 0.02, true),
        (response(&r2, "200 OK", ""), 0.03, false),
        (r3.clone(), 60.0, true),
        (response(&r3, "401 Unauthorized", fresh), 60.01, false),
    ]);
    t.tick(at(100.0), &mut Vec::new());
    let reg = only(&t);
    match &reg.diagnoses[..] {
        [
            d @ Diagnosis::RechallengeUnanswered {
                nonce_sent,
                nonce_new,
                stale: false,
                accepted_before: true,
                ..
            },
        ] => {
            assert_eq!(nonce_sent.as_deref(), Some("n"));
            assert_eq!(nonce_new.as_deref(), Some("n2"));
            let (_, fix) = d.explain();
            assert!(!fix.contains("check the password"), "{fix}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        reg.expires_at(),
        Some(at(0.03) + Duration::from_secs(120)),
        "the binding granted before still stands"
    );
}

// --- Unregistration in all forms (issue 17.5) ---

/// A registration of `contact`, challenged and accepted.
fn registered(contact: &str) -> Vec<(String, f64, bool)> {
    let r1 = register(1, None, 600).replace("sip:1001@192.168.77.10:5060", contact);
    let r2 = register(2, Some(("1001", "provider.example")), 600)
        .replace("sip:1001@192.168.77.10:5060", contact);
    vec![
        (r1.clone(), 0.0, true),
        (response(&r1, "401 Unauthorized", CHALLENGE), 0.01, false),
        (r2.clone(), 0.02, true),
        (response(&r2, "200 OK", ""), 0.03, false),
    ]
}

#[test]
fn expires_zero_in_the_contact_parameter_removes_that_binding() {
    let mut steps = registered("sip:1001@192.168.77.10:5060");
    let un = register(3, Some(("1001", "provider.example")), 600).replace(
        "Contact: <sip:1001@192.168.77.10:5060>",
        "Contact: <sip:1001@192.168.77.10:5060>;expires=0",
    );
    steps.push((un.clone(), 20.0, true));
    steps.push((response(&un, "200 OK", ""), 20.01, false));
    let reg = only(&run(&steps));
    assert_eq!(reg.state(), RegistrationState::Unregistered);
    assert_eq!(reg.expires_at(), None);
}

#[test]
fn a_wildcard_unregister_in_compact_form_removes_every_binding_of_the_aor() {
    let mut steps = registered("sip:1001@192.168.77.10:5060");
    steps.extend(
        registered("sip:1001@192.168.77.11:5060")
            .into_iter()
            .map(|(text, secs, out)| {
                (
                    text.replace("CSeq: ", "CSeq: 1")
                        .replace("z9hG4bK-", "z9hG4bK-b"),
                    secs + 1.0,
                    out,
                )
            }),
    );
    let all = register(30, Some(("1001", "provider.example")), 0)
        .replace("Contact: <sip:1001@192.168.77.10:5060>", "m: *");
    steps.push((all.clone(), 20.0, true));
    steps.push((response(&all, "200 OK", ""), 20.01, false));
    let t = run(&steps);
    let regs = t.registrations();
    assert_eq!(regs.len(), 2, "{regs:?}");
    for r in regs {
        assert_ne!(r.key.contact, "*");
        assert_eq!(r.state(), RegistrationState::Unregistered, "{r:?}");
    }
}

#[test]
fn a_register_without_contact_is_a_query_and_makes_no_row() {
    let query = register(1, None, 3600).replace("Contact: <sip:1001@192.168.77.10:5060>\r\n", "");
    let t = run(&[
        (query.clone(), 0.0, true),
        (response(&query, "200 OK", ""), 0.01, false),
    ]);
    assert!(t.registrations().is_empty());
}

#[test]
fn an_unregister_that_times_out_leaves_the_binding_registered_with_a_note() {
    let mut steps = registered("sip:1001@192.168.77.10:5060");
    let un = register(3, Some(("1001", "provider.example")), 0);
    steps.push((un.clone(), 20.0, true));
    let mut t = run(&steps);
    t.tick(at(60.0), &mut Vec::new());
    let reg = only(&t);
    assert_eq!(reg.state(), RegistrationState::Registered { expires: 600 });
    assert!(
        reg.diagnoses.iter().any(|d| matches!(
            d,
            Diagnosis::UnregisterNotCompleted {
                code: 408,
                challenged: false,
                ..
            }
        )),
        "{:?}",
        reg.diagnoses
    );
    assert!(reg.status().ends_with("un-REGISTER not completed"));
}

// --- Digest algorithms (issues 9.4, 17.4) ---

/// A wrong password answered with `algorithm` to a 401 offering `offered`.
fn rejected_with(algorithm: Option<&str>, offered: &[Option<&str>]) -> Diagnosis {
    let challenges: String = offered
        .iter()
        .map(|a| {
            let alg = a.map(|a| format!(", algorithm={a}")).unwrap_or_default();
            format!("WWW-Authenticate: Digest realm=\"provider.example\", nonce=\"n\"{alg}\r\n")
        })
        .collect();
    let r1 = register(1, None, 3600);
    let r2 = register(2, Some(("1001", "provider.example")), 3600).replace(
        ", algorithm=MD5",
        &algorithm
            .map(|a| format!(", algorithm={a}"))
            .unwrap_or_default(),
    );
    let t = run(&[
        (r1.clone(), 0.0, true),
        (response(&r1, "401 Unauthorized", &challenges), 0.01, false),
        (r2.clone(), 0.02, true),
        (response(&r2, "401 Unauthorized", &challenges), 0.03, false),
    ]);
    only(&t).diagnoses[0].clone()
}

#[test]
fn no_algorithm_means_md5_and_no_mismatch_is_claimed() {
    for (sent, offered) in [(Some("MD5"), None), (None, Some("MD5")), (None, None)] {
        let d = rejected_with(sent, &[offered]);
        let (cause, fix) = d.explain();
        assert!(
            !cause.contains("offered") && !fix.contains("not offered"),
            "{sent:?}/{offered:?}: {cause} / {fix}"
        );
        assert!(fix.contains("check the password"));
    }
}

#[test]
fn a_client_that_answered_any_offered_algorithm_does_not_lack_support() {
    let d = rejected_with(Some("SHA-512-256"), &[Some("SHA-256"), Some("SHA-512-256")]);
    match &d {
        Diagnosis::CredentialsRejected {
            algorithm_sent,
            algorithm_asked,
            ..
        } => {
            assert_eq!(*algorithm_sent, DigestAlgorithm::Sha512_256);
            assert_eq!(
                algorithm_asked,
                &[DigestAlgorithm::Sha256, DigestAlgorithm::Sha512_256]
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(!d.explain().1.contains("not offered"));
    let d = rejected_with(Some("MD5"), &[Some("SHA-256")]);
    assert!(d.explain().1.contains("not offered"), "{:?}", d.explain());
}

#[test]
fn an_unanswered_challenge_offering_only_sha_512_256_says_the_client_lacks_it() {
    let only_sha = "WWW-Authenticate: Digest realm=\"provider.example\", nonce=\"n\", algorithm=SHA-512-256\r\n";
    let r1 = register(1, None, 3600).replace(
        "Content-Length",
        "User-Agent: Asterisk PBX 18.9.0\r\nContent-Length",
    );
    let mut t = run(&[
        (r1.clone(), 0.0, true),
        (response(&r1, "401 Unauthorized", only_sha), 0.01, false),
    ]);
    t.finish(&mut Vec::new());
    let reg = only(&t);
    match &reg.diagnoses[..] {
        [
            d @ Diagnosis::NoCredentials {
                algorithm_asked,
                user_agent,
                ..
            },
        ] => {
            assert_eq!(algorithm_asked, &[DigestAlgorithm::Sha512_256]);
            assert_eq!(user_agent.as_deref(), Some("Asterisk PBX 18.9.0"));
            let (cause, fix) = d.explain();
            assert!(cause.contains("offered only SHA-512-256"), "{cause}");
            assert!(
                fix.contains("does not support SHA-512-256") && fix.contains("20.12.0"),
                "{fix}"
            );
            assert!(!fix.contains("outbound_auth"), "{fix}");
        }
        other => panic!("{other:?}"),
    }
}

// --- Events in time order (issue 9.7) ---

#[test]
fn a_timeout_is_told_before_the_change_it_causes_and_both_at_timer_f() {
    let r1 = register(1, None, 3600);
    let (mut t, mut events) = run_events(&[(r1.clone(), 0.257, true)]);
    events.clear();
    // Capture time moves on well after Timer F (a later message at .740).
    t.tick(at(40.740), &mut events);
    let fired = at(0.257) + TIMER_B;
    match &events[..] {
        [Event::Timeout(tx), Event::Registration(r)] => {
            assert_eq!(tx.first_sent + TIMER_B, fired);
            assert_eq!(r.last_change, fired, "stamped when Timer F fired");
            assert_eq!(r.state(), RegistrationState::Timeout);
        }
        other => panic!("{other:?}"),
    }
}

// --- The side of the fix (issues 17.6, 9.5) ---

#[test]
fn registers_arriving_at_this_host_get_the_registrar_side_fix() {
    let r1 = register(1, None, 30);
    let r2 = register(2, Some(("1001", "other.example")), 30);
    let t = run_at_registrar(&[
        (r1.clone(), 0.0, true),
        (response(&r1, "401 Unauthorized", CHALLENGE), 0.01, false),
        (r2.clone(), 0.02, true),
        (response(&r2, "401 Unauthorized", CHALLENGE), 0.03, false),
    ]);
    let reg = only(&t);
    assert_eq!(reg.side, Side::Registrar);
    let (_, fix) = reg.diagnoses[0].explain();
    assert!(
        fix.contains("`auth=`") && !fix.contains("outbound_auth"),
        "{fix}"
    );
    let t = run_at_registrar(&[
        (r1.clone(), 0.0, true),
        (
            response(&r1, "423 Interval Too Brief", "Min-Expires: 60\r\n"),
            0.01,
            false,
        ),
    ]);
    let (_, fix) = only(&t).diagnoses[0].explain();
    assert!(fix.contains("minimum_expiration"), "{fix}");
    assert!(!fix.contains("PJSIP `expiration`"), "{fix}");
}

#[test]
fn a_403_names_the_address_to_whitelist_and_that_asterisk_stops_for_good() {
    let r1 = register(1, None, 3600);
    let denied = response(&r1, "403 Forbidden", "")
        .replace(";rport\r\n", ";received=198.51.100.7;rport=40000\r\n");
    let t = run(&[(r1.clone(), 0.0, true), (denied, 0.01, false)]);
    let reg = only(&t);
    match &reg.diagnoses[..] {
        [d @ Diagnosis::Forbidden { seen_as, .. }] => {
            assert_eq!(seen_as.as_deref(), Some("198.51.100.7:40000"));
            let (cause, fix) = d.explain();
            assert!(cause.contains("198.51.100.7:40000"), "{cause}");
            assert!(fix.contains("have 198.51.100.7:40000 allowed"), "{fix}");
            assert!(
                fix.contains("forbidden_retry_interval") && fix.contains("for good"),
                "{fix}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_503_with_retry_after_puts_the_fix_on_the_provider_side() {
    let (_, fix) = Diagnosis::Unavailable {
        retry_after: Some(30),
        reason: "Service Unavailable".into(),
    }
    .explain();
    assert!(
        fix.contains("already waits") && fix.contains("DNS SRV"),
        "{fix}"
    );
    assert!(!fix.contains("forbidden_retry_interval"), "{fix}");
}

#[test]
fn nat_advice_names_the_transport_settings_not_rewrite_contact() {
    let d = Diagnosis::NatRewritesVia {
        side: Side::Client,
        sent_by: "192.168.77.10:5060".into(),
        received: Some("203.0.113.1".into()),
        rport: Some(40000),
    };
    let (_, fix) = d.explain();
    assert!(
        fix.contains("external_signaling_address") && fix.contains("local_net"),
        "{fix}"
    );
    assert!(!fix.contains("rewrite_contact"), "{fix}");
}

// --- Passive ALG signs (issue 9.6) ---

#[test]
fn a_public_registrar_answering_with_a_private_received_is_an_alg_sign() {
    let r1 = register(1, None, 3600);
    let ok =
        response(&r1, "200 OK", "").replace(";rport\r\n", ";received=192.168.77.10;rport=5060\r\n");
    let t = run(&[(r1.clone(), 0.0, true), (ok, 0.01, false)]);
    let reg = only(&t);
    assert!(
        reg.diagnoses.iter().any(|d| matches!(
            d,
            Diagnosis::AlgSign {
                sign: AlgSignKind::ReceivedPrivate,
                ..
            }
        )),
        "{:?}",
        reg.diagnoses
    );
    assert!(
        !reg.diagnoses
            .iter()
            .any(|d| matches!(d, Diagnosis::PrivateContact { .. })),
        "the registrar saw our own address: no NAT to blame"
    );
    let (_, fix) = reg.diagnoses[0].explain();
    assert!(
        fix.contains("`sipwatch probe` against a `sipwatch echo`"),
        "{fix}"
    );
}

#[test]
fn an_answer_that_lost_received_and_rport_we_asked_for_is_an_alg_sign() {
    let r1 = register(1, None, 3600);
    let t = run(&[
        (r1.clone(), 0.0, true),
        (response(&r1, "200 OK", ""), 0.01, false),
    ]);
    assert!(only(&t).diagnoses.iter().any(|d| matches!(
        d,
        Diagnosis::AlgSign {
            sign: AlgSignKind::ViaStripped,
            ..
        }
    )));
    let plain = register(1, None, 3600).replace(";rport", "");
    let t = run(&[
        (plain.clone(), 0.0, true),
        (response(&plain, "200 OK", ""), 0.01, false),
    ]);
    assert!(only(&t).diagnoses.is_empty(), "{:?}", only(&t).diagnoses);
}

#[test]
fn a_private_contact_the_registrar_rewrote_to_public_is_no_hint() {
    let r1 = register(1, None, 3600);
    let ok = response(
        &r1,
        "200 OK",
        "Contact: <sip:1001@203.0.113.1:40000>;expires=3600\r\n",
    )
    .replace(";rport\r\n", ";received=203.0.113.1;rport=40000\r\n");
    let t = run(&[(r1.clone(), 0.0, true), (ok, 0.01, false)]);
    let reg = only(&t);
    assert_eq!(reg.state(), RegistrationState::Registered { expires: 3600 });
    assert!(
        !reg.diagnoses
            .iter()
            .any(|d| matches!(d, Diagnosis::PrivateContact { .. })),
        "{:?}",
        reg.diagnoses
    );
}

// --- Answers that reached this host but not the sender (issue 9.3) ---

#[test]
fn a_register_retransmitted_after_its_answer_was_seen_lost_that_answer_on_this_host() {
    let r1 = register(1, None, 3600);
    let ok = response(&r1, "200 OK", "");
    let (t, events) = run_events(&[
        (r1.clone(), 0.0, true),
        (ok.clone(), 0.01, false),
        (r1.clone(), 0.5, true),
        (r1.clone(), 1.5, true),
    ]);
    let reg = only(&t);
    match &reg.diagnoses[..] {
        [
            d @ Diagnosis::AnswerNotDelivered {
                side: Side::Client,
                code: 200,
                ..
            },
            ..,
        ] => {
            let (cause, fix) = d.explain();
            assert!(cause.contains("never reached the PBX"), "{cause}");
            assert!(fix.contains("INPUT firewall"), "{fix}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, Event::Registration(_)))
            .count(),
        3,
        "sent, registered, answer lost: once"
    );
}

#[test]
fn a_retransmission_crossing_the_answer_on_the_wire_is_not_a_lost_answer() {
    let r1 = register(1, None, 3600);
    let t = run(&[
        (r1.clone(), 0.0, true),
        (r1.clone(), 0.5, true),
        (response(&r1, "200 OK", ""), 0.52, false),
        (r1.clone(), 0.6, true),
    ]);
    assert!(only(&t).diagnoses.iter().all(|d| !d.is_failure()));
}

#[test]
fn at_the_registrar_a_challenge_the_phone_never_got_is_not_missing_credentials() {
    let r1 = register(1, None, 3600);
    let mut t = run_at_registrar(&[
        (r1.clone(), 0.0, true),
        (response(&r1, "401 Unauthorized", CHALLENGE), 0.01, false),
        (r1.clone(), 0.5, true),
        (r1.clone(), 1.5, true),
        (r1.clone(), 3.5, true),
    ]);
    t.finish(&mut Vec::new());
    let reg = only(&t);
    match &reg.diagnoses[..] {
        [
            d @ Diagnosis::AnswerNotDelivered {
                side: Side::Registrar,
                code: 401,
                ..
            },
        ] => {
            let (cause, _) = d.explain();
            assert!(cause.contains("lost on the way back"), "{cause}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_request_superseded_before_timer_f_does_not_end_the_attempt() {
    let r1 = register(1, None, 3600);
    let r2 = register(2, None, 3600);
    let mut t = run(&[(r1.clone(), 0.0, true), (r2.clone(), 20.0, true)]);
    t.tick(at(33.0), &mut Vec::new());
    t.push(
        &message(&response(&r2, "200 OK", ""), 33.5, false).parsed(),
        &mut Vec::new(),
    );
    assert_eq!(
        only(&t).state(),
        RegistrationState::Registered { expires: 3600 }
    );
}

mod any_sequence {
    use proptest::prelude::*;

    use super::*;

    /// One step: a REGISTER (contact, expires, credentials' nonce) or an
    /// answer to one (code, challenge nonce, stale), after `dt_ms`.
    #[derive(Clone, Debug)]
    enum Step {
        Request {
            cseq: u32,
            contact: usize,
            expires: Option<u32>,
            nonce: Option<usize>,
        },
        Answer {
            cseq: u32,
            code: u16,
            nonce: usize,
            stale: bool,
        },
    }

    const CONTACTS: [&str; 3] = [
        "<sip:1001@192.168.77.10:5060>",
        "<sip:1001@192.168.77.11:5060>;expires=0",
        "*",
    ];

    fn text(step: &Step) -> String {
        match step {
            Step::Request {
                cseq,
                contact,
                expires,
                nonce,
            } => {
                let expires = expires
                    .map(|e| format!("Expires: {e}\r\n"))
                    .unwrap_or_default();
                let auth = nonce
                    .map(|n| format!("Authorization: Digest username=\"1001\", realm=\"r\", nonce=\"{n}\", response=\"ab\"\r\n"))
                    .unwrap_or_default();
                format!(
                    "REGISTER sip:provider.example SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.77.10:5060;branch=z9hG4bK-{cseq};rport\r\n\
                     From: <sip:1001@provider.example>;tag=f\r\nTo: <sip:1001@provider.example>\r\nCall-ID: reg@pbx\r\n\
                     CSeq: {cseq} REGISTER\r\nContact: {}\r\n{expires}{auth}Content-Length: 0\r\n\r\n",
                    CONTACTS[*contact]
                )
            }
            Step::Answer {
                cseq,
                code,
                nonce,
                stale,
            } => format!(
                "SIP/2.0 {code} X\r\nVia: SIP/2.0/UDP 192.168.77.10:5060;branch=z9hG4bK-{cseq};received=10.0.0.1;rport=1\r\n\
                 From: <sip:1001@provider.example>;tag=f\r\nTo: <sip:1001@provider.example>;tag=t\r\nCall-ID: reg@pbx\r\n\
                 CSeq: {cseq} REGISTER\r\nWWW-Authenticate: Digest realm=\"r\", nonce=\"{nonce}\", stale={stale}, algorithm=SHA-256\r\n\
                 Proxy-Authenticate: Digest nonce=\"{nonce}\"\r\nMin-Expires: 60\r\nRetry-After: 5\r\nContent-Length: 0\r\n\r\n"
            ),
        }
    }

    fn step() -> impl Strategy<Value = (Step, u64, bool)> {
        let request = (
            1u32..6,
            0usize..3,
            prop::option::of(prop_oneof![Just(0u32), Just(30), Just(3600)]),
            prop::option::of(0usize..3),
        )
            .prop_map(|(cseq, contact, expires, nonce)| Step::Request {
                cseq,
                contact,
                expires,
                nonce,
            });
        let answer = (
            1u32..6,
            prop::sample::select(vec![
                100u16, 200, 401, 403, 404, 407, 408, 423, 500, 503, 603,
            ]),
            0usize..3,
            any::<bool>(),
        )
            .prop_map(|(cseq, code, nonce, stale)| Step::Answer {
                cseq,
                code,
                nonce,
                stale,
            });
        (prop_oneof![request, answer], 0u64..40_000, any::<bool>())
    }

    proptest! {
        #[test]
        fn any_sequence_of_registers_and_answers_keeps_the_model_whole(
            steps in prop::collection::vec(step(), 1..40)
        ) {
            let mut t = Tracker::default();
            let mut events = Vec::new();
            let mut secs = 0.0;
            for (s, dt_ms, flip) in &steps {
                secs += *dt_ms as f64 / 1000.0;
                let outbound = matches!(s, Step::Request { .. });
                let mut m = message(&text(s), secs, outbound);
                if *flip {
                    m.direction = None;
                }
                t.push(&m.parsed(), &mut events);
            }
            t.tick(at(secs + 100.0), &mut events);
            t.finish(&mut events);
            for r in t.registrations() {
                prop_assert_ne!(r.key.contact.as_str(), "*");
                prop_assert!(r.failures.is_none_or(|f| f.count >= 1));
                prop_assert_eq!(r.failures.is_some(), r.state().is_failing() && r.state() != RegistrationState::Expired);
                let _ = (r.status(), serde_json::to_string(r).map_err(|e| e.to_string()));
                for d in &r.diagnoses {
                    let _ = d.explain();
                }
            }
        }
    }
}

#[test]
fn a_cached_nonce_offered_again_without_stale_means_the_credentials_were_refused() {
    // The nonce is still good (offered again): the password is what failed.
    let r1 = register(1, Some(("1001", "provider.example")), 3600);
    let t = run(&[
        (r1.clone(), 0.0, true),
        (response(&r1, "401 Unauthorized", CHALLENGE), 0.01, false),
    ]);
    assert!(matches!(
        only(&t).diagnoses[..],
        [Diagnosis::CredentialsRejected { .. }]
    ));
}

#[test]
fn timers_found_late_are_told_in_the_order_they_fired() {
    // Two bindings: one challenge left unanswered (fires at 0.01 + 32 s),
    // one REGISTER unanswered (fires at 5 + 32 s); nothing seen until 60 s.
    let r1 = register(1, None, 3600);
    let other = register(7, None, 3600)
        .replace("sip:1001@192.168.77.10", "sip:1002@192.168.77.10")
        .replace("To: <sip:1001@", "To: <sip:1002@");
    let (mut t, mut events) = run_events(&[
        (other.clone(), 5.0, true),
        (r1.clone(), 0.0, true),
        (response(&r1, "401 Unauthorized", CHALLENGE), 0.01, false),
    ]);
    events.clear();
    t.tick(at(60.0), &mut events);
    let times: Vec<SystemTime> = events.iter().map(Event::at).collect();
    assert_eq!(events.len(), 3, "{events:?}");
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    assert!(
        matches!(events[1], Event::Timeout(_)),
        "timeout before its change"
    );
}

// --- The failure record, the next move, continuity, kept Contacts (issue 18) ---
/// Path faults read from one capture (issue 20): a second example of each kind.
mod ban;
mod contacts;
mod failover;
mod invite;
mod lapse;
mod mtu;
mod no_router;
mod one_way;
mod path;
mod provisional;
mod record;
mod registrar_forms;
mod tcp;
mod unsent;
mod wire;
mod words;

// --- Dropped by this host's own kernel (issue 10.2, the drop tracer) ---

fn netfilter(way: crate::net::DropWay) -> crate::net::KernelDrop {
    crate::net::KernelDrop {
        reason: Some("NETFILTER_DROP".into()),
        way,
        chain: None,
    }
}

#[test]
fn a_register_this_hosts_firewall_dropped_every_time_times_out_on_this_host_with_the_reason() {
    let r1 = register(1, None, 3600);
    let mut t = Tracker::default();
    let mut events = Vec::new();
    let drop = netfilter(crate::net::DropWay::Leaving);
    for secs in [0.0, 0.5, 1.5, 3.5] {
        let m = message(&r1, secs, true);
        t.push_dropped(&m.parsed(), &drop, false, &mut events);
    }
    t.tick(at(40.0), &mut events);
    let reg = only(&t);
    let d = reg
        .diagnoses
        .iter()
        .find(|d| matches!(d, Diagnosis::Timeout { .. }))
        .unwrap_or_else(|| panic!("{:?}", reg.diagnoses));
    let Diagnosis::Timeout {
        sent,
        left_this_host,
        dropped_on_this_host: Some(here),
        leg,
        ..
    } = d
    else {
        panic!("{d:?}")
    };
    assert_eq!((*sent, here.copies), (4, 4));
    assert_eq!(*left_this_host, Some(false));
    assert_eq!(*leg, Some(crate::net::Leg::DroppedOnThisHost));
    let (cause, fix) = d.explain();
    assert!(cause.contains("never left this host"), "{cause}");
    assert!(
        cause.contains("OUTPUT") && cause.contains("NETFILTER_DROP"),
        "{cause}"
    );
    assert!(fix.contains("nft list ruleset"), "{fix}");
    let json = serde_json::to_value(d).unwrap();
    assert_eq!(
        reg.record().and_then(|r| r.ended_by),
        Some(EndedBy::DroppedHere)
    );
    assert!(cause.contains("Operation not permitted"), "{cause}");
    assert_eq!(json["leg"], "dropped_on_this_host");
    assert_eq!(json["dropped_on_this_host"]["reason"], "NETFILTER_DROP");
}

#[test]
fn an_answer_dropped_after_the_nic_is_told_at_once_with_the_reason() {
    let r1 = register(1, None, 3600);
    let ok = response(&r1, "200 OK", "");
    let mut t = run(&[(r1.clone(), 0.0, true), (ok.clone(), 0.01, false)]);
    let mut events = Vec::new();
    let m = message(&ok, 0.011, false);
    t.push_dropped(
        &m.parsed(),
        &netfilter(crate::net::DropWay::Arriving),
        true,
        &mut events,
    );
    let reg = only(&t);
    let d = reg
        .diagnoses
        .iter()
        .find(|d| matches!(d, Diagnosis::AnswerNotDelivered { .. }))
        .unwrap_or_else(|| panic!("{:?}", reg.diagnoses));
    let (cause, fix) = d.explain();
    assert!(
        cause.contains("INPUT") && cause.contains("before the PBX's socket"),
        "{cause}"
    );
    assert!(fix.contains("answers in"), "{fix}");
    assert!(!events.is_empty(), "told at once");
    // The PBX's retransmission adds no second diagnosis.
    let mut t2 = t;
    let mut later = Vec::new();
    t2.push(&message(&r1, 1.0, true).parsed(), &mut later);
    assert_eq!(
        only(&t2)
            .diagnoses
            .iter()
            .filter(|d| matches!(d, Diagnosis::AnswerNotDelivered { .. }))
            .count(),
        1
    );
}

#[test]
fn a_copy_dropped_by_a_queue_after_the_capture_saw_it_is_not_counted_twice() {
    let r1 = register(1, None, 3600);
    let mut t = run(&[(r1.clone(), 0.0, true)]);
    let mut events = Vec::new();
    let queue = crate::net::KernelDrop {
        reason: Some("QDISC_DROP".into()),
        way: crate::net::DropWay::Leaving,
        chain: None,
    };
    t.push_dropped(&message(&r1, 0.0, true).parsed(), &queue, true, &mut events);
    t.tick(at(40.0), &mut events);
    let timeout = only(&t)
        .diagnoses
        .iter()
        .find_map(|d| match d {
            Diagnosis::Timeout {
                sent,
                dropped_on_this_host,
                leg,
                ..
            } => Some((*sent, dropped_on_this_host.as_ref().map(|h| h.copies), *leg)),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        timeout,
        (1, Some(1), Some(crate::net::Leg::DroppedOnThisHost))
    );
}

#[test]
fn at_the_registrar_an_answer_dropped_on_its_way_out_is_why_the_phone_timed_out() {
    let r1 = register(1, None, 3600);
    let ok = response(&r1, "200 OK", "");
    let mut t = run_at_registrar(&[(r1.clone(), 0.0, true)]);
    let mut events = Vec::new();
    // This host (the registrar) answered; its OUTPUT firewall dropped it.
    let mut m = message(&ok, 0.01, false);
    m.direction = Some(Direction::Egress);
    t.push_dropped(
        &m.parsed(),
        &netfilter(crate::net::DropWay::Leaving),
        false,
        &mut events,
    );
    t.tick(at(40.0), &mut events);
    let reg = only(&t);
    let d = reg
        .diagnoses
        .iter()
        .find(|d| matches!(d, Diagnosis::AnswerNotDelivered { .. }))
        .unwrap_or_else(|| panic!("{:?}", reg.diagnoses));
    let (cause, fix) = d.explain();
    assert!(
        cause.contains("dropped the answer on its way out"),
        "{cause}"
    );
    assert!(fix.contains("nft list ruleset"), "{fix}");
    assert!(
        reg.diagnoses
            .iter()
            .all(|d| !matches!(d, Diagnosis::Timeout { .. })),
        "{:?}",
        reg.diagnoses
    );
}

/// `steps` with every Contact and Expires header removed: binding queries
/// (RFC 3261 §10.2.4).
fn as_queries(steps: Vec<(String, f64, bool)>) -> Vec<(String, f64, bool)> {
    steps
        .into_iter()
        .map(|(text, secs, out)| {
            let text = text
                .split("\r\n")
                .filter(|l| !l.starts_with("Contact:") && !l.starts_with("Expires:"))
                .collect::<Vec<_>>()
                .join("\r\n");
            (text, secs, out)
        })
        .collect()
}

#[test]
fn a_captured_binding_query_is_no_binding() {
    let t = run(&as_queries(wrong_password_round(1, 0.0)));
    assert!(t.registrations().is_empty());
    assert!(
        binding_key(&message(&as_queries(wrong_password_round(1, 0.0))[0].0, 0.0, true).parsed())
            .is_none()
    );
}

#[test]
fn a_tracked_binding_query_with_a_wrong_password_is_credentials_rejected() {
    let mut t = Tracker::default().with_queries();
    feed(
        &mut t,
        &mut Vec::new(),
        &as_queries(wrong_password_round(1, 0.0)),
        false,
    );
    let regs = t.registrations();
    assert_eq!(regs.len(), 1);
    let reg = regs[0];
    assert!(reg.key.is_query());
    assert_eq!(reg.key.contact, QUERY_CONTACT);
    assert_eq!(reg.key.aor, "sip:1001@provider.example");
    assert_eq!(reg.last_outcome.map(|o| o.purpose), Some(Purpose::Query));
    assert!(matches!(
        reg.diagnoses.first(),
        Some(Diagnosis::CredentialsRejected { .. })
    ));
}

#[test]
fn a_tracked_binding_query_answered_200_is_queried_and_grants_nothing() {
    let r = as_queries(vec![(register(1, None, 3600), 0.0, true)])
        .remove(0)
        .0;
    let ok = response(
        &r,
        "200 OK",
        "Contact: <sip:1001@198.51.100.7:5060>;expires=300\r\n",
    );
    let mut t = Tracker::default().with_queries();
    feed(
        &mut t,
        &mut Vec::new(),
        &[(r, 0.0, true), (ok, 0.01, false)],
        false,
    );
    let reg = t.registrations()[0];
    assert_eq!(reg.last_outcome.map(|o| o.outcome), Some(Outcome::Queried));
    assert!(reg.granted.is_none());
    assert!(reg.diagnoses.is_empty());
}

#[test]
fn a_tracked_binding_query_refused_with_423_says_min_expires() {
    let r = as_queries(vec![(register(1, None, 3600), 0.0, true)])
        .remove(0)
        .0;
    let no = response(&r, "423 Interval Too Brief", "Min-Expires: 600\r\n");
    let mut t = Tracker::default().with_queries();
    feed(
        &mut t,
        &mut Vec::new(),
        &[(r, 0.0, true), (no, 0.01, false)],
        false,
    );
    let reg = t.registrations()[0];
    assert!(matches!(
        reg.diagnoses.first(),
        Some(Diagnosis::IntervalTooBrief {
            min_expires: Some(600),
            ..
        })
    ));
}
mod icmp_retry;

#[test]
fn a_challenged_success_is_one_attempt_with_its_delay_and_the_tallies_survive_eviction() {
    let mut t = Tracker::new(TrackLimits {
        max_transactions: 100,
        max_registrations: 1,
    });
    let mut events = Vec::new();
    let r1 = register(1, None, 3600);
    let r2 = register(2, Some(("1001", "provider.example")), 3600);
    let steps = [
        (r1.clone(), 0.0, true),
        (response(&r1, "401 Unauthorized", CHALLENGE), 0.01, false),
        (r2.clone(), 0.02, true),
        (response(&r2, "200 OK", ""), 0.07, false),
    ];
    feed(&mut t, &mut events, &steps, false);
    let tally = t.tally();
    assert_eq!(tally.attempts.get(&AttemptEnd::Registered), Some(&1));
    assert_eq!(tally.attempts.values().sum::<u64>(), 1);
    assert!(tally.failures.is_empty(), "{tally:?}");
    assert_eq!(tally.delays.count(), 1);
    assert_eq!(tally.delays.sum_us, 70_000);
    // Another binding takes the only place: what this one counted stays.
    let other = register(3, None, 3600)
        .replace("sip:1001@192.168.77.10", "sip:2002@192.168.77.10")
        .replace("To: <sip:1001@", "To: <sip:2002@");
    feed(&mut t, &mut events, &[(other, 1.0, true)], false);
    assert_eq!(t.stats().registrations_evicted, 1);
    assert_eq!(t.tally(), tally);
}

#[test]
fn refused_credentials_are_tallied_as_a_401_with_their_diagnosis() {
    let t = run(&wrong_password_round(1, 0.0));
    let tally = t.tally();
    assert_eq!(tally.attempts.get(&AttemptEnd::Rejected), Some(&1));
    assert_eq!(failures(&tally), [(401, "credentials_rejected", 1)]);
    assert_eq!(tally.delays.count(), 0);
}

/// A tally's failures as (code, diagnosis kind, count).
fn failures(tally: &Tally) -> Vec<(u16, &str, u64)> {
    tally
        .failures
        .iter()
        .map(|(k, n)| (k.code, k.kind.as_str(), *n))
        .collect()
}
