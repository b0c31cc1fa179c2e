//! A shadow REGISTER: the PBX's own bytes with its credentials blanked and
//! the probe marker added.
use crate::{echo::wire, sip::MessageIndex};

/// What a shadow's `Authorization` / `Proxy-Authorization` value becomes:
/// this character repeated to the original's length, so that sizes (and
/// with them an ALG's fragmentation or Content-Length behaviour) stay.
pub const BLANK: u8 = b'x';

/// The shadow of `register` (one whole SIP request as it left the NIC):
/// every credentials header value blanked to the same length, and the
/// probe headers (`X-Sipwatch-Probe: <id>`, with `key` also
/// `X-Sipwatch-Auth`, with `keepalive_gaps` also `X-Sipwatch-Keepalive`)
/// inserted before the last header line. `unix_time` is now, for the
/// signature. `None` when the bytes are not a request with a header block.
pub fn shadow(
    register: &[u8],
    id: &str,
    key: Option<&[u8]>,
    unix_time: u64,
    keepalive_gaps: &[u64],
) -> Option<Vec<u8>> {
    let index = MessageIndex::parse(register);
    index.start.as_ref()?;
    let last = index.headers.last()?;
    let mut out = register.to_vec();
    for h in &index.headers {
        if matches!(
            h.canonical,
            Some("authorization") | Some("proxy-authorization")
        ) {
            for b in &mut out[h.value.clone()] {
                if !matches!(*b, b'\r' | b'\n') {
                    *b = BLANK;
                }
            }
        }
    }
    let mut marker = format!("{}: {id}\r\n", wire::PROBE_HEADER);
    if let Some(k) = key {
        marker.push_str(&format!(
            "{}: {}\r\n",
            wire::AUTH_HEADER,
            wire::probe_auth(k, id, unix_time)
        ));
    }
    if !keepalive_gaps.is_empty() {
        let gaps: Vec<String> = keepalive_gaps.iter().map(u64::to_string).collect();
        marker.push_str(&format!(
            "{}: {}\r\n",
            wire::KEEPALIVE_HEADER,
            gaps.join(",")
        ));
    }
    let at = last.raw.start;
    out.splice(at..at, marker.into_bytes());
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REGISTER: &str = "REGISTER sip:203.0.113.2 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.168.77.10:5060;branch=z9hG4bK-1;rport\r\n\
From: <sip:1001@203.0.113.2>;tag=a\r\nTo: <sip:1001@203.0.113.2>\r\nCall-ID: r1\r\nCSeq: 2 REGISTER\r\n\
Contact: <sip:1001@192.168.77.10:5060>\r\nExpires: 300\r\n\
Authorization: Digest username=\"1001\", realm=\"p\", nonce=\"n\", uri=\"sip:203.0.113.2\", response=\"0123456789abcdef0123456789abcdef\"\r\n\
Content-Length: 0\r\n\r\n";

    #[test]
    fn credentials_are_blanked_to_the_same_length_and_the_rest_kept() {
        let s = shadow(REGISTER.as_bytes(), "sw-a-1", None, 0, &[]).unwrap();
        let text = String::from_utf8(s).unwrap();
        assert!(!text.contains("0123456789abcdef"), "{text}");
        assert!(!text.contains("username"), "{text}");
        let line = text
            .lines()
            .find(|l| l.starts_with("Authorization:"))
            .unwrap();
        let original = REGISTER
            .lines()
            .find(|l| l.starts_with("Authorization:"))
            .unwrap();
        assert_eq!(line.len(), original.len());
        for kept in [
            "Via: SIP/2.0/UDP 192.168.77.10:5060;branch=z9hG4bK-1;rport\r\n",
            "Contact: <sip:1001@192.168.77.10:5060>\r\n",
            "Expires: 300\r\n",
        ] {
            assert!(text.contains(kept), "{kept} kept");
        }
        assert!(text.contains("X-Sipwatch-Probe: sw-a-1\r\nContent-Length: 0\r\n\r\n"));
    }

    #[test]
    fn a_keyed_shadow_is_signed_and_garbage_has_no_shadow() {
        let s = shadow(
            REGISTER.as_bytes(),
            "sw-a-2",
            Some(b"k"),
            1_800_000_000,
            &[20, 40],
        )
        .unwrap();
        let text = String::from_utf8(s).unwrap();
        assert!(text.contains("X-Sipwatch-Auth: 1800000000:"), "{text}");
        assert!(text.contains("X-Sipwatch-Keepalive: 20,40\r\n"), "{text}");
        assert!(shadow(b"\x00\x01 not sip", "sw-a-3", None, 0, &[]).is_none());
        assert!(shadow(b"", "sw-a-3", None, 0, &[]).is_none());
    }
}
