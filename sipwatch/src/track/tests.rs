use std::time::{Duration, SystemTime};

use sipwatch_common::Direction;

use super::*;
use crate::{net::Transport, sip::Message};

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
        reassembled: false,
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
    let mut t = Tracker::default();
    let mut events = Vec::new();
    for (text, secs, outbound) in steps {
        let m = message(text, *secs, *outbound);
        t.push(&m.parsed(), &mut events);
    }
    t
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
