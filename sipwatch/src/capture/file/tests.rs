use std::time::{Duration, SystemTime};

use super::*;
use crate::capture::{Direction, LinkType};

fn frame(i: u8, direction: Option<Direction>) -> Frame {
    let data: Vec<u8> = (0..60 + i).collect();
    Frame {
        timestamp: SystemTime::UNIX_EPOCH
            + Duration::from_nanos(1_700_000_000_123_456_789 + u64::from(i)),
        ifindex: 0,
        direction,
        link: LinkType::Ethernet,
        wire_len: data.len() as u32,
        data,
        truncated: false,
        kernel_drop: None,
    }
}

fn temp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sipwatch-file-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn pcapng_round_trip_keeps_bytes_nanoseconds_and_direction() {
    let path = temp("round.pcapng");
    let frames = vec![
        frame(1, Some(Direction::Egress)),
        frame(2, Some(Direction::Ingress)),
        frame(3, None),
    ];
    let mut w = PcapNgWriter::create(&path, None).unwrap();
    for f in &frames {
        w.write(f).unwrap();
    }
    assert_eq!(w.finish().unwrap(), 3);
    let back: Vec<Frame> = CaptureFileReader::open(&path)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(back, frames);
}

#[test]
fn a_truncated_file_yields_what_is_readable_then_says_where_it_stopped() {
    let path = temp("cut.pcapng");
    let mut w = PcapNgWriter::create(&path, None).unwrap();
    for i in 0..3 {
        w.write(&frame(i, None)).unwrap();
    }
    w.finish().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 10]).unwrap();
    let results: Vec<_> = CaptureFileReader::open(&path).unwrap().collect();
    assert_eq!(results.len(), 3);
    assert!(results[..2].iter().all(Result::is_ok));
    match &results[2] {
        Err(FileError::Truncated { offset, .. }) => assert_eq!(*offset, bytes.len() as u64 - 10),
        other => panic!("expected Truncated, got {other:?}"),
    }
}

#[test]
fn classic_pcap_in_both_byte_orders_and_resolutions() {
    for (magic, big, nanos) in [
        (0xa1b2c3d4u32, false, false),
        (0xa1b2c3d4, true, false),
        (0xa1b23c4d, false, true),
        (0xa1b23c4d, true, true),
    ] {
        let u32b = |v: u32| {
            if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let u16b = |v: u16| {
            if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let mut file = Vec::new();
        file.extend_from_slice(&u32b(magic));
        file.extend_from_slice(&u16b(2));
        file.extend_from_slice(&u16b(4));
        file.extend_from_slice(&[0; 8]);
        file.extend_from_slice(&u32b(65535));
        file.extend_from_slice(&u32b(1));
        file.extend_from_slice(&u32b(1_700_000_000));
        file.extend_from_slice(&u32b(if nanos { 5_000 } else { 5 }));
        file.extend_from_slice(&u32b(4));
        file.extend_from_slice(&u32b(100));
        file.extend_from_slice(&[1, 2, 3, 4]);
        let path = temp(&format!("classic-{big}-{nanos}.pcap"));
        std::fs::write(&path, &file).unwrap();
        let frames: Vec<Frame> = CaptureFileReader::open(&path)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].data, [1, 2, 3, 4]);
        assert!(frames[0].truncated);
        assert_eq!(frames[0].wire_len, 100);
        let since = frames[0]
            .timestamp
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap();
        assert_eq!(since, Duration::new(1_700_000_000, 5_000), "{big} {nanos}");
    }
}

#[test]
fn rotation_starts_new_files_and_keeps_only_the_newest() {
    let path = temp("rot.pcapng");
    let rotation = Rotation {
        max_bytes: 400,
        max_files: 3,
    };
    let mut w = PcapNgWriter::create(&path, Some(rotation)).unwrap();
    for i in 0..40 {
        w.write(&frame(i, None)).unwrap();
    }
    w.finish().unwrap();
    let existing: Vec<u32> = (0..40)
        .filter(|&i| writer::numbered(&path, i).exists())
        .collect();
    assert_eq!(existing.len(), 3, "{existing:?}");
    let total: usize = existing
        .iter()
        .map(|&i| {
            CaptureFileReader::open(&writer::numbered(&path, i))
                .unwrap()
                .count()
        })
        .sum();
    assert!(total > 0 && total < 40);
}

#[test]
fn garbage_is_not_a_capture_file() {
    let path = temp("garbage.pcap");
    std::fs::write(&path, b"REGISTER sip:x SIP/2.0\r\n").unwrap();
    assert!(matches!(
        CaptureFileReader::open(&path),
        Err(FileError::UnknownFormat(_))
    ));
    std::fs::write(&path, b"\x0a\x0d").unwrap();
    assert!(matches!(
        CaptureFileReader::open(&path),
        Err(FileError::Truncated { .. })
    ));
}

/// A pcapng file of two frames, and its bytes, for a test to spoil.
fn two_frames(name: &str) -> (std::path::PathBuf, Vec<u8>) {
    let path = temp(name);
    let mut w = PcapNgWriter::create(&path, None).unwrap();
    w.write(&frame(0, None)).unwrap();
    w.write(&frame(1, None)).unwrap();
    w.finish().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    (path, bytes)
}

#[test]
fn corrupt_block_lengths_stop_reading_with_the_offset() {
    let (path, mut bytes) = two_frames("corrupt.pcapng");
    // Second EPB's length field: SHB (28) + IDB + first EPB.
    let shb = 28;
    let idb = u32::from_le_bytes(bytes[shb + 4..shb + 8].try_into().unwrap()) as usize;
    let epb = u32::from_le_bytes(bytes[shb + idb + 4..shb + idb + 8].try_into().unwrap()) as usize;
    let second = shb + idb + epb;
    bytes[second + 4..second + 8].copy_from_slice(&7u32.to_le_bytes());
    std::fs::write(&path, &bytes).unwrap();
    let results: Vec<_> = CaptureFileReader::open(&path).unwrap().collect();
    assert!(results[0].is_ok());
    match &results[1] {
        Err(FileError::Corrupt { offset, .. }) => assert_eq!(*offset, second as u64 + 8),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

/// A classic little-endian pcap of `link` holding one 4-byte record.
fn classic_pcap(link: u32) -> Vec<u8> {
    let mut file = Vec::new();
    for v in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65535, link] {
        file.extend_from_slice(&v.to_le_bytes());
    }
    for v in [1_700_000_000u32, 0, 4, 4] {
        file.extend_from_slice(&v.to_le_bytes());
    }
    file.extend_from_slice(&[0, 0, 0, 2]);
    file
}

#[test]
fn a_link_type_sipwatch_cannot_read_is_named_once_in_the_error() {
    let path = temp("wifi.pcap");
    std::fs::write(&path, classic_pcap(105)).unwrap();
    let Err(e) = CaptureFileReader::open(&path) else {
        panic!("an 802.11 capture opened");
    };
    assert!(
        e.to_string()
            .starts_with("link type 105 (IEEE 802.11) is not one sipwatch reads: "),
        "{e}"
    );
    // pcapng: the interface's link type, at the first packet on it.
    let (path, mut bytes) = two_frames("wifi.pcapng");
    let idb_body = 28 + 8;
    bytes[idb_body..idb_body + 2].copy_from_slice(&105u16.to_le_bytes());
    std::fs::write(&path, &bytes).unwrap();
    let results: Vec<_> = CaptureFileReader::open(&path).unwrap().collect();
    assert_eq!(results.len(), 1, "reading stops at the first such packet");
    assert!(matches!(
        results[0],
        Err(FileError::UnsupportedLinkType { link: 105 })
    ));
}

#[test]
fn every_ip_link_type_number_is_read_and_written_back() {
    for (number, link) in [
        (0, LinkType::BsdNull),
        (1, LinkType::Ethernet),
        (9, LinkType::Ppp),
        (50, LinkType::Ppp),
        (104, LinkType::CiscoHdlc),
        (239, LinkType::Nflog),
        (12, LinkType::RawIp),
        (14, LinkType::RawIp),
        (101, LinkType::RawIp),
        (108, LinkType::BsdLoop),
        (113, LinkType::LinuxSll),
        (228, LinkType::RawIp),
        (229, LinkType::RawIp),
        (276, LinkType::LinuxSll2),
    ] {
        let path = temp(&format!("link-{number}.pcap"));
        std::fs::write(&path, classic_pcap(number)).unwrap();
        let frames: Vec<Frame> = CaptureFileReader::open(&path)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(frames[0].link, link, "link type {number}");
        let out = temp(&format!("link-{number}.pcapng"));
        let mut w = PcapNgWriter::create(&out, None).unwrap();
        w.write(&frames[0]).unwrap();
        w.finish().unwrap();
        let back: Vec<Frame> = CaptureFileReader::open(&out)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(back[0].link, link, "link type {number} written back");
    }
}

#[test]
fn packets_of_an_unreadable_interface_are_passed_over_and_the_others_read() {
    let (path, bytes) = two_frames("mixed.pcapng");
    let shb = 28;
    let idb = u32::from_le_bytes(bytes[shb + 4..shb + 8].try_into().unwrap()) as usize;
    // A second interface, 802.11, and the first packet moved onto it.
    let mut wifi = bytes[shb..shb + idb].to_vec();
    wifi[8..10].copy_from_slice(&105u16.to_le_bytes());
    let mut mixed = bytes[..shb + idb].to_vec();
    mixed.extend_from_slice(&wifi);
    let first_epb = mixed.len();
    mixed.extend_from_slice(&bytes[shb + idb..]);
    mixed[first_epb + 8..first_epb + 12].copy_from_slice(&1u32.to_le_bytes());
    std::fs::write(&path, &mixed).unwrap();
    let mut reader = CaptureFileReader::open(&path).unwrap();
    let frames: Vec<_> = reader.by_ref().collect();
    assert_eq!(frames.len(), 1, "the Ethernet frame is read: {frames:?}");
    assert!(frames[0].is_ok());
    assert_eq!(reader.passed_over(), Some((105, 1)));
}

#[test]
fn an_empty_input_and_a_compressed_or_text_file_are_said_as_such() {
    let empty = CaptureFileReader::from_reader(std::io::empty());
    assert!(matches!(empty, Err(FileError::Empty)));
    let short = CaptureFileReader::from_reader(&b"\xd4\xc3"[..]);
    assert!(matches!(short, Err(FileError::Truncated { offset: 2, .. })));
    let gzip = CaptureFileReader::from_reader(&b"\x1f\x8b\x08\x08rest"[..]);
    let text = gzip.err().expect("not a capture").to_string();
    assert!(
        text.contains("the bytes 1f 8b 08 08: gzip-compressed"),
        "{text}"
    );
    let export = CaptureFileReader::from_reader(&b"No.     Time"[..]);
    let text = export.err().expect("not a capture").to_string();
    assert!(text.contains("4e 6f 2e 20: text"), "{text}");
}

#[test]
fn a_key_log_is_embedded_as_it_grows_ahead_of_the_frames_of_the_last_half_second() {
    let path = temp("secrets.pcapng");
    let keylog = temp("secrets.keys");
    std::fs::write(&keylog, "CLIENT_RANDOM aa bb\n").unwrap();
    let at = |i: u8, ms: u64| Frame {
        timestamp: SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_000 + ms),
        ..frame(i, None)
    };
    let mut w = PcapNgWriter::create(&path, None)
        .unwrap()
        .with_secrets(&keylog)
        .unwrap();
    w.write(&at(1, 0)).unwrap();
    // A line being written waits for its end.
    std::fs::write(&keylog, "CLIENT_RANDOM aa bb\nCLIENT_RANDOM cc").unwrap();
    // A second on: frame 1 has waited long enough.
    w.write(&at(2, 1000)).unwrap();
    std::fs::write(&keylog, "CLIENT_RANDOM aa bb\nCLIENT_RANDOM cc dd\n").unwrap();
    // Frame 2 still waits: the new secrets go ahead of it.
    w.write(&at(3, 1100)).unwrap();
    w.finish().unwrap();
    let mut r = CaptureFileReader::open(&path).unwrap();
    let mut seen = Vec::new();
    while let Some(frame) = r.next() {
        for s in r.take_secrets() {
            seen.push(String::from_utf8(s).unwrap());
        }
        seen.push(format!("frame {}", frame.unwrap().data.len() - 60));
    }
    assert_eq!(
        seen,
        [
            "CLIENT_RANDOM aa bb\n",
            "frame 1",
            "CLIENT_RANDOM cc dd\n",
            "frame 2",
            "frame 3"
        ]
    );
}
