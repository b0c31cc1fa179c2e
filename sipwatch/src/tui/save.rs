//! F2: messages to a file: pcapng (through the `--write` writer), classic
//! pcap, or text (each message under its time and addresses, digest
//! responses masked as on screen). The store keeps SIP messages, not the
//! frames they came in, so each message is written as one IP packet
//! (`LINKTYPE_RAW`) of its own transport: UDP as it was, TCP as one
//! segment carrying the whole message, its sequence numbers running on per
//! flow. Wireshark and `sipwatch analyze` read them back as the same
//! messages.
use std::{
    collections::HashMap,
    io::Write,
    net::{IpAddr, SocketAddr},
    path::Path,
    time::SystemTime,
};

use etherparse::PacketBuilder;

use crate::{
    capture::{Frame, LinkType, file::PcapNgWriter},
    net::Transport,
    say,
    sip::{Message, fields::redact},
};

/// Why a save failed.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    /// The file could not be created or written.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The pcapng writer's error (the same as `--write`'s).
    #[error(transparent)]
    File(#[from] crate::capture::file::FileError),
    /// A file of that name exists: never overwritten from the screen (the
    /// capture being browsed among them).
    #[error("a file of that name exists; give another name (nothing is overwritten from here)")]
    Exists,
    /// No file name was given.
    #[error("no file name given")]
    NoName,
    /// A message's addresses mix IPv4 and IPv6, or it is too long for one
    /// IP packet.
    #[error("a message from {0} cannot be written as one IP packet")]
    Packet(SocketAddr),
}

/// `LINKTYPE_RAW` (libpcap's DLT_RAW on Linux: 101).
const LINKTYPE_RAW: u32 = 101;

/// Writes `messages` to `path`: `.txt` as text, `.pcap` as classic pcap,
/// anything else as pcapng. Returns how many were written.
pub fn save(path: &Path, messages: &[&Message]) -> Result<usize, SaveError> {
    if path.as_os_str().is_empty() {
        return Err(SaveError::NoName);
    }
    // `symlink_metadata`: a dangling link is a name taken too.
    if std::fs::symlink_metadata(path).is_ok() {
        return Err(SaveError::Exists);
    }
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    match ext.as_deref() {
        Some("txt") => text(path, messages)?,
        Some("pcap") => pcap(path, &packets(messages)?)?,
        _ => {
            let mut w = PcapNgWriter::create(path, None)?;
            for (at, data) in packets(messages)? {
                w.write(&Frame {
                    timestamp: at,
                    ifindex: 0,
                    direction: None,
                    link: LinkType::RawIp,
                    wire_len: data.len() as u32,
                    data,
                    truncated: false,
                    kernel_drop: None,
                })?;
            }
            w.finish()?;
        }
    }
    Ok(messages.len())
}

fn text(path: &Path, messages: &[&Message]) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for m in messages {
        writeln!(
            out,
            "{} {} {}",
            crate::time::stamp(m.timestamp),
            m.transport,
            say::tui::way(m.src, m.dst)
        )?;
        let text = redact(&String::from_utf8_lossy(&m.bytes));
        writeln!(out, "{}\n", text.trim_end())?;
    }
    out.flush()
}

fn pcap(path: &Path, packets: &[(SystemTime, Vec<u8>)]) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    // Microsecond pcap, version 2.4, snap length 262144.
    out.write_all(&0xa1b2_c3d4u32.to_le_bytes())?;
    out.write_all(&2u16.to_le_bytes())?;
    out.write_all(&4u16.to_le_bytes())?;
    out.write_all(&[0; 8])?;
    out.write_all(&262_144u32.to_le_bytes())?;
    out.write_all(&LINKTYPE_RAW.to_le_bytes())?;
    for (at, data) in packets {
        let d = at
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        out.write_all(&(d.as_secs() as u32).to_le_bytes())?;
        out.write_all(&d.subsec_micros().to_le_bytes())?;
        out.write_all(&(data.len() as u32).to_le_bytes())?;
        out.write_all(&(data.len() as u32).to_le_bytes())?;
        out.write_all(data)?;
    }
    out.flush()
}

/// Each message as one IP packet, with its time.
fn packets(messages: &[&Message]) -> Result<Vec<(SystemTime, Vec<u8>)>, SaveError> {
    let mut next_seq: HashMap<(SocketAddr, SocketAddr), u32> = HashMap::new();
    messages
        .iter()
        .map(|m| {
            let ip = match (m.src.ip(), m.dst.ip()) {
                (IpAddr::V4(s), IpAddr::V4(d)) => PacketBuilder::ipv4(s.octets(), d.octets(), 64),
                (IpAddr::V6(s), IpAddr::V6(d)) => PacketBuilder::ipv6(s.octets(), d.octets(), 64),
                _ => return Err(SaveError::Packet(m.src)),
            };
            let mut data = Vec::with_capacity(m.bytes.len() + 60);
            let written = match m.transport {
                Transport::Udp => ip
                    .udp(m.src.port(), m.dst.port())
                    .write(&mut data, &m.bytes),
                _ => {
                    let seq = next_seq.entry((m.src, m.dst)).or_insert(1);
                    let ack = 1;
                    let this = *seq;
                    *seq = seq.wrapping_add(m.bytes.len() as u32);
                    ip.tcp(m.src.port(), m.dst.port(), this, 65_535)
                        .psh()
                        .ack(ack)
                        .write(&mut data, &m.bytes)
                }
            };
            written.map_err(|_| SaveError::Packet(m.src))?;
            Ok((m.timestamp, data))
        })
        .collect()
}
