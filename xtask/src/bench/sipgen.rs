//! Writes a classic pcap of realistic SIP traffic between a PBX and its
//! provider: registrations with digest challenges, calls with SDP, OPTIONS
//! pings; 70 % over UDP, 30 % over TCP connections, every message unique.
use std::{
    fs::File,
    io::{BufWriter, Write},
    path::Path,
};

use anyhow::Context as _;
use etherparse::PacketBuilder;

const PBX: [u8; 4] = [192, 168, 77, 10];
const PROVIDER: [u8; 4] = [203, 0, 113, 2];
const TCP_CONNECTIONS: u16 = 64;
/// Messages in one cycle (see `cycle`).
const PER_CYCLE: u64 = 10;

/// One TCP connection: the next sequence number each way.
#[derive(Clone, Copy)]
struct Connection {
    port: u16,
    out_seq: u32,
    in_seq: u32,
}

pub struct Generated {
    pub messages: u64,
    pub bytes: u64,
}

/// What the generated capture holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mix {
    /// Registrations with challenges, calls, pings; UDP and TCP.
    Realistic,
    /// REGISTERs only, each from another AOR, never answered: the flood
    /// that must not grow the tracker's memory.
    UniqueRegisters,
}

pub fn write_capture(path: &Path, messages: u64, mix: Mix) -> anyhow::Result<Generated> {
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    // Classic pcap, microseconds, Ethernet.
    out.write_all(&0xa1b2_c3d4u32.to_le_bytes())?;
    out.write_all(&2u16.to_le_bytes())?;
    out.write_all(&4u16.to_le_bytes())?;
    out.write_all(&[0; 8])?;
    out.write_all(&262_144u32.to_le_bytes())?;
    out.write_all(&1u32.to_le_bytes())?;
    let mut connections: Vec<Connection> = (0..TCP_CONNECTIONS)
        .map(|i| Connection {
            port: 40_000 + i,
            out_seq: 1_000 * u32::from(i),
            in_seq: 7_000_000 + u32::from(i),
        })
        .collect();
    let mut written = 0u64;
    let mut bytes = 0u64;
    let mut usec: u64 = 1_764_000_000_000_000;
    let mut cycle_no = 0u64;
    while written < messages {
        let tcp = mix == Mix::Realistic && cycle_no % 10 < 3;
        let messages_of_cycle = match mix {
            Mix::Realistic => cycle(cycle_no, tcp).to_vec(),
            Mix::UniqueRegisters => vec![(true, unique_register(cycle_no))],
        };
        for (outbound, text) in messages_of_cycle {
            if written == messages {
                break;
            }
            let payload = text.as_bytes();
            let frame = if tcp {
                let c = &mut connections[(cycle_no % u64::from(TCP_CONNECTIONS)) as usize];
                tcp_frame(c, outbound, payload)
            } else {
                udp_frame(outbound, payload)
            };
            usec += 20;
            out.write_all(&((usec / 1_000_000) as u32).to_le_bytes())?;
            out.write_all(&((usec % 1_000_000) as u32).to_le_bytes())?;
            out.write_all(&(frame.len() as u32).to_le_bytes())?;
            out.write_all(&(frame.len() as u32).to_le_bytes())?;
            out.write_all(&frame)?;
            bytes += frame.len() as u64 + 16;
            written += 1;
        }
        cycle_no += 1;
    }
    out.flush()?;
    Ok(Generated {
        messages: written,
        bytes,
    })
}

fn udp_frame(outbound: bool, payload: &[u8]) -> Vec<u8> {
    let (src, dst) = if outbound {
        (PBX, PROVIDER)
    } else {
        (PROVIDER, PBX)
    };
    let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4(src, dst, 64)
        .udp(5060, 5060);
    let mut v = Vec::with_capacity(b.size(payload.len()));
    b.write(&mut v, payload).expect("frame fits");
    v
}

fn tcp_frame(c: &mut Connection, outbound: bool, payload: &[u8]) -> Vec<u8> {
    let (src, dst, sport, dport) = if outbound {
        (PBX, PROVIDER, c.port, 5060)
    } else {
        (PROVIDER, PBX, 5060, c.port)
    };
    let (seq, ack) = if outbound {
        (c.out_seq, c.in_seq)
    } else {
        (c.in_seq, c.out_seq)
    };
    let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4(src, dst, 64)
        .tcp(sport, dport, seq, 64_240)
        .ack(ack)
        .psh();
    let mut v = Vec::with_capacity(b.size(payload.len()));
    b.write(&mut v, payload).expect("frame fits");
    let next = seq.wrapping_add(payload.len() as u32);
    if outbound {
        c.out_seq = next
    } else {
        c.in_seq = next
    }
    v
}

/// A REGISTER from AOR number `n`.
fn unique_register(n: u64) -> String {
    format!(
        "REGISTER sip:203.0.113.2 SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.77.10:5060;branch=z9hG4bK-u{n};rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:u{n}@203.0.113.2>;tag=u{n}\r\nTo: <sip:u{n}@203.0.113.2>\r\n\
         Call-ID: u{n}@192.168.77.10\r\nCSeq: 1 REGISTER\r\nContact: <sip:u{n}@192.168.77.10:5060>\r\n\
         Expires: 3600\r\nContent-Length: 0\r\n\r\n"
    )
}

/// One registration with its challenge, one call attempt with SDP, one ping.
fn cycle(n: u64, tcp: bool) -> [(bool, String); PER_CYCLE as usize] {
    let t = if tcp { "TCP" } else { "UDP" };
    let via = |b: &str| format!("Via: SIP/2.0/{t} 192.168.77.10:5060;branch=z9hG4bK-{b}-{n};rport");
    let reg = |cseq: u32, auth: &str| {
        format!(
            "REGISTER sip:203.0.113.2 SIP/2.0\r\n{}\r\nMax-Forwards: 70\r\nFrom: <sip:{user}@203.0.113.2>;tag=r{n}\r\n\
             To: <sip:{user}@203.0.113.2>\r\nCall-ID: reg-{n}@192.168.77.10\r\nCSeq: {cseq} REGISTER\r\n\
             Contact: <sip:{user}@192.168.77.10:5060;transport={tl}>\r\nExpires: 3600\r\n{auth}\
             User-Agent: Asterisk PBX 20.5.0\r\nContent-Length: 0\r\n\r\n",
            via(&format!("r{cseq}")),
            user = 1000 + n % 5000,
            tl = t.to_ascii_lowercase(),
        )
    };
    let answer = |req: &str, code: &str, extra: &str, body: &str| {
        let keep: Vec<&str> = req
            .split("\r\n")
            .filter(|l| {
                l.starts_with("Via:")
                    || l.starts_with("From:")
                    || l.starts_with("Call-ID:")
                    || l.starts_with("CSeq:")
            })
            .collect();
        let to = req
            .split("\r\n")
            .find(|l| l.starts_with("To:"))
            .unwrap_or("To: <sip:x@y>");
        format!(
            "SIP/2.0 {code}\r\n{}\r\n{to};tag=p{n}\r\n{extra}Server: Kamailio 5.6\r\nContent-Length: {}\r\n\r\n{body}",
            keep.join("\r\n"),
            body.len()
        )
    };
    let sdp = |ip: &str| {
        format!(
            "v=0\r\no=- {n} 1 IN IP4 {ip}\r\ns=call\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {} RTP/AVP 0 8 101\r\n\
             a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n",
            10_000 + (n % 20_000) * 2
        )
    };
    let r1 = reg(1, "");
    let r2 = reg(
        2,
        &format!(
            "Authorization: Digest username=\"{}\", realm=\"provider\", nonce=\"n{n}\", uri=\"sip:203.0.113.2\", \
             response=\"{:032x}\", algorithm=MD5\r\n",
            1000 + n % 5000,
            u128::from(n) * 2_654_435_761
        ),
    );
    let offer = sdp("192.168.77.10");
    let invite = format!(
        "INVITE sip:{dest}@203.0.113.2 SIP/2.0\r\n{}\r\nMax-Forwards: 70\r\nFrom: <sip:1001@203.0.113.2>;tag=i{n}\r\n\
         To: <sip:{dest}@203.0.113.2>\r\nCall-ID: call-{n}@192.168.77.10\r\nCSeq: 1 INVITE\r\n\
         Contact: <sip:1001@192.168.77.10:5060>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{offer}",
        via("i"),
        offer.len(),
        dest = 5_550_000 + n % 10_000
    );
    let ok_sdp = answer(
        &invite,
        "200 OK",
        "Contact: <sip:gw@203.0.113.2>\r\nContent-Type: application/sdp\r\n",
        &sdp("203.0.113.2"),
    );
    let ack = format!(
        "ACK sip:gw@203.0.113.2 SIP/2.0\r\n{}\r\nMax-Forwards: 70\r\nFrom: <sip:1001@203.0.113.2>;tag=i{n}\r\n\
         To: <sip:{}@203.0.113.2>;tag=p{n}\r\nCall-ID: call-{n}@192.168.77.10\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
        via("a"),
        5_550_000 + n % 10_000
    );
    let options = format!(
        "OPTIONS sip:203.0.113.2 SIP/2.0\r\n{}\r\nMax-Forwards: 70\r\nFrom: <sip:pbx@192.168.77.10>;tag=o{n}\r\n\
         To: <sip:203.0.113.2>\r\nCall-ID: ping-{n}@192.168.77.10\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        via("o")
    );
    [
        (true, r1.clone()),
        (
            false,
            answer(
                &r1,
                "401 Unauthorized",
                &format!(
                    "WWW-Authenticate: Digest realm=\"provider\", nonce=\"n{n}\", algorithm=MD5\r\n"
                ),
                "",
            ),
        ),
        (true, r2.clone()),
        (
            false,
            answer(
                &r2,
                "200 OK",
                "Contact: <sip:1000@192.168.77.10:5060>;expires=3600\r\n",
                "",
            ),
        ),
        (true, invite.clone()),
        (false, answer(&invite, "100 Trying", "", "")),
        (false, ok_sdp),
        (true, ack),
        (true, options.clone()),
        (false, answer(&options, "200 OK", "", "")),
    ]
}
