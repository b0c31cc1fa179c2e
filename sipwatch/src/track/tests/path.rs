//! Path faults, each kind with an example beside its shared case: another
//! address family or side, another ICMP code, a reset instead of silence,
//! a burst instead of failed logins.
use std::net::SocketAddr;

use super::*;
use crate::net::{
    ConnectionEvent, ConnectionFault, FragmentHead, IcmpError, IcmpKind, QuotedPacket,
};

const PBX: &str = "192.168.77.10:5060";
const PROVIDER: &str = "203.0.113.2:5060";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn icmp(kind: IcmpKind, reporter: &str, secs: f64, mtu: Option<u32>) -> IcmpError {
    IcmpError {
        timestamp: at(secs),
        direction: Some(Direction::Ingress),
        reporter: reporter.parse().unwrap(),
        to: addr(PBX).ip(),
        ip_version: 4,
        icmp_type: 3,
        code: 0,
        kind,
        mtu,
        quoted: QuotedPacket {
            transport: Transport::Udp,
            src: addr(PBX),
            dst: addr(PROVIDER),
            payload: b"REGISTER sip:provider.example SIP/2.0\r\nVia".to_vec(),
        },
    }
}

/// The only diagnosis of the only registration.
fn the_failure(t: &Tracker) -> Diagnosis {
    let reg = only(t);
    let failures: Vec<&Diagnosis> = reg.diagnoses.iter().filter(|d| d.is_failure()).collect();
    assert_eq!(failures.len(), 1, "{:?}", reg.diagnoses);
    failures[0].clone()
}

/// `count` REGISTERs `every` seconds apart, each answered 200 OK 10 ms
/// later; `answer(i, ok)` may rewrite the i-th answer.
fn answered_registers(
    count: u32,
    every: f64,
    answer: impl Fn(u32, String) -> String,
) -> Vec<(String, f64, bool)> {
    let mut steps = Vec::new();
    for i in 0..count {
        let r = register(i + 1, None, 300);
        let secs = f64::from(i) * every;
        let ok = response(
            &r,
            "200 OK",
            "Contact: <sip:1001@192.168.77.10:5060>;expires=300\r\n",
        );
        steps.push((r, secs, true));
        steps.push((answer(i, ok), secs + 0.01, false));
    }
    steps
}

/// A REGISTER sent over TCP from `client` at 0 s, not answered (yet).
fn register_over_tcp(client: &str) -> (Tracker, Vec<Event>) {
    let mut t = Tracker::default();
    let mut events = Vec::new();
    let mut m = message(&register(1, None, 3600), 0.0, true);
    (m.transport, m.src) = (Transport::Tcp, addr(client));
    t.push(&m.parsed(), &mut events);
    (t, events)
}

/// The connection fault a diagnosis names, or a failed test.
fn connection_fault(d: &Diagnosis) -> ConnectionFault {
    match d {
        Diagnosis::ConnectionFailed { connection, .. } => *connection,
        other => panic!("not a connection failure: {other:?}"),
    }
}

/// A REGISTER sent at 0 s and every ICMP error given, then Timer F.
fn register_drawing(errors: &[IcmpError]) -> Tracker {
    let mut t = Tracker::default();
    let mut events = Vec::new();
    feed(
        &mut t,
        &mut events,
        &[(register(1, None, 3600), 0.0, true)],
        false,
    );
    for e in errors {
        t.push_icmp(e, &mut events);
    }
    t.tick(at(40.0), &mut events);
    t
}

#[test]
fn a_firewall_prohibiting_sip_is_named_by_the_address_that_said_so() {
    let t = register_drawing(&[
        icmp(
            IcmpKind::AdministrativelyProhibited,
            "198.51.100.1",
            0.01,
            None,
        ),
        icmp(
            IcmpKind::AdministrativelyProhibited,
            "198.51.100.1",
            0.51,
            None,
        ),
    ]);
    let d = the_failure(&t);
    let Diagnosis::Unreachable {
        icmp,
        reporter,
        count,
        start_line,
        ..
    } = &d
    else {
        panic!("{d:?}");
    };
    assert_eq!(
        (*icmp, reporter.to_string().as_str(), *count),
        (IcmpKind::AdministrativelyProhibited, "198.51.100.1", 2)
    );
    // The failure record says who ended it: an ICMP error, not silence.
    let reg = t.registrations()[0];
    assert_eq!(
        reg.record().and_then(|r| r.ended_by),
        Some(crate::track::EndedBy::Icmp)
    );
    assert_eq!(
        start_line.as_deref(),
        Some("REGISTER sip:provider.example SIP/2.0")
    );
    let (cause, fix) = d.explain();
    assert!(
        cause.contains("administratively prohibited from 198.51.100.1"),
        "{cause}"
    );
    assert!(fix.contains("firewall at 198.51.100.1"), "{fix}");
    assert!(!fix.contains("dig"), "{fix}");
    assert_eq!(t.stats().icmp_attached, 2);
}

#[test]
fn fragmentation_needed_names_the_mtu_and_suggests_tcp() {
    let t = register_drawing(&[icmp(
        IcmpKind::FragmentationNeeded,
        "192.168.77.1",
        0.01,
        Some(1400),
    )]);
    let d = the_failure(&t);
    assert!(
        matches!(
            d,
            Diagnosis::Unreachable {
                mtu: Some(1400),
                ..
            }
        ),
        "{d:?}"
    );
    let (_, fix) = d.explain();
    assert!(
        fix.contains("MTU (1400 bytes)") && fix.contains("TCP"),
        "{fix}"
    );
}

#[test]
fn port_unreachable_from_the_registrar_names_server_uri_not_dns() {
    let t = register_drawing(&[icmp(IcmpKind::PortUnreachable, "203.0.113.2", 0.01, None)]);
    let (cause, fix) = the_failure(&t).explain();
    assert!(
        cause.contains("port unreachable from 203.0.113.2"),
        "{cause}"
    );
    assert!(fix.contains("server_uri") && !fix.contains("dig"), "{fix}");
}

#[test]
fn an_icmp_error_about_no_transaction_is_counted_unattached() {
    let mut t = Tracker::default();
    t.push_icmp(
        &icmp(IcmpKind::PortUnreachable, "203.0.113.2", 0.0, None),
        &mut Vec::new(),
    );
    assert_eq!((t.stats().icmp_attached, t.stats().icmp_unattached), (0, 1));
}

#[test]
fn a_register_on_a_connection_the_registrar_reset_times_out_as_a_reset_not_silence() {
    let client = "192.168.77.10:40123";
    let (mut t, mut events) = register_over_tcp(client);
    let by = addr(PROVIDER);
    t.push_connection(
        fault(client, 0.2, ConnectionFault::Reset { by }),
        &mut events,
    );
    t.tick(at(40.0), &mut events);
    let d = the_failure(&t);
    assert!(matches!(
        connection_fault(&d),
        ConnectionFault::Reset { .. }
    ));
    let (cause, fix) = d.explain();
    assert!(cause.contains("reset by 203.0.113.2:5060"), "{cause}");
    assert!(!fix.contains("try TCP") && !fix.contains("dig"), "{fix}");
}

#[test]
fn a_tcp_timeout_without_evidence_never_advises_tcp() {
    let (mut t, mut events) = register_over_tcp("192.168.77.10:40123");
    t.tick(at(40.0), &mut events);
    let (_, fix) = the_failure(&t).explain();
    assert!(!fix.contains("try TCP"), "{fix}");
}

#[test]
fn silence_right_after_a_burst_of_fast_answers_is_a_flood_ban() {
    let mut steps = answered_registers(12, 0.1, |_, ok| ok);
    steps.push((register(20, None, 3600), 2.0, true));
    steps.push((register(20, None, 3600), 40.0, true)); // moves time past Timer F
    let t = run(&steps);
    let reg = only(&t);
    let banned = reg
        .diagnoses
        .iter()
        .find(|d| matches!(d, Diagnosis::Banned { .. }));
    let Some(Diagnosis::Banned {
        rejections,
        answered_burst,
        icmp,
        ..
    }) = banned
    else {
        panic!("{:?}", reg.diagnoses);
    };
    assert_eq!((*rejections, *answered_burst, *icmp), (0, 12, None));
    let (cause, fix) = banned.unwrap().explain();
    assert!(
        cause.contains("answered 12 REGISTERs in a row")
            && cause.contains("answers nothing at all"),
        "{cause}"
    );
    assert!(fix.contains("lift the ban"), "{fix}");
}

#[test]
fn icmp_from_a_router_after_rejected_passwords_is_not_read_as_a_ban() {
    let mut t = Tracker::default();
    let mut events = Vec::new();
    let mut steps = wrong_password_round(1, 0.0);
    steps.extend(wrong_password_round(3, 60.0));
    feed(&mut t, &mut events, &steps, false);
    let mut later = message(&register(5, None, 3600), 120.0, true);
    later.timestamp = at(120.0);
    t.push(&later.parsed(), &mut events);
    t.push_icmp(
        &icmp(IcmpKind::HostUnreachable, "192.0.2.254", 120.01, None),
        &mut events,
    );
    t.tick(at(160.0), &mut events);
    let d = the_failure(&t);
    assert!(
        matches!(
            d,
            Diagnosis::Unreachable {
                icmp: IcmpKind::HostUnreachable,
                ..
            }
        ),
        "{d:?}"
    );
}

#[test]
fn answers_from_another_ipv4_address_at_the_pbx_are_a_hint_with_the_provider_fix() {
    let r1 = register(1, None, 3600);
    let mut ok = message(
        &response(
            &r1,
            "200 OK",
            "Contact: <sip:1001@192.168.77.10:5060>;expires=3600\r\n",
        ),
        0.02,
        false,
    );
    ok.src = addr("203.0.113.3:5060");
    let mut t = Tracker::default();
    let mut events = Vec::new();
    t.push(&message(&r1, 0.0, true).parsed(), &mut events);
    t.push(&ok.parsed(), &mut events);
    let reg = only(&t);
    assert_eq!(reg.state(), RegistrationState::Registered { expires: 3600 });
    let hint = reg
        .diagnoses
        .iter()
        .find(|d| matches!(d, Diagnosis::AnswersFromOtherAddress { .. }))
        .unwrap_or_else(|| panic!("{:?}", reg.diagnoses));
    assert!(!hint.is_failure());
    let (cause, fix) = hint.explain();
    assert!(
        cause.contains("203.0.113.3:5060") && cause.contains("203.0.113.2:5060"),
        "{cause}"
    );
    assert!(
        fix.contains("server_uri") || fix.contains("outbound_proxy"),
        "{fix}"
    );
}

fn head(src: &str, dst: &str, payload: &str, secs: f64) -> FragmentHead {
    FragmentHead {
        timestamp: at(secs),
        direction: Some(Direction::Ingress),
        src: addr(src),
        dst: addr(dst),
        ip_id: 7,
        fragment_bytes: 1280,
        datagram_bytes: 1600,
        payload: payload.as_bytes()[..payload.len().min(1000)].to_vec(),
    }
}

#[test]
fn a_phone_register_arriving_as_its_first_ipv6_fragment_only_is_lost_not_uncredentialed() {
    let phone = "[2001:db8:c::50]:5060";
    let pbx = "[2001:db8:a::10]:5060";
    let r1 = register(1, None, 3600);
    let r2 = register(2, Some(("1001", "provider.example")), 3600);
    let mut t = Tracker::default();
    let mut events = Vec::new();
    let mut m = message(&r1, 0.0, false);
    (m.src, m.dst) = (addr(phone), addr(pbx));
    t.push(&m.parsed(), &mut events);
    let mut c = message(&response(&r1, "401 Unauthorized", CHALLENGE), 0.01, true);
    (c.src, c.dst) = (addr(pbx), addr(phone));
    t.push(&c.parsed(), &mut events);
    t.push_fragment_head(&head(phone, pbx, &r2, 0.02), &mut events);
    t.push_fragment_head(&head(phone, pbx, &r2, 0.52), &mut events);
    t.finish(&mut events);
    let d = the_failure(&t);
    let Diagnosis::FragmentsLost {
        side,
        source,
        datagrams,
        datagram_bytes,
        ..
    } = &d
    else {
        panic!("{d:?}");
    };
    assert_eq!(
        (
            *side,
            source.to_string().as_str(),
            *datagrams,
            *datagram_bytes
        ),
        (Side::Registrar, phone, 2, 1600)
    );
    let (cause, _) = d.explain();
    assert!(!cause.contains("never sent credentials"), "{cause}");
}

#[test]
fn a_fragmented_register_that_completes_is_no_loss() {
    let r1 = register(1, None, 3600);
    let r2 = register(2, Some(("1001", "provider.example")), 3600);
    let mut t = Tracker::default();
    let mut events = Vec::new();
    feed(
        &mut t,
        &mut events,
        &[
            (r1.clone(), 0.0, true),
            (response(&r1, "401 Unauthorized", CHALLENGE), 0.01, false),
        ],
        false,
    );
    t.push_fragment_head(&head(PBX, PROVIDER, &r2, 0.02), &mut events);
    let mut whole = message(&r2, 0.021, true);
    whole.reassembled = true;
    t.push(&whole.parsed(), &mut events);
    t.push(
        &message(&response(&r2, "200 OK", ""), 0.05, false).parsed(),
        &mut events,
    );
    let reg = only(&t);
    assert!(
        matches!(reg.state(), RegistrationState::Registered { .. }),
        "{:?}",
        reg.diagnoses
    );
    assert!(
        reg.diagnoses
            .iter()
            .all(|d| !matches!(d, Diagnosis::FragmentsLost { .. }))
    );
}

#[test]
fn a_phone_whose_public_port_changes_at_every_register_gets_the_registrar_side_fix() {
    let steps = answered_registers(3, 290.0, |i, ok| {
        ok.replace(
            ";rport",
            &format!(";rport={};received=198.51.100.9", 30001 + i),
        )
    });
    let t = run_at_registrar(&steps);
    let reg = only(&t);
    let hint = reg
        .diagnoses
        .iter()
        .find(|d| matches!(d, Diagnosis::NatMappingLost { .. }))
        .unwrap_or_else(|| panic!("{:?}", reg.diagnoses));
    let Diagnosis::NatMappingLost {
        side,
        public_ports,
        changes,
        interval_s,
        ..
    } = hint
    else {
        unreachable!()
    };
    assert_eq!(
        (*side, public_ports.as_slice(), *changes, *interval_s),
        (Side::Registrar, &[30001, 30002, 30003][..], 2, 290)
    );
    let (_, fix) = hint.explain();
    assert!(
        fix.contains("qualify_frequency") && !fix.contains("rewrite_contact"),
        "{fix}"
    );
}

#[test]
fn the_same_public_port_at_every_refresh_is_no_lost_mapping() {
    let steps = answered_registers(3, 290.0, |_, ok| {
        ok.replace(";rport", ";rport=30001;received=198.51.100.9")
    });
    let reg = only(&run(&steps));
    assert!(
        reg.diagnoses
            .iter()
            .all(|d| !matches!(d, Diagnosis::NatMappingLost { .. })),
        "{:?}",
        reg.diagnoses
    );
}

/// A binding registered over TCP from `client` at 0 s.
fn registered_over_tcp(client: &str) -> (Tracker, Vec<Event>) {
    let mut t = Tracker::default();
    let mut events = Vec::new();
    let r = register(1, None, 300);
    for (text, secs, outbound) in [
        (r.clone(), 0.0, true),
        (
            response(
                &r,
                "200 OK",
                "Contact: <sip:1001@192.168.77.10:5060>;expires=300\r\n",
            ),
            0.02,
            false,
        ),
    ] {
        let mut m = message(&text, secs, outbound);
        m.transport = Transport::Tcp;
        if outbound {
            m.src = addr(client);
        } else {
            m.dst = addr(client);
        }
        t.push(&m.parsed(), &mut events);
    }
    (t, events)
}

fn fault(client: &str, secs: f64, fault: ConnectionFault) -> ConnectionEvent {
    ConnectionEvent {
        at: at(secs),
        client: addr(client),
        server: addr(PROVIDER),
        fault,
    }
}

#[test]
fn a_refused_connection_to_the_registrar_fails_the_binding_without_any_register_sent() {
    let (mut t, mut events) = registered_over_tcp("192.168.77.10:40123");
    let before = events.len();
    let by = addr(PROVIDER);
    t.push_connection(
        fault(
            "192.168.77.10:40200",
            290.0,
            ConnectionFault::Refused { by },
        ),
        &mut events,
    );
    let reg = only(&t);
    assert_eq!(
        reg.state(),
        RegistrationState::Timeout,
        "{:?}",
        reg.diagnoses
    );
    assert_eq!(events.len(), before + 1, "one event for the change");
    let (cause, fix) = reg.diagnoses[0].explain();
    assert!(
        cause.contains("connection refused") && cause.contains("RST"),
        "{cause}"
    );
    assert!(
        fix.contains("server_uri") && !fix.contains("try TCP"),
        "{fix}"
    );
}

#[test]
fn syns_never_answered_count_one_failure_however_many_are_sent() {
    let (mut t, mut events) = registered_over_tcp("192.168.77.10:40123");
    for (secs, syns) in [(291.0, 2), (293.0, 3), (297.0, 4)] {
        let f = fault(
            "192.168.77.10:40201",
            secs,
            ConnectionFault::NoAnswer { syns },
        );
        t.push_connection(f, &mut events);
    }
    let reg = only(&t);
    assert_eq!(reg.failures.map(|f| f.count), Some(1));
    assert!(
        matches!(
            reg.diagnoses[..],
            [Diagnosis::ConnectionFailed {
                connection: ConnectionFault::NoAnswer { syns: 4 },
                ..
            }]
        ),
        "{:?}",
        reg.diagnoses
    );
    let (cause, _) = reg.diagnoses[0].explain();
    assert!(
        cause.contains("no answer") && cause.contains("4 SYNs"),
        "{cause}"
    );
}

#[test]
fn a_refresh_sent_on_a_connection_the_registrar_had_closed_times_out_as_closed() {
    let client = "192.168.77.10:40123";
    let (mut t, mut events) = registered_over_tcp(client);
    let by = addr(PROVIDER);
    t.push_connection(
        fault(client, 100.0, ConnectionFault::Closed { by }),
        &mut events,
    );
    let mut refresh = message(&register(2, None, 300), 290.0, true);
    (refresh.transport, refresh.src) = (Transport::Tcp, addr(client));
    t.push(&refresh.parsed(), &mut events);
    t.tick(at(330.0), &mut events);
    let reg = only(&t);
    let d = reg
        .diagnoses
        .iter()
        .find(|d| d.is_failure())
        .expect("a failure");
    assert!(matches!(
        connection_fault(d),
        ConnectionFault::Closed { .. }
    ));
    let (_, fix) = d.explain();
    assert!(fix.contains("keep_alive_interval"), "{fix}");
}

/// `request` grown to `bytes` with a header of padding.
fn padded(request: &str, bytes: usize) -> String {
    let pad = bytes.saturating_sub(request.len() + "X-Pad: \r\n".len());
    request.replacen(
        "Content-Length",
        &format!("X-Pad: {}\r\nContent-Length", "p".repeat(pad)),
        1,
    )
}

#[test]
fn a_register_too_large_for_udp_unanswered_while_smaller_ones_were_answered_is_lost_for_its_size() {
    let small = register(1, None, 3600);
    let large = padded(&register(2, None, 3600), 1500);
    assert_eq!(large.len(), 1500);
    let (t, _) = run_events(&[
        (small.clone(), 0.0, true),
        (response(&small, "200 OK", ""), 0.02, false),
        (large, 100.0, true),
        (register(3, None, 3600), 140.0, true),
    ]);
    let reg = only(&t);
    let d = reg
        .diagnoses
        .iter()
        .find(|d| d.is_failure())
        .expect("a failure");
    let Diagnosis::LargeRequestUnanswered {
        bytes,
        largest_answered_bytes,
        ..
    } = d
    else {
        panic!("{d:?}");
    };
    assert_eq!(
        (*bytes, *largest_answered_bytes),
        (1500, small.len() as u32)
    );
    let (cause, fix) = d.explain();
    assert!(
        cause.contains("1500 bytes") && !fix.contains("dig"),
        "{cause} / {fix}"
    );
    assert!(fix.contains("TCP"), "{fix}");
}

#[test]
fn a_small_register_unanswered_is_no_size_problem() {
    let small = register(1, None, 3600);
    let (t, _) = run_events(&[
        (small.clone(), 0.0, true),
        (response(&small, "200 OK", ""), 0.02, false),
        (register(2, None, 3600), 100.0, true),
        (register(3, None, 3600), 140.0, true),
    ]);
    let reg = only(&t);
    assert!(
        reg.diagnoses
            .iter()
            .any(|d| matches!(d, Diagnosis::Timeout { .. })),
        "{:?}",
        reg.diagnoses
    );
}

#[test]
fn an_answer_that_arrives_as_its_first_fragment_only_times_out_as_lost_not_as_silence() {
    let r1 = register(1, None, 3600);
    let big_ok = padded(&response(&r1, "200 OK", ""), 1600);
    let mut t = Tracker::default();
    let mut events = Vec::new();
    feed(&mut t, &mut events, &[(r1, 0.0, true)], false);
    t.push_fragment_head(&head(PROVIDER, PBX, &big_ok, 0.03), &mut events);
    t.tick(at(40.0), &mut events);
    let d = the_failure(&t);
    let Diagnosis::FragmentsLost { source, .. } = &d else {
        panic!("{d:?}");
    };
    assert_eq!(source.to_string(), PROVIDER);
    let (cause, fix) = d.explain();
    assert!(cause.contains("the answer (SIP/2.0 200 OK)"), "{cause}");
    assert!(!fix.contains("dig"), "{fix}");
}

#[test]
fn a_fragment_lost_before_the_latest_whole_register_does_not_explain_a_later_failure() {
    let r1 = register(1, None, 3600);
    let r2 = register(2, None, 3600);
    let mut t = Tracker::default();
    let mut events = Vec::new();
    feed(&mut t, &mut events, &[(r1.clone(), 0.0, true)], false);
    t.push_fragment_head(&head(PBX, PROVIDER, &r1, 0.5), &mut events);
    feed(
        &mut t,
        &mut events,
        &[
            (r2.clone(), 100.0, true),
            (response(&r2, "401 Unauthorized", CHALLENGE), 100.01, false),
        ],
        false,
    );
    t.finish(&mut events);
    let d = the_failure(&t);
    assert!(matches!(d, Diagnosis::NoCredentials { .. }), "{d:?}");
}

#[test]
fn a_file_that_ends_before_timer_f_still_tells_a_register_refused_by_icmp() {
    // As `analyze` of what the live capture saw: the REGISTER, its ICMP
    // port unreachable, and the end of the file long before Timer F.
    let mut t = Tracker::default();
    let mut events = Vec::new();
    feed(
        &mut t,
        &mut events,
        &[(register(1, None, 3600), 0.0, true)],
        false,
    );
    t.push_icmp(
        &icmp(IcmpKind::PortUnreachable, "203.0.113.2", 0.01, None),
        &mut events,
    );
    // The capture ends 3 s later, well before Timer F.
    t.tick(at(3.0), &mut events);
    t.finish(&mut events);
    let d = the_failure(&t);
    assert!(
        matches!(
            d,
            Diagnosis::Unreachable {
                icmp: IcmpKind::PortUnreachable,
                ..
            }
        ),
        "{d:?}"
    );
    // Told when the capture ended, not at a Timer F still in the future.
    let timeout = events
        .iter()
        .find(|e| matches!(e, Event::Timeout(_)))
        .expect("the refused REGISTER is over");
    assert!(timeout.at() <= at(3.0), "{:?}", timeout.at());
    let mut line = Vec::new();
    crate::report::registrations::write_event(&mut line, timeout).unwrap();
    let line = String::from_utf8(line).unwrap();
    assert!(
        line.contains("before the capture ended 3 s after it"),
        "{line}"
    );
}
