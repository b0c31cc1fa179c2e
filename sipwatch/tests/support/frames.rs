//! Frames and capture files the tests write themselves: an IP packet with
//! one UDP datagram, and a classic pcap file of any link type.
use std::{net::SocketAddr, path::Path};

use etherparse::PacketBuilder;

/// An IP packet (v4 or v6 by the addresses) carrying one UDP datagram.
pub fn udp_packet(src: &str, dst: &str, payload: &[u8]) -> Vec<u8> {
    let (src, dst): (SocketAddr, SocketAddr) = (src.parse().unwrap(), dst.parse().unwrap());
    let builder = match (src, dst) {
        (SocketAddr::V4(s), SocketAddr::V4(d)) => {
            PacketBuilder::ipv4(s.ip().octets(), d.ip().octets(), 64)
        }
        (SocketAddr::V6(s), SocketAddr::V6(d)) => {
            PacketBuilder::ipv6(s.ip().octets(), d.ip().octets(), 64)
        }
        _ => panic!("mixed address families"),
    };
    let mut out = Vec::new();
    builder
        .udp(src.port(), dst.port())
        .write(&mut out, payload)
        .unwrap();
    out
}

/// Writes `path`: a classic little-endian pcap of `link` with one record
/// per frame, a millisecond apart.
pub fn write_pcap(path: &Path, link: u32, frames: &[Vec<u8>]) {
    let mut file = Vec::new();
    for v in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 262_144, link] {
        file.extend_from_slice(&v.to_le_bytes());
    }
    for (i, f) in frames.iter().enumerate() {
        let len = f.len() as u32;
        for v in [1_700_000_000u32, i as u32 * 1000, len, len] {
            file.extend_from_slice(&v.to_le_bytes());
        }
        file.extend_from_slice(f);
    }
    std::fs::write(path, file).unwrap();
}

/// An IPv4 packet carrying one TCP segment with sequence number `seq` (a
/// SYN when `syn`, else ACK and PSH), for streams the tests cut themselves.
pub fn tcp_packet(src: &str, dst: &str, seq: u32, syn: bool, payload: &[u8]) -> Vec<u8> {
    let (SocketAddr::V4(s), SocketAddr::V4(d)) = (src.parse().unwrap(), dst.parse().unwrap())
    else {
        panic!("IPv4 addresses only");
    };
    let builder = PacketBuilder::ipv4(s.ip().octets(), d.ip().octets(), 64).tcp(
        s.port(),
        d.port(),
        seq,
        65_535,
    );
    let builder = if syn {
        builder.syn()
    } else {
        builder.ack(1).psh()
    };
    let mut out = Vec::new();
    builder.write(&mut out, payload).unwrap();
    out
}
