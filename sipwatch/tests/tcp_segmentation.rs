//! Property: however a TCP stream of SIP messages is cut into segments,
//! retransmitted or reordered, the assembler yields exactly the messages
//! that were written, in order.
use std::time::SystemTime;

use proptest::prelude::*;
use sipwatch::{
    net::{Datagram, TcpSegmentInfo, Transport},
    sip::MessageAssembler,
};

fn message(i: usize, body: &str, compact: bool) -> Vec<u8> {
    let length = if compact { "l" } else { "Content-Length" };
    format!(
        "INVITE sip:{i}@example.com SIP/2.0\r\nVia: SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bK{i}\r\nCall-ID: {i}\r\nCSeq: 1 INVITE\r\n{length}: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn segment(seq: u32, payload: &[u8], syn: bool) -> Datagram {
    Datagram {
        timestamp: SystemTime::UNIX_EPOCH,
        direction: None,
        transport: Transport::Tcp,
        src: "192.0.2.1:40000".parse().unwrap(),
        dst: "192.0.2.2:5060".parse().unwrap(),
        vlans: Vec::new(),
        outer: None,
        reassembled: false,
        tcp: Some(TcpSegmentInfo {
            seq,
            ack: None,
            syn,
            fin: false,
            rst: false,
        }),
        payload: payload.to_vec(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn any_segmentation_yields_the_same_messages(
        bodies in prop::collection::vec(("[ -~]{0,300}", any::<bool>(), 0usize..3), 1..12),
        cuts in prop::collection::vec(1usize..400, 1..80),
        isn in any::<u32>(),
        retransmit in prop::collection::vec(any::<bool>(), 80),
        swap in prop::collection::vec(any::<bool>(), 80),
    ) {
        let messages: Vec<Vec<u8>> = bodies.iter().enumerate().map(|(i, (b, c, _))| message(i, b, *c)).collect();
        // Keep-alive CRLFs between some messages.
        let stream: Vec<u8> = bodies.iter().zip(&messages).flat_map(|((_, _, ka), m)| {
            let mut v = b"\r\n\r\n".repeat(*ka);
            v.extend_from_slice(m);
            v
        }).collect();
        // Cut the stream into segments at the generated lengths.
        let mut segments = Vec::new();
        let mut at = 0;
        let mut cut = cuts.iter().cycle();
        while at < stream.len() {
            let len = (*cut.next().unwrap()).min(stream.len() - at);
            segments.push((isn.wrapping_add(1).wrapping_add(at as u32), stream[at..at + len].to_vec()));
            at += len;
        }
        // Reorder neighbours and repeat some segments (retransmissions).
        for i in 0..segments.len().saturating_sub(1) {
            if swap[i % swap.len()] {
                segments.swap(i, i + 1);
            }
        }
        let mut wire = vec![segment(isn, b"", true)];
        for (i, (seq, bytes)) in segments.iter().enumerate() {
            wire.push(segment(*seq, bytes, false));
            if retransmit[i % retransmit.len()] {
                wire.push(segment(*seq, bytes, false));
            }
        }
        let mut assembler = MessageAssembler::default();
        let mut out = Vec::new();
        for d in wire {
            assembler.push(d, &mut out);
        }
        assembler.finish(&mut out);
        let got: Vec<Vec<u8>> = out.into_iter().map(|m| m.bytes).collect();
        prop_assert_eq!(got, messages);
        let stats = assembler.stats();
        prop_assert_eq!(stats.framing.skipped_bytes, 0);
        prop_assert_eq!(stats.tcp.lost_bytes, 0);
    }
}
