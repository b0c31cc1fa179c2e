//! One client transaction (RFC 3261 §17.1): a request sent, retransmitted
//! over UDP on the [`Schedule`], and the responses that belong to it told
//! from everything else that arrives.
use std::{
    io::{self, Read, Write},
    net::{IpAddr, SocketAddr, TcpStream, UdpSocket},
    time::{Duration, Instant},
};

use super::timers::{Schedule, Timers};
use crate::sip::{MAX_MESSAGE, MessageIndex, SipFramer, StartLine, fields};

/// Datagrams and responses kept, with their bytes, in
/// [`Exchange::received`]; later ones are only counted.
pub const MAX_KEPT: usize = 32;

/// A reliable byte stream a request is written to and its responses read
/// from: TCP today; a TLS stream (a TLS library's stream over a
/// [`TcpStream`]) implements it the same way.
pub trait SipStream: Read + Write + Send {
    /// Bounds the next reads (`None`: no bound), as
    /// [`TcpStream::set_read_timeout`].
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
}

impl SipStream for TcpStream {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, timeout)
    }
}

/// Where a request goes out and its responses come in.
pub enum Channel {
    /// A UDP socket: the request is retransmitted until a response comes
    /// (RFC 3261 §17.1.1.2, §17.1.2.2).
    Udp {
        /// The socket, bound by the caller (to the port a PBX would use,
        /// say).
        socket: UdpSocket,
        /// Connected to the peer, so that an ICMP port unreachable comes
        /// back as [`Outcome::Refused`]; when connecting failed, datagrams
        /// from any port of the peer's address are read.
        connected: bool,
    },
    /// A reliable stream (TCP; TLS later): sent once, framed by
    /// Content-Length (RFC 3261 §18.3).
    Stream(Box<dyn SipStream>),
}

impl Channel {
    /// A UDP channel to `peer` over `socket`, connected to it where the
    /// system allows.
    pub fn udp(socket: UdpSocket, peer: SocketAddr) -> Channel {
        let connected = socket.connect(peer).is_ok();
        Channel::Udp { socket, connected }
    }

    /// A channel over a connected stream (see [`connect_tcp`]).
    pub fn stream(stream: impl SipStream + 'static) -> Channel {
        Channel::Stream(Box::new(stream))
    }
}

/// Why a TCP connection could not be opened; each carries the system's
/// error.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// No socket could be opened.
    #[error("cannot open a TCP socket: {0}")]
    Socket(#[source] io::Error),
    /// The local address asked for could not be bound (not this host's).
    #[error("cannot send from {from}: {source}")]
    Bind {
        /// The local address asked for.
        from: IpAddr,
        /// The system's error (`EADDRNOTAVAIL`…).
        #[source]
        source: io::Error,
    },
    /// The connection was refused (`ConnectionRefused`: a RST), not
    /// answered within the time given (`TimedOut`) or could not be tried
    /// (no route).
    #[error("TCP to {to}: {source}")]
    Connect {
        /// The peer.
        to: SocketAddr,
        /// The system's error.
        #[source]
        source: io::Error,
    },
}

impl ConnectError {
    /// The system's error kind (`ConnectionRefused` for a RST).
    pub fn kind(&self) -> io::ErrorKind {
        match self {
            ConnectError::Socket(e) => e.kind(),
            ConnectError::Bind { source, .. } | ConnectError::Connect { source, .. } => {
                source.kind()
            }
        }
    }
}

/// Opens a TCP connection to `to`, from `from` (any port) when given,
/// waiting at most `timeout` for the handshake.
pub fn connect_tcp(
    from: Option<IpAddr>,
    to: SocketAddr,
    timeout: Duration,
) -> Result<TcpStream, ConnectError> {
    let Some(from) = from else {
        return TcpStream::connect_timeout(&to, timeout)
            .map_err(|source| ConnectError::Connect { to, source });
    };
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(to),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )
    .map_err(ConnectError::Socket)?;
    socket
        .bind(&SocketAddr::new(from, 0).into())
        .map_err(|source| ConnectError::Bind { from, source })?;
    socket
        .connect_timeout(&to.into(), timeout)
        .map_err(|source| ConnectError::Connect { to, source })?;
    Ok(socket.into())
}

/// A response that belongs to the transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// Its bytes exactly as received.
    pub bytes: Vec<u8>,
    /// The status code, 100 to 699.
    pub code: u16,
    /// The reason phrase as written.
    pub reason: String,
    /// Where it came from.
    pub from: SocketAddr,
    /// When it arrived, from the first transmission.
    pub at: Duration,
}

/// Why something that arrived is not a response of this transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ignored {
    /// A datagram from another address than the peer's.
    OtherSource,
    /// Not a SIP response (garbage, a request, a status outside 100–699).
    NotAResponse,
    /// A response of another transaction: its top Via branch or its CSeq
    /// method is not the request's (RFC 3261 §17.1.3).
    OtherTransaction,
    /// A response larger than [`crate::sip::MAX_MESSAGE`], or whose
    /// Content-Length says it is (over a stream, the framer then hands over
    /// its header block alone).
    Oversize,
}

/// What an arrival was taken for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Heard {
    /// A provisional (1xx) response of this transaction, with its code.
    Provisional(u16),
    /// Something else, ignored.
    Ignored(Ignored),
}

/// Something that arrived before the final response (or instead of it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// Its bytes as received.
    pub bytes: Vec<u8>,
    /// Where it came from (over a stream, the peer).
    pub from: SocketAddr,
    /// When it arrived, from the first transmission.
    pub at: Duration,
    /// What it was taken for.
    pub heard: Heard,
}

/// How the transaction ended.
#[derive(Debug)]
pub enum Outcome {
    /// A final (2xx–6xx) response of this transaction.
    Final(Response),
    /// No final response within Timer B / F ([`Timers::timeout`]).
    Timeout,
    /// The peer refused: an ICMP port unreachable on a connected UDP socket
    /// (`ConnectionRefused`). Other ICMP errors (host or network
    /// unreachable) may pass and are counted in [`Exchange::errors`] while
    /// retransmission goes on.
    Refused(io::Error),
    /// The stream was reset by the peer (a TCP RST) before a final response.
    Reset,
    /// The peer closed the stream before a final response.
    Closed,
    /// The request could not be written to the stream.
    Unsent(io::Error),
    /// Reading the stream failed otherwise.
    Broken(io::Error),
}

/// What one transaction sent and heard.
#[derive(Debug)]
pub struct Exchange {
    /// How it ended.
    pub outcome: Outcome,
    /// Each transmission, as an offset from the first; over UDP a send the
    /// system refused (a local firewall's `EPERM`) is still one, counted
    /// in [`Exchange::errors`] too.
    pub sent_at: Vec<Duration>,
    /// Provisional responses and ignored arrivals, in order, the first
    /// [`MAX_KEPT`] with their bytes.
    pub received: Vec<Received>,
    /// Arrivals ignored, of every kind, kept or not.
    pub ignored: u64,
    /// Over a stream, bytes the framer dropped as fitting no message.
    pub skipped_bytes: u64,
    /// Sends and reads that failed without ending the transaction.
    pub errors: u64,
    /// An INVITE's non-2xx final response was acknowledged (RFC 3261
    /// §17.1.1.3; the ACK of a 2xx is the caller's, a transaction of its
    /// own).
    pub acked: bool,
}

impl Exchange {
    /// Transmissions made (the first and the retransmissions).
    pub fn sent(&self) -> u32 {
        self.sent_at.len() as u32
    }

    /// Transmissions made up to `at` (an arrival's time): what had been
    /// sent when it came.
    pub fn sent_by(&self, at: Duration) -> u32 {
        self.sent_at.iter().filter(|&&t| t <= at).count() as u32
    }
}

/// What identifies the request's responses (RFC 3261 §17.1.3): its top
/// Via's branch and its CSeq method. A request without a branch (one an
/// RFC 2543 client would send; sipwatch sends none) matches responses
/// without one.
#[derive(Debug, PartialEq, Eq)]
struct Key {
    branch: Option<String>,
    method: Option<String>,
}

impl Key {
    fn of(index: &MessageIndex<'_>) -> Key {
        let branch = index.header("via").and_then(|v| {
            let first = fields::split_list(&v).into_iter().next()?;
            fields::parse_via(first)?.branch
        });
        let method = index.header("cseq").and_then(|c| {
            let (_, method) = c.split_once(char::is_whitespace)?;
            Some(method.trim().to_owned())
        });
        Key { branch, method }
    }
}

/// The state of one exchange while it runs.
struct Run {
    start: Instant,
    key: Key,
    schedule: Schedule,
    exchange: Exchange,
}

impl Run {
    fn keep(&mut self, bytes: &[u8], from: SocketAddr, heard: Heard) {
        if matches!(heard, Heard::Ignored(_)) {
            self.exchange.ignored += 1;
        }
        if self.exchange.received.len() < MAX_KEPT {
            self.exchange.received.push(Received {
                bytes: bytes.to_vec(),
                from,
                at: self.start.elapsed(),
                heard,
            });
        }
    }

    /// A message from the peer: the final response, or `None` after
    /// noting what it was.
    fn hear(&mut self, bytes: &[u8], from: SocketAddr) -> Option<Response> {
        let index = MessageIndex::parse(bytes);
        let Some(StartLine::Response { code, reason }) = &index.start else {
            self.keep(bytes, from, Heard::Ignored(Ignored::NotAResponse));
            return None;
        };
        if !(100..=699).contains(code) {
            self.keep(bytes, from, Heard::Ignored(Ignored::NotAResponse));
            return None;
        }
        let claimed = index
            .header("content-length")
            .and_then(|l| l.trim().parse::<usize>().ok());
        if bytes.len() > MAX_MESSAGE || claimed.is_some_and(|l| l > MAX_MESSAGE) {
            self.keep(bytes, from, Heard::Ignored(Ignored::Oversize));
            return None;
        }
        if Key::of(&index) != self.key {
            self.keep(bytes, from, Heard::Ignored(Ignored::OtherTransaction));
            return None;
        }
        if *code < 200 {
            self.schedule.proceeding();
            self.keep(bytes, from, Heard::Provisional(*code));
            return None;
        }
        Some(Response {
            bytes: bytes.to_vec(),
            code: *code,
            reason: reason.clone(),
            from,
            at: self.start.elapsed(),
        })
    }

    fn end(mut self, outcome: Outcome) -> Exchange {
        self.exchange.outcome = outcome;
        self.exchange
    }
}

/// Sends `request` (one whole SIP request) to `peer` over `channel` and
/// waits for its final response: over UDP retransmitting on the
/// [`Schedule`], over a stream sending once; never longer than
/// [`Timers::timeout`]. Anything that is not a response of this request
/// is ignored and counted, never fatal. An INVITE's non-2xx final
/// response is acknowledged here, once.
pub fn exchange(
    channel: &mut Channel,
    peer: SocketAddr,
    request: &[u8],
    timers: &Timers,
) -> Exchange {
    let index = MessageIndex::parse(request);
    let invite =
        matches!(&index.start, Some(StartLine::Request { method, .. }) if method == "INVITE");
    let run = Run {
        start: Instant::now(),
        key: Key::of(&index),
        schedule: Schedule::new(timers, invite),
        exchange: Exchange {
            outcome: Outcome::Timeout,
            sent_at: Vec::new(),
            received: Vec::new(),
            ignored: 0,
            skipped_bytes: 0,
            errors: 0,
            acked: false,
        },
    };
    let mut exchange = match channel {
        Channel::Udp { socket, connected } => udp(run, socket, *connected, peer, request, timers),
        Channel::Stream(stream) => over_stream(run, stream.as_mut(), peer, request, timers),
    };
    if let Outcome::Final(response) = &exchange.outcome
        && invite
        && response.code >= 300
        && let Some(ack) = ack(&index, &response.bytes)
    {
        let sent = match channel {
            Channel::Udp { socket, .. } => socket.send_to(&ack, peer).map(|_| ()),
            Channel::Stream(stream) => stream.write_all(&ack).and_then(|()| stream.flush()),
        };
        exchange.acked = sent.is_ok();
    }
    exchange
}

/// The ACK of a non-2xx final response to an INVITE, which the client
/// transaction itself sends (RFC 3261 §17.1.1.3): the INVITE's Request-URI,
/// top Via, Route, From, Call-ID and CSeq number, the response's To (with
/// the tag the answerer added). `None` when either message lacks one of
/// them.
fn ack(invite: &MessageIndex<'_>, response: &[u8]) -> Option<Vec<u8>> {
    let Some(StartLine::Request { uri, .. }) = &invite.start else {
        return None;
    };
    let response = MessageIndex::parse(response);
    let vias = invite.header("via")?;
    let via = fields::split_list(&vias).into_iter().next()?;
    let cseq = invite.header("cseq")?;
    let (number, _) = cseq.split_once(char::is_whitespace)?;
    let mut out = format!("ACK {uri} SIP/2.0\r\nVia: {via}\r\n");
    for route in invite.headers_named("route") {
        out.push_str(&format!("Route: {route}\r\n"));
    }
    out.push_str(&format!(
        "Max-Forwards: 70\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {number} ACK\r\nContent-Length: 0\r\n\r\n",
        invite.header("from")?,
        response.header("to")?,
        invite.header("call-id")?,
    ));
    Some(out.into_bytes())
}

/// The shortest wait handed to the system: a zero read timeout would mean
/// "no timeout".
const MIN_WAIT: Duration = Duration::from_millis(1);

fn udp(
    mut run: Run,
    socket: &UdpSocket,
    connected: bool,
    peer: SocketAddr,
    request: &[u8],
    timers: &Timers,
) -> Exchange {
    let mut buf = vec![0u8; MAX_MESSAGE + 1];
    loop {
        let now = run.start.elapsed();
        if now >= timers.timeout {
            return run.end(Outcome::Timeout);
        }
        if run.schedule.peek().is_some_and(|due| now >= due) {
            run.schedule.next();
            run.exchange.sent_at.push(now);
            if let Err(e) = socket.send_to(request, peer) {
                if connected && e.kind() == io::ErrorKind::ConnectionRefused {
                    return run.end(Outcome::Refused(e));
                }
                run.exchange.errors += 1;
            }
        }
        let until = run
            .schedule
            .peek()
            .map_or(timers.timeout, |due| due.min(timers.timeout));
        let wait = until.saturating_sub(run.start.elapsed()).max(MIN_WAIT);
        socket.set_read_timeout(Some(wait)).ok();
        match socket.recv_from(&mut buf) {
            Ok((n, from)) => {
                let bytes = &buf[..n];
                if from.ip() != peer.ip() {
                    run.keep(bytes, from, Heard::Ignored(Ignored::OtherSource));
                } else if let Some(response) = run.hear(bytes, from) {
                    return run.end(Outcome::Final(response));
                }
            }
            Err(e) if connected && e.kind() == io::ErrorKind::ConnectionRefused => {
                return run.end(Outcome::Refused(e));
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(_) => run.exchange.errors += 1,
        }
    }
}

fn over_stream(
    mut run: Run,
    stream: &mut dyn SipStream,
    peer: SocketAddr,
    request: &[u8],
    timers: &Timers,
) -> Exchange {
    run.exchange.sent_at.push(Duration::ZERO);
    if let Err(e) = stream.write_all(request).and_then(|()| stream.flush()) {
        run.exchange.sent_at.clear();
        return run.end(Outcome::Unsent(e));
    }
    let mut framer = SipFramer::new();
    let mut messages = Vec::new();
    let mut buf = vec![0u8; 16_384];
    let outcome = loop {
        let now = run.start.elapsed();
        if now >= timers.timeout {
            break Outcome::Timeout;
        }
        let wait = timers.timeout.saturating_sub(now).max(MIN_WAIT);
        stream.set_read_timeout(Some(wait)).ok();
        let n = match stream.read(&mut buf) {
            Ok(0) => break Outcome::Closed,
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => break Outcome::Reset,
            Err(e) => break Outcome::Broken(e),
        };
        framer.push(&buf[..n], &mut messages);
        let mut response = None;
        for message in messages.drain(..) {
            if response.is_none() {
                response = run.hear(&message, peer);
            }
        }
        if let Some(response) = response {
            break Outcome::Final(response);
        }
    };
    run.exchange.skipped_bytes = framer.stats().skipped_bytes;
    run.end(outcome)
}
