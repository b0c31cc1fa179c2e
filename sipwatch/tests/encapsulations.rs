//! SIP inside every encapsulation the decoder opens (issue 28): PPPoE,
//! IP-in-IP and IPv6-in-IP, GRE (plain, with key and sequence number,
//! transparent Ethernet bridging, ERSPAN II and III), VXLAN, Geneve, MPLS,
//! 802.1ad double tags and TZSP. Each test writes its own capture file: a
//! registration whose REGISTER and 200 OK travel inside the encapsulation,
//! read with the inner addresses. What is not opened is counted by kind.
//! Where tshark is installed, one file with all of them must give the same
//! SIP messages in sipwatch as in tshark.
mod support;

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use etherparse::{IpNumber, PacketBuilder};
use serde_json::Value;
use sipwatch::report::{Detail, View};
use support::frames::udp_packet;

const PBX: &str = "10.8.0.2:5060";
const REGISTRAR: &str = "10.8.0.1:5060";
const PBX_V6: &str = "[fd00::2]:5060";
const REGISTRAR_V6: &str = "[fd00::1]:5060";
/// The tunnel's endpoints, on the wire outside.
const OUTER_A: [u8; 4] = [198, 51, 100, 1];
const OUTER_B: [u8; 4] = [198, 51, 100, 2];

fn register(call_id: &str, pbx: &str, registrar: &str) -> Vec<u8> {
    let host = registrar.rsplit_once(':').unwrap().0;
    format!(
        "REGISTER sip:{host} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {pbx};branch=z9hG4bK-{call_id};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:alice@{host}>;tag=f-{call_id}\r\n\
         To: <sip:alice@{host}>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 REGISTER\r\n\
         Contact: <sip:alice@{pbx}>\r\n\
         Expires: 120\r\n\
         User-Agent: Asterisk PBX 22.0.0\r\n\
         Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

fn ok(call_id: &str, pbx: &str, registrar: &str) -> Vec<u8> {
    let host = registrar.rsplit_once(':').unwrap().0;
    format!(
        "SIP/2.0 200 OK\r\n\
         Via: SIP/2.0/UDP {pbx};branch=z9hG4bK-{call_id};rport=5060\r\n\
         From: <sip:alice@{host}>;tag=f-{call_id}\r\n\
         To: <sip:alice@{host}>;tag=t-{call_id}\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 REGISTER\r\n\
         Contact: <sip:alice@{pbx}>;expires=120\r\n\
         Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// An Ethernet frame of `ether_type`.
fn eth(ether_type: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2];
    f.extend_from_slice(&ether_type.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

fn ether_type_of(ip: &[u8]) -> u16 {
    if ip[0] >> 4 == 6 { 0x86dd } else { 0x0800 }
}

/// An Ethernet frame carrying `ip`.
fn eth_ip(ip: &[u8]) -> Vec<u8> {
    eth(ether_type_of(ip), ip)
}

/// An outer IPv4 packet of `protocol` between the tunnel's endpoints, in Ethernet.
fn outer(protocol: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4(OUTER_A, OUTER_B, 64)
        .write(&mut out, IpNumber(protocol), payload)
        .unwrap();
    out
}

/// An outer UDP datagram to `port` between the tunnel's endpoints, in Ethernet.
fn outer_udp(port: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4(OUTER_A, OUTER_B, 64)
        .udp(49152, port)
        .write(&mut out, payload)
        .unwrap();
    out
}

fn gre(header: &[u8], payload: &[u8]) -> Vec<u8> {
    outer(47, &[header, payload].concat())
}

/// Each encapsulation: its name and how it wraps an IP packet into an
/// Ethernet frame.
type Wrap = fn(&[u8]) -> Vec<u8>;

fn encapsulations() -> Vec<(&'static str, Wrap)> {
    vec![
        ("pppoe", |ip| {
            let protocol: [u8; 2] = if ip[0] >> 4 == 6 {
                [0, 0x57]
            } else {
                [0, 0x21]
            };
            let len = (ip.len() + 2) as u16;
            let mut p = vec![0x11, 0x00, 0x12, 0x34];
            p.extend_from_slice(&len.to_be_bytes());
            p.extend_from_slice(&protocol);
            p.extend_from_slice(ip);
            eth(0x8864, &p)
        }),
        ("ipip", |ip| outer(if ip[0] >> 4 == 6 { 41 } else { 4 }, ip)),
        ("gre", |ip| {
            let t = ether_type_of(ip).to_be_bytes();
            gre(&[0, 0, t[0], t[1]], ip)
        }),
        ("gre-key-seq", |ip| {
            let t = ether_type_of(ip).to_be_bytes();
            gre(&[0x30, 0, t[0], t[1], 0, 0, 0, 42, 0, 0, 0, 7], ip)
        }),
        ("gre-ethernet", |ip| gre(&[0, 0, 0x65, 0x58], &eth_ip(ip))),
        ("erspan-ii", |ip| {
            gre(
                &[
                    0x10, 0, 0x88, 0xbe, 0, 0, 0, 9, 0x10, 0x00, 0x00, 0x05, 0, 0, 0, 0,
                ],
                &eth_ip(ip),
            )
        }),
        ("erspan-iii", |ip| {
            gre(
                &[
                    0x10, 0, 0x22, 0xeb, 0, 0, 0, 9, // GRE with sequence number
                    0x20, 0x00, 0x00, 0x05, 0, 0, 0, 1, 0, 0, 0, 0x01, // ERSPAN III, O bit
                    0, 0, 0, 0, 0, 0, 0, 0, // platform-specific subheader
                ],
                &eth_ip(ip),
            )
        }),
        ("vxlan", |ip| {
            outer_udp(
                4789,
                &[&[0x08, 0, 0, 0, 0, 0, 0x64, 0][..], &eth_ip(ip)].concat(),
            )
        }),
        ("geneve", |ip| {
            // One 8-byte option (length 2 words), then an Ethernet frame.
            let header = [
                0x02, 0, 0x65, 0x58, 0, 0, 0x64, 0, 0x01, 0x02, 0x03, 0x01, 0, 0, 0, 0,
            ];
            outer_udp(6081, &[&header[..], &eth_ip(ip)].concat())
        }),
        ("mpls", |ip| {
            let labels = [0x00, 0x01, 0x00, 0x40, 0x00, 0x02, 0x01, 0x40];
            eth(0x8847, &[&labels[..], ip].concat())
        }),
        ("qinq", |ip| {
            let t = ether_type_of(ip).to_be_bytes();
            eth(
                0x88a8,
                &[&[0, 10, 0x81, 0x00, 0, 20, t[0], t[1]][..], ip].concat(),
            )
        }),
        ("tzsp", |ip| {
            // Version 1, received, Ethernet; one tag (RSSI), padding, END.
            let header = [1, 0, 0, 1, 10, 1, 0xc4, 0, 1];
            outer_udp(37008, &[&header[..], &eth_ip(ip)].concat())
        }),
    ]
}

/// The REGISTER and its 200 OK for `call_id`, each wrapped by `wrap`.
fn registration(call_id: &str, v6: bool, wrap: Wrap) -> Vec<Vec<u8>> {
    let (pbx, registrar) = if v6 {
        (PBX_V6, REGISTRAR_V6)
    } else {
        (PBX, REGISTRAR)
    };
    vec![
        wrap(&udp_packet(
            pbx,
            registrar,
            &register(call_id, pbx, registrar),
        )),
        wrap(&udp_packet(registrar, pbx, &ok(call_id, pbx, registrar))),
    ]
}

/// Writes an Ethernet capture file of `frames` into `dir`.
fn write_pcap(dir: &Path, name: &str, frames: &[Vec<u8>]) -> PathBuf {
    let path = dir.join(name);
    support::frames::write_pcap(&path, 1, frames);
    path
}

fn messages(records: &[Value]) -> Vec<&Value> {
    records.iter().filter(|r| r["type"] == "message").collect()
}

#[test]
fn sip_inside_each_encapsulation_is_read_with_the_inner_addresses() {
    let dir = support::temp_dir("encapsulations");
    for (name, wrap) in encapsulations() {
        for v6 in [false, true] {
            let path = write_pcap(
                dir.path(),
                &format!("{name}-{v6}.pcap"),
                &registration(name, v6, wrap),
            );
            let records = support::analyzed::json(&path);
            let what = format!("{name}, IPv{}", if v6 { 6 } else { 4 });
            let messages = messages(&records);
            assert_eq!(messages.len(), 2, "{what}: {records:?}");
            let (pbx, registrar) = if v6 {
                (PBX_V6, REGISTRAR_V6)
            } else {
                (PBX, REGISTRAR)
            };
            assert_eq!(messages[0]["src"], pbx, "{what}");
            assert_eq!(messages[0]["dst"], registrar, "{what}");
            // The tunnel's ends are shown beside the inner addresses.
            let tunnel = match name {
                "ipip" if v6 => Some("IPv6-in-IP"),
                "ipip" => Some("IP-in-IP"),
                n if n.starts_with("gre") || n.starts_with("erspan") => Some("GRE"),
                "vxlan" => Some("VXLAN"),
                "geneve" => Some("Geneve"),
                "tzsp" => Some("TZSP"),
                _ => None,
            };
            match tunnel {
                Some(kind) => assert_eq!(
                    messages[0]["tunnel"],
                    serde_json::json!({"kind": kind, "src": "198.51.100.1", "dst": "198.51.100.2"}),
                    "{what}"
                ),
                None => assert!(messages[0].get("tunnel").is_none(), "{what}"),
            }
            let summary = support::analyzed::summary(&records);
            let regs = summary["registrations"].as_array().unwrap();
            assert_eq!(regs.len(), 1, "{what}: {summary}");
            assert_eq!(regs[0]["state"]["state"], "registered", "{what}");
            assert_eq!(regs[0]["registrar_address"], registrar, "{what}");
            assert_eq!(summary["pipeline"]["tracking"]["timeouts"], 0, "{what}");
            let decode = &summary["pipeline"]["decode"];
            assert_eq!(decode["datagrams"], 2, "{what}: {decode}");
            assert!(decode.get("not_opened").is_none(), "{what}: {decode}");
        }
    }
}

#[test]
fn the_vlans_of_every_layer_are_kept_outermost_first() {
    let dir = support::temp_dir("encapsulations-vlans");
    let frames = registration("vlans", false, |ip| {
        let tagged_inner = eth(0x8100, &[&[0, 30, 0x08, 0x00][..], ip].concat());
        let vxlan = [&[0x08, 0, 0, 0, 0, 0, 0x64, 0][..], &tagged_inner].concat();
        let mut outer = outer_udp(4789, &vxlan);
        // Tag the outer frame with VLAN 7.
        outer.splice(12..12, [0x81, 0x00, 0, 7]);
        outer
    });
    let records = support::analyzed::json(&write_pcap(dir.path(), "vlans.pcap", &frames));
    assert_eq!(messages(&records)[0]["vlans"], serde_json::json!([7, 30]));
}

#[test]
fn an_mpls_ethernet_pseudowire_is_opened_behind_its_control_word() {
    let dir = support::temp_dir("encapsulations-pw");
    let frames = registration("pw", false, |ip| {
        let labels_and_control_word = [0x00, 0x01, 0x01, 0x40, 0, 0, 0, 0];
        eth(
            0x8847,
            &[&labels_and_control_word[..], &eth_ip(ip)].concat(),
        )
    });
    let records = support::analyzed::json(&write_pcap(dir.path(), "pw.pcap", &frames));
    assert_eq!(messages(&records).len(), 2);
}

#[test]
fn frames_not_opened_are_counted_by_kind_in_the_summary() {
    let dir = support::temp_dir("encapsulations-kinds");
    let mut frames = registration("kinds", false, eth_ip);
    for _ in 0..12 {
        frames.push(outer(115, &[0, 0, 0, 1, 0, 0, 0, 0]));
    }
    let mut arp = vec![0u8; 28];
    arp[..8].copy_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
    frames.push(eth(0x0806, &arp));
    frames.push(eth(0x8863, &[0x11, 0x09, 0, 0, 0, 0]));
    // IP-in-IP nested deeper than sipwatch opens.
    let mut nested = udp_packet(PBX, REGISTRAR, b"\r\n\r\n");
    for _ in 0..sipwatch::net::MAX_NESTING + 1 {
        let mut out = Vec::new();
        PacketBuilder::ipv4(OUTER_A, OUTER_B, 64)
            .write(&mut out, IpNumber(4), &nested)
            .unwrap();
        nested = out;
    }
    frames.push(eth_ip(&nested));
    let path = write_pcap(dir.path(), "kinds.pcap", &frames);
    let text = support::analyzed::text(&path, View::Text(Detail::Quiet));
    assert!(
        text.contains(
            "; not opened: 12 frames of L2TP, 1 of ARP, 1 of PPPoE discovery, 1 of tunnels nested over 4 deep"
        ),
        "{text}"
    );
    let records = support::analyzed::json(&path);
    let decode = &support::analyzed::summary(&records)["pipeline"]["decode"];
    assert_eq!(decode["not_udp_tcp"], 13, "{decode}");
    assert_eq!(decode["not_ip"], 2, "{decode}");
    assert_eq!(
        decode["not_opened"][0],
        serde_json::json!({"kind": {"ip_protocol": 115}, "name": "L2TP", "frames": 12})
    );
}

/// The SIP messages tshark finds in `path`, as (Call-ID, CSeq, first line).
fn tshark_messages(path: &Path) -> Option<Vec<(String, String)>> {
    let out = Command::new("tshark")
        .args(["-r"])
        .arg(path)
        .args([
            "-Y",
            "sip",
            "-T",
            "fields",
            "-e",
            "sip.Call-ID",
            "-e",
            "sip.CSeq",
        ])
        .output()
        .ok()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut got: Vec<(String, String)> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (call_id, cseq) = l.split_once('\t').unwrap();
            (call_id.to_string(), cseq.to_string())
        })
        .collect();
    got.sort();
    Some(got)
}

#[test]
fn tshark_and_sipwatch_find_the_same_sip_messages_in_every_encapsulation() {
    let dir = support::temp_dir("encapsulations-tshark");
    let mut frames = Vec::new();
    for (name, wrap) in encapsulations() {
        for v6 in [false, true] {
            frames.extend(registration(
                &format!("{name}-v{}", if v6 { 6 } else { 4 }),
                v6,
                wrap,
            ));
        }
    }
    let path = write_pcap(dir.path(), "all.pcap", &frames);
    let Some(want) = tshark_messages(&path) else {
        eprintln!("tshark is not installed: comparison skipped");
        return;
    };
    let records = support::analyzed::json(&path);
    let mut got: Vec<(String, String)> = messages(&records)
        .iter()
        .map(|m| {
            (
                m["call_id"].as_str().unwrap().to_string(),
                format!(
                    "{} {}",
                    m["cseq"]["seq"],
                    m["cseq"]["method"].as_str().unwrap()
                ),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        want.len(),
        frames.len(),
        "tshark read every message: {want:?}"
    );
    assert_eq!(got, want);
}
