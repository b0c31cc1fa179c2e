//! The mirror format that `sipwatch echo` answers probes with, shared with
//! the probe that reads it.
//!
//! A probe is any SIP request with an `X-Sipwatch-Probe: <id>` header; with a
//! shared key it also carries `X-Sipwatch-Auth: <unix time>:<hmac>`, an
//! HMAC-SHA256 of `id:time` (fields no ALG rewrites: the request as a whole
//! cannot be signed, since its rewriting is what we want to see). The echo
//! answers `200 OK` with the transaction headers copied and a body of type
//! [`CONTENT_TYPE`]: a JSON [`Mirror`] whose fields that hold addresses are
//! base64 (so that no ALG recognises an address in it), and with a key,
//! `X-Sipwatch-Auth: <hmac of the body>`. Over UDP the echo answers only
//! when the answer is at most 4 times the probe's size: probes that are too
//! short to be answered safely should be padded.
use base64::{Engine as _, engine::general_purpose::STANDARD as B64};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::sip::MessageIndex;

/// The header that makes a SIP request a probe; its value is the probe's id.
/// The echo answers nothing that lacks it.
pub const PROBE_HEADER: &str = "X-Sipwatch-Probe";
/// The header that carries the HMAC with a shared key: on a probe
/// `<unix time>:<hmac of id:time>` ([`probe_auth`]), on an answer the body's
/// HMAC ([`body_auth`]).
pub const AUTH_HEADER: &str = "X-Sipwatch-Auth";
/// The Content-Type of an answer's body, a JSON [`Mirror`]; a made-up media
/// type so that no ALG parses the body as SDP.
pub const CONTENT_TYPE: &str = "application/x-sipwatch-mirror";
/// A probe's id: 1 to 64 of `[A-Za-z0-9._-]`.
pub const MAX_ID_LEN: usize = 64;
/// Seconds a keyed probe's timestamp may be off.
pub const MAX_CLOCK_SKEW: u64 = 300;
/// A probe asks, with this header, for NAT keep-alives after it is
/// answered: the silences before each, in seconds (`20,40,80`). The echo
/// sends each to the source the probe came from, from the port it
/// answered on, so that the prober learns how long the NAT mapping of its
/// port lives without traffic.
pub const KEEPALIVE_HEADER: &str = "X-Sipwatch-Keepalive";
/// Keep-alives one probe may ask for at most.
pub const MAX_KEEPALIVES: usize = 8;
/// The longest silence asked before one keep-alive (seconds).
pub const MAX_KEEPALIVE_GAP_S: u64 = 900;
/// The first bytes of a keep-alive datagram: no SIP start line, so that
/// nothing takes it for SIP.
pub const KEEPALIVE_MAGIC: &str = "SIPWATCH-KEEPALIVE";

/// The first bytes of a datagram a prober sends, from the probe's source,
/// when it goes away (`attach --echo` stopping): the echo stops that
/// probe's keep-alives, so that nothing more reaches the port (a PBX's
/// once sipwatch no longer consumes them). Never answered.
pub const KEEPALIVE_STOP_MAGIC: &str = "SIPWATCH-KEEPALIVE-STOP";

/// The datagram that stops probe `id`'s keep-alives; `auth` is
/// [`probe_auth`]'s value when the echo has a key.
pub fn keepalive_stop(id: &str, auth: Option<&str>) -> Vec<u8> {
    match auth {
        Some(a) => format!("{KEEPALIVE_STOP_MAGIC} {id} {a}\r\n"),
        None => format!("{KEEPALIVE_STOP_MAGIC} {id}\r\n"),
    }
    .into_bytes()
}

/// A stop's (probe id, auth value), when `bytes` is one.
pub fn parse_keepalive_stop(bytes: &[u8]) -> Option<(String, Option<String>)> {
    let text = std::str::from_utf8(bytes).ok()?.trim_end();
    let mut parts = text.split(' ');
    if parts.next()? != KEEPALIVE_STOP_MAGIC {
        return None;
    }
    let id = parts.next().filter(|i| valid_id(i))?.to_owned();
    let auth = parts.next().map(str::to_owned);
    parts.next().is_none().then_some((id, auth))
}

/// The silences a [`KEEPALIVE_HEADER`] value asks for, when well formed:
/// 1 to [`MAX_KEEPALIVES`] whole seconds, each 1 to [`MAX_KEEPALIVE_GAP_S`].
pub fn keepalive_gaps(value: &str) -> Option<Vec<u64>> {
    let gaps: Vec<u64> = value
        .split(',')
        .map(|g| g.trim().parse().ok())
        .collect::<Option<_>>()?;
    let ok = (1..=MAX_KEEPALIVES).contains(&gaps.len())
        && gaps.iter().all(|g| (1..=MAX_KEEPALIVE_GAP_S).contains(g));
    ok.then_some(gaps)
}

/// Keep-alive `seq` (from 0) of probe `id`, sent after a silence of `gap_s`.
pub fn keepalive(id: &str, seq: usize, gap_s: u64) -> Vec<u8> {
    format!("{KEEPALIVE_MAGIC} {id} {seq} {gap_s}\r\n").into_bytes()
}

/// A keep-alive's (probe id, seq, silence before it in seconds), when
/// `bytes` is one.
pub fn parse_keepalive(bytes: &[u8]) -> Option<(String, usize, u64)> {
    let text = std::str::from_utf8(bytes).ok()?.trim_end();
    let mut parts = text.split(' ');
    if parts.next()? != KEEPALIVE_MAGIC {
        return None;
    }
    let id = parts.next().filter(|i| valid_id(i))?.to_owned();
    let seq = parts.next()?.parse().ok()?;
    let gap = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some((id, seq, gap))
}

/// The largest UDP answer the echo sends whole, in bytes: WireGuard's
/// default MTU (1420) less the IPv6 (40) and UDP (8) headers, which also
/// fits the other narrow links a PBX sits behind (PPPoE's 1492, GRE,
/// IPsec). A larger answer would leave the echo as IP fragments, which
/// many firewalls and NATs drop: the probe would then read as lost on the
/// way back, a firewall verdict with the wrong cause. (The IPv6 minimum,
/// 1232, would send most INVITE mirrors to the query channel, which
/// admins often leave closed.) Above it the echo compresses the mirror
/// ([`Mirror::deflated`]), then leaves the request out
/// ([`Mirror::withheld_answer_bytes`]) and gives it on the query channel
/// instead ([`MIRROR_QUERY`]).
pub const UDP_ANSWER_MAX: usize = 1372;

/// The query channel's question for a withheld request: `MIRROR? <id>`,
/// answered `MIRROR <id> <base64 request>` (and, with a key, ` <hmac of the
/// base64>`) or `UNSEEN <id>`.
pub const MIRROR_QUERY: &str = "MIRROR?";

/// The query channel's answer line for probe `id`'s withheld request.
pub fn mirror_line(id: &str, request: &[u8], key: Option<&[u8]>) -> String {
    let b64 = encode(request);
    match key {
        Some(k) => format!("MIRROR {id} {b64} {}\n", body_auth(k, b64.as_bytes())),
        None => format!("MIRROR {id} {b64}\n"),
    }
}

/// Reads a [`mirror_line`] for probe `id`: `Ok(Some(request))`, `Ok(None)`
/// for `UNSEEN`, or why it is not one (with a key, a missing or wrong
/// HMAC is refused).
pub fn parse_mirror_line(
    line: &str,
    id: &str,
    key: Option<&[u8]>,
) -> Result<Option<Vec<u8>>, &'static str> {
    let mut parts = line.trim_end().split(' ');
    match (parts.next(), parts.next()) {
        (Some("UNSEEN"), Some(i)) if i == id => return Ok(None),
        (Some("MIRROR"), Some(i)) if i == id => {}
        _ => return Err("not an answer to MIRROR?"),
    }
    let b64 = parts.next().ok_or("no request in the answer")?;
    if let Some(k) = key {
        let mac = parts
            .next()
            .ok_or("the answer is not signed with the key")?;
        if !constant_time_eq(body_auth(k, b64.as_bytes()).as_bytes(), mac.as_bytes()) {
            return Err("the answer's signature does not match the key");
        }
    }
    B64.decode(b64)
        .map(Some)
        .map_err(|_| "the request in the answer is not base64")
}

/// What the echo saw, sent back to the prober. Over UDP its answer is kept
/// within [`UDP_ANSWER_MAX`] bytes: plain when it fits, else compressed
/// ([`Mirror::deflated`]), else with the request given on the query channel
/// ([`Mirror::withheld_answer_bytes`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mirror {
    /// The mirror format's version, 1 so far: a prober reading a newer one
    /// knows the fields may differ.
    pub version: u32,
    /// The probe's id, from its `X-Sipwatch-Probe` header, so that an answer
    /// is matched to its probe whatever the path did to Call-ID or branch.
    pub probe: String,
    /// "UDP" or "TCP".
    pub transport: String,
    /// The source address and port the echo saw (the NAT mapping), base64.
    pub source: String,
    /// The echo's own address the probe arrived at, base64.
    pub local: String,
    /// Receive time, microseconds since the Unix epoch.
    pub received_us: u64,
    /// The request exactly as it arrived, base64.
    pub request: String,
    /// The start line and headers of this very response as sent (without
    /// Content-Length), base64: the prober compares them with what it got.
    pub response_head: String,
    /// When the plain answer would be above [`UDP_ANSWER_MAX`]: the
    /// request compressed with raw DEFLATE (RFC 1951), base64
    /// ([`deflate`]); [`Mirror::request`] and [`Mirror::response_head`] are
    /// then empty, and the head is rebuilt from the request
    /// ([`answer_head`]). Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_deflated: Option<String>,
    /// The size in bytes the answer would have had even compressed, when
    /// that was still above [`UDP_ANSWER_MAX`]: the request is then left
    /// out, and the query channel gives it ([`MIRROR_QUERY`]); the head is
    /// rebuilt from that. Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withheld_answer_bytes: Option<usize>,
}

/// Inflating [`Mirror::request_deflated`] stops at this many bytes: no
/// request the echo answers is larger ([`crate::echo::MAX_REQUEST`]).
const MAX_INFLATED: usize = 64 << 10;

/// `request` compressed for [`Mirror::request_deflated`], at DEFLATE's
/// fastest level: the echo must keep answering under a flood, and the ratio
/// is enough (the INVITE probe's answer comes to about 1,000 bytes).
pub fn deflate(request: &[u8]) -> String {
    encode(&miniz_oxide::deflate::compress_to_vec(request, 1))
}

/// The start line and headers of the echo's answer to `request` (probe
/// `id`), without `Content-Length` and the signature: `200 OK` with the
/// transaction headers copied as they arrived. The echo sends it, and a
/// prober rebuilds it from the request the mirror carries to see what the
/// way back changed.
pub fn answer_head(index: &MessageIndex<'_>, request: &[u8], id: &str) -> String {
    let mut head = String::from("SIP/2.0 200 OK\r\n");
    for h in &index.headers {
        let raw = String::from_utf8_lossy(&request[h.raw.clone()]);
        match h.canonical {
            Some("via" | "from" | "call-id" | "cseq") => {
                head.push_str(&raw);
                head.push_str("\r\n");
            }
            Some("to") => {
                head.push_str(&raw);
                if !raw.to_ascii_lowercase().contains(";tag=") {
                    head.push_str(";tag=sipwatch-echo");
                }
                head.push_str("\r\n");
            }
            _ => {}
        }
    }
    head.push_str(&format!(
        "{PROBE_HEADER}: {id}\r\nServer: sipwatch-echo\r\nContent-Type: {CONTENT_TYPE}\r\n"
    ));
    head
}

impl Mirror {
    /// The source address and port the echo saw (the NAT mapping, decoded
    /// from [`Mirror::source`]); `None` when the field is not a base64
    /// address.
    pub fn source_addr(&self) -> Option<std::net::SocketAddr> {
        String::from_utf8(B64.decode(&self.source).ok()?)
            .ok()?
            .parse()
            .ok()
    }

    /// The echo's own address the probe arrived at (decoded from
    /// [`Mirror::local`]); `None` when the field is not a base64 address.
    pub fn local_addr(&self) -> Option<std::net::SocketAddr> {
        String::from_utf8(B64.decode(&self.local).ok()?)
            .ok()?
            .parse()
            .ok()
    }

    /// The probe's bytes as the echo received them (decoded from
    /// [`Mirror::request`]), to compare with what was sent; `None` when the
    /// field is not base64.
    pub fn request_bytes(&self) -> Option<Vec<u8>> {
        match &self.request_deflated {
            Some(d) => {
                let packed = B64.decode(d).ok()?;
                miniz_oxide::inflate::decompress_to_vec_with_limit(&packed, MAX_INFLATED).ok()
            }
            None if self.withheld_answer_bytes.is_some() => None,
            None => B64.decode(&self.request).ok(),
        }
    }

    /// The answer's start line and headers as the echo sent them (decoded
    /// from [`Mirror::response_head`], or rebuilt from the compressed
    /// request), to compare with what arrived; `None` when the field is not
    /// base64, or the request was withheld (rebuild it from the query
    /// channel's copy with [`answer_head`]).
    pub fn response_head_bytes(&self) -> Option<Vec<u8>> {
        if self.request_deflated.is_some() || self.withheld_answer_bytes.is_some() {
            let request = self.request_bytes()?;
            let head = answer_head(&MessageIndex::parse(&request), &request, &self.probe);
            return Some(head.into_bytes());
        }
        B64.decode(&self.response_head).ok()
    }
}

/// Whether `id` is a well-formed probe id.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

fn mac(key: &[u8], data: &[u8]) -> String {
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(data);
    hex(&m.finalize().into_bytes())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The `X-Sipwatch-Auth` value a keyed probe carries.
pub fn probe_auth(key: &[u8], id: &str, unix_time: u64) -> String {
    format!(
        "{unix_time}:{}",
        mac(key, format!("{id}:{unix_time}").as_bytes())
    )
}

/// Checks a keyed probe's `X-Sipwatch-Auth` value at `now` (Unix seconds).
pub fn probe_auth_ok(key: &[u8], id: &str, value: &str, now: u64) -> bool {
    let Some((time, _)) = value.split_once(':') else {
        return false;
    };
    let Ok(time) = time.parse::<u64>() else {
        return false;
    };
    now.abs_diff(time) <= MAX_CLOCK_SKEW
        && constant_time_eq(probe_auth(key, id, time).as_bytes(), value.as_bytes())
}

/// The `X-Sipwatch-Auth` value of a keyed response: the body's HMAC.
pub fn body_auth(key: &[u8], body: &[u8]) -> String {
    mac(key, body)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The response body for a mirror.
pub fn encode_body(m: &Mirror) -> String {
    serde_json::to_string(m).expect("a mirror serialises")
}

/// The mirror in a response body; `None` when it is not one.
pub fn decode_body(body: &[u8]) -> Option<Mirror> {
    serde_json::from_slice(body).ok()
}

/// Standard base64 of `bytes`, as the [`Mirror`]'s address-bearing fields
/// hold them, so that no ALG finds an address in the body to rewrite.
pub fn encode(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mirror_survives_the_round_trip() {
        let m = Mirror {
            version: 1,
            probe: "p-1".into(),
            transport: "UDP".into(),
            source: encode(b"203.0.113.1:40000"),
            local: encode(b"203.0.113.2:5060"),
            received_us: 1,
            request: encode(b"REGISTER sip:x SIP/2.0\r\n\r\n"),
            response_head: encode(b"SIP/2.0 200 OK\r\n"),
            request_deflated: None,
            withheld_answer_bytes: None,
        };
        let body = encode_body(&m);
        assert!(
            !body.contains("203.0.113"),
            "no address in the clear for an ALG to rewrite"
        );
        let back = decode_body(body.as_bytes()).unwrap();
        assert_eq!(back, m);
        assert_eq!(
            back.request_bytes().unwrap(),
            b"REGISTER sip:x SIP/2.0\r\n\r\n"
        );
        assert_eq!(
            back.source_addr(),
            Some("203.0.113.1:40000".parse().unwrap())
        );
        assert!(decode_body(b"not base64 !").is_none());
    }

    #[test]
    fn keyed_probes_are_accepted_only_with_the_key_and_a_fresh_time() {
        let auth = probe_auth(b"secret", "p1", 1_000_000);
        assert!(probe_auth_ok(b"secret", "p1", &auth, 1_000_100));
        assert!(
            !probe_auth_ok(b"other", "p1", &auth, 1_000_100),
            "wrong key"
        );
        assert!(
            !probe_auth_ok(b"secret", "p2", &auth, 1_000_100),
            "another probe's value"
        );
        assert!(
            !probe_auth_ok(b"secret", "p1", &auth, 1_000_000 + MAX_CLOCK_SKEW + 1),
            "stale"
        );
        assert!(!probe_auth_ok(b"secret", "p1", "garbage", 1_000_000));
    }

    #[test]
    fn probe_ids_are_short_tokens() {
        assert!(valid_id("a1-b.c_d"));
        assert!(!valid_id(""));
        assert!(!valid_id("has space"));
        assert!(!valid_id(&"x".repeat(MAX_ID_LEN + 1)));
    }
}
