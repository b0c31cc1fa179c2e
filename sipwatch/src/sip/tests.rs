use std::time::SystemTime;

use super::*;
use crate::net::Transport;

fn message(text: &str) -> Message {
    Message {
        timestamp: SystemTime::UNIX_EPOCH,
        direction: None,
        transport: Transport::Udp,
        src: "192.168.77.10:5060".parse().unwrap(),
        dst: "203.0.113.2:5060".parse().unwrap(),
        vlans: Vec::new(),
        outer: None,
        reassembled: false,
        origin: crate::sip::Origin::CaptureFile,
        bytes: text.as_bytes().to_vec(),
    }
}

const REGISTER: &str = "REGISTER sip:example.com SIP/2.0\r\n\
v: SIP/2.0/UDP 192.168.77.10:5060;branch=z9hG4bK-1;rport, SIP/2.0/UDP [2001:db8::1]:5070;branch=z9hG4bK-0;received=203.0.113.1;rport=40000\r\n\
Max-Forwards: 70\r\n\
f: \"Alice\" <sip:alice@example.com>;tag=abc\r\n\
t: <sip:alice@example.com>\r\n\
i: call-1@192.168.77.10\r\n\
CSeq: 2 REGISTER\r\n\
m: <sip:alice@192.168.77.10:5060;transport=udp>;expires=300, <sip:alice@[fd77::10]>\r\n\
Authorization: Digest username=\"1001\", realm=\"example.com\", nonce=\"n0nce\",\r\n \
uri=\"sip:example.com\", response=\"0123456789abcdef0123456789abcdef\", algorithm=MD5, qop=auth\r\n\
Expires: 300\r\n\
User-Agent: Asterisk PBX 20.5.0\r\n\
l: 0\r\n\r\n";

#[test]
fn compact_forms_folding_and_lists_are_understood() {
    let m = message(REGISTER);
    let p = m.parsed();
    assert!(p.index.problems.is_empty(), "{:?}", p.index.problems);
    assert_eq!(p.method(), Some("REGISTER"));
    assert_eq!(p.call_id().as_deref(), Some("call-1@192.168.77.10"));
    assert_eq!(
        p.cseq(),
        Some(CSeq {
            seq: 2,
            method: "REGISTER".into()
        })
    );
    let vias = p.vias();
    assert_eq!(vias.len(), 2);
    assert_eq!(vias[0].host, "192.168.77.10");
    assert_eq!(vias[0].port, Some(5060));
    assert_eq!(vias[0].branch.as_deref(), Some("z9hG4bK-1"));
    assert!(vias[0].rport_present && vias[0].rport.is_none());
    assert_eq!(vias[1].host, "[2001:db8::1]");
    assert_eq!(vias[1].received.as_deref(), Some("203.0.113.1"));
    assert_eq!(vias[1].rport, Some(40000));
    let from = p.from().unwrap();
    assert_eq!(from.display.as_deref(), Some("Alice"));
    assert_eq!(from.tag.as_deref(), Some("abc"));
    assert_eq!(from.uri.user.as_deref(), Some("alice"));
    let contacts = p.contacts();
    assert_eq!(contacts.len(), 2);
    assert_eq!(contacts[0].expires, Some(300));
    assert_eq!(contacts[0].uri.port, Some(5060));
    assert_eq!(contacts[1].uri.host, "[fd77::10]");
    assert_eq!(p.expires(), Some(300));
    assert_eq!(p.user_agent().as_deref(), Some("Asterisk PBX 20.5.0"));
    assert_eq!(p.content_length(), Some(0));
}

#[test]
fn the_digest_response_is_never_shown_in_full() {
    let m = message(REGISTER);
    let creds = m.parsed().authorization().unwrap();
    assert_eq!(creds.username.as_deref(), Some("1001"));
    assert_eq!(creds.realm.as_deref(), Some("example.com"));
    assert_eq!(
        creds.uri.as_deref(),
        Some("sip:example.com"),
        "folded line joined"
    );
    assert_eq!(creds.response.as_deref(), Some("0123…"));
    let shown = fields::redact(REGISTER);
    assert!(!shown.contains("0123456789abcdef"), "{shown}");
    assert!(shown.contains("response=\"0123…\""));
}

#[test]
fn header_lines_are_kept_verbatim_with_their_case_and_folding() {
    let m = message(REGISTER);
    let p = m.parsed();
    let auth = p
        .index
        .headers
        .iter()
        .find(|h| h.canonical == Some("authorization"))
        .unwrap();
    let raw = std::str::from_utf8(&m.bytes[auth.raw.clone()]).unwrap();
    assert!(raw.starts_with("Authorization: Digest") && raw.contains("\r\n uri="));
    let via = &p.index.headers[0];
    assert_eq!(
        (p.index.name_of(via).as_ref(), via.canonical),
        ("v", Some("via"))
    );
}

#[test]
fn challenges_and_response_fields_are_read() {
    let m = message(
        "SIP/2.0 401 Unauthorized\r\nVia: SIP/2.0/UDP 192.168.77.10:5060;branch=z9hG4bK-1;received=203.0.113.1;rport=5060\r\n\
         WWW-Authenticate: Digest realm=\"example.com\", nonce=\"abc\", algorithm=MD5, qop=\"auth\", stale=TRUE\r\n\
         Retry-After: 120 (maintenance);duration=60\r\nWarning: 399 example.com \"IP not allowed\"\r\n\
         Server: Kamailio\r\nContent-Length: 0\r\n\r\n",
    );
    let p = m.parsed();
    assert_eq!(p.status(), Some(401));
    let ch = &p.www_authenticate()[0];
    assert_eq!(ch.realm.as_deref(), Some("example.com"));
    assert_eq!(ch.qop.as_deref(), Some("auth"));
    assert!(ch.stale);
    assert_eq!(p.retry_after(), Some(120));
    assert_eq!(
        p.warning().as_deref(),
        Some("399 example.com \"IP not allowed\"")
    );
    assert_eq!(p.server().as_deref(), Some("Kamailio"));
}

#[test]
fn sdp_origin_connection_and_media_lines_are_read() {
    let body = "v=0\r\no=- 1 1 IN IP4 192.168.77.10\r\ns=-\r\nc=IN IP4 192.168.77.10\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n";
    let m = message(&format!(
        "INVITE sip:bob@example.com SIP/2.0\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ));
    let sdp = m.parsed().sdp().unwrap();
    assert_eq!(sdp.origin.as_deref(), Some("- 1 1 IN IP4 192.168.77.10"));
    assert_eq!(sdp.connections, ["IN IP4 192.168.77.10"]);
    assert_eq!(sdp.media, ["audio 40000 RTP/AVP 0"]);
}

#[test]
fn a_broken_message_is_still_a_message_with_its_problems_named() {
    let m = message("HELLO there\r\nno colon here\r\nContent-Length: 10\r\n\r\nabc");
    let p = m.parsed();
    assert!(p.index.problems.contains(&Problem::BadStartLine));
    assert!(p.index.problems.contains(&Problem::BadHeaderLine(2)));
    assert!(p.index.problems.contains(&Problem::ContentLengthMismatch {
        declared: 10,
        actual: 3
    }));
    assert!(p.rsip_error().is_some());
    assert_eq!(
        m.bytes,
        b"HELLO there\r\nno colon here\r\nContent-Length: 10\r\n\r\nabc"
    );
}

#[test]
fn a_well_formed_message_satisfies_rsip_too() {
    let m = message(
        "OPTIONS sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.77.10:5060;branch=z9hG4bK-9\r\n\
         From: <sip:a@example.com>;tag=1\r\nTo: <sip:example.com>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n\
         Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(m.parsed().rsip_error(), None);
}

#[test]
fn no_input_makes_the_index_panic() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..5_000 {
        let mut bytes = REGISTER.as_bytes().to_vec();
        bytes.truncate((next() as usize) % (bytes.len() + 1));
        for _ in 0..(next() % 8) {
            if !bytes.is_empty() {
                let at = (next() as usize) % bytes.len();
                let alphabet = b"\r\n:;,<>\"[]= \t\xffa0";
                bytes[at] = alphabet[(next() as usize) % alphabet.len()];
            }
        }
        let m = Message {
            bytes,
            ..message("")
        };
        let p = m.parsed();
        let _ = (
            p.vias(),
            p.contacts(),
            p.from(),
            p.to(),
            p.cseq(),
            p.authorization(),
            p.sdp(),
        );
        let _ = (
            p.www_authenticate(),
            p.expires(),
            p.retry_after(),
            p.rsip_error(),
        );
    }
}

#[test]
fn several_challenges_are_read_from_separate_headers_and_from_one_list() {
    let m = message(
        "SIP/2.0 401 Unauthorized\r\nCSeq: 1 REGISTER\r\n\
         WWW-Authenticate: Digest realm=\"a\", nonce=\"n1\", algorithm=SHA-256, qop=\"auth,auth-int\"\r\n\
         WWW-Authenticate: Digest realm=\"a\", nonce=\"n1\", algorithm=MD5, Digest realm=\"a\", nonce=\"n1\", algorithm=SHA-512-256, stale=true\r\n\
         Content-Length: 0\r\n\r\n",
    );
    let challenges = m.parsed().www_authenticate();
    let algorithms: Vec<_> = challenges
        .iter()
        .map(|c| c.algorithm.as_deref().unwrap_or(""))
        .collect();
    assert_eq!(algorithms, ["SHA-256", "MD5", "SHA-512-256"]);
    assert_eq!(challenges[0].qop.as_deref(), Some("auth,auth-int"));
    assert!(challenges[2].stale && !challenges[1].stale);
    assert!(challenges.iter().all(|c| c.nonce.as_deref() == Some("n1")));
}

#[test]
fn expires_is_delta_seconds_or_nothing() {
    let expires = |v: &str| {
        message(&format!(
            "REGISTER sip:a SIP/2.0\r\nExpires: {v}\r\nMin-Expires: {v}\r\nContent-Length: 0\r\n\r\n"
        ))
        .parsed()
        .expires()
    };
    assert_eq!(expires("3600"), Some(3600));
    assert_eq!(expires(" 60 "), Some(60));
    assert_eq!(expires("0x10"), None, "not 0");
    assert_eq!(expires("1e3"), None, "not 1");
    assert_eq!(expires("-1"), None);
    assert_eq!(expires("99999999999"), Some(u32::MAX));
}
