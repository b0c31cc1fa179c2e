//! Classic pcap: both byte orders, microsecond and nanosecond timestamps.
use std::{
    io::Read,
    time::{Duration, SystemTime},
};

use super::{Cursor, FileError, cursor::Endian, linktype};
use crate::capture::{Direction, Frame, LinkType};

const MAGIC_MICROS: u32 = 0xa1b2_c3d4;
const MAGIC_NANOS: u32 = 0xa1b2_3c4d;
/// Largest record we believe: a bigger length means a corrupt file.
pub const MAX_RECORD: u32 = 16 << 20;

pub fn is_pcap_magic(m: [u8; 4]) -> bool {
    [MAGIC_MICROS, MAGIC_NANOS]
        .iter()
        .any(|&magic| m == magic.to_le_bytes() || m == magic.to_be_bytes())
}

pub struct PcapReader {
    endian: Endian,
    nanos: bool,
    link: LinkType,
}

impl PcapReader {
    pub fn start<R: Read>(c: &mut Cursor<R>) -> Result<Self, FileError> {
        let mut h = [0u8; 24];
        c.read_exact(&mut h, "pcap file header")?;
        let magic = [h[0], h[1], h[2], h[3]];
        let (endian, nanos) = if magic == MAGIC_MICROS.to_le_bytes() {
            (Endian::Little, false)
        } else if magic == MAGIC_MICROS.to_be_bytes() {
            (Endian::Big, false)
        } else if magic == MAGIC_NANOS.to_le_bytes() {
            (Endian::Little, true)
        } else {
            (Endian::Big, true)
        };
        let network = endian.u32(&h[20..24]) & 0x0fff_ffff;
        let link =
            linktype::link_type(network).ok_or(FileError::UnsupportedLinkType { link: network })?;
        Ok(Self {
            endian,
            nanos,
            link,
        })
    }

    pub fn next_frame<R: Read>(&mut self, c: &mut Cursor<R>) -> Result<Option<Frame>, FileError> {
        if c.at_end()? {
            return Ok(None);
        }
        let mut h = [0u8; 16];
        c.read_exact(&mut h, "pcap record header")?;
        let e = self.endian;
        let (secs, frac, caplen, origlen) = (
            e.u32(&h[0..]),
            e.u32(&h[4..]),
            e.u32(&h[8..]),
            e.u32(&h[12..]),
        );
        if caplen > MAX_RECORD {
            return Err(c.corrupt(
                "pcap record header",
                format!("record length {caplen} is not believable"),
            ));
        }
        let data = c.read_vec(caplen as usize, "pcap record")?;
        let frac = if self.nanos {
            u64::from(frac)
        } else {
            u64::from(frac) * 1000
        };
        Ok(Some(Frame {
            timestamp: SystemTime::UNIX_EPOCH
                + Duration::from_secs(secs.into())
                + Duration::from_nanos(frac),
            ifindex: 0,
            direction: direction_of(self.link, &data),
            link: self.link,
            wire_len: origlen.max(caplen),
            truncated: caplen < origlen,
            kernel_drop: None,
            data,
        }))
    }
}

/// Linux cooked captures say whether a packet was outgoing; nothing else in
/// a classic pcap does.
pub fn direction_of(link: LinkType, data: &[u8]) -> Option<Direction> {
    /// PACKET_OUTGOING in the packet type field.
    const OUTGOING: u16 = 4;
    let packet_type = match link {
        LinkType::LinuxSll => data.get(0..2).map(|b| u16::from_be_bytes([b[0], b[1]])),
        LinkType::LinuxSll2 => data.get(10).map(|&b| u16::from(b)),
        _ => None,
    }?;
    Some(if packet_type == OUTGOING {
        Direction::Egress
    } else {
        Direction::Ingress
    })
}
