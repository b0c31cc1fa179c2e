//! The echo's sockets: UDP and TCP on every `--listen` address, and the
//! query side channel (TCP, one line: `SEEN? <id>`), all over tokio.
use std::{
    future::Future,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, SystemTime},
};

use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream, UdpSocket},
    task::JoinSet,
};

use super::{EchoPolicy, EchoStats, MAX_REQUEST, Responder, wire::MIRROR_QUERY};
use crate::sip::SipFramer;

/// Where the echo listens and what it answers.
#[derive(Clone, Debug)]
pub struct EchoConfig {
    /// UDP and TCP, each address.
    pub listen: Vec<SocketAddr>,
    /// Where to answer `SEEN? <id>` queries (TCP); empty: nowhere.
    pub query: Vec<SocketAddr>,
    /// What is answered and how much (key, rate, burst, amplification).
    pub policy: EchoPolicy,
    /// TCP connections served at once (`--max-tcp`); further connections are
    /// closed at once and counted in [`ServerStats::tcp_refused`].
    pub max_tcp_connections: usize,
}

impl EchoConfig {
    /// The query channel's default addresses: [`super::DEFAULT_QUERY_PORT`]
    /// on each distinct address listened on.
    pub fn default_query(listen: &[SocketAddr]) -> Vec<SocketAddr> {
        let mut out: Vec<SocketAddr> = Vec::new();
        for l in listen {
            let q = SocketAddr::new(l.ip(), super::DEFAULT_QUERY_PORT);
            if !out.contains(&q) {
                out.push(q);
            }
        }
        out
    }
}

/// A TCP connection that says nothing for this long is closed.
const TCP_IDLE: Duration = Duration::from_secs(30);

/// Why the echo could not start serving.
#[derive(Debug, thiserror::Error)]
pub enum EchoError {
    /// A `--listen` or `--query` socket could not be bound: the port is taken
    /// (often by Asterisk itself on 5060), the address is not this host's, or
    /// a port below 1024 needs root or `CAP_NET_BIND_SERVICE`.
    #[error(
        "cannot listen on {addr} ({transport}){}",
        if transport.contains("query") {
            "; choose another with --query, or none with --no-query"
        } else {
            "; is another SIP server (Asterisk?) using it? Choose another with --listen"
        }
    )]
    Bind {
        /// The address and port that could not be bound.
        addr: SocketAddr,
        /// `"UDP"`, `"TCP"` or `"TCP (query)"`.
        transport: &'static str,
        /// The operating system's error (`EADDRINUSE`, `EACCES`, …).
        #[source]
        source: std::io::Error,
    },
}

/// What the echo counted; its TCP figures beside the responder's. Written
/// at the end as `{"type":"echo_summary",…}`.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
#[serde(tag = "type", rename = "echo_summary")]
pub struct ServerStats {
    /// When the echo stopped (this host's clock); `null` only in a
    /// default value never returned by [`serve`].
    #[serde(serialize_with = "crate::time::serialize_opt")]
    pub time: Option<SystemTime>,
    /// The responder's counts: answered, and refused by reason.
    #[serde(flatten)]
    pub probes: EchoStats,
    /// TCP connections closed unread because `--max-tcp` were open.
    pub tcp_refused: u64,
    /// Lines read on the query channel, well-formed `SEEN? <id>` or not.
    pub queries: u64,
}

struct Shared {
    responder: Mutex<Responder>,
    tcp_active: AtomicUsize,
    /// Open TCP connections per source address: one host cannot take them all.
    tcp_per_source: Mutex<std::collections::HashMap<std::net::IpAddr, usize>>,
    tcp_refused: AtomicUsize,
    queries: AtomicUsize,
    max_tcp: usize,
}

impl Shared {
    /// A prober's stop for its keep-alives: handled here, never answered.
    fn stop_keepalives(&self, datagram: &[u8], source: SocketAddr) -> bool {
        let mut r = self.responder.lock().unwrap_or_else(|e| e.into_inner());
        r.stop_keepalives(datagram, source, SystemTime::now())
    }

    fn answer(
        &self,
        request: &[u8],
        transport: &'static str,
        source: SocketAddr,
        local: SocketAddr,
    ) -> Option<Vec<u8>> {
        let mut r = self.responder.lock().unwrap_or_else(|e| e.into_inner());
        r.answer(request, transport, source, local, SystemTime::now())
            .ok()
    }
}

/// Serves until `stop` completes; returns what was counted.
pub async fn serve(
    config: EchoConfig,
    stop: impl Future<Output = ()>,
) -> Result<ServerStats, EchoError> {
    serve_announced(config, || {}, stop).await
}

/// [`serve`], calling `ready` once every socket is bound (so that what it
/// announces is true: a bind that fails is the error instead).
pub async fn serve_announced(
    config: EchoConfig,
    ready: impl FnOnce(),
    stop: impl Future<Output = ()>,
) -> Result<ServerStats, EchoError> {
    let shared = Arc::new(Shared {
        responder: Mutex::new(Responder::new(config.policy.clone())),
        tcp_active: AtomicUsize::new(0),
        tcp_per_source: Mutex::new(std::collections::HashMap::new()),
        tcp_refused: AtomicUsize::new(0),
        queries: AtomicUsize::new(0),
        max_tcp: config.max_tcp_connections,
    });
    let mut tasks = JoinSet::new();
    for &addr in &config.listen {
        let bind = |transport, source| EchoError::Bind {
            addr,
            transport,
            source,
        };
        let udp = UdpSocket::bind(addr).await.map_err(|e| bind("UDP", e))?;
        let tcp = TcpListener::bind(addr).await.map_err(|e| bind("TCP", e))?;
        tasks.spawn(serve_udp(udp, shared.clone()));
        tasks.spawn(serve_tcp(tcp, shared.clone()));
    }
    for &addr in &config.query {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| EchoError::Bind {
                addr,
                transport: "TCP (query)",
                source,
            })?;
        tasks.spawn(serve_queries(listener, shared.clone()));
    }
    ready();
    stop.await;
    tasks.abort_all();
    let probes = shared
        .responder
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .stats;
    Ok(ServerStats {
        time: Some(SystemTime::now()),
        probes,
        tcp_refused: shared.tcp_refused.load(Ordering::Relaxed) as u64,
        queries: shared.queries.load(Ordering::Relaxed) as u64,
    })
}

async fn serve_udp(socket: UdpSocket, shared: Arc<Shared>) {
    let local = socket
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    let mut buf = vec![0u8; 65_536];
    // NAT keep-alives leave from this socket, the port the probe reached.
    let mut keepalives = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            received = socket.recv_from(&mut buf) => {
                let Ok((n, source)) = received else {
                    continue;
                };
                if shared.stop_keepalives(&buf[..n], source) {
                    continue;
                }
                if let Some(answer) = shared.answer(&buf[..n], "UDP", source, local) {
                    let _ = socket.send_to(&answer, source).await;
                }
            }
            _ = keepalives.tick() => {
                let due = shared
                    .responder
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .due_keepalives(local, SystemTime::now());
                for (to, datagram) in due {
                    let _ = socket.send_to(&datagram, to).await;
                }
            }
        }
    }
}

/// TCP connections one source address may hold open at once: a probe needs
/// one; more than this from one host is an attempt to starve the others.
const MAX_TCP_PER_SOURCE: usize = 8;

/// A connection from `source` is over.
fn release(shared: &Shared, source: SocketAddr) {
    let mut open = shared
        .tcp_per_source
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(n) = open.get_mut(&source.ip()) {
        *n -= 1;
        if *n == 0 {
            open.remove(&source.ip());
        }
    }
}

async fn serve_tcp(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((stream, source)) = listener.accept().await else {
            continue;
        };
        let per_source_full = {
            let mut open = shared
                .tcp_per_source
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let n = open.entry(source.ip()).or_insert(0);
            if *n >= MAX_TCP_PER_SOURCE {
                true
            } else {
                *n += 1;
                false
            }
        };
        if per_source_full {
            shared.tcp_refused.fetch_add(1, Ordering::Relaxed);
            continue; // dropping the stream closes it
        }
        if shared.tcp_active.fetch_add(1, Ordering::SeqCst) >= shared.max_tcp {
            shared.tcp_active.fetch_sub(1, Ordering::SeqCst);
            shared.tcp_refused.fetch_add(1, Ordering::Relaxed);
            release(&shared, source);
            continue;
        }
        let shared = shared.clone();
        tokio::spawn(async move {
            let _ = serve_connection(stream, source, &shared).await;
            shared.tcp_active.fetch_sub(1, Ordering::SeqCst);
            release(&shared, source);
        });
    }
}

async fn serve_connection(
    mut stream: TcpStream,
    source: SocketAddr,
    shared: &Shared,
) -> std::io::Result<()> {
    let local = stream.local_addr()?;
    let mut framer = SipFramer::new();
    let mut buf = vec![0u8; 16_384];
    let mut messages = Vec::new();
    loop {
        let n = match tokio::time::timeout(TCP_IDLE, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Err(_) => return Ok(()),
            Ok(Ok(n)) => n,
            Ok(Err(e)) => return Err(e),
        };
        framer.push(&buf[..n], &mut messages);
        if framer.pending() > MAX_REQUEST {
            return Ok(()); // nothing sipwatch sends is this large
        }
        for m in messages.drain(..) {
            if let Some(answer) = shared.answer(&m, "TCP", source, local) {
                stream.write_all(&answer).await?;
            }
        }
    }
}

/// One line in, one line out: `SEEN? <id>` → `SEEN <id> <transport>
/// <source> <received_us>`, `REFUSED <id> <unauthorized | rate_limited |
/// answer_too_large>` or `UNSEEN <id>`; `MIRROR? <id>` → the request
/// left out of a UDP answer ([`super::wire::mirror_line`]) or `UNSEEN <id>`.
async fn serve_queries(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut line = String::new();
            let mut reader = BufReader::new(read.take(256));
            if tokio::time::timeout(Duration::from_secs(5), reader.read_line(&mut line))
                .await
                .is_err()
            {
                return;
            }
            shared.queries.fetch_add(1, Ordering::Relaxed);
            let line = line.trim();
            let question = line
                .split_once(' ')
                .filter(|(q, id)| ["SEEN?", MIRROR_QUERY].contains(q) && super::wire::valid_id(id));
            let Some((question, id)) = question else {
                let _ = write
                    .write_all(b"ERROR expected: SEEN? <id> or MIRROR? <id>\n")
                    .await;
                return;
            };
            let reply = {
                let r = shared.responder.lock().unwrap_or_else(|e| e.into_inner());
                match (question, r.seen(id)) {
                    (MIRROR_QUERY, _) => match r.withheld(id) {
                        Some(request) => super::wire::mirror_line(id, request, r.key()),
                        None => format!("UNSEEN {id}\n"),
                    },
                    (_, Some(s)) => {
                        format!("SEEN {id} {} {} {}\n", s.transport, s.source, s.received_us)
                    }
                    (_, None) => match r.refused(id) {
                        Some(why) => format!("REFUSED {id} {}\n", why.name()),
                        None => format!("UNSEEN {id}\n"),
                    },
                }
            };
            let _ = write.write_all(reply.as_bytes()).await;
        });
    }
}
