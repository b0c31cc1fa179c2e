//! HEP from a PBX or an agent as a source (`sipwatch hep-listen`, `attach
//! --hep-listen`): UDP datagrams and TCP connections on one address and
//! port, each packet read by [`crate::hep::decode`] into a whole SIP
//! message with its addresses, transport, the agent's capture time, and
//! [`Origin::Hep`].
//!
//! It never answers anything (no byte is ever sent back, over UDP or TCP),
//! so it cannot amplify. Memory stays bounded whatever arrives: one
//! datagram buffer, at most [`MAX_CONNECTIONS`] TCP connections each
//! holding at most one packet (64 KiB) and a read (when all are taken, a
//! new one replaces the one silent longest, if silent for
//! [`SILENT_AFTER`]: silent connections cannot keep agents out), at most
//! [`MAX_AGENTS`] agents (each one clock of the pipeline), and a bounded
//! queue between the connections and the pipeline (a full queue stops
//! reading from TCP, so TCP senders slow down instead of losing). What is
//! refused is counted by reason ([`Tally`]); UDP datagrams the kernel
//! dropped at a full socket buffer are read from `/proc/net/udp`.
use std::{
    collections::HashMap,
    io,
    net::SocketAddr,
    sync::Arc,
    time::{Duration, SystemTime},
};

use tokio::{
    io::AsyncReadExt,
    net::{TcpListener, TcpStream, UdpSocket},
    sync::mpsc,
    task::JoinSet,
};

use super::{Input, Source, SourceEnd};
use crate::{
    hep::{
        decode::{self, Packet, Refusal, Rules},
        tally::Tally,
    },
    report::Count,
    say,
    sip::{Clock, Message, Origin},
};

/// TCP connections open at once at most; more are closed as they come.
pub const MAX_CONNECTIONS: usize = 64;
/// Agents (sending addresses) followed at most: each keeps a clock.
pub const MAX_AGENTS: usize = 256;
/// Packets waiting between the TCP connections and the pipeline.
const QUEUE: usize = 1024;
/// A connection silent this long may be closed to make room for a new
/// one when [`MAX_CONNECTIONS`] are open (silent connections cannot keep
/// agents out).
pub const SILENT_AFTER: Duration = Duration::from_secs(60);
/// Packets taken per batch at most, so that ticks still come in a flood.
const BATCH: usize = 256;
/// The UDP socket's receive buffer asked for: bursts of a busy PBX.
const RECEIVE_BUFFER: usize = 4 << 20;

/// Why listening failed.
#[derive(Debug, thiserror::Error)]
pub enum HepError {
    /// The address could not be bound (in use, not this host's, a
    /// privileged port without the right).
    #[error("cannot listen for HEP on {addr} ({transport}): {source}")]
    Bind {
        /// Where.
        addr: SocketAddr,
        /// "UDP" or "TCP".
        transport: &'static str,
        /// The system's reason.
        source: io::Error,
    },
    /// Receiving failed, or writing an output did.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// One packet read from a TCP connection, or why it was not.
struct Arrived {
    from: SocketAddr,
    packet: Result<Packet, Refusal>,
}

/// What an agent's clock read last, and when that was here.
#[derive(Clone, Copy)]
struct AgentClock {
    stamp: SystemTime,
    here: SystemTime,
}

/// A HEP listener on one address and port, UDP and TCP.
pub struct HepSource {
    udp: UdpSocket,
    tcp: TcpListener,
    rules: Arc<Rules>,
    connections: JoinSet<()>,
    /// Each open connection's task and when it last read something.
    open: Vec<(tokio::task::AbortHandle, Arc<LastRead>)>,
    /// How long a connection may be silent before it may be closed for a
    /// new one ([`SILENT_AFTER`]).
    silent_after: Duration,
    tx: mpsc::Sender<Arrived>,
    rx: mpsc::Receiver<Arrived>,
    agents: HashMap<SocketAddr, AgentClock>,
    /// Over TCP, each host's agent address: its first connection's (each
    /// new connection comes from another port, and is the same agent).
    tcp_agents: HashMap<std::net::IpAddr, SocketAddr>,
    /// Where it listens.
    local: SocketAddr,
    tally: Tally,
    buf: Vec<u8>,
}

impl HepSource {
    /// Listens on `addr` over UDP and TCP, taking what `rules` allow.
    /// Needs a Tokio runtime (the TCP connections are its tasks).
    pub fn bind(addr: SocketAddr, rules: Rules) -> Result<Self, HepError> {
        /// Free ports tried, when port 0 was asked for, before giving up.
        const BIND_TRIES: u32 = 8;
        let bind_err = |transport| {
            move |source| HepError::Bind {
                addr,
                transport,
                source,
            }
        };
        // The UDP socket's port, when 0 was asked for: TCP on the same,
        // which a TCP socket may already hold: another free port then.
        let mut tries = if addr.port() == 0 { BIND_TRIES } else { 1 };
        let (udp, tcp, addr) = loop {
            let udp = udp_socket(addr).map_err(bind_err("UDP"))?;
            let local = udp.local_addr().map_err(bind_err("UDP"))?;
            match tcp_listener(local) {
                Ok(tcp) => break (udp, tcp, local),
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && tries > 1 => tries -= 1,
                Err(e) => return Err(bind_err("TCP")(e)),
            }
        };
        let (tx, rx) = mpsc::channel(QUEUE);
        Ok(HepSource {
            udp,
            tcp,
            rules: Arc::new(rules),
            connections: JoinSet::new(),
            open: Vec::new(),
            silent_after: SILENT_AFTER,
            tx,
            rx,
            agents: HashMap::new(),
            tcp_agents: HashMap::new(),
            local: addr,
            tally: Tally::default(),
            // Any UDP payload (IPv6's reach 65,527 bytes): a datagram is
            // never cut, so a length that lies is told apart from a cut.
            buf: vec![0; usize::from(u16::MAX) + 1],
        })
    }

    /// Where it listens (UDP and TCP).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// What it counted so far.
    pub fn tally(&self) -> Tally {
        let mut t = self.tally;
        t.socket_drops = udp_drops(&self.udp).unwrap_or(0);
        t
    }

    /// A packet read (or refused), from `from`: counted, and as a message
    /// into `batch`.
    fn take(&mut self, from: SocketAddr, packet: Result<Packet, Refusal>, batch: &mut Vec<Input>) {
        let p = match packet {
            Ok(p) => p,
            Err(why) => return self.tally.refused.count(why),
        };
        if !self.agents.contains_key(&from) && self.agents.len() >= MAX_AGENTS {
            self.tally.agents_refused += 1;
            return;
        }
        let here = SystemTime::now();
        let stamp = p.time.unwrap_or(here);
        self.agents.insert(from, AgentClock { stamp, here });
        self.tally.taken += 1;
        batch.push(Input::Message(Message {
            timestamp: stamp,
            direction: direction(&p, from),
            transport: p.transport,
            src: p.src,
            dst: p.dst,
            vlans: p.vlan.into_iter().collect(),
            outer: None,
            reassembled: false,
            bytes: p.payload,
            origin: Origin::Hep {
                agent_id: p.capture_id,
                agent: from,
            },
        }));
    }

    /// A packet from a TCP connection: its agent is its host's first
    /// connection's address, whatever port this connection came from.
    fn take_from_tcp(&mut self, a: Arrived, batch: &mut Vec<Input>) {
        if a.packet.is_ok() && self.tcp_agents.len() < MAX_AGENTS {
            self.tcp_agents.entry(a.from.ip()).or_insert(a.from);
        }
        let from = self.tcp_agents.get(&a.from.ip()).copied().unwrap_or(a.from);
        self.take(from, a.packet, batch);
    }

    /// A TCP connection: followed, or closed at once when too many are.
    /// When all are taken, the connection silent longest (at least
    /// [`SILENT_AFTER`]) is closed to make room.
    fn accepted(&mut self, stream: TcpStream, peer: SocketAddr) {
        // Connections that ended are not counted against the limit.
        while self.connections.try_join_next().is_some() {}
        self.open.retain(|(task, _)| !task.is_finished());
        if self.open.len() >= MAX_CONNECTIONS {
            let silent = self
                .open
                .iter()
                .enumerate()
                .filter(|(_, (_, last))| last.silent_for() >= self.silent_after)
                .max_by_key(|(_, (_, last))| last.silent_for())
                .map(|(i, _)| i);
            let Some(i) = silent else {
                self.tally.connections_refused += 1;
                return;
            };
            let (task, _) = self.open.swap_remove(i);
            task.abort();
            self.tally.connections_silent += 1;
        }
        self.tally.connections += 1;
        let last = Arc::new(LastRead::now());
        let task = self.connections.spawn(read_connection(
            stream,
            peer,
            self.rules.clone(),
            self.tx.clone(),
            last.clone(),
        ));
        self.open.push((task, last));
    }

    /// What is there already, without waiting, up to a batch.
    fn drain(&mut self, batch: &mut Vec<Input>) {
        for _ in 0..BATCH {
            let mut any = false;
            if let Ok((n, from)) = self.udp.try_recv_from(&mut self.buf) {
                let packet = decode::decode(&self.buf[..n], &self.rules);
                self.take(from, packet, batch);
                any = true;
            }
            if let Ok(a) = self.rx.try_recv() {
                self.take_from_tcp(a, batch);
                any = true;
            }
            if !any {
                break;
            }
        }
    }
}

impl Source for HepSource {
    type Error = HepError;

    async fn next_batch(&mut self, batch: &mut Vec<Input>) -> Result<bool, HepError> {
        // Every branch is cancel-safe: `drive` may drop this future for a
        // tick, and nothing read is lost.
        loop {
            tokio::select! {
                r = self.udp.recv_from(&mut self.buf) => {
                    let (n, from) = r?;
                    let packet = decode::decode(&self.buf[..n], &self.rules);
                    self.take(from, packet, batch);
                    break;
                }
                Some(a) = self.rx.recv() => {
                    self.take_from_tcp(a, batch);
                    break;
                }
                r = self.tcp.accept() => match r {
                    Ok((stream, peer)) => self.accepted(stream, peer),
                    // Out of file descriptors, a connection reset before
                    // it was accepted: counted, and listening goes on.
                    Err(_) => {
                        self.tally.connections_refused += 1;
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                },
                Some(_) = self.connections.join_next(), if !self.connections.is_empty() => {}
            }
        }
        self.drain(batch);
        Ok(true)
    }

    /// Timers fire while the agents are quiet.
    fn tick_every(&self) -> Option<Duration> {
        Some(Duration::from_secs(1))
    }

    /// Each agent's clock now: its last stamp, moved on by the time
    /// passed here since (a quiet agent's clock runs on; one stamped ahead
    /// stays ahead). Before any agent sent, none: the pipeline is told to
    /// look for copies from the start instead
    /// ([`crate::pipeline::Pipeline::looking_for_copies`]).
    fn now(&self) -> Vec<(Clock, SystemTime)> {
        let now = SystemTime::now();
        self.agents
            .iter()
            .map(|(agent, c)| {
                let passed = now.duration_since(c.here).unwrap_or_default();
                (Clock::Hep(*agent), c.stamp + passed)
            })
            .collect()
    }

    fn hep(&self) -> Option<Tally> {
        Some(self.tally())
    }

    fn stop(&mut self, batch: &mut Vec<Input>) -> Result<(), HepError> {
        self.drain(batch);
        self.connections.abort_all();
        Ok(())
    }

    fn end(&mut self) -> Result<SourceEnd, HepError> {
        let tally = self.tally();
        Ok(SourceEnd {
            counts: counts(&tally),
            hep: Some(tally),
            ..SourceEnd::default()
        })
    }
}

/// Which way the message crossed the agent's host, as the agent captured
/// it: arriving when it went to the address the agent sends HEP from,
/// leaving when it came from there; unknown when the agent sends HEP from
/// another address than its SIP one. The tracker learns from it which side
/// of a registration the capture point is (a registrar's HEP is the
/// registrar's side, as the NIC on the registrar would be).
fn direction(p: &Packet, agent: SocketAddr) -> Option<sipwatch_common::Direction> {
    use sipwatch_common::Direction;
    if p.dst.ip() == agent.ip() && p.src.ip() != agent.ip() {
        Some(Direction::Ingress)
    } else if p.src.ip() == agent.ip() && p.dst.ip() != agent.ip() {
        Some(Direction::Egress)
    } else {
        None
    }
}

/// The tally as the summary's counts: what was taken and the connections
/// told, every refusal a loss but "not SIP" (passed over by design).
pub fn counts(t: &Tally) -> Vec<Count> {
    let mut counts = vec![
        (say::hep::TAKEN, t.taken, false),
        (say::hep::CONNECTIONS, t.connections, false),
    ];
    counts.extend(
        t.refused
            .iter()
            .map(|(why, n)| (say::hep::refused(why), n, why != Refusal::NotSip)),
    );
    counts.extend([
        (say::hep::CONNECTIONS_REFUSED, t.connections_refused, true),
        (say::hep::CONNECTIONS_SILENT, t.connections_silent, false),
        (say::hep::AGENTS_REFUSED, t.agents_refused, true),
        (say::hep::SOCKET_DROPS, t.socket_drops, true),
    ]);
    counts
        .into_iter()
        .map(|(what, n, loss)| Count {
            by: say::hep::BY,
            what,
            n,
            loss,
        })
        .collect()
}

/// When a connection last read something.
struct LastRead {
    start: std::time::Instant,
    /// Milliseconds after `start`.
    at_ms: std::sync::atomic::AtomicU64,
}

impl LastRead {
    fn now() -> LastRead {
        LastRead {
            start: std::time::Instant::now(),
            at_ms: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let ms = self.start.elapsed().as_millis() as u64;
        self.at_ms.store(ms, std::sync::atomic::Ordering::Relaxed);
    }

    fn silent_for(&self) -> Duration {
        let at = Duration::from_millis(self.at_ms.load(std::sync::atomic::Ordering::Relaxed));
        self.start.elapsed().saturating_sub(at)
    }
}

/// Packets framed out of one TCP connection by their own length, until
/// it closes or stops being HEP v3 (then it cannot be followed: closed).
async fn read_connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    rules: Arc<Rules>,
    tx: mpsc::Sender<Arrived>,
    last: Arc<LastRead>,
) {
    let mut buf: Vec<u8> = Vec::with_capacity(8192);
    let mut read = vec![0u8; 16 * 1024];
    loop {
        loop {
            let packet = match decode::framed_len(&buf) {
                Ok(Some(len)) if buf.len() >= len => {
                    let p = decode::decode(&buf[..len], &rules);
                    buf.drain(..len);
                    p
                }
                Ok(_) => break,
                Err(why) => Err(why),
            };
            let failed = packet.is_err() && decode::framed_len(&buf).is_err();
            if tx.send(Arrived { from: peer, packet }).await.is_err() || failed {
                return;
            }
        }
        match stream.read(&mut read).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                last.touch();
                buf.extend_from_slice(&read[..n]);
            }
        }
    }
}

fn udp_socket(addr: SocketAddr) -> io::Result<UdpSocket> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    // As much as the system allows up to this; the kernel's drops beyond
    // it are counted.
    let _ = socket.set_recv_buffer_size(RECEIVE_BUFFER);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

fn tcp_listener(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(128)?;
    TcpListener::from_std(socket.into())
}

/// Datagrams the kernel dropped at this socket (`/proc/net/udp{,6}`'s
/// `drops` column, found by the socket's inode).
fn udp_drops(udp: &UdpSocket) -> Option<u64> {
    use std::os::fd::AsRawFd;
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: a valid descriptor and a stat buffer of the right size.
    if unsafe { libc::fstat(udp.as_raw_fd(), &mut stat) } != 0 {
        return None;
    }
    let inode = stat.st_ino.to_string();
    ["/proc/self/net/udp", "/proc/self/net/udp6"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .flat_map(|text| text.lines().skip(1).map(str::to_owned).collect::<Vec<_>>())
        .find_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (fields.get(9) == Some(&inode.as_str()))
                .then(|| fields.last()?.parse().ok())
                .flatten()
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hep::decode::tests::{REGISTER, asterisk_order, chunk, gzip, v2};

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    /// Packets of each kind sent to a listener, over UDP and TCP; the
    /// batches it gives until `want` messages came.
    async fn listen(
        rules: Rules,
        udp: &[Vec<u8>],
        tcp: &[u8],
        want: usize,
    ) -> (Vec<Message>, Tally) {
        let mut source = HepSource::bind("127.0.0.1:0".parse().unwrap(), rules).unwrap();
        let at = source.local_addr();
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        for d in udp {
            sender.send_to(d, at).unwrap();
        }
        let mut stream = tokio::net::TcpStream::connect(at).await.unwrap();
        tokio::io::AsyncWriteExt::write_all(&mut stream, tcp)
            .await
            .unwrap();
        let mut messages = Vec::new();
        let mut batch = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while messages.len() < want || source.tally().refused.total() < 1 {
            let step = tokio::time::timeout_at(deadline, source.next_batch(&mut batch)).await;
            if step.is_err() {
                break;
            }
            for input in batch.drain(..) {
                if let Input::Message(m) = input {
                    messages.push(m);
                }
            }
        }
        // It never answers: not a byte back, over UDP or TCP.
        let mut buf = [0u8; 64];
        sender.set_nonblocking(true).unwrap();
        assert!(sender.recv(&mut buf).is_err(), "an answer over UDP");
        assert!(
            !matches!(stream.try_read(&mut buf), Ok(n) if n > 0),
            "an answer over TCP"
        );
        (messages, source.tally())
    }

    #[test]
    fn udp_and_tcp_v3_and_v2_in_any_order_become_messages_and_garbage_is_counted() {
        let v3 = asterisk_order(chunk(0, 0x000f, REGISTER.as_bytes()), &[]);
        let zipped = asterisk_order(chunk(0, 0x0010, &gzip(REGISTER.as_bytes())), &[]);
        // Over TCP: two packets in one write, the second cut across writes
        // would be the same to the framer; then garbage, which closes it.
        let mut tcp = v3.clone();
        tcp.extend_from_slice(&zipped);
        tcp.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
        let udp = vec![v3.clone(), v2(REGISTER.as_bytes()), b"\x00garbage".to_vec()];
        let (messages, tally) = runtime().block_on(listen(Rules::default(), &udp, &tcp, 4));
        assert_eq!(messages.len(), 4, "{tally:?}");
        assert!(messages.iter().all(|m| m.bytes == REGISTER.as_bytes()));
        assert!(
            messages
                .iter()
                .all(|m| matches!(m.origin, Origin::Hep { agent, .. } if agent.ip().is_loopback()))
        );
        assert_eq!(tally.taken, 4);
        assert_eq!(tally.connections, 1);
        // The datagram and the TCP stream's garbage, each by name.
        assert!(tally.refused.get(Refusal::NotHep) >= 1, "{tally:?}");
    }

    #[test]
    fn a_wrong_password_is_counted_and_nothing_is_taken() {
        let wrong = asterisk_order(
            chunk(0, 0x000f, REGISTER.as_bytes()),
            &[chunk(0, 0x000e, b"guess")],
        );
        let rules = Rules {
            password: Some(b"s3cret".to_vec()),
            ..Rules::default()
        };
        let (messages, tally) = runtime().block_on(listen(rules, &[wrong], &[], 0));
        assert!(messages.is_empty());
        assert_eq!(tally.refused.get(Refusal::WrongPassword), 1);
    }

    #[test]
    fn datagrams_the_kernel_dropped_at_the_full_socket_buffer_are_counted() {
        let rt = runtime();
        let _guard = rt.enter();
        let source = HepSource::bind("127.0.0.1:0".parse().unwrap(), Rules::default()).unwrap();
        let at = source.local_addr();
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        // Far beyond any receive buffer, never read.
        let datagram = vec![b'x'; 1400];
        for _ in 0..20_000 {
            let _ = sender.send_to(&datagram, at);
        }
        assert!(source.tally().socket_drops > 0, "{:?}", source.tally());
    }

    #[test]
    fn a_tcp_agent_that_reconnects_is_the_same_agent() {
        let v3 = asterisk_order(chunk(0, 0x000f, REGISTER.as_bytes()), &[]);
        let rt = runtime();
        let _guard = rt.enter();
        let mut source = HepSource::bind("127.0.0.1:0".parse().unwrap(), Rules::default()).unwrap();
        let mut batch = Vec::new();
        for port in [40000, 40001, 40002] {
            let from = SocketAddr::from(([127, 0, 0, 1], port));
            let packet = decode::decode(&v3, &source.rules);
            source.take_from_tcp(Arrived { from, packet }, &mut batch);
        }
        assert_eq!(source.agents.len(), 1);
        let agents: Vec<SocketAddr> = batch
            .iter()
            .filter_map(|i| match i {
                Input::Message(Message {
                    origin: Origin::Hep { agent, .. },
                    ..
                }) => Some(*agent),
                _ => None,
            })
            .collect();
        assert_eq!(agents, vec![SocketAddr::from(([127, 0, 0, 1], 40000)); 3]);
    }

    #[test]
    fn a_silent_connection_makes_room_for_a_new_one_when_all_are_taken() {
        let rt = runtime();
        rt.block_on(async {
            let mut source =
                HepSource::bind("127.0.0.1:0".parse().unwrap(), Rules::default()).unwrap();
            source.silent_after = Duration::ZERO;
            let at = source.local_addr();
            let mut held = Vec::new();
            for _ in 0..=MAX_CONNECTIONS {
                held.push(tokio::net::TcpStream::connect(at).await.unwrap());
                let (stream, peer) = source.tcp.accept().await.unwrap();
                source.accepted(stream, peer);
            }
            assert_eq!(source.tally.connections, MAX_CONNECTIONS as u64 + 1);
            assert_eq!(source.tally.connections_silent, 1);
            assert_eq!(source.tally.connections_refused, 0);
            // Never silent: the next is refused.
            source.silent_after = Duration::from_secs(3600);
            held.push(tokio::net::TcpStream::connect(at).await.unwrap());
            let (stream, peer) = source.tcp.accept().await.unwrap();
            source.accepted(stream, peer);
            assert_eq!(source.tally.connections_refused, 1);
        });
    }

    #[test]
    fn the_summary_counts_name_each_refusal_and_mark_losses() {
        let mut t = Tally::default();
        t.refused.count(Refusal::NotSip);
        t.refused.count(Refusal::WrongPassword);
        let c = counts(&t);
        let of = |why| c.iter().find(|c| c.what == say::hep::refused(why)).unwrap();
        assert!(!of(Refusal::NotSip).loss);
        assert!(of(Refusal::WrongPassword).loss);
        assert_eq!(of(Refusal::WrongPassword).n, 1);
    }
}
