//! The comparison itself.
use std::{collections::HashMap, net::IpAddr};

use serde::Serialize;

use crate::sip::MessageIndex;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// An IP address in the value became another (NAT's public address).
    AddressRewritten,
    /// Only a port changed.
    PortRewritten,
    HeaderAdded,
    HeaderRemoved,
    /// The same headers, in another order.
    HeadersReordered,
    /// The name changed spelling: case, or compact vs full form.
    HeaderRenamed,
    /// The same value with other whitespace or folding.
    WhitespaceChanged,
    MaxForwardsDecremented,
    /// Content-Length changed (following a body rewrite, usually).
    ContentLengthChanged,
    /// The start line changed.
    StartLineChanged,
    /// Another change to a header's value.
    ValueChanged,
    /// The body changed outside the SDP lines compared one by one.
    BodyRewritten,
    /// What arrived is a cut-off copy of what was sent.
    Truncated,
}

/// One difference, with the values before and after as they were written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The header's name (as sent), `start line`, or `sdp o=` / `sdp c=` / `sdp m=`.
    pub header: String,
    pub before: Option<String>,
    pub after: Option<String>,
    pub kind: FindingKind,
}

impl Finding {
    fn new(header: &str, before: Option<&str>, after: Option<&str>, kind: FindingKind) -> Finding {
        Finding {
            header: header.to_owned(),
            before: before.map(str::to_owned),
            after: after.map(str::to_owned),
            kind,
        }
    }
}

/// Whether the findings look like a SIP ALG: addresses or ports rewritten
/// inside SIP or SDP (plain NAT changes only the IP and UDP/TCP headers,
/// which these bytes do not include).
pub fn alg_suspected(findings: &[Finding]) -> bool {
    findings.iter().any(|f| {
        matches!(
            f.kind,
            FindingKind::AddressRewritten | FindingKind::PortRewritten
        )
    })
}

/// Compares `sent` with `received` (both one whole SIP message).
pub fn compare(sent: &[u8], received: &[u8]) -> Vec<Finding> {
    if sent == received {
        return Vec::new();
    }
    if received.len() < sent.len() && sent.starts_with(received) {
        return vec![Finding {
            header: "message".into(),
            before: Some(format!("{} bytes", sent.len())),
            after: Some(format!("{} bytes", received.len())),
            kind: FindingKind::Truncated,
        }];
    }
    let (a, b) = (MessageIndex::parse(sent), MessageIndex::parse(received));
    let mut findings = Vec::new();
    let first_line = |bytes: &[u8]| {
        let end = bytes
            .iter()
            .position(|&c| c == b'\r' || c == b'\n')
            .unwrap_or(bytes.len());
        String::from_utf8_lossy(&bytes[..end]).into_owned()
    };
    let (la, lb) = (first_line(sent), first_line(received));
    if la != lb {
        findings.push(Finding::new(
            "start line",
            Some(&la),
            Some(&lb),
            FindingKind::StartLineChanged,
        ));
    }
    compare_headers(&a, &b, &mut findings);
    let (body_a, body_b) = (&sent[a.body.clone()], &received[b.body.clone()]);
    if body_a != body_b {
        compare_bodies(body_a, body_b, &mut findings);
    }
    findings
}

/// A header's identity for pairing: its full name, lower case.
fn key(index: &MessageIndex<'_>, h: &crate::sip::HeaderLine) -> String {
    h.canonical
        .map_or_else(|| index.name_of(h).to_ascii_lowercase(), str::to_owned)
}

fn compare_headers(a: &MessageIndex<'_>, b: &MessageIndex<'_>, findings: &mut Vec<Finding>) {
    // Pair the n-th header of a name in one with the n-th of that name in the other.
    let mut seen: HashMap<String, usize> = HashMap::new();
    let positions = |index: &MessageIndex<'_>| {
        let mut map: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, h) in index.headers.iter().enumerate() {
            map.entry(key(index, h)).or_default().push(i);
        }
        map
    };
    let in_b = positions(b);
    let mut order_a = Vec::new();
    let mut paired_b = vec![false; b.headers.len()];
    for h in &a.headers {
        let name = key(a, h);
        let n = seen.entry(name.clone()).or_insert(0);
        let shown = a.name_of(h).into_owned();
        match in_b.get(&name).and_then(|v| v.get(*n)) {
            Some(&j) => {
                paired_b[j] = true;
                order_a.push(j);
                compare_header(a, h, b, &b.headers[j], &shown, findings);
            }
            None => findings.push(Finding::new(
                &shown,
                Some(&a.value_of(h)),
                None,
                FindingKind::HeaderRemoved,
            )),
        }
        *n += 1;
    }
    for (j, h) in b.headers.iter().enumerate() {
        if !paired_b[j] {
            findings.push(Finding::new(
                &b.name_of(h),
                None,
                Some(&b.value_of(h)),
                FindingKind::HeaderAdded,
            ));
        }
    }
    if order_a.windows(2).any(|w| w[0] > w[1]) {
        findings.push(Finding {
            header: "headers".into(),
            before: None,
            after: None,
            kind: FindingKind::HeadersReordered,
        });
    }
}

fn compare_header(
    a: &MessageIndex<'_>,
    ha: &crate::sip::HeaderLine,
    b: &MessageIndex<'_>,
    hb: &crate::sip::HeaderLine,
    shown: &str,
    findings: &mut Vec<Finding>,
) {
    let (raw_a, raw_b) = (&a.bytes[ha.raw.clone()], &b.bytes[hb.raw.clone()]);
    if raw_a == raw_b {
        return;
    }
    let (name_a, name_b) = (a.name_of(ha), b.name_of(hb));
    if name_a != name_b {
        findings.push(Finding::new(
            shown,
            Some(&name_a),
            Some(&name_b),
            FindingKind::HeaderRenamed,
        ));
    }
    let (va, vb) = (a.value_of(ha), b.value_of(hb));
    if va == vb {
        if name_a == name_b {
            findings.push(Finding::new(
                shown,
                Some(&String::from_utf8_lossy(raw_a)),
                Some(&String::from_utf8_lossy(raw_b)),
                FindingKind::WhitespaceChanged,
            ));
        }
        return;
    }
    let squeeze = |v: &str| v.chars().filter(|c| !c.is_whitespace()).collect::<String>();
    let kind = match key(a, ha).as_str() {
        _ if squeeze(&va) == squeeze(&vb) => FindingKind::WhitespaceChanged,
        "max-forwards"
            if va.parse::<u32>().ok().map(|n| n.saturating_sub(1)) == vb.parse().ok() =>
        {
            FindingKind::MaxForwardsDecremented
        }
        "content-length" => FindingKind::ContentLengthChanged,
        _ => classify(&va, &vb),
    };
    findings.push(Finding::new(shown, Some(&va), Some(&vb), kind));
}

/// Address, port, or another change.
fn classify(before: &str, after: &str) -> FindingKind {
    let (ips_a, ips_b) = (addresses(before), addresses(after));
    if ips_a != ips_b {
        return FindingKind::AddressRewritten;
    }
    // Every run of digits as one '#': the value's shape without its numbers.
    let digits = |s: &str| -> String {
        let mut out = String::new();
        for c in s.chars() {
            if !c.is_ascii_digit() {
                out.push(c);
            } else if !out.ends_with('#') {
                out.push('#');
            }
        }
        out
    };
    // Same addresses, same text but for numbers: a port (or version) changed.
    if digits(before) == digits(after) && !ips_a.is_empty() {
        return FindingKind::PortRewritten;
    }
    FindingKind::ValueChanged
}

/// The IP addresses written in a value (URIs, Via sent-by, received=, SDP).
fn addresses(value: &str) -> Vec<IpAddr> {
    let mut out = Vec::new();
    for token in value.split([' ', ';', ',', '<', '>', '@', '"', '=', '/', '\t']) {
        let token = token.trim_start_matches("sip:").trim_start_matches("sips:");
        if let Some(inner) = token.strip_prefix('[').and_then(|t| t.split(']').next()) {
            if let Ok(ip) = inner.parse() {
                out.push(ip);
            }
            continue;
        }
        let host = match token.matches(':').count() {
            1 => token.split(':').next().unwrap_or(token),
            _ => token,
        };
        if let Ok(ip) = host.parse() {
            out.push(ip);
        }
    }
    out
}

fn compare_bodies(a: &[u8], b: &[u8], findings: &mut Vec<Finding>) {
    let (ta, tb) = (String::from_utf8_lossy(a), String::from_utf8_lossy(b));
    let is_sdp = |t: &str| t.starts_with("v=0");
    if !(is_sdp(&ta) && is_sdp(&tb)) {
        findings.push(Finding {
            header: "body".into(),
            before: Some(format!("{} bytes", a.len())),
            after: Some(format!("{} bytes", b.len())),
            kind: FindingKind::BodyRewritten,
        });
        return;
    }
    let (la, lb): (Vec<&str>, Vec<&str>) = (ta.lines().collect(), tb.lines().collect());
    let mut other = la.len() != lb.len();
    for (x, y) in la.iter().zip(&lb) {
        if x == y {
            continue;
        }
        match (x.split_once('='), y.split_once('=')) {
            (Some((kx, vx)), Some((ky, vy))) if kx == ky && ["o", "c", "m"].contains(&kx) => {
                findings.push(Finding::new(
                    &format!("sdp {kx}="),
                    Some(vx),
                    Some(vy),
                    classify(vx, vy),
                ));
            }
            _ => other = true,
        }
    }
    if other {
        findings.push(Finding {
            header: "body".into(),
            before: Some(format!("{} bytes", a.len())),
            after: Some(format!("{} bytes", b.len())),
            kind: FindingKind::BodyRewritten,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SENT: &str = "INVITE sip:bob@203.0.113.2 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.168.77.10:5060;branch=z9hG4bK-1;rport\r\n\
Max-Forwards: 70\r\n\
From: <sip:alice@203.0.113.2>;tag=a\r\n\
To: <sip:bob@203.0.113.2>\r\n\
Call-ID: c1\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:alice@192.168.77.10:5060>\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 75\r\n\r\n\
v=0\r\no=- 1 1 IN IP4 192.168.77.10\r\ns=-\r\nc=IN IP4 192.168.77.10\r\nm=audio 40000 RTP/AVP 0\r\n";

    fn kinds(f: &[Finding]) -> Vec<(String, FindingKind)> {
        f.iter().map(|f| (f.header.clone(), f.kind)).collect()
    }

    #[test]
    fn identical_messages_have_no_finding() {
        assert!(compare(SENT.as_bytes(), SENT.as_bytes()).is_empty());
    }

    #[test]
    fn the_kernel_alg_rewrites_are_named_with_before_and_after() {
        let got = SENT
            .replace("192.168.77.10", "203.0.113.1")
            .replace("Content-Length: 75", "Content-Length: 71");
        let f = compare(SENT.as_bytes(), got.as_bytes());
        let k = kinds(&f);
        for want in [
            ("Via".to_owned(), FindingKind::AddressRewritten),
            ("Contact".to_owned(), FindingKind::AddressRewritten),
            (
                "Content-Length".to_owned(),
                FindingKind::ContentLengthChanged,
            ),
            ("sdp o=".to_owned(), FindingKind::AddressRewritten),
            ("sdp c=".to_owned(), FindingKind::AddressRewritten),
        ] {
            assert!(k.contains(&want), "{want:?} not in {k:?}");
        }
        let contact = f.iter().find(|f| f.header == "Contact").unwrap();
        assert_eq!(
            contact.before.as_deref(),
            Some("<sip:alice@192.168.77.10:5060>")
        );
        assert_eq!(
            contact.after.as_deref(),
            Some("<sip:alice@203.0.113.1:5060>")
        );
        assert!(alg_suspected(&f));
    }

    #[test]
    fn a_port_change_alone_is_a_port_rewrite() {
        let got = SENT.replace("192.168.77.10:5060;branch", "192.168.77.10:40000;branch");
        assert_eq!(
            kinds(&compare(SENT.as_bytes(), got.as_bytes())),
            [("Via".to_owned(), FindingKind::PortRewritten)]
        );
    }

    #[test]
    fn cosmetic_changes_are_told_apart_from_rewrites() {
        let got = SENT
            .replace("Max-Forwards: 70", "Max-Forwards: 69")
            .replace("Call-ID: c1", "i:  c1")
            .replace("To: <sip:bob@203.0.113.2>", "TO:   <sip:bob@203.0.113.2>");
        let k = kinds(&compare(SENT.as_bytes(), got.as_bytes()));
        assert!(
            k.contains(&(
                "Max-Forwards".to_owned(),
                FindingKind::MaxForwardsDecremented
            )),
            "{k:?}"
        );
        assert!(
            k.contains(&("Call-ID".to_owned(), FindingKind::HeaderRenamed)),
            "{k:?}"
        );
        assert!(
            k.contains(&("To".to_owned(), FindingKind::HeaderRenamed)),
            "{k:?}"
        );
        assert!(!alg_suspected(&compare(SENT.as_bytes(), got.as_bytes())));
    }

    #[test]
    fn added_removed_and_reordered_headers_are_found() {
        let got = SENT
            .replace("Via: SIP/2.0/UDP 192.168.77.10:5060;branch=z9hG4bK-1;rport\r\n", "Via: SIP/2.0/UDP 203.0.113.1;branch=z9hG4bK-alg\r\nVia: SIP/2.0/UDP 192.168.77.10:5060;branch=z9hG4bK-1;rport\r\n")
            .replace("Call-ID: c1\r\nCSeq: 1 INVITE\r\n", "CSeq: 1 INVITE\r\nCall-ID: c1\r\n")
            .replace("Max-Forwards: 70\r\n", "");
        let k = kinds(&compare(SENT.as_bytes(), got.as_bytes()));
        assert!(
            k.contains(&("Via".to_owned(), FindingKind::HeaderAdded))
                || k.contains(&("Via".to_owned(), FindingKind::AddressRewritten)),
            "{k:?}"
        );
        assert!(
            k.contains(&("Max-Forwards".to_owned(), FindingKind::HeaderRemoved)),
            "{k:?}"
        );
        assert!(
            k.contains(&("headers".to_owned(), FindingKind::HeadersReordered)),
            "{k:?}"
        );
    }

    #[test]
    fn a_cut_message_is_truncated_and_folding_is_whitespace() {
        assert_eq!(
            kinds(&compare(SENT.as_bytes(), &SENT.as_bytes()[..100])),
            [("message".to_owned(), FindingKind::Truncated)]
        );
        let folded = SENT.replace(
            "From: <sip:alice@203.0.113.2>;tag=a",
            "From: <sip:alice@203.0.113.2>\r\n ;tag=a",
        );
        let k = kinds(&compare(SENT.as_bytes(), folded.as_bytes()));
        assert_eq!(k, [("From".to_owned(), FindingKind::WhitespaceChanged)]);
    }
}
