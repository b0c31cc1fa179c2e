//! pcapng: sections of either byte order, several interfaces with their own
//! link types and timestamp resolutions, enhanced / simple / obsolete packet
//! blocks, and the inbound/outbound flags.
use std::{
    io::Read,
    time::{Duration, SystemTime},
};

use super::{Cursor, FileError, cursor::Endian, linktype, pcap};
use crate::capture::{Direction, Frame, LinkType};

pub const SHB: u32 = 0x0a0d_0d0a;
pub const SHB_MAGIC_BYTES: [u8; 4] = SHB.to_le_bytes();
pub const IDB: u32 = 1;
const OBSOLETE_PACKET: u32 = 2;
const SPB: u32 = 3;
pub const EPB: u32 = 6;
/// Decryption Secrets Block (pcapng draft §4.7), and its TLS key log kind.
pub const DSB: u32 = 0x0000_000a;
pub const SECRETS_TLS_KEYLOG: u32 = 0x544c_534b;
pub const BYTE_ORDER_MAGIC: u32 = 0x1a2b_3c4d;
/// Option codes.
pub const OPT_END: u16 = 0;
pub const IF_NAME: u16 = 2;
pub const IF_TSRESOL: u16 = 9;
pub const EPB_FLAGS: u16 = 2;
/// epb_flags direction bits.
pub const FLAG_INBOUND: u32 = 1;
pub const FLAG_OUTBOUND: u32 = 2;
/// Largest block we believe.
const MAX_BLOCK: u32 = pcap::MAX_RECORD + 4096;

struct Interface {
    /// The link type, or its number when sipwatch cannot read it.
    link: Result<LinkType, u32>,
    /// Nanoseconds per timestamp tick, as numerator / denominator.
    tick_num: u128,
    tick_den: u128,
    snaplen: u32,
}

pub struct PcapNgReader {
    endian: Endian,
    interfaces: Vec<Interface>,
    /// Frames returned so far.
    frames: u64,
    /// Packets on interfaces of a link type sipwatch cannot read, passed
    /// over (the last such link type, and how many).
    passed_over: Option<(u32, u64)>,
    /// TLS key logs from Decryption Secrets Blocks, not yet taken.
    secrets: Vec<Vec<u8>>,
}

impl PcapNgReader {
    pub fn new() -> Self {
        Self {
            endian: Endian::Little,
            interfaces: Vec::new(),
            frames: 0,
            passed_over: None,
            secrets: Vec::new(),
        }
    }

    /// The TLS key logs of the Decryption Secrets Blocks read since the
    /// last call (NSS key log text, as `editcap --inject-secrets` writes).
    pub fn take_secrets(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.secrets)
    }

    /// Packets passed over on interfaces of a link type sipwatch cannot
    /// read: (that link type, how many). A file may mix an 802.11 monitor
    /// interface with an Ethernet one: the Ethernet frames are still read.
    pub fn passed_over(&self) -> Option<(u32, u64)> {
        self.passed_over
    }

    pub fn next_frame<R: Read>(&mut self, c: &mut Cursor<R>) -> Result<Option<Frame>, FileError> {
        loop {
            if c.at_end()? {
                // Nothing readable at all: that is the error to name.
                return match self.passed_over {
                    Some((link, _)) if self.frames == 0 => {
                        self.passed_over = None;
                        Err(FileError::UnsupportedLinkType { link })
                    }
                    _ => Ok(None),
                };
            }
            let start = c.offset();
            let mut h = [0u8; 8];
            c.read_exact(&mut h, "pcapng block header")?;
            let raw_type = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
            if raw_type == SHB {
                // The byte order is only known from inside the section header.
                let mut magic = [0u8; 4];
                c.read_exact(&mut magic, "section header")?;
                self.endian = if u32::from_le_bytes(magic) == BYTE_ORDER_MAGIC {
                    Endian::Little
                } else if u32::from_be_bytes(magic) == BYTE_ORDER_MAGIC {
                    Endian::Big
                } else {
                    return Err(c.corrupt("section header", "bad byte-order magic".into()));
                };
                self.interfaces.clear();
                let total = self.endian.u32(&h[4..8]);
                check_len(c, total, 28, "section header")?;
                c.read_vec(total as usize - 12, "section header")?;
                continue;
            }
            let e = self.endian;
            let block_type = e.u32(&h[0..4]);
            let total = e.u32(&h[4..8]);
            check_len(c, total, 12, "pcapng block")?;
            let body = c.read_vec(total as usize - 8, "pcapng block")?;
            let body = &body[..body.len() - 4];
            let frame =
                match block_type {
                    IDB => {
                        self.interfaces.push(interface(e, body).ok_or_else(|| {
                            corrupt_at(start, "interface description", "too short")
                        })?);
                        None
                    }
                    DSB => {
                        self.secrets_block(body, start)?;
                        None
                    }
                    EPB => Some(self.enhanced(body, start)),
                    SPB => Some(self.simple(body, start)),
                    OBSOLETE_PACKET => Some(self.obsolete(body, start)),
                    _ => None,
                };
            match frame {
                Some(Ok(frame)) => {
                    self.frames += 1;
                    return Ok(Some(frame));
                }
                Some(Err(FileError::UnsupportedLinkType { link })) => {
                    let n = self.passed_over.map_or(0, |(_, n)| n);
                    self.passed_over = Some((link, n + 1));
                }
                Some(Err(e)) => return Err(e),
                None => {}
            }
        }
    }

    /// A Decryption Secrets Block: its TLS key log is kept; other kinds
    /// of secrets (WireGuard, ZigBee…) are passed over.
    fn secrets_block(&mut self, b: &[u8], at: u64) -> Result<(), FileError> {
        let e = self.endian;
        let (Some(kind), Some(len)) = (b.get(0..4), b.get(4..8)) else {
            return Err(corrupt_at(at, "decryption secrets", "too short"));
        };
        let len = e.u32(len) as usize;
        let Some(data) = b.get(8..8 + len) else {
            return Err(corrupt_at(
                at,
                "decryption secrets",
                "longer than its block",
            ));
        };
        if e.u32(kind) == SECRETS_TLS_KEYLOG {
            self.secrets.push(data.to_vec());
        }
        Ok(())
    }

    fn enhanced(&self, b: &[u8], at: u64) -> Result<Frame, FileError> {
        let ifid = b.get(0..4).map(|x| self.endian.u32(x));
        self.packet_block(b, at, "enhanced packet", ifid)
    }

    fn simple(&self, b: &[u8], at: u64) -> Result<Frame, FileError> {
        if b.len() < 4 {
            return Err(corrupt_at(at, "simple packet", "too short"));
        }
        let origlen = self.endian.u32(b);
        let snap = self.interfaces.first().map_or(u32::MAX, |i| i.snaplen);
        let caplen = origlen
            .min(if snap == 0 { u32::MAX } else { snap })
            .min((b.len() - 4) as u32);
        self.frame(0, 0, &b[4..4 + caplen as usize], origlen, None, at)
    }

    /// The obsolete Packet Block: a 16-bit interface id (then a drops
    /// count), otherwise laid out like an Enhanced Packet Block.
    fn obsolete(&self, b: &[u8], at: u64) -> Result<Frame, FileError> {
        let ifid = b.get(0..2).map(|x| u32::from(self.endian.u16(x)));
        self.packet_block(b, at, "packet block", ifid)
    }

    /// Timestamp, lengths, data and the direction flags of a packet block.
    fn packet_block(
        &self,
        b: &[u8],
        at: u64,
        what: &'static str,
        ifid: Option<u32>,
    ) -> Result<Frame, FileError> {
        let e = self.endian;
        let (Some(ifid), true) = (ifid, b.len() >= 20) else {
            return Err(corrupt_at(at, what, "too short"));
        };
        let (hi, lo, caplen, origlen) = (
            e.u32(&b[4..]),
            e.u32(&b[8..]),
            e.u32(&b[12..]),
            e.u32(&b[16..]),
        );
        let data = b
            .get(20..20 + caplen as usize)
            .ok_or_else(|| corrupt_at(at, what, "captured length beyond the block"))?;
        let options = b.get(20 + padded(caplen as usize)..).unwrap_or(&[]);
        let flags = find_option(e, options, EPB_FLAGS)
            .filter(|v| v.len() >= 4)
            .map(|v| e.u32(v));
        let ticks = (u64::from(hi) << 32) | u64::from(lo);
        self.frame(ifid, ticks, data, origlen, flags, at)
    }

    fn frame(
        &self,
        ifid: u32,
        ticks: u64,
        data: &[u8],
        origlen: u32,
        flags: Option<u32>,
        at: u64,
    ) -> Result<Frame, FileError> {
        let interface = self.interfaces.get(ifid as usize).ok_or_else(|| {
            corrupt_at(
                at,
                "packet",
                &format!("interface {ifid} was never described"),
            )
        })?;
        let link = interface
            .link
            .map_err(|link| FileError::UnsupportedLinkType { link })?;
        let nanos = u128::from(ticks) * interface.tick_num / interface.tick_den;
        let direction = match flags.map(|f| f & 3) {
            Some(FLAG_INBOUND) => Some(Direction::Ingress),
            Some(FLAG_OUTBOUND) => Some(Direction::Egress),
            _ => pcap::direction_of(link, data),
        };
        Ok(Frame {
            timestamp: SystemTime::UNIX_EPOCH
                + Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX)),
            ifindex: ifid,
            direction,
            link,
            wire_len: origlen.max(data.len() as u32),
            truncated: (data.len() as u32) < origlen,
            kernel_drop: None,
            data: data.to_vec(),
        })
    }
}

fn check_len<R: Read>(
    c: &Cursor<R>,
    total: u32,
    min: u32,
    what: &'static str,
) -> Result<(), FileError> {
    if total < min || !total.is_multiple_of(4) || total > MAX_BLOCK {
        return Err(c.corrupt(what, format!("block length {total} is not believable")));
    }
    Ok(())
}

fn corrupt_at(offset: u64, what: &'static str, reason: &str) -> FileError {
    FileError::Corrupt {
        what,
        offset,
        reason: reason.to_owned(),
    }
}

pub fn padded(len: usize) -> usize {
    len.div_ceil(4) * 4
}

fn interface(e: Endian, b: &[u8]) -> Option<Interface> {
    if b.len() < 8 {
        return None;
    }
    let number = u32::from(e.u16(b));
    let link = linktype::link_type(number).ok_or(number);
    let snaplen = e.u32(&b[4..]);
    let (mut tick_num, mut tick_den) = (1000u128, 1u128);
    if let Some(&res) = find_option(e, &b[8..], IF_TSRESOL).and_then(|v| v.first()) {
        let exp = u32::from(res & 0x7f);
        let per_second: u128 = if res & 0x80 == 0 {
            10u128.checked_pow(exp)?
        } else {
            1u128.checked_shl(exp)?
        };
        tick_num = 1_000_000_000;
        tick_den = per_second.max(1);
    }
    Some(Interface {
        link,
        tick_num,
        tick_den,
        snaplen,
    })
}

/// The value of the first option with `code` in an options area.
fn find_option(e: Endian, mut options: &[u8], code: u16) -> Option<&[u8]> {
    while options.len() >= 4 {
        let (c, len) = (e.u16(options), e.u16(&options[2..]) as usize);
        if c == OPT_END {
            return None;
        }
        let value = options.get(4..4 + len)?;
        if c == code {
            return Some(value);
        }
        options = options.get(4 + padded(len)..)?;
    }
    None
}
