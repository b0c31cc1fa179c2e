//! Realistic SIP messages for lab traffic, each unique by its sequence
//! number, so a test can tell every captured message apart.
use std::net::SocketAddr;

/// Builds requests as a PBX would send them from `local` to `remote`.
#[derive(Clone, Copy, Debug)]
pub struct SipMessageFactory {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// "UDP" or "TCP", as in the Via header.
    pub transport: &'static str,
}

impl SipMessageFactory {
    /// A REGISTER (even `seq`) or OPTIONS (odd `seq`) with a unique Call-ID,
    /// branch and CSeq.
    pub fn request(&self, seq: u64) -> Vec<u8> {
        let method = if seq.is_multiple_of(2) {
            "REGISTER"
        } else {
            "OPTIONS"
        };
        let host = host(self.remote);
        let me = host_port(self.local);
        format!(
            "{method} sip:{host} SIP/2.0\r\n\
             Via: SIP/2.0/{transport} {me};branch=z9hG4bK-lab-{seq};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:1001@{host}>;tag=lab{seq}\r\n\
             To: <sip:1001@{host}>\r\n\
             Call-ID: lab-{seq}@{me}\r\n\
             CSeq: {cseq} {method}\r\n\
             Contact: <sip:1001@{me}>\r\n\
             Expires: 300\r\n\
             User-Agent: sipwatch-lab\r\n\
             Content-Length: 0\r\n\r\n",
            transport = self.transport,
            cseq = seq % 1_000_000 + 1,
        )
        .into_bytes()
    }

    /// An INVITE whose SDP body is padded to about `body_len` bytes with
    /// attribute lines, to make it as large as a real offer with many codecs
    /// (or larger than the MTU).
    pub fn invite(&self, seq: u64, body_len: usize) -> Vec<u8> {
        invite_with_sdp(self.local, self.remote, self.transport, seq, body_len)
    }
}

/// See [`SipMessageFactory::invite`].
pub fn invite_with_sdp(
    local: SocketAddr,
    remote: SocketAddr,
    transport: &str,
    seq: u64,
    body_len: usize,
) -> Vec<u8> {
    let host = host(remote);
    let me = host_port(local);
    let ip_kind = if local.is_ipv4() { "IP4" } else { "IP6" };
    let my_ip = local.ip();
    let rtp_port = 10_000 + (seq % 20_000) * 2;
    let mut body = format!(
        "v=0\r\n\
         o=- {seq} 1 IN {ip_kind} {my_ip}\r\n\
         s=sipwatch-lab\r\n\
         c=IN {ip_kind} {my_ip}\r\n\
         t=0 0\r\n\
         m=audio {rtp_port} RTP/AVP 0 8 101\r\n\
         a=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:8 PCMA/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\n"
    );
    let mut i = 0;
    while body.len() + 40 < body_len {
        body.push_str(&format!("a=x-lab-padding:{i:08} {:0>16}\r\n", seq));
        i += 1;
    }
    format!(
        "INVITE sip:2000@{host} SIP/2.0\r\n\
         Via: SIP/2.0/{transport} {me};branch=z9hG4bK-inv-{seq};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:1001@{host}>;tag=inv{seq}\r\n\
         To: <sip:2000@{host}>\r\n\
         Call-ID: inv-{seq}@{me}\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:1001@{me}>\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {len}\r\n\r\n{body}",
        len = body.len()
    )
    .into_bytes()
}

/// A response to `request` with the headers a UAS copies (Via, From, To,
/// Call-ID, CSeq), as a registrar or proxy would answer.
pub fn response_to(request: &[u8], code: u16, reason: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(request);
    let mut out = format!("SIP/2.0 {code} {reason}\r\n");
    for line in text.split("\r\n").skip(1) {
        if line.is_empty() {
            break;
        }
        let name = line.split(':').next().unwrap_or("").to_ascii_lowercase();
        if matches!(name.as_str(), "via" | "from" | "call-id" | "cseq") {
            out.push_str(line);
            out.push_str("\r\n");
        } else if name == "to" {
            out.push_str(line);
            out.push_str(";tag=uas\r\n");
        }
    }
    out.push_str("Server: sipwatch-lab\r\nContent-Length: 0\r\n\r\n");
    out.into_bytes()
}

fn host(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => a.ip().to_string(),
        SocketAddr::V6(a) => format!("[{}]", a.ip()),
    }
}

fn host_port(addr: SocketAddr) -> String {
    format!("{}:{}", host(addr), addr.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn factory() -> SipMessageFactory {
        SipMessageFactory {
            local: "192.168.77.10:5060".parse().unwrap(),
            remote: "[2001:db8::2]:5060".parse().unwrap(),
            transport: "UDP",
        }
    }

    #[test]
    fn requests_are_unique_per_sequence_number() {
        let f = factory();
        assert_ne!(f.request(1), f.request(3));
        assert!(
            f.request(2)
                .starts_with(b"REGISTER sip:[2001:db8::2] SIP/2.0\r\n")
        );
    }

    #[test]
    fn an_invite_body_matches_its_content_length_and_requested_size() {
        let invite = factory().invite(7, 3000);
        let text = String::from_utf8(invite).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(len, body.len());
        assert!(body.len() >= 2960 && body.len() <= 3000, "{}", body.len());
    }

    #[test]
    fn a_response_copies_the_transaction_headers() {
        let f = factory();
        let resp = String::from_utf8(response_to(&f.request(4), 200, "OK")).unwrap();
        assert!(resp.starts_with("SIP/2.0 200 OK\r\n"));
        assert!(resp.contains("branch=z9hG4bK-lab-4"));
        assert!(resp.contains("CSeq: 5 REGISTER"));
        assert!(resp.contains("To: <sip:1001@[2001:db8::2]>;tag=uas"));
    }
}
