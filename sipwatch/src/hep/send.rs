//! Sending HEP packets to one receiver (HOMER's heplify-server, sngrep, a
//! capture agent) without ever holding up the capture: packets go into a
//! bounded queue that a thread of their own drains to the socket, over
//! UDP (one datagram per packet), TCP or TLS (one stream, reconnected
//! with back-off). Every packet not sent is counted by why ([`SendStats`]).
//!
//! ```no_run
//! use sipwatch::hep::send::{Destination, Sender, WhenFull};
//! let to: Destination = "tcp:homer.example.net:9061".parse().unwrap();
//! let sender = Sender::start(&to, WhenFull::Drop, None).unwrap();
//! sender.send(b"HEP3...".to_vec());
//! sender.finish();
//! ```
use std::{
    fmt,
    io::{self, BufWriter, Write},
    net::{SocketAddr, TcpStream, UdpSocket},
    path::Path,
    str::FromStr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
        mpsc::{Receiver, SyncSender, TryRecvError, TrySendError, sync_channel},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use rustls::pki_types::ServerName;

/// The port HEP receivers listen on when none is given (heplify-server,
/// sngrep's examples, Asterisk's `hep.conf`).
pub const DEFAULT_PORT: u16 = 9060;
/// Packets waiting to be sent, at most, per receiver: about 10 s of a
/// busy trunk's signalling, a few tens of MiB at most.
pub const QUEUE_PACKETS: usize = 10_000;
/// How long a TCP connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a write to a stalled TCP receiver may block the sending thread.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// First wait before connecting again after a failure; doubled each time.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// The longest wait between connection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// How packets reach the receiver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// One datagram per packet (`udp:`, the default).
    Udp,
    /// One stream (`tcp:`): what HOMER ingests fastest and without loss.
    Tcp,
    /// One stream in TLS (`tls:`), the receiver's certificate verified
    /// against the system's roots and `--hep-ca`.
    Tls,
}

/// `--hep`: a receiver, `[udp:|tcp:]HOST[:PORT]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Destination {
    /// UDP or TCP.
    pub scheme: Scheme,
    /// `HOST`, `HOST:PORT`, `IPv4`, `[IPv6]:PORT`, as written.
    pub address: String,
}

/// Why a `--hep` value or its receiver is not usable.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// A scheme other than `udp:` or `tcp:`.
    #[error("{0:?}: give udp:HOST:PORT, tcp:HOST:PORT or tls:HOST:PORT")]
    Scheme(String),
    /// No address after the scheme.
    #[error("{0:?}: the receiver's address is missing (udp:HOST:PORT or tcp:HOST:PORT)")]
    NoAddress(String),
    /// The host does not resolve, or the port is not one.
    #[error("HEP receiver {destination}")]
    Resolve {
        /// As given.
        destination: String,
        /// Why.
        #[source]
        source: crate::client::ResolveError,
    },
    /// The UDP socket could not be opened.
    #[error("opening a UDP socket towards {0}")]
    Socket(SocketAddr, #[source] io::Error),
    /// The trusted roots for `tls:` could not be read (`--hep-ca`).
    #[error("--hep-ca")]
    Roots(#[source] io::Error),
    /// The sending thread could not start.
    #[error("starting the HEP sending thread")]
    Thread(#[source] io::Error),
}

impl FromStr for Destination {
    type Err = SendError;

    fn from_str(text: &str) -> Result<Self, SendError> {
        let text = text.trim();
        let (scheme, address) = match text.split_once(':') {
            Some((s, rest)) if s.eq_ignore_ascii_case("udp") => (Scheme::Udp, rest),
            Some((s, rest)) if s.eq_ignore_ascii_case("tcp") => (Scheme::Tcp, rest),
            Some((s, rest)) if s.eq_ignore_ascii_case("tls") => (Scheme::Tls, rest),
            // A scheme is letters before the first colon and no port
            // number: `tls:…`, `sctp:…`, `http:…`.
            Some((s, _))
                if !s.is_empty()
                    && s.chars().all(|c| c.is_ascii_alphabetic())
                    && !s.contains('.') =>
            {
                let is_host_port = text
                    .rsplit_once(':')
                    .is_some_and(|(h, p)| h == s && p.parse::<u16>().is_ok());
                if is_host_port {
                    (Scheme::Udp, text)
                } else {
                    return Err(SendError::Scheme(text.to_owned()));
                }
            }
            _ => (Scheme::Udp, text),
        };
        if address.is_empty() {
            return Err(SendError::NoAddress(text.to_owned()));
        }
        Ok(Destination {
            scheme,
            address: address.to_owned(),
        })
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.scheme {
            Scheme::Udp => "udp",
            Scheme::Tcp => "tcp",
            Scheme::Tls => "tls",
        };
        write!(f, "{scheme}:{}", self.address)
    }
}

/// What [`Sender::send`] does with a packet when the queue is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WhenFull {
    /// Drop it, counted: a live capture never waits for the receiver.
    Drop,
    /// Wait for room: a capture file is replayed whole, as fast as the
    /// receiver takes it.
    Wait,
}

/// What one sender did, counted as it happens (read from any thread).
#[derive(Debug, Default)]
pub struct SendStats {
    /// Packets handed to the socket.
    pub sent: AtomicU64,
    /// Packets dropped because the queue was full (the receiver or the
    /// network is slower than the capture).
    pub queue_full: AtomicU64,
    /// Packets dropped because the socket refused them, or the TCP
    /// receiver was not connected.
    pub send_failed: AtomicU64,
    /// Packets not made at all: over the largest HEP packet.
    pub too_large: AtomicU64,
    /// TCP connections made after the first (the receiver went away).
    pub reconnects: AtomicU64,
}

impl SendStats {
    /// Every packet dropped, whatever the reason.
    pub fn dropped(&self) -> u64 {
        self.queue_full.load(Ordering::Relaxed)
            + self.send_failed.load(Ordering::Relaxed)
            + self.too_large.load(Ordering::Relaxed)
    }
}

/// One receiver's queue and the thread that drains it.
pub struct Sender {
    queue: Option<SyncSender<Vec<u8>>>,
    thread: Option<JoinHandle<()>>,
    when_full: WhenFull,
    stats: Arc<SendStats>,
    to: SocketAddr,
}

impl Sender {
    /// Resolves the receiver now (a bad name is an error before the
    /// capture starts) and starts the thread that sends to it; a TCP
    /// receiver is connected to by that thread, not here.
    /// `ca`: a PEM file of certificates trusted for a `tls:` receiver,
    /// beside the system's.
    pub fn start(
        destination: &Destination,
        when_full: WhenFull,
        ca: Option<&Path>,
    ) -> Result<Sender, SendError> {
        Sender::start_with_queue(destination, when_full, ca, QUEUE_PACKETS)
    }

    /// [`Sender::start`] with a queue of `capacity` packets.
    fn start_with_queue(
        destination: &Destination,
        when_full: WhenFull,
        ca: Option<&Path>,
        capacity: usize,
    ) -> Result<Sender, SendError> {
        let to = crate::client::resolve(&destination.address, DEFAULT_PORT)
            .map_err(|source| SendError::Resolve {
                destination: destination.to_string(),
                source,
            })?
            .chosen();
        let link = match destination.scheme {
            Scheme::Udp => {
                let any: SocketAddr = if to.is_ipv4() {
                    ([0, 0, 0, 0], 0).into()
                } else {
                    (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
                };
                let socket = UdpSocket::bind(any)
                    .and_then(|s| s.connect(to).map(|()| s))
                    .map_err(|e| SendError::Socket(to, e))?;
                Link::Udp(socket)
            }
            Scheme::Tcp => Link::Tcp(TcpLink::new(to, None)),
            Scheme::Tls => {
                let config = super::tls::client_config(ca).map_err(SendError::Roots)?;
                let name = super::tls::server_name(&destination.address);
                Link::Tcp(TcpLink::new(to, Some((config, name))))
            }
        };
        let stats = Arc::new(SendStats::default());
        let (queue, rx) = sync_channel(capacity);
        let thread_stats = stats.clone();
        let thread = std::thread::Builder::new()
            .name(format!("hep {destination}"))
            .spawn(move || drain(rx, link, &thread_stats))
            .map_err(SendError::Thread)?;
        Ok(Sender {
            queue: Some(queue),
            thread: Some(thread),
            when_full,
            stats,
            to,
        })
    }

    /// The address the receiver resolved to.
    pub fn to(&self) -> SocketAddr {
        self.to
    }

    /// What this sender did so far.
    pub fn stats(&self) -> &Arc<SendStats> {
        &self.stats
    }

    /// Queues one encoded packet; never waits with [`WhenFull::Drop`].
    pub fn send(&self, packet: Vec<u8>) {
        let Some(queue) = &self.queue else {
            return;
        };
        let queued = match self.when_full {
            WhenFull::Drop => match queue.try_send(packet) {
                Ok(()) => true,
                Err(TrySendError::Full(_)) => {
                    self.stats.queue_full.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Err(TrySendError::Disconnected(_)) => false,
            },
            WhenFull::Wait => queue.send(packet).is_ok(),
        };
        if !queued {
            // The thread ended (it cannot, short of a panic): counted.
            self.stats.send_failed.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Sends what is queued, then stops the thread: bounded by the TCP
    /// timeouts, and by the back-off that drops packets (counted) rather
    /// than waiting for a receiver that is gone.
    pub fn finish(mut self) {
        self.close();
    }

    fn close(&mut self) {
        self.queue.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        self.close();
    }
}

/// The socket a sender writes to.
enum Link {
    Udp(UdpSocket),
    Tcp(TcpLink),
}

/// A stream to the receiver: plain TCP, or TLS over it.
enum Stream {
    Tcp(TcpStream),
    Tls(Box<super::tls::TlsStream>),
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// A TCP (or TLS) connection that comes back after a failure, with
/// back-off; the first failure of an outage is logged (a warning on
/// standard error), the packets lost to it counted.
struct TcpLink {
    to: SocketAddr,
    /// For `tls:`: the client's configuration and the name to verify.
    tls: Option<(Arc<rustls::ClientConfig>, ServerName<'static>)>,
    stream: Option<BufWriter<Stream>>,
    /// An outage is under way and was told.
    told: bool,
    /// Packets written into the buffer since the last flush: counted as
    /// sent, and moved to `send_failed` when the connection breaks.
    unflushed: u64,
    /// No connection attempt before this instant.
    next_attempt: Instant,
    backoff: Duration,
    connected_before: bool,
}

impl TcpLink {
    fn new(
        to: SocketAddr,
        tls: Option<(Arc<rustls::ClientConfig>, ServerName<'static>)>,
    ) -> TcpLink {
        TcpLink {
            to,
            tls,
            stream: None,
            told: false,
            unflushed: 0,
            next_attempt: Instant::now(),
            backoff: FIRST_BACKOFF,
            connected_before: false,
        }
    }

    /// The stream, connecting when it is time to; `None` while the
    /// receiver is unreachable and the back-off runs.
    fn stream(&mut self, stats: &SendStats) -> Option<&mut BufWriter<Stream>> {
        if self.stream.is_none() && Instant::now() >= self.next_attempt {
            match self.connect() {
                Ok(s) => {
                    if self.connected_before {
                        stats.reconnects.fetch_add(1, Ordering::Relaxed);
                    }
                    self.connected_before = true;
                    self.told = false;
                    self.backoff = FIRST_BACKOFF;
                    self.stream = Some(BufWriter::with_capacity(1 << 16, s));
                }
                Err(e) => {
                    if !self.told {
                        log::warn!(
                            "{}",
                            NotSending {
                                to: self.to,
                                error: e
                            }
                        );
                        self.told = true;
                    }
                    self.failed(stats);
                }
            }
        }
        self.stream.as_mut()
    }

    /// One connection, and its TLS handshake for `tls:`.
    fn connect(&self) -> io::Result<Stream> {
        let tcp = TcpStream::connect_timeout(&self.to, CONNECT_TIMEOUT)?;
        tcp.set_write_timeout(Some(WRITE_TIMEOUT))?;
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            None => Ok(Stream::Tcp(tcp)),
            Some((config, name)) => {
                super::tls::handshake(tcp, config.clone(), name.clone(), CONNECT_TIMEOUT)
                    .map(|s| Stream::Tls(Box::new(s)))
            }
        }
    }

    /// The connection failed or broke: what its buffer held is lost
    /// (counted), and the next attempt waits twice as long as the last,
    /// up to [`MAX_BACKOFF`].
    fn failed(&mut self, stats: &SendStats) {
        if let Some(stream) = self.stream.take() {
            // Not flushed again on drop: the connection is gone.
            drop(stream.into_parts());
        }
        stats.sent.fetch_sub(self.unflushed, Ordering::Relaxed);
        stats
            .send_failed
            .fetch_add(self.unflushed, Ordering::Relaxed);
        self.unflushed = 0;
        self.next_attempt = Instant::now() + self.backoff;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
    }

    /// Writes one packet into the stream's buffer: counted as sent, or
    /// as failed when there is no connection.
    fn write(&mut self, packet: &[u8], stats: &SendStats) {
        let Some(stream) = self.stream(stats) else {
            stats.send_failed.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let written = stream.write_all(packet).is_ok();
        stats.sent.fetch_add(1, Ordering::Relaxed);
        self.unflushed += 1;
        if !written {
            self.failed(stats);
        }
    }

    /// Ends a TLS connection with its close_notify (RFC 8446 §6.1), so
    /// that the receiver knows nothing was cut off.
    fn close(&mut self) {
        if let Some(Stream::Tls(tls)) = self.stream.as_mut().map(BufWriter::get_mut) {
            tls.conn.send_close_notify();
            let _ = tls.flush();
        }
    }

    /// Pushes out what the buffer holds.
    fn flush(&mut self, stats: &SendStats) {
        let Some(stream) = &mut self.stream else {
            return;
        };
        if stream.flush().is_ok() {
            self.unflushed = 0;
        } else {
            self.failed(stats);
        }
    }
}

/// Why a receiver is not being sent to, for the log.
#[derive(Debug, thiserror::Error)]
#[error(
    "HEP receiver {to}: cannot connect ({error}); trying again with back-off, packets meanwhile dropped and counted"
)]
struct NotSending {
    to: SocketAddr,
    error: io::Error,
}

/// The sending thread: until the queue is closed and empty, each packet
/// to the socket; over TCP written in batches, flushed whenever the queue
/// runs empty.
fn drain(rx: Receiver<Vec<u8>>, mut link: Link, stats: &SendStats) {
    loop {
        let packet = match rx.try_recv() {
            Ok(p) => p,
            Err(TryRecvError::Empty) => {
                if let Link::Tcp(tcp) = &mut link {
                    tcp.flush(stats);
                }
                match rx.recv() {
                    Ok(p) => p,
                    Err(_) => return,
                }
            }
            Err(TryRecvError::Disconnected) => break,
        };
        match &mut link {
            Link::Udp(socket) => {
                let counter = if socket.send(&packet).is_ok() {
                    &stats.sent
                } else {
                    &stats.send_failed
                };
                counter.fetch_add(1, Ordering::Relaxed);
            }
            Link::Tcp(tcp) => tcp.write(&packet, stats),
        }
    }
    if let Link::Tcp(tcp) = &mut link {
        tcp.flush(stats);
        tcp.close();
    }
}

/// For tests: a TCP receiver that is not there (a port on 127.0.0.1 just
/// freed, nothing listens there), and its port.
#[cfg(test)]
pub(crate) fn nowhere() -> (Destination, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1");
    let to = Destination {
        scheme: Scheme::Tcp,
        address: format!("127.0.0.1:{port}"),
    };
    (to, port)
}

/// For tests: a UDP receiver on 127.0.0.1 (reads time out after 5 s), and
/// where to send to it.
#[cfg(test)]
pub(crate) fn udp_receiver() -> (UdpSocket, Destination) {
    let receiver = UdpSocket::bind("127.0.0.1:0").expect("a UDP socket on 127.0.0.1");
    let _ = receiver.set_read_timeout(Some(Duration::from_secs(5)));
    let to = Destination {
        scheme: Scheme::Udp,
        address: receiver.local_addr().expect("bound").to_string(),
    };
    (receiver, to)
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn a_destination_is_udp_unless_it_says_tcp() {
        let d: Destination = "10.0.0.5:9060".parse().unwrap();
        assert_eq!(
            (d.scheme, d.address.as_str()),
            (Scheme::Udp, "10.0.0.5:9060")
        );
        let d: Destination = "tcp:homer:9061".parse().unwrap();
        assert_eq!((d.scheme, d.address.as_str()), (Scheme::Tcp, "homer:9061"));
        let d: Destination = "UDP:[2001:db8::5]:9060".parse().unwrap();
        assert_eq!(
            (d.scheme, d.address.as_str()),
            (Scheme::Udp, "[2001:db8::5]:9060")
        );
        let d: Destination = "homer:9060".parse().unwrap();
        assert_eq!((d.scheme, d.address.as_str()), (Scheme::Udp, "homer:9060"));
        assert_eq!(d.to_string(), "udp:homer:9060");
        let d: Destination = "tls:homer:9061".parse().unwrap();
        assert_eq!((d.scheme, d.address.as_str()), (Scheme::Tls, "homer:9061"));
        assert!(matches!(
            "sctp:homer:9061".parse::<Destination>(),
            Err(SendError::Scheme(_))
        ));
        assert!(matches!(
            "tcp:".parse::<Destination>(),
            Err(SendError::NoAddress(_))
        ));
    }

    #[test]
    fn udp_packets_arrive_one_datagram_each() {
        let (receiver, to) = udp_receiver();
        let sender = Sender::start(&to, WhenFull::Wait, None).unwrap();
        sender.send(b"one".to_vec());
        sender.send(b"two".to_vec());
        let stats = sender.stats().clone();
        sender.finish();
        let mut buf = [0u8; 16];
        let n = receiver.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"one");
        let n = receiver.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"two");
        assert_eq!(stats.sent.load(Ordering::Relaxed), 2);
        assert_eq!(stats.dropped(), 0);
    }

    #[test]
    fn tcp_packets_arrive_in_order_on_one_stream() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let to = Destination {
            scheme: Scheme::Tcp,
            address: listener.local_addr().unwrap().to_string(),
        };
        let sender = Sender::start(&to, WhenFull::Wait, None).unwrap();
        for n in 0..100u8 {
            sender.send(vec![n; 10]);
        }
        let stats = sender.stats().clone();
        let reader = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut all = Vec::new();
            s.read_to_end(&mut all).unwrap();
            all
        });
        sender.finish();
        let all = reader.join().unwrap();
        assert_eq!(all.len(), 1000);
        assert!(all.chunks(10).enumerate().all(|(i, c)| c == [i as u8; 10]));
        assert_eq!(stats.sent.load(Ordering::Relaxed), 100);
    }

    /// A TLS receiver on 127.0.0.1 with a certificate for 127.0.0.1 from
    /// `pki`'s CA: what each of `connections` delivered.
    fn tls_receiver(
        pki: &sipwatch_lab::pki::Pki,
        connections: usize,
    ) -> (u16, std::thread::JoinHandle<Vec<Vec<u8>>>) {
        let issued = pki.server(&["127.0.0.1"], None, false);
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![issued.der.into()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(issued.key_der.into()),
            )
            .unwrap();
        let config = Arc::new(config);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            (0..connections)
                .map(|_| {
                    let (s, _) = listener.accept().unwrap();
                    let conn = rustls::ServerConnection::new(config.clone()).unwrap();
                    let mut tls = rustls::StreamOwned::new(conn, s);
                    let mut all = Vec::new();
                    let _ = tls.read_to_end(&mut all);
                    all
                })
                .collect()
        });
        (port, server)
    }

    #[test]
    fn tls_delivers_to_a_receiver_whose_certificate_verifies_and_counts_the_one_that_does_not() {
        let pki = sipwatch_lab::pki::Pki::new();
        let (port, server) = tls_receiver(&pki, 2);
        let ca = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(ca.path(), &pki.ca_pem).unwrap();
        let to: Destination = format!("tls:127.0.0.1:{port}").parse().unwrap();
        // Trusted through --hep-ca.
        let sender = Sender::start(&to, WhenFull::Wait, Some(ca.path())).unwrap();
        sender.send(b"HEP3 over TLS".to_vec());
        let trusted = sender.stats().clone();
        sender.finish();
        // The same receiver, its CA not trusted.
        let sender = Sender::start(&to, WhenFull::Wait, None).unwrap();
        sender.send(b"not for an unknown CA".to_vec());
        let untrusted = sender.stats().clone();
        sender.finish();
        let got = server.join().unwrap();
        assert_eq!(got[0], b"HEP3 over TLS");
        assert!(got[1].is_empty());
        assert_eq!(trusted.sent.load(Ordering::Relaxed), 1);
        assert_eq!(untrusted.sent.load(Ordering::Relaxed), 0);
        assert_eq!(untrusted.send_failed.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_stalled_receiver_fills_the_queue_and_the_capture_does_not_wait() {
        // Accepts (in the kernel's backlog) and never reads.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let to = Destination {
            scheme: Scheme::Tcp,
            address: listener.local_addr().unwrap().to_string(),
        };
        let sender = Sender::start_with_queue(&to, WhenFull::Drop, None, 2).unwrap();
        let started = Instant::now();
        for _ in 0..2000 {
            sender.send(vec![0; 60_000]);
        }
        assert!(started.elapsed() < Duration::from_secs(2));
        let stats = sender.stats().clone();
        assert!(stats.queue_full.load(Ordering::Relaxed) > 1000);
        // The sending thread is stuck in a write for up to 5 s: not waited for.
        std::mem::forget(sender);
        drop(listener);
    }

    #[test]
    fn tcp_to_a_receiver_that_is_not_there_drops_and_counts_without_waiting() {
        let (to, _) = nowhere();
        let started = Instant::now();
        let sender = Sender::start(&to, WhenFull::Wait, None).unwrap();
        for _ in 0..50 {
            sender.send(b"lost".to_vec());
        }
        let stats = sender.stats().clone();
        sender.finish();
        assert_eq!(stats.send_failed.load(Ordering::Relaxed), 50);
        assert_eq!(stats.sent.load(Ordering::Relaxed), 0);
        assert!(started.elapsed() < Duration::from_secs(3));
    }
}
