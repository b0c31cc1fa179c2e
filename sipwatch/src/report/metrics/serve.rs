//! The scrape endpoint: `GET /metrics` over plain HTTP/1.1, one request per
//! connection, each in a thread of its own (a bounded number at once). So
//! small a server (one path, no TLS, no keep-alive) is not worth an HTTP
//! framework as a dependency; a reverse proxy can add TLS and
//! authentication in front of it.
use std::{
    io::{self, BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use prometheus_client::registry::Registry;

/// Why the metrics cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The address is taken or not this host's.
    #[error("cannot serve metrics on {addr} (choose another with --metrics)")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The system's error (`EADDRINUSE`: another process listens there;
        /// `EADDRNOTAVAIL`: no interface has that address).
        #[source]
        source: io::Error,
    },
}

/// Clients served at once; a scraper needs one.
const MAX_CLIENTS: usize = 32;

/// Largest request head read (bytes); anything longer is refused.
const MAX_HEAD: u64 = 8 << 10;

/// Serves `registry` on `addr` until the process ends. Returns the
/// address bound (port 0 picks one).
pub fn serve(addr: SocketAddr, registry: Arc<Registry>) -> Result<SocketAddr, MetricsError> {
    let listener = TcpListener::bind(addr).map_err(|source| MetricsError::Bind { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| MetricsError::Bind { addr, source })?;
    std::thread::spawn(move || {
        let busy = Arc::new(AtomicUsize::new(0));
        for stream in listener.incoming().flatten() {
            // Each client in a thread of its own, so that a slow or idle one
            // delays nobody; at most MAX_CLIENTS at once, the rest closed.
            if busy.fetch_add(1, Ordering::SeqCst) >= MAX_CLIENTS {
                busy.fetch_sub(1, Ordering::SeqCst);
                continue;
            }
            let (registry, busy) = (registry.clone(), busy.clone());
            std::thread::spawn(move || {
                let _ = answer(stream, &registry);
                busy.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    Ok(bound)
}

fn answer(stream: TcpStream, registry: &Registry) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new((&stream).take(MAX_HEAD));
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    // The rest of the head, up to its blank line.
    let mut line = String::new();
    while reader.read_line(&mut line)? > 0 && line.trim_end() != "" {
        line.clear();
    }
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let mut out = &stream;
    if method != "GET" || !(path == "/metrics" || path.starts_with("/metrics?")) {
        let body = "only GET /metrics is served here\n";
        return write!(
            out,
            "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    }
    let mut body = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut body, registry);
    write!(
        out,
        "HTTP/1.1 200 OK\r\nContent-Type: application/openmetrics-text; version=1.0.0; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}
