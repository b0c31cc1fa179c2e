//! The comparison itself.
use std::net::IpAddr;

use serde::Serialize;

use crate::sip::MessageIndex;

/// What kind of change a [`Finding`] is. Only [`AddressRewritten`] and
/// [`PortRewritten`] count as a SIP ALG ([`alg_suspected`]); the others tell
/// of proxies, reformatting or damage, and are reported without blame.
///
/// [`AddressRewritten`]: FindingKind::AddressRewritten
/// [`PortRewritten`]: FindingKind::PortRewritten
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// An IP address in the value became another (NAT's public address).
    AddressRewritten,
    /// Only a port changed.
    PortRewritten,
    /// A header the path added among ours.
    HeaderAdded,
    /// A header the path added above every one of that name we sent: a
    /// proxy's (or a proxying ALG's) own Via or Record-Route.
    HeaderAddedOnTop,
    /// A header we sent that did not arrive.
    HeaderRemoved,
    /// The same headers, in another order (`before` and `after` list the
    /// names whose order changed).
    HeadersReordered,
    /// The name changed spelling: case, or compact vs full form.
    HeaderRenamed,
    /// The same value with other whitespace or folding.
    WhitespaceChanged,
    /// Max-Forwards one lower: a proxy on the path (RFC 3261 §16.6).
    MaxForwardsDecremented,
    /// Content-Length changed (following a body rewrite, usually).
    ContentLengthChanged,
    /// The Content-Length that arrived does not match the body that
    /// arrived (the one sent did): a rewrite of the body (a search and
    /// replace of addresses) left it stale, and the far end will cut the
    /// body or wait for bytes that never come.
    ContentLengthStale,
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
    /// As sent: the header's value, or what the kind compares (the name for
    /// a renaming, the whole line for a whitespace change, the names in order
    /// for a reordering, the size for a truncation: `"812 bytes"`); `None`
    /// for a header the path added.
    pub before: Option<String>,
    /// As received, the same way as `before`; `None` for a header the path
    /// removed.
    pub after: Option<String>,
    /// What kind of change this is.
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

/// Whether the path changed SIP at all: any finding but the cosmetic ones
/// (spacing, a header name's spelling). A proxy's Max-Forwards, a Via put
/// on top, a header removed, a body or message cut short all count: SIP
/// arrived otherwise than it was sent.
pub fn sip_changed(findings: &[Finding]) -> bool {
    findings.iter().any(|f| {
        !matches!(
            f.kind,
            FindingKind::WhitespaceChanged | FindingKind::HeaderRenamed
        )
    })
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
    // Each copy's declared length against its own body: one that was right
    // when sent and is not on arrival was left stale by the path.
    let declared = |i: &MessageIndex<'_>| {
        i.header("content-length")
            .and_then(|v| v.trim().parse::<usize>().ok())
    };
    if let (Some(da), Some(db)) = (declared(&a), declared(&b))
        && da == body_a.len()
        && db != body_b.len()
    {
        findings.push(Finding::new(
            "Content-Length",
            Some(&db.to_string()),
            Some(&format!("{} bytes", body_b.len())),
            FindingKind::ContentLengthStale,
        ));
    }
    findings
}

/// A header's identity for pairing: its full name, lower case.
fn key(index: &MessageIndex<'_>, h: &crate::sip::HeaderLine) -> String {
    h.canonical
        .map_or_else(|| index.name_of(h).to_ascii_lowercase(), str::to_owned)
}

/// Pairs each header as sent with the same header as received, by identity
/// before position: first instances with the very same value, then (for
/// Via) the same branch, and only then what is left of a name, in order.
/// A proxying ALG that puts its own Via on top therefore shows as one Via
/// added on top, ours untouched below it, not as a rewrite of ours.
fn compare_headers(a: &MessageIndex<'_>, b: &MessageIndex<'_>, findings: &mut Vec<Finding>) {
    let names_a: Vec<String> = a.headers.iter().map(|h| key(a, h)).collect();
    let names_b: Vec<String> = b.headers.iter().map(|h| key(b, h)).collect();
    let values_a: Vec<String> = a.headers.iter().map(|h| squeeze(&a.value_of(h))).collect();
    let values_b: Vec<String> = b.headers.iter().map(|h| squeeze(&b.value_of(h))).collect();
    // pair[i] = the received header that header i as sent became.
    let mut pair: Vec<Option<usize>> = vec![None; a.headers.len()];
    let mut taken = vec![false; b.headers.len()];
    let passes: [&dyn Fn(usize, usize) -> bool; 3] = [
        &|i, j| values_a[i] == values_b[j],
        &|i, j| {
            names_a[i] == "via"
                && via_branch(&values_a[i]).is_some()
                && via_branch(&values_a[i]) == via_branch(&values_b[j])
        },
        &|_, _| true,
    ];
    for same in passes {
        for i in 0..a.headers.len() {
            if pair[i].is_some() {
                continue;
            }
            let found =
                (0..b.headers.len()).find(|&j| !taken[j] && names_a[i] == names_b[j] && same(i, j));
            if let Some(j) = found {
                pair[i] = Some(j);
                taken[j] = true;
            }
        }
    }
    for (i, h) in a.headers.iter().enumerate() {
        let shown = a.name_of(h).into_owned();
        match pair[i] {
            Some(j) => compare_header(a, h, b, &b.headers[j], &shown, findings),
            None => findings.push(Finding::new(
                &shown,
                Some(&a.value_of(h)),
                None,
                FindingKind::HeaderRemoved,
            )),
        }
    }
    for (j, h) in b.headers.iter().enumerate() {
        if taken[j] {
            continue;
        }
        // Above every header of its name that we sent: a proxy's own Via
        // or Record-Route goes there.
        let on_top = pair
            .iter()
            .enumerate()
            .filter(|(i, _)| names_a[*i] == names_b[j])
            .filter_map(|(_, p)| *p)
            .min()
            .is_some_and(|first_ours| j < first_ours);
        findings.push(Finding::new(
            &b.name_of(h),
            None,
            Some(&b.value_of(h)),
            if on_top {
                FindingKind::HeaderAddedOnTop
            } else {
                FindingKind::HeaderAdded
            },
        ));
    }
    if let Some((before, after)) = reordering(a, b, &pair) {
        findings.push(Finding {
            header: "headers".into(),
            before: Some(before),
            after: Some(after),
            kind: FindingKind::HeadersReordered,
        });
    }
}

/// The headers whose order changed, as sent and as received (the shortest
/// run of the message that holds every move), or `None` when none moved.
fn reordering(
    a: &MessageIndex<'_>,
    b: &MessageIndex<'_>,
    pair: &[Option<usize>],
) -> Option<(String, String)> {
    let kept: Vec<(usize, usize)> = pair
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.map(|j| (i, j)))
        .collect();
    let mut sorted: Vec<usize> = kept.iter().map(|&(_, j)| j).collect();
    sorted.sort_unstable();
    let differs = |k: &usize| kept[*k].1 != sorted[*k];
    let first = (0..kept.len()).find(differs)?;
    let last = (0..kept.len()).rev().find(differs)?;
    let run = &kept[first..=last];
    let before: Vec<String> = run
        .iter()
        .map(|&(i, _)| a.name_of(&a.headers[i]).into_owned())
        .collect();
    let mut by_arrival = run.to_vec();
    by_arrival.sort_unstable_by_key(|&(_, j)| j);
    let after: Vec<String> = by_arrival
        .iter()
        .map(|&(_, j)| b.name_of(&b.headers[j]).into_owned())
        .collect();
    Some((before.join(", "), after.join(", ")))
}

/// A value without its whitespace: folding and spacing are not identity.
fn squeeze(v: &str) -> String {
    v.chars().filter(|c| !c.is_whitespace()).collect()
}

/// The `branch` parameter of a Via value (RFC 3261 §8.1.1.7): what makes
/// a Via ours whatever its sent-by became.
fn via_branch(value: &str) -> Option<&str> {
    value
        .split(';')
        .skip(1)
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("branch"))
        .map(|(_, v)| v.trim())
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

/// SDP lines whose changes are named one by one (RFC 4566 §5): the origin,
/// the connection address, the media line. Other lines are compared too,
/// and reported together as a body rewrite.
const SDP_NAMED: [char; 3] = ['o', 'c', 'm'];

/// The sections of an SDP body (RFC 4566 §5): the session (before the first
/// `m=`), then one per media description, each its lines as (type, value).
fn sdp_sections(text: &str) -> Vec<Vec<(char, &str)>> {
    let mut sections = vec![Vec::new()];
    for line in text.lines() {
        let Some((kind, value)) = line.split_once('=') else {
            continue;
        };
        let mut chars = kind.chars();
        let (Some(k), None) = (chars.next(), chars.next()) else {
            continue;
        };
        if k == 'm' {
            sections.push(Vec::new());
        }
        if let Some(last) = sections.last_mut() {
            last.push((k, value));
        }
    }
    sections
}

/// Compares two SDP bodies by section and by field: the n-th line of each
/// type in a section with the n-th of that type in the same section, so
/// that a line inserted or removed (an `i=` recording the original address)
/// hides nothing after it and is itself named.
fn compare_bodies(a: &[u8], b: &[u8], findings: &mut Vec<Finding>) {
    let (ta, tb) = (String::from_utf8_lossy(a), String::from_utf8_lossy(b));
    let is_sdp = |t: &str| t.starts_with("v=0");
    let rewritten = |findings: &mut Vec<Finding>| {
        findings.push(Finding {
            header: "body".into(),
            before: Some(format!("{} bytes", a.len())),
            after: Some(format!("{} bytes", b.len())),
            kind: FindingKind::BodyRewritten,
        });
    };
    if !(is_sdp(&ta) && is_sdp(&tb)) {
        return rewritten(findings);
    }
    let (sa, sb) = (sdp_sections(&ta), sdp_sections(&tb));
    let mut other = sa.len() != sb.len();
    for (x, y) in sa.iter().zip(&sb) {
        other |= compare_sdp_section(x, y, findings);
    }
    if other {
        rewritten(findings);
    }
}

/// One SDP section's fields; whether anything changed that is not named on
/// its own.
fn compare_sdp_section(
    a: &[(char, &str)],
    b: &[(char, &str)],
    findings: &mut Vec<Finding>,
) -> bool {
    let mut other = false;
    let mut kinds: Vec<char> = a.iter().chain(b).map(|&(k, _)| k).collect();
    kinds.sort_unstable();
    kinds.dedup();
    for k in kinds {
        let of = |s: &[(char, &str)]| -> Vec<String> {
            s.iter()
                .filter(|&&(t, _)| t == k)
                .map(|&(_, v)| v.to_owned())
                .collect()
        };
        let (va, vb) = (of(a), of(b));
        let header = format!("sdp {k}=");
        for i in 0..va.len().max(vb.len()) {
            match (va.get(i), vb.get(i)) {
                (Some(x), Some(y)) if x == y => {}
                (Some(x), Some(y)) if SDP_NAMED.contains(&k) => {
                    let kind = if k == 'm' {
                        classify_media(x, y)
                    } else {
                        classify(x, y)
                    };
                    findings.push(Finding::new(&header, Some(x), Some(y), kind));
                }
                (Some(_), Some(_)) => other = true,
                (None, Some(y)) => {
                    findings.push(Finding::new(
                        &header,
                        None,
                        Some(y),
                        FindingKind::HeaderAdded,
                    ));
                }
                (Some(x), None) => {
                    findings.push(Finding::new(
                        &header,
                        Some(x),
                        None,
                        FindingKind::HeaderRemoved,
                    ));
                }
                (None, None) => {}
            }
        }
    }
    other
}

/// An `m=` line (`audio 40000 RTP/AVP 0 8`): only its port (and port
/// count) changed is a port rewrite, whatever the addresses say.
fn classify_media(before: &str, after: &str) -> FindingKind {
    let (ta, tb): (Vec<&str>, Vec<&str>) = (
        before.split_whitespace().collect(),
        after.split_whitespace().collect(),
    );
    let same_but_port = ta.len() == tb.len()
        && ta.len() >= 2
        && ta
            .iter()
            .zip(&tb)
            .enumerate()
            .all(|(i, (x, y))| i == 1 || x == y);
    if same_but_port {
        FindingKind::PortRewritten
    } else {
        classify(before, after)
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

    /// An INVITE from `pbx` with `sdp` as its body and a right Content-Length.
    fn invite_with(pbx: &str, sdp: &str) -> String {
        format!(
            "INVITE sip:bob@example.net SIP/2.0\r\nVia: SIP/2.0/UDP {pbx};branch=z9hG4bK-s\r\nCall-ID: s1\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        )
    }

    /// SDP of `ip` (IPv4 or IPv6) with audio on `audio` and video on `video`.
    fn sdp(ip: &str, audio: u16, video: u16) -> String {
        let family = if ip.contains(':') { "IP6" } else { "IP4" };
        format!(
            "v=0\r\no=- 7 7 IN {family} {ip}\r\ns=-\r\nc=IN {family} {ip}\r\nt=0 0\r\n\
             m=audio {audio} RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\n\
             m=video {video} RTP/AVP 96\r\nc=IN {family} {ip}\r\na=rtpmap:96 H264/90000\r\n"
        )
    }

    #[test]
    fn an_inserted_sdp_line_hides_no_rewrite_after_it_and_is_named_itself() {
        let sent = invite_with("192.168.1.5:5060", &sdp("192.168.1.5", 40000, 40002));
        // An ALG records the original address in an i= line and rewrites c=.
        let got = sent.replace(
            "s=-\r\nc=IN IP4 192.168.1.5",
            "s=-\r\ni=orig 192.168.1.5\r\nc=IN IP4 198.51.100.7",
        );
        let f = compare(sent.as_bytes(), got.as_bytes());
        let k = kinds(&f);
        assert!(
            k.contains(&("sdp i=".into(), FindingKind::HeaderAdded)),
            "{k:?}"
        );
        assert!(
            k.contains(&("sdp c=".into(), FindingKind::AddressRewritten)),
            "{k:?}"
        );
        assert!(
            !k.iter()
                .any(|(_, kind)| *kind == FindingKind::BodyRewritten),
            "{k:?}"
        );
        assert!(alg_suspected(&f));
    }

    #[test]
    fn an_m_line_whose_port_moved_is_a_port_rewrite_in_its_own_media_section_v6() {
        let sent = invite_with("[2001:db8::5]:5060", &sdp("2001:db8::5", 40000, 40002));
        let got = sent.replace("m=video 40002", "m=video 50002");
        let f = compare(sent.as_bytes(), got.as_bytes());
        assert_eq!(
            kinds(&f),
            [("sdp m=".to_owned(), FindingKind::PortRewritten)],
            "{f:?}"
        );
        assert_eq!(f[0].describe(), "SDP m=: port rewritten 40002 → 50002");
        assert!(alg_suspected(&f));
    }

    #[test]
    fn a_media_sections_own_connection_line_is_compared_with_its_own() {
        let sent = invite_with("192.168.1.5:5060", &sdp("192.168.1.5", 40000, 40002));
        // Only the video section's c= is rewritten.
        let got = sent.replace(
            "m=video 40002 RTP/AVP 96\r\nc=IN IP4 192.168.1.5",
            "m=video 40002 RTP/AVP 96\r\nc=IN IP4 198.51.10.7",
        );
        let f = compare(sent.as_bytes(), got.as_bytes());
        assert_eq!(
            kinds(&f),
            [("sdp c=".to_owned(), FindingKind::AddressRewritten)],
            "{f:?}"
        );
        assert_eq!(f[0].before.as_deref(), Some("IN IP4 192.168.1.5"));
    }

    #[test]
    fn a_content_length_left_stale_by_a_search_and_replace_is_named() {
        let sent = invite_with("192.168.1.5:5060", &sdp("192.168.1.5", 40000, 40002));
        // Longer addresses in, the declared length kept.
        let got = sent.replace("IN IP4 192.168.1.5", "IN IP4 198.51.100.117");
        let f = compare(sent.as_bytes(), got.as_bytes());
        let stale = f
            .iter()
            .find(|f| f.kind == FindingKind::ContentLengthStale)
            .unwrap_or_else(|| panic!("{f:?}"));
        let body = got.split("\r\n\r\n").nth(1).unwrap().len();
        assert_eq!(
            stale.after.as_deref(),
            Some(format!("{body} bytes").as_str())
        );
        assert!(
            stale.describe().contains("left stale"),
            "{}",
            stale.describe()
        );
        // A Content-Length that follows its body is no stale one.
        let fixed = invite_with("192.168.1.5:5060", got.split("\r\n\r\n").nth(1).unwrap());
        let f = compare(sent.as_bytes(), fixed.as_bytes());
        assert!(
            f.iter().all(|f| f.kind != FindingKind::ContentLengthStale),
            "{f:?}"
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 64, ..Default::default() })]
        #[test]
        fn every_alg_personality_is_named_by_field(
            v6 in proptest::prelude::any::<bool>(),
            host in 1u8..250,
            public in 1u8..250,
            audio in 10_000u16..30_000,
            moved in 1u16..1000,
            insert_i in proptest::prelude::any::<bool>(),
            fix_length in proptest::prelude::any::<bool>(),
        ) {
            let (private, rewritten) = if v6 {
                (format!("fd00::{host:x}"), format!("2001:db8::{public:x}"))
            } else {
                (format!("192.168.7.{host}"), format!("198.51.100.{public}"))
            };
            let sent_sdp = sdp(&private, audio, audio + 2);
            let sent = invite_with("192.168.7.1:5060", &sent_sdp);
            let mut got_sdp = sent_sdp
                .replace(&format!(" {private}\r\n"), &format!(" {rewritten}\r\n"))
                .replace(&format!("m=audio {audio}"), &format!("m=audio {}", audio + moved));
            if insert_i {
                got_sdp = got_sdp.replace("s=-\r\n", &format!("s=-\r\ni=was {private}\r\n"));
            }
            let got = if fix_length {
                invite_with("192.168.7.1:5060", &got_sdp)
            } else {
                sent.replace(&sent_sdp, &got_sdp)
            };
            let f = compare(sent.as_bytes(), got.as_bytes());
            let k = kinds(&f);
            let has = |h: &str, kind: FindingKind| k.contains(&(h.to_owned(), kind));
            proptest::prop_assert!(has("sdp m=", FindingKind::PortRewritten), "{:?}", k);
            proptest::prop_assert_eq!(has("sdp c=", FindingKind::AddressRewritten), private != rewritten, "{:?}", k);
            proptest::prop_assert_eq!(has("sdp i=", FindingKind::HeaderAdded), insert_i, "{:?}", k);
            proptest::prop_assert!(!has("body", FindingKind::BodyRewritten), "{:?}", k);
            let stale = f.iter().any(|f| f.kind == FindingKind::ContentLengthStale);
            proptest::prop_assert_eq!(stale, !fix_length && got_sdp.len() != sent_sdp.len(), "{:?}", k);
        }
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
            .replace(
                "Call-ID: c1\r\nCSeq: 1 INVITE\r\n",
                "CSeq: 1 INVITE\r\nCall-ID: c1\r\n",
            )
            .replace("Max-Forwards: 70\r\n", "");
        let f = compare(SENT.as_bytes(), got.as_bytes());
        let k = kinds(&f);
        assert!(
            k.contains(&("Max-Forwards".to_owned(), FindingKind::HeaderRemoved)),
            "{k:?}"
        );
        let order = f
            .iter()
            .find(|f| f.kind == FindingKind::HeadersReordered)
            .expect("reordering found");
        assert_eq!(order.before.as_deref(), Some("Call-ID, CSeq"));
        assert_eq!(order.after.as_deref(), Some("CSeq, Call-ID"));
    }

    #[test]
    fn a_via_put_on_top_by_a_proxying_alg_is_an_addition_not_a_rewrite_of_ours() {
        let ours = "Via: SIP/2.0/UDP 192.168.77.10:5060;branch=z9hG4bK-1;rport\r\n";
        let got = SENT.replace(
            ours,
            &format!("Via: SIP/2.0/UDP 203.0.113.1:5060;branch=z9hG4bK-alg\r\n{ours}"),
        );
        let f = compare(SENT.as_bytes(), got.as_bytes());
        assert_eq!(
            kinds(&f),
            [("Via".to_owned(), FindingKind::HeaderAddedOnTop)],
            "{f:?}"
        );
        assert_eq!(
            f[0].after.as_deref(),
            Some("SIP/2.0/UDP 203.0.113.1:5060;branch=z9hG4bK-alg")
        );
    }

    #[test]
    fn a_via_whose_sent_by_changed_is_found_by_its_branch_below_an_added_one() {
        let ours = "Via: SIP/2.0/UDP 192.168.77.10:5060;branch=z9hG4bK-1;rport\r\n";
        let got = SENT.replace(
            ours,
            "Via: SIP/2.0/UDP 203.0.113.1:5060;branch=z9hG4bK-alg\r\n\
             Via: SIP/2.0/UDP 203.0.113.1:5060;branch=z9hG4bK-1;rport\r\n",
        );
        let f = compare(SENT.as_bytes(), got.as_bytes());
        let k = kinds(&f);
        assert_eq!(
            k,
            [
                ("Via".to_owned(), FindingKind::AddressRewritten),
                ("Via".to_owned(), FindingKind::HeaderAddedOnTop)
            ]
        );
        assert_eq!(
            f[0].before.as_deref(),
            Some("SIP/2.0/UDP 192.168.77.10:5060;branch=z9hG4bK-1;rport")
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
