//! SIP peers for lab traffic: a PBX-side client that sends requests in
//! windows and waits for their responses, and a provider-side responder
//! that answers every request, over UDP and TCP. Both record exactly the
//! bytes they sent and received.
use std::{
    collections::HashMap,
    io::{Read, Write},
    net::{SocketAddr, TcpListener, TcpStream, UdpSocket},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

use sipwatch_lab::{Netns, response_to};

/// What one side of a conversation sent and received, in order.
#[derive(Default, Debug, Clone)]
pub struct Transcript {
    pub sent: Vec<Vec<u8>>,
    pub received: Vec<Vec<u8>>,
}

/// Requests in flight before the client waits for their answers.
const WINDOW: usize = 32;
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// A responder in the provider namespace answering every request on UDP
/// and TCP at `addrs` with a 200 OK, until dropped.
pub struct Responder {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    transcript: Arc<Mutex<Transcript>>,
}

impl Responder {
    pub fn start(ns: &Netns, addrs: &[SocketAddr]) -> Responder {
        let stop = Arc::new(AtomicBool::new(false));
        let transcript = Arc::new(Mutex::new(Transcript::default()));
        let mut threads = Vec::new();
        for &addr in addrs {
            let (udp, tcp) = ns
                .enter(|| (UdpSocket::bind(addr), TcpListener::bind(addr)))
                .expect("enter provider namespace");
            let udp = udp.unwrap_or_else(|e| panic!("bind UDP {addr}: {e}"));
            let tcp = tcp.unwrap_or_else(|e| panic!("bind TCP {addr}: {e}"));
            udp.set_read_timeout(Some(Duration::from_millis(50)))
                .unwrap();
            tcp.set_nonblocking(true).unwrap();
            let (s, t) = (stop.clone(), transcript.clone());
            threads.push(thread::spawn(move || serve_udp(udp, s, t)));
            let (s, t) = (stop.clone(), transcript.clone());
            threads.push(thread::spawn(move || serve_tcp(tcp, s, t)));
        }
        Responder {
            stop,
            threads,
            transcript,
        }
    }

    /// Stops serving and returns what was received and sent.
    pub fn finish(mut self) -> Transcript {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            t.join().expect("responder thread");
        }
        self.transcript.lock().unwrap().clone()
    }
}

fn serve_udp(socket: UdpSocket, stop: Arc<AtomicBool>, transcript: Arc<Mutex<Transcript>>) {
    let mut buf = vec![0u8; 65_536];
    while !stop.load(Ordering::SeqCst) {
        let Ok((n, from)) = socket.recv_from(&mut buf) else {
            continue;
        };
        let request = buf[..n].to_vec();
        let response = response_to(&request, 200, "OK");
        socket.send_to(&response, from).expect("send response");
        let mut t = transcript.lock().unwrap();
        t.received.push(request);
        t.sent.push(response);
    }
}

fn serve_tcp(listener: TcpListener, stop: Arc<AtomicBool>, transcript: Arc<Mutex<Transcript>>) {
    let mut connections = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let (s, t) = (stop.clone(), transcript.clone());
                connections.push(thread::spawn(move || serve_tcp_connection(stream, s, t)));
            }
            Err(_) => thread::sleep(Duration::from_millis(10)),
        }
    }
    for c in connections {
        c.join().expect("connection thread");
    }
}

/// Messages here have no body (Content-Length: 0), so each ends at the
/// first blank line.
fn serve_tcp_connection(
    mut stream: TcpStream,
    stop: Arc<AtomicBool>,
    transcript: Arc<Mutex<Transcript>>,
) {
    stream
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    stream.set_nodelay(true).unwrap();
    let mut pending = Vec::new();
    let mut buf = vec![0u8; 65_536];
    while !stop.load(Ordering::SeqCst) {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => pending.extend_from_slice(&buf[..n]),
            Err(_) => continue,
        }
        while let Some(end) = find(&pending, b"\r\n\r\n") {
            let request: Vec<u8> = pending.drain(..end + 4).collect();
            let response = response_to(&request, 200, "OK");
            stream.write_all(&response).expect("write response");
            let mut t = transcript.lock().unwrap();
            t.received.push(request);
            t.sent.push(response);
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Sends `requests` over UDP from `local` to `remote` (in the PBX
/// namespace), `WINDOW` at a time, waiting for each window's answers.
pub fn udp_exchange(
    ns: &Netns,
    local: SocketAddr,
    remote: SocketAddr,
    requests: &[Vec<u8>],
) -> Transcript {
    let socket = ns
        .enter(|| UdpSocket::bind(local))
        .unwrap()
        .expect("bind PBX UDP socket");
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut transcript = Transcript::default();
    let mut buf = vec![0u8; 65_536];
    for window in requests.chunks(WINDOW) {
        for request in window {
            socket.send_to(request, remote).expect("send request");
            transcript.sent.push(request.clone());
        }
        let deadline = Instant::now() + ANSWER_TIMEOUT;
        let mut answered = 0;
        while answered < window.len() && Instant::now() < deadline {
            if let Ok(n) = socket.recv(&mut buf) {
                transcript.received.push(buf[..n].to_vec());
                answered += 1;
            }
        }
        assert_eq!(
            answered,
            window.len(),
            "responses missing in the lab from {remote}"
        );
    }
    transcript
}

/// The same over one TCP connection from an ephemeral port.
pub fn tcp_exchange(
    ns: &Netns,
    remote: SocketAddr,
    requests: &[Vec<u8>],
) -> (SocketAddr, Transcript) {
    let mut stream = ns
        .enter(|| TcpStream::connect_timeout(&remote, Duration::from_secs(5)))
        .unwrap()
        .expect("connect to the provider over TCP");
    stream.set_nodelay(true).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let local = stream.local_addr().unwrap();
    let mut transcript = Transcript::default();
    let mut pending = Vec::new();
    let mut buf = vec![0u8; 65_536];
    for window in requests.chunks(WINDOW) {
        for request in window {
            stream.write_all(request).expect("write request");
            transcript.sent.push(request.clone());
        }
        let deadline = Instant::now() + ANSWER_TIMEOUT;
        let mut answered = 0;
        while answered < window.len() && Instant::now() < deadline {
            if let Ok(n) = stream.read(&mut buf) {
                pending.extend_from_slice(&buf[..n]);
            }
            while let Some(end) = find(&pending, b"\r\n\r\n") {
                transcript.received.push(pending.drain(..end + 4).collect());
                answered += 1;
            }
        }
        assert_eq!(answered, window.len(), "TCP responses missing in the lab");
    }
    (local, transcript)
}

/// Fails, readably, unless `got` and `want` hold the same messages the same
/// number of times.
pub fn assert_same_messages(got: &[Vec<u8>], want: &[Vec<u8>], what: &str) {
    let (g, w) = (multiset(got), multiset(want));
    if g == w {
        return;
    }
    let missing: Vec<&&[u8]> = w.keys().filter(|k| g.get(*k) != w.get(*k)).collect();
    let extra: Vec<&&[u8]> = g.keys().filter(|k| !w.contains_key(*k)).collect();
    let first = |v: &[&&[u8]]| {
        v.first()
            .map(|m| String::from_utf8_lossy(&m[..m.len().min(300)]).into_owned())
            .unwrap_or_default()
    };
    panic!(
        "{what}: got {} messages, wanted {}; {} wanted ones missing or miscounted, e.g.\n{}\n{} unexpected, e.g.\n{}",
        got.len(),
        want.len(),
        missing.len(),
        first(&missing),
        extra.len(),
        first(&extra)
    );
}

/// Counts of each distinct byte string.
pub fn multiset<'a>(items: impl IntoIterator<Item = &'a Vec<u8>>) -> HashMap<&'a [u8], usize> {
    let mut m = HashMap::new();
    for i in items {
        *m.entry(i.as_slice()).or_insert(0) += 1;
    }
    m
}
