//! One connection fed in pieces: records cut across chunks of the stream
//! are put back together, and the same plaintext comes out.
use std::time::SystemTime;

use super::*;
use crate::{
    capture::file::CaptureFileReader,
    net::{Decoded, Decoder},
};

/// Each TCP payload of a fixture, in capture order, with its sender.
fn segments(name: &str) -> Vec<(SocketAddr, SocketAddr, Vec<u8>)> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tls")
        .join(name);
    let mut decoder = Decoder::new();
    CaptureFileReader::open(&path)
        .unwrap()
        .filter_map(|f| match decoder.decode(&f.unwrap()) {
            Some(Decoded::Datagram(d)) if !d.payload.is_empty() => Some((d.src, d.dst, d.payload)),
            _ => None,
        })
        .collect()
}

fn plaintext_in_chunks(name: &str, chunk: usize) -> (Vec<u8>, TlsCounts) {
    let mut keys = KeyLog::new();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tls")
        .join(name.replace(".pcap", ".keys"));
    keys.add(&std::fs::read(path).unwrap(), "keys");
    let mut c = Connections::new(keys);
    let mut plain = Vec::new();
    let segments = segments(name);
    let (client, server) = (segments[0].0, segments[0].1);
    c.start(client, server, SystemTime::UNIX_EPOCH);
    for (src, dst, payload) in &segments {
        for piece in payload.chunks(chunk) {
            c.push(*src, *dst, piece, SystemTime::UNIX_EPOCH, &mut plain);
        }
    }
    c.finish();
    (plain, c.counts())
}

#[test]
fn records_cut_across_stream_chunks_open_the_same_as_whole() {
    for name in ["tls12-register.pcap", "tls13-register.pcap"] {
        let (whole, counts) = plaintext_in_chunks(name, usize::MAX);
        assert_eq!(counts.decrypted, 1, "{name}");
        assert!(
            whole.starts_with(b"REGISTER sip:provider.lab SIP/2.0\r\n"),
            "{name}"
        );
        for chunk in [1, 3, 5, 7, 100] {
            let (pieces, counts) = plaintext_in_chunks(name, chunk);
            assert_eq!(pieces, whole, "{name} in chunks of {chunk}");
            assert_eq!(counts.decrypted, 1);
        }
    }
}

#[test]
fn the_first_bytes_tell_tls_and_the_client_hello_its_random() {
    assert!(starts_like_tls(&[22, 3, 1, 0, 5]));
    assert!(starts_like_tls(&[23, 3, 3]));
    assert!(!starts_like_tls(b"REGISTER sip:x SIP/2.0"));
    assert!(!starts_like_tls(&[22, 4, 1]));
    let mut client_hello = vec![22, 3, 1, 0, 200, 1, 0, 0, 196, 3, 3];
    client_hello.extend(0..32u8);
    let mut random = [0u8; 32];
    random.iter_mut().zip(0..).for_each(|(r, i)| *r = i);
    assert_eq!(hello(&client_hello), Some(Hello::Client(random)));
    assert_eq!(hello(&[22, 3, 3, 0, 90, 2]), Some(Hello::Server));
    assert_eq!(hello(&client_hello[..20]), None, "a random cut short");
}
