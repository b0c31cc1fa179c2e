//! HEP in, without root: the messages of committed captures sent as a
//! heplify-style agent would send them (chunks out of order, the address
//! chunks last as Asterisk sends them, every other payload gzip-compressed,
//! a vendor chunk and a node name beside), over UDP and over TCP, to a HEP
//! listener in this process. The registrations and diagnoses must be those
//! `analyze` finds in the capture itself.
mod support;

use std::{
    io::Write,
    net::{IpAddr, SocketAddr},
    sync::{Arc, Mutex},
    time::{Duration, UNIX_EPOCH},
};

use serde_json::Value;
use sipwatch::{
    hep::decode::Rules,
    report::{Output, View},
    sip::{Message, ParsedMessage},
    source::HepSource,
};
use support::{cases::case_file, registration_outcomes};

/// Every message `analyze` takes from a capture, kept.
struct Collector(Arc<Mutex<Vec<Message>>>);

impl Output for Collector {
    fn message(
        &mut self,
        _out: &mut dyn Write,
        m: &Message,
        _parsed: Option<&ParsedMessage<'_>>,
    ) -> std::io::Result<()> {
        self.0.lock().unwrap().push(m.clone());
        Ok(())
    }
}

fn messages_of(case: &str, file: &str) -> Vec<Message> {
    let kept = Arc::new(Mutex::new(Vec::new()));
    sipwatch::analyze::run(
        &case_file(case, file),
        vec![Box::new(Collector(kept.clone()))],
        std::io::sink(),
    )
    .unwrap();
    let messages = kept.lock().unwrap().clone();
    assert!(!messages.is_empty(), "{case}/{file}");
    messages
}

fn chunk(vendor: u16, kind: u16, value: &[u8]) -> Vec<u8> {
    let mut c = Vec::new();
    c.extend_from_slice(&vendor.to_be_bytes());
    c.extend_from_slice(&kind.to_be_bytes());
    c.extend_from_slice(&((value.len() + 6) as u16).to_be_bytes());
    c.extend_from_slice(value);
    c
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
    out.extend(miniz_oxide::deflate::compress_to_vec(data, 6));
    out.extend_from_slice(&crc32fast::hash(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

/// `m` as HEP v3: time and ids first, a vendor chunk and the node name in
/// between, the addresses late, the payload (gzip when `compress`) last.
fn hep(m: &Message, compress: bool) -> Vec<u8> {
    let since = m.timestamp.duration_since(UNIX_EPOCH).unwrap();
    let ip = |a: SocketAddr| match a.ip() {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    };
    let (family, src_kind) = if m.src.is_ipv4() { (2, 3) } else { (10, 5) };
    let protocol = if m.transport == sipwatch::net::Transport::Tcp {
        6
    } else {
        17
    };
    let mut chunks = vec![
        chunk(0, 0x0009, &(since.as_secs() as u32).to_be_bytes()),
        chunk(0, 0x000a, &since.subsec_micros().to_be_bytes()),
        chunk(0, 0x000b, &[1]),
        chunk(0, 0x000c, &7u32.to_be_bytes()),
        chunk(0x0004, 0x0003, b"vendor data passed over"),
        chunk(0, 0x0013, b"heplify-test"),
        chunk(0, 0x0002, &[protocol]),
        chunk(0, src_kind + 1, &ip(m.dst)),
        chunk(0, src_kind, &ip(m.src)),
        chunk(0, 0x0008, &m.dst.port().to_be_bytes()),
        chunk(0, 0x0007, &m.src.port().to_be_bytes()),
        chunk(0, 0x0001, &[family]),
    ];
    chunks.push(if compress {
        chunk(0, 0x0010, &gzip(&m.bytes))
    } else {
        chunk(0, 0x000f, &m.bytes)
    });
    let body: Vec<u8> = chunks.concat();
    let mut packet = b"HEP3".to_vec();
    packet.extend_from_slice(&((body.len() + 6) as u16).to_be_bytes());
    packet.extend(body);
    packet
}

/// What `hep-listen --json` writes for `packets`, sent over TCP (one
/// stream, written in uneven pieces) or UDP.
fn listen(packets: Vec<Vec<u8>>, tcp: bool) -> Vec<Value> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let out = runtime.block_on(async move {
        let source = HepSource::bind("127.0.0.1:0".parse().unwrap(), Rules::default()).unwrap();
        let at = source.local_addr();
        let (done, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            if tcp {
                let mut stream = std::net::TcpStream::connect(at).unwrap();
                let all = packets.concat();
                for piece in all.chunks(1000) {
                    stream.write_all(piece).unwrap();
                }
            } else {
                let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
                for p in &packets {
                    socket.send_to(p, at).unwrap();
                    // A paced agent: UDP has no flow control.
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
            std::thread::sleep(Duration::from_millis(300));
            let _ = done.send(());
        });
        let mut out = Vec::new();
        let stop = async {
            let _ = stopped.await;
        };
        sipwatch::live::listen(source, View::Json.outputs(), &mut out, stop)
            .await
            .unwrap();
        out
    });
    support::json_lines(&out)
}

#[test]
fn heplify_style_packets_give_the_registrations_and_diagnoses_of_the_capture() {
    for (case, file) in [
        ("provider-ban-after-failed-logins", "b-fail2ban-reject.pcap"),
        ("sha256-digest-challenge", "e-md5-second-wrongpw.pcap"),
        ("asterisk-expires-countdown-423", "countdown.pcap"),
    ] {
        let from_file = support::analyzed::json(&case_file(case, file));
        let want = registration_outcomes(&from_file);
        assert!(!want.is_empty(), "{case}");
        let messages = messages_of(case, file);
        let packets: Vec<Vec<u8>> = messages
            .iter()
            .enumerate()
            .map(|(i, m)| hep(m, i % 2 == 1))
            .collect();
        for tcp in [false, true] {
            let got = listen(packets.clone(), tcp);
            let summary = got.last().unwrap();
            assert_eq!(
                summary["hep"]["taken"],
                messages.len(),
                "{case} over {}: {}",
                if tcp { "TCP" } else { "UDP" },
                summary["hep"]
            );
            assert_eq!(registration_outcomes(&got), want, "{case}, TCP: {tcp}");
            let first = got.iter().find(|r| r["type"] == "message").unwrap();
            assert_eq!(first["hep"]["capture_id"], 7, "{first}");
        }
    }
}
