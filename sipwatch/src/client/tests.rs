//! The client transaction against peers on 127.0.0.1 that answer late,
//! provisionally, never, with garbage, in pieces, or not at all; small
//! timers keep each test well under a second.
use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpListener, UdpSocket},
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

use super::*;

const T1: Duration = Duration::from_millis(20);

fn request(method: &str, branch: &str) -> Vec<u8> {
    format!(
        "{method} sip:echo@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch={branch};rport\r\n\
         From: <sip:probe@127.0.0.1>;tag=a\r\nTo: <sip:echo@127.0.0.1>\r\nCall-ID: c1\r\nCSeq: 1 {method}\r\n\
         Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// A response to `request` with its Via, From, To, Call-ID and CSeq, and
/// `body`.
fn response(request: &[u8], code: u16, body: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(request);
    let mut out = format!("SIP/2.0 {code} Whatever\r\n");
    for line in text.lines().skip(1) {
        let name = line.split(':').next().unwrap_or("");
        if ["Via", "From", "To", "Call-ID", "CSeq"].contains(&name) {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    out.into_bytes()
}

/// A datagram the peer received, and when.
type Arrival = (Instant, Vec<u8>);

/// A UDP peer on 127.0.0.1: for the n-th datagram (from 1) it sends what
/// `answer` returns; it stops after `last` datagrams or 2 s of silence and
/// hands back each datagram with when it came.
fn udp_peer(
    last: usize,
    answer: impl Fn(usize, &[u8]) -> Vec<Vec<u8>> + Send + 'static,
) -> (SocketAddr, JoinHandle<Vec<Arrival>>) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let handle = thread::spawn(move || {
        let mut times = Vec::new();
        let mut buf = vec![0u8; 65_536];
        while times.len() < last {
            let Ok((n, from)) = socket.recv_from(&mut buf) else {
                break;
            };
            times.push((Instant::now(), buf[..n].to_vec()));
            for datagram in answer(times.len(), &buf[..n]) {
                socket.send_to(&datagram, from).unwrap();
            }
        }
        times
    });
    (addr, handle)
}

fn client_socket() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").unwrap()
}

fn run_udp(peer: SocketAddr, request: &[u8], timers: Timers) -> Exchange {
    exchange(
        &mut Channel::udp(client_socket(), peer),
        peer,
        request,
        &timers,
    )
}

#[test]
fn udp_retransmits_at_t1_doubling_until_the_third_retransmission_is_answered() {
    let (peer, server) = udp_peer(4, |n, req| {
        if n == 4 {
            vec![response(req, 200, "")]
        } else {
            Vec::new()
        }
    });
    let ex = run_udp(peer, &request("OPTIONS", "z9hG4bK-r3"), Timers::scaled(T1));
    let Outcome::Final(r) = &ex.outcome else {
        panic!("{:?}", ex.outcome);
    };
    assert_eq!((r.code, r.reason.as_str()), (200, "Whatever"));
    assert_eq!(ex.sent(), 4);
    assert!(
        r.at >= T1 * 7,
        "answered after the 3rd retransmission: {r:?}"
    );
    // Retransmissions at T1, 3×T1, 7×T1 after the first: gaps T1, 2×T1, 4×T1.
    for (sent, factor) in ex.sent_at.iter().zip([0, 1, 3, 7]) {
        assert!(*sent >= T1 * factor, "{:?}", ex.sent_at);
    }
    let arrived = server.join().unwrap();
    let gaps: Vec<Duration> = arrived.windows(2).map(|w| w[1].0 - w[0].0).collect();
    for (gap, factor) in gaps.iter().zip([1, 2, 4]) {
        // The server's clock sees the same spacing, less scheduling jitter.
        assert!(*gap >= T1 * factor - T1 / 2, "{gaps:?}");
    }
}

#[test]
fn a_provisional_then_a_final_ends_with_the_final_and_keeps_the_provisional() {
    let (peer, _server) = udp_peer(1, |_, req| {
        vec![response(req, 100, ""), response(req, 200, "ok")]
    });
    let ex = run_udp(peer, &request("REGISTER", "z9hG4bK-p"), Timers::scaled(T1));
    let Outcome::Final(r) = &ex.outcome else {
        panic!("{:?}", ex.outcome);
    };
    assert_eq!(r.code, 200);
    assert!(r.bytes.ends_with(b"\r\n\r\nok"));
    assert_eq!(ex.received.len(), 1);
    assert_eq!(ex.received[0].heard, Heard::Provisional(100));
    assert_eq!(ex.ignored, 0);
}

#[test]
fn an_invite_is_not_retransmitted_after_a_provisional() {
    // 100 Trying at once, then nothing: the INVITE waits out its timer
    // without sending again.
    let (peer, _server) = udp_peer(3, |n, req| {
        if n == 1 {
            vec![response(req, 100, "")]
        } else {
            Vec::new()
        }
    });
    let timers = Timers::scaled(T1).with_timeout(T1 * 10);
    let ex = run_udp(peer, &request("INVITE", "z9hG4bK-i"), timers);
    assert!(matches!(ex.outcome, Outcome::Timeout), "{:?}", ex.outcome);
    assert_eq!(ex.sent(), 1, "{:?}", ex.sent_at);
}

#[test]
fn an_invites_failure_is_acknowledged_with_the_answerers_to_tag() {
    let (peer, server) = udp_peer(2, |n, req| {
        if n == 1 {
            let busy = String::from_utf8(response(req, 486, ""))
                .unwrap()
                .replace("To: <sip:echo@127.0.0.1>", "To: <sip:echo@127.0.0.1>;tag=b");
            vec![busy.into_bytes()]
        } else {
            Vec::new()
        }
    });
    let ex = run_udp(peer, &request("INVITE", "z9hG4bK-busy"), Timers::scaled(T1));
    assert!(matches!(&ex.outcome, Outcome::Final(r) if r.code == 486));
    assert!(ex.acked);
    let got = server.join().unwrap();
    assert_eq!(got.len(), 2, "the INVITE, then its ACK");
    let ack = String::from_utf8(got[1].1.clone()).unwrap();
    assert!(
        ack.starts_with("ACK sip:echo@127.0.0.1 SIP/2.0\r\n"),
        "{ack}"
    );
    for line in [
        "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-busy;rport\r\n",
        "To: <sip:echo@127.0.0.1>;tag=b\r\n",
        "CSeq: 1 ACK\r\n",
        "Call-ID: c1\r\n",
    ] {
        assert!(ack.contains(line), "{line} in {ack}");
    }
}

#[test]
fn a_silent_peer_times_out_at_timer_f() {
    let (peer, _server) = udp_peer(usize::MAX, |_, _| Vec::new());
    let started = Instant::now();
    let t1 = Duration::from_millis(5);
    let ex = run_udp(peer, &request("OPTIONS", "z9hG4bK-s"), Timers::scaled(t1));
    let took = started.elapsed();
    assert!(matches!(ex.outcome, Outcome::Timeout), "{:?}", ex.outcome);
    assert!(took >= t1 * 64 && took < Duration::from_secs(2), "{took:?}");
    // 0, 5, 15, 35, then every T2 (40 ms) up to 320 ms: 11 transmissions.
    assert!((8..=11).contains(&ex.sent()), "{:?}", ex.sent_at);
}

#[test]
fn garbage_strangers_and_oversize_answers_are_ignored_and_counted() {
    let (peer, _server) = udp_peer(1, |_, req| {
        let stranger = request("OPTIONS", "z9hG4bK-other");
        let other_method = String::from_utf8(response(req, 200, ""))
            .unwrap()
            .replace("CSeq: 1 OPTIONS", "CSeq: 1 INVITE");
        let oversize = String::from_utf8(response(req, 200, ""))
            .unwrap()
            .replace("Content-Length: 0", "Content-Length: 99999999");
        vec![
            b"\x00\xff garbage".to_vec(),
            Vec::new(),
            stranger.clone(),
            response(&stranger, 200, ""),
            other_method.into_bytes(),
            oversize.into_bytes(),
            response(req, 700, ""),
            response(req, 404, ""),
        ]
    });
    let ex = run_udp(peer, &request("OPTIONS", "z9hG4bK-g"), Timers::scaled(T1));
    let Outcome::Final(r) = &ex.outcome else {
        panic!("{:?}", ex.outcome);
    };
    assert_eq!(r.code, 404);
    let heard: Vec<Heard> = ex.received.iter().map(|r| r.heard).collect();
    use Ignored::*;
    assert_eq!(
        heard,
        [
            NotAResponse,
            NotAResponse,
            NotAResponse,
            OtherTransaction,
            OtherTransaction,
            Oversize,
            NotAResponse
        ]
        .map(Heard::Ignored)
    );
    assert_eq!(ex.ignored, 7);
}

#[test]
fn a_closed_udp_port_is_refused() {
    let closed = client_socket().local_addr().unwrap(); // bound, then dropped
    let ex = run_udp(closed, &request("OPTIONS", "z9hG4bK-c"), Timers::scaled(T1));
    let Outcome::Refused(e) = &ex.outcome else {
        panic!("{:?}", ex.outcome);
    };
    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused);
    assert!(ex.sent() >= 1);
}

/// A TCP peer on 127.0.0.1 that reads one request and hands the stream
/// to `then`.
fn tcp_peer(
    then: impl FnOnce(std::net::TcpStream, Vec<u8>) + Send + 'static,
) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while !got.ends_with(b"\r\n\r\n") {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        then(stream, got);
    });
    (addr, handle)
}

fn run_tcp(peer: SocketAddr, request: &[u8], timers: Timers) -> Exchange {
    let stream = connect_tcp(None, peer, Duration::from_secs(1)).unwrap();
    exchange(&mut Channel::stream(stream), peer, request, &timers)
}

#[test]
fn tcp_responses_split_across_writes_are_framed_by_content_length() {
    let (peer, server) = tcp_peer(|mut stream, req| {
        let stream_bytes = [
            b"\r\n".to_vec(),
            response(&req, 100, ""),
            response(&req, 200, "v=0\r\n\r\nbody with a blank line"),
        ]
        .concat();
        for piece in stream_bytes.chunks(7) {
            stream.write_all(piece).unwrap();
            stream.flush().unwrap();
            thread::sleep(Duration::from_millis(1));
        }
        thread::sleep(Duration::from_millis(200));
    });
    let ex = run_tcp(peer, &request("REGISTER", "z9hG4bK-t"), Timers::scaled(T1));
    let Outcome::Final(r) = &ex.outcome else {
        panic!("{:?}", ex.outcome);
    };
    assert_eq!(r.code, 200);
    assert!(r.bytes.ends_with(b"v=0\r\n\r\nbody with a blank line"));
    assert_eq!(ex.sent(), 1);
    assert_eq!(ex.received[0].heard, Heard::Provisional(100));
    assert_eq!(ex.skipped_bytes, 0);
    server.join().unwrap();
}

#[test]
fn tcp_garbage_is_skipped_and_a_close_before_the_final_is_told() {
    let (peer, server) = tcp_peer(|mut stream, _| {
        stream.write_all(b"garbage line\r\nmore\r\n").unwrap();
    });
    let ex = run_tcp(peer, &request("OPTIONS", "z9hG4bK-x"), Timers::scaled(T1));
    assert!(matches!(ex.outcome, Outcome::Closed), "{:?}", ex.outcome);
    assert!(ex.skipped_bytes > 0);
    server.join().unwrap();
}

#[test]
fn a_tcp_reset_is_told_apart_from_a_timeout() {
    let (peer, server) = tcp_peer(|stream, _| {
        let socket = socket2::Socket::from(stream);
        socket.set_linger(Some(Duration::ZERO)).unwrap();
        drop(socket); // closing with linger 0 sends a RST
    });
    let ex = run_tcp(peer, &request("OPTIONS", "z9hG4bK-rst"), Timers::scaled(T1));
    assert!(matches!(ex.outcome, Outcome::Reset), "{:?}", ex.outcome);
    server.join().unwrap();

    let (peer, server) = tcp_peer(|_stream, _| thread::sleep(Duration::from_millis(300)));
    let timers = Timers::scaled(T1).with_timeout(Duration::from_millis(100));
    let ex = run_tcp(peer, &request("OPTIONS", "z9hG4bK-slow"), timers);
    assert!(matches!(ex.outcome, Outcome::Timeout), "{:?}", ex.outcome);
    server.join().unwrap();
}

#[test]
fn a_closed_tcp_port_is_refused_and_a_foreign_source_cannot_be_bound() {
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let e = connect_tcp(None, closed, Duration::from_secs(1)).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused, "{e}");
    let e = connect_tcp(
        Some("192.0.2.1".parse().unwrap()),
        closed,
        Duration::from_secs(1),
    )
    .unwrap_err();
    assert!(matches!(e, ConnectError::Bind { .. }), "{e}");
    let e = connect_tcp(
        Some("127.0.0.1".parse().unwrap()),
        closed,
        Duration::from_secs(1),
    )
    .unwrap_err();
    assert!(matches!(e, ConnectError::Connect { .. }), "{e}");
}
