//! A captured frame and how it is decoded from a ring buffer record.
use std::time::{Duration, SystemTime};

use sipwatch_common::{
    DROP_HINT_DEVICE, DROP_HINT_ROUTE, Direction, FLAG_KERNEL_DROP, FLAG_NO_LINK_HEADER,
    FLAG_TRUNCATED, FLAG_VLAN_IN_METADATA, FRAME_HEADER_LEN, FrameHeader,
    wire::{ETH_TYPE_OFFSET, VLAN_TAG_LEN},
};

/// How a frame's bytes begin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LinkType {
    /// An Ethernet header (live capture, `tcpdump -i eth0`).
    Ethernet,
    /// Linux "cooked" capture v1 (`tcpdump -i any`, older libpcap).
    LinuxSll,
    /// Linux "cooked" capture v2 (`tcpdump -i any`, libpcap 1.10+).
    LinuxSll2,
    /// An IP header directly (tunnels, `LINKTYPE_RAW`, `DLT_RAW`,
    /// `LINKTYPE_IPV4` / `LINKTYPE_IPV6`).
    RawIp,
    /// BSD loopback (`DLT_NULL`): a 4-byte address family in the byte order
    /// of the host that captured (macOS and the BSDs' `lo0`, Windows Npcap
    /// loopback).
    BsdNull,
    /// OpenBSD loopback (`DLT_LOOP`): the address family in network order.
    BsdLoop,
    /// PPP, with or without HDLC-like framing (`tcpdump -i ppp0` on the BSDs
    /// and macOS; Linux writes cooked frames for PPP links).
    Ppp,
    /// Cisco HDLC (serial WAN links).
    CiscoHdlc,
    /// Linux netfilter NFLOG (`tcpdump -i nflog:N`).
    Nflog,
}

/// One packet as it was on the wire at the hook, in link-layer bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// When the frame was seen: live, the kernel's CLOCK_MONOTONIC stamp at
    /// the hook turned into wall-clock time; from a file, the record's
    /// timestamp, at the file's resolution.
    pub timestamp: SystemTime,
    /// The interface it was seen on: the kernel's ifindex live, the
    /// interface's number in the file for captures read from disk.
    pub ifindex: u32,
    /// Unknown for files that do not record it (classic pcap of one interface).
    pub direction: Option<Direction>,
    /// How `data` begins: always Ethernet live, the file's link type
    /// otherwise.
    pub link: LinkType,
    /// Length of the whole frame in bytes (larger than `data` when
    /// truncated).
    pub wire_len: u32,
    /// The frame's first bytes (all of them unless truncated).
    pub data: Vec<u8>,
    /// Cut at the snap length (`attach --snap-len`, or the one the file was
    /// captured with): a SIP message in it is incomplete. The summary warns
    /// about these.
    pub truncated: bool,
    /// Not a frame on the wire: a packet this host's kernel dropped (its
    /// bytes begin at the IP header, [`LinkType::RawIp`]; `direction` is
    /// egress when this host sent it).
    pub kernel_drop: Option<DropRecord>,
}

/// What the drop tracer says of a packet the kernel dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DropRecord {
    /// The kernel's `enum skb_drop_reason` number (0: none given; names in
    /// [`DropReasons`](super::DropReasons)).
    pub reason: u32,
    /// Whether it had an output device (leaving: past OUTPUT).
    pub had_device: bool,
    /// Whether it had a route (arriving: past PREROUTING).
    pub had_route: bool,
}

/// Why a ring buffer record could not be turned into a frame. The kernel side
/// writes only well-formed records, so any of these means a bug; they are
/// still counted, never a panic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// Fewer bytes than a `FrameHeader` (32 bytes).
    #[error("record shorter than its header")]
    Short,
    /// Fewer bytes after the header than its `cap_len` says were copied.
    #[error("record length does not match its header")]
    LengthMismatch,
    /// The header's direction is neither ingress (XDP) nor egress (TC).
    #[error("unknown direction")]
    Direction,
}

/// Converts the kernel's CLOCK_MONOTONIC timestamps to wall-clock time.
#[derive(Clone, Copy, Debug)]
pub struct MonotonicClock {
    /// Wall-clock time at monotonic zero.
    epoch: SystemTime,
}

impl MonotonicClock {
    /// Reads both clocks now. Taken once per capture: frame times do not
    /// follow a later step of the wall clock (by NTP, say).
    pub fn now() -> Self {
        let mono = clock_ns(libc::CLOCK_MONOTONIC);
        let real = clock_ns(libc::CLOCK_REALTIME);
        let epoch = SystemTime::UNIX_EPOCH + Duration::from_nanos(real.saturating_sub(mono));
        Self { epoch }
    }

    /// The wall-clock time of a kernel timestamp (`bpf_ktime_get_ns()`:
    /// CLOCK_MONOTONIC, in nanoseconds).
    pub fn wall_time(&self, monotonic_ns: u64) -> SystemTime {
        self.epoch + Duration::from_nanos(monotonic_ns)
    }
}

fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write to.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

impl Frame {
    /// Decodes one ring buffer record: a [`FrameHeader`] and the bytes after
    /// it. A VLAN tag the kernel held in metadata is put back into the bytes,
    /// so the frame reads as it was on the wire.
    pub fn from_record(record: &[u8], clock: &MonotonicClock) -> Result<Frame, RecordError> {
        let header_bytes = record.get(..FRAME_HEADER_LEN).ok_or(RecordError::Short)?;
        // SAFETY: FrameHeader is plain data of exactly FRAME_HEADER_LEN bytes;
        // read_unaligned copes with any alignment of the ring's bytes.
        let header: FrameHeader =
            unsafe { std::ptr::read_unaligned(header_bytes.as_ptr().cast::<FrameHeader>()) };
        let bytes = &record[FRAME_HEADER_LEN..];
        let cap_len = header.cap_len as usize;
        // The ring rounds records up to 8 bytes: trailing padding is fine.
        let data = bytes.get(..cap_len).ok_or(RecordError::LengthMismatch)?;
        let direction = Direction::from_u8(header.direction).ok_or(RecordError::Direction)?;
        let mut data = data.to_vec();
        let mut wire_len = header.wire_len;
        if header.flags & FLAG_VLAN_IN_METADATA != 0 && data.len() >= ETH_TYPE_OFFSET as usize {
            let at = ETH_TYPE_OFFSET as usize;
            let mut tag = [0u8; VLAN_TAG_LEN as usize];
            tag[..2].copy_from_slice(&header.vlan_proto.to_be_bytes());
            tag[2..].copy_from_slice(&header.vlan_tci.to_be_bytes());
            data.splice(at..at, tag);
            wire_len += VLAN_TAG_LEN;
        }
        let dropped = header.flags & FLAG_KERNEL_DROP != 0;
        Ok(Frame {
            timestamp: clock.wall_time(header.ts_ns),
            ifindex: header.ifindex,
            direction: Some(direction),
            link: if dropped || header.flags & FLAG_NO_LINK_HEADER != 0 {
                LinkType::RawIp
            } else {
                LinkType::Ethernet
            },
            wire_len,
            data,
            truncated: header.flags & FLAG_TRUNCATED != 0,
            kernel_drop: dropped.then_some(DropRecord {
                reason: header.drop_reason,
                had_device: header.drop_hints & DROP_HINT_DEVICE != 0,
                had_route: header.drop_hints & DROP_HINT_ROUTE != 0,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(header: FrameHeader, data: &[u8]) -> Vec<u8> {
        let mut out = vec![0u8; FRAME_HEADER_LEN];
        // SAFETY: writing plain data into a buffer of its size.
        unsafe { std::ptr::write_unaligned(out.as_mut_ptr().cast::<FrameHeader>(), header) };
        out.extend_from_slice(data);
        out
    }

    fn header(cap_len: u32, flags: u8) -> FrameHeader {
        FrameHeader {
            ts_ns: 1_000,
            ifindex: 7,
            wire_len: cap_len,
            cap_len,
            direction: Direction::Egress as u8,
            flags,
            vlan_tci: 100,
            vlan_proto: 0x8100,
            drop_hints: 0,
            _reserved: 0,
            drop_reason: 0,
        }
    }

    #[test]
    fn a_record_becomes_a_frame_with_its_bytes() {
        let clock = MonotonicClock::now();
        let bytes: Vec<u8> = (0..60).collect();
        let frame = Frame::from_record(&record(header(60, 0), &bytes), &clock).unwrap();
        assert_eq!(frame.data, bytes);
        assert_eq!(frame.direction, Some(Direction::Egress));
        assert_eq!(frame.ifindex, 7);
        assert!(!frame.truncated);
    }

    #[test]
    fn a_vlan_tag_from_metadata_is_put_back_after_the_mac_addresses() {
        let clock = MonotonicClock::now();
        let mut bytes = vec![0xaa; 12];
        bytes.extend_from_slice(&[0x08, 0x00, 0x45]);
        let frame =
            Frame::from_record(&record(header(15, FLAG_VLAN_IN_METADATA), &bytes), &clock).unwrap();
        assert_eq!(&frame.data[12..18], &[0x81, 0x00, 0x00, 100, 0x08, 0x00]);
        assert_eq!(frame.wire_len, 19);
    }

    #[test]
    fn short_or_inconsistent_records_are_errors_not_panics() {
        let clock = MonotonicClock::now();
        assert_eq!(Frame::from_record(&[0; 5], &clock), Err(RecordError::Short));
        let r = record(header(100, 0), &[0; 10]);
        assert_eq!(
            Frame::from_record(&r, &clock),
            Err(RecordError::LengthMismatch)
        );
        let mut h = header(0, 0);
        h.direction = 9;
        assert_eq!(
            Frame::from_record(&record(h, &[]), &clock),
            Err(RecordError::Direction)
        );
    }
}
