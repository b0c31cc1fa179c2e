//! Findings in an admin's words, written like a diff:
//! `Contact: address rewritten 192.168.77.10:5060 → 203.0.113.1:5060`.
//! The full values stay in the [`Finding`] for `-v` and JSON.
use super::{Finding, FindingKind};

/// Longest value shown whole in a one-line description (characters).
const SHORT: usize = 72;

impl Finding {
    /// One line: the header, what happened, and the values that changed
    /// (the addresses alone where an address or port was rewritten).
    pub fn describe(&self) -> String {
        let name = self.shown_name();
        let before = self.before.as_deref().unwrap_or("");
        let after = self.after.as_deref().unwrap_or("");
        match self.kind {
            FindingKind::AddressRewritten => {
                let (x, y) = changed_endpoint(before, after);
                format!("{name}: address rewritten {x} → {y}")
            }
            FindingKind::PortRewritten if self.header == "sdp m=" => {
                let port = |v: &str| v.split_whitespace().nth(1).unwrap_or("").to_owned();
                format!("{name}: port rewritten {} → {}", port(before), port(after))
            }
            FindingKind::PortRewritten => {
                let (x, y) = changed_endpoint(before, after);
                format!("{name}: port rewritten {x} → {y}")
            }
            FindingKind::HeaderAddedOnTop => {
                format!("{name}: added on top by the path: {}", shorten(after))
            }
            FindingKind::HeaderAdded => format!("{name}: added by the path: {}", shorten(after)),
            FindingKind::HeaderRemoved => {
                format!("{name}: removed by the path (was {})", shorten(before))
            }
            FindingKind::HeadersReordered => format!("headers reordered: {before} → {after}"),
            FindingKind::HeaderRenamed => format!("{name}: name written as {after}"),
            FindingKind::WhitespaceChanged => {
                format!("{name}: spacing or line folding changed (same value)")
            }
            FindingKind::MaxForwardsDecremented => {
                format!("{name}: {before} → {after} (a proxy on the path)")
            }
            FindingKind::ContentLengthChanged => {
                format!("{name}: {before} → {after} (the body was rewritten)")
            }
            FindingKind::ContentLengthStale => format!(
                "{name}: says {before} but the body that arrived is {after}: left stale by a rewrite of the body (a search-and-replace ALG)"
            ),
            FindingKind::StartLineChanged => {
                format!("start line: {} → {}", shorten(before), shorten(after))
            }
            FindingKind::ValueChanged => {
                format!("{name}: changed {} → {}", shorten(before), shorten(after))
            }
            FindingKind::BodyRewritten => format!("body: rewritten ({before} → {after})"),
            FindingKind::Truncated => {
                format!("message: cut short ({before} sent, {after} arrived)")
            }
        }
    }

    /// `sdp c=` is shown as `SDP c=`; header names as they were written.
    fn shown_name(&self) -> String {
        match self.header.strip_prefix("sdp ") {
            Some(line) => format!("SDP {line}"),
            None => self.header.clone(),
        }
    }
}

/// The first address (with its port, where written) that differs between
/// the two values; the whole values, shortened, when none can be told.
fn changed_endpoint(before: &str, after: &str) -> (String, String) {
    let (a, b) = (endpoints(before), endpoints(after));
    for (x, y) in a.iter().zip(&b) {
        if x != y {
            return (x.clone(), y.clone());
        }
    }
    (shorten(before), shorten(after))
}

/// `host[:port]` of every IP address written in a value: URIs, Via sent-by,
/// `received=`, SDP `c=` / `o=`.
fn endpoints(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    for token in value.split([' ', ';', ',', '<', '>', '@', '"', '=', '/', '\t']) {
        let token = token.trim_start_matches("sip:").trim_start_matches("sips:");
        if let Some(rest) = token.strip_prefix('[') {
            let Some((ip, tail)) = rest.split_once(']') else {
                continue;
            };
            if ip.parse::<std::net::Ipv6Addr>().is_ok() {
                out.push(format!("[{ip}]{tail}"));
            }
            continue;
        }
        let host = token.split(':').next().unwrap_or(token);
        let v6 = token.matches(':').count() > 1 && token.parse::<std::net::Ipv6Addr>().is_ok();
        if v6 || host.parse::<std::net::Ipv4Addr>().is_ok() {
            out.push(token.to_owned());
        }
    }
    out
}

/// A value cut to [`SHORT`] characters, with `…` where it was cut.
fn shorten(value: &str) -> String {
    if value.chars().count() <= SHORT {
        return value.to_owned();
    }
    let mut cut: String = value.chars().take(SHORT - 1).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(
        header: &str,
        before: Option<&str>,
        after: Option<&str>,
        kind: FindingKind,
    ) -> Finding {
        Finding {
            header: header.into(),
            before: before.map(Into::into),
            after: after.map(Into::into),
            kind,
        }
    }

    #[test]
    fn a_rewritten_contact_reads_like_a_diff_of_its_address() {
        let f = finding(
            "Contact",
            Some("<sip:alice@192.168.77.10:5060>"),
            Some("<sip:alice@203.0.113.1:5060>"),
            FindingKind::AddressRewritten,
        );
        assert_eq!(
            f.describe(),
            "Contact: address rewritten 192.168.77.10:5060 → 203.0.113.1:5060"
        );
        let sdp = finding(
            "sdp c=",
            Some("IN IP4 192.168.77.10"),
            Some("IN IP4 203.0.113.1"),
            FindingKind::AddressRewritten,
        );
        assert_eq!(
            sdp.describe(),
            "SDP c=: address rewritten 192.168.77.10 → 203.0.113.1"
        );
        let v6 = finding(
            "Via",
            Some("SIP/2.0/UDP [fd77::10]:5060;branch=z9hG4bK-1"),
            Some("SIP/2.0/UDP [2001:db8:113::1]:5060;branch=z9hG4bK-1"),
            FindingKind::AddressRewritten,
        );
        assert_eq!(
            v6.describe(),
            "Via: address rewritten [fd77::10]:5060 → [2001:db8:113::1]:5060"
        );
    }

    #[test]
    fn no_rust_names_and_no_empty_values_in_the_words() {
        let all = [
            finding(
                "Via",
                None,
                Some("SIP/2.0/UDP 203.0.113.1:5060;branch=z9hG4bK-alg"),
                FindingKind::HeaderAddedOnTop,
            ),
            finding(
                "Max-Forwards",
                Some("70"),
                Some("69"),
                FindingKind::MaxForwardsDecremented,
            ),
            finding(
                "headers",
                Some("Call-ID, CSeq"),
                Some("CSeq, Call-ID"),
                FindingKind::HeadersReordered,
            ),
            finding("Max-Forwards", Some("70"), None, FindingKind::HeaderRemoved),
            finding(
                "Content-Length",
                Some("194"),
                Some("190"),
                FindingKind::ContentLengthChanged,
            ),
        ];
        let words: Vec<String> = all.iter().map(Finding::describe).collect();
        assert_eq!(
            words,
            [
                "Via: added on top by the path: SIP/2.0/UDP 203.0.113.1:5060;branch=z9hG4bK-alg",
                "Max-Forwards: 70 → 69 (a proxy on the path)",
                "headers reordered: Call-ID, CSeq → CSeq, Call-ID",
                "Max-Forwards: removed by the path (was 70)",
                "Content-Length: 194 → 190 (the body was rewritten)",
            ]
        );
        for w in &words {
            assert!(
                !w.contains("(none)") && !w.contains("Rewritten") && !w.contains("Decremented"),
                "{w}"
            );
        }
    }

    #[test]
    fn long_values_are_shortened_with_an_ellipsis() {
        let long = "x".repeat(200);
        let f = finding("Call-ID", Some(&long), Some("y"), FindingKind::ValueChanged);
        let d = f.describe();
        assert!(d.contains('…') && d.chars().count() < 120, "{d}");
    }
}
