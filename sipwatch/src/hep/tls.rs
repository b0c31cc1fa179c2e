//! `--hep tls:HOST:PORT`: HEP over TLS (rustls), the receiver's
//! certificate verified against the system's trusted roots and, for a
//! private CA, `--hep-ca FILE` (PEM), its name against HOST as written.
use std::{
    io::{self, Write},
    net::TcpStream,
    path::Path,
    sync::Arc,
    time::Duration,
};

use rustls::{ClientConfig, ClientConnection, StreamOwned, pki_types::ServerName};

/// A TLS connection to a receiver.
pub type TlsStream = StreamOwned<ClientConnection, TcpStream>;

/// The client's configuration: the system's roots and `ca`'s.
pub fn client_config(ca: Option<&Path>) -> io::Result<Arc<ClientConfig>> {
    let roots = crate::client::roots(ca)?;
    // ring, as `doctor`: no C toolchain beyond the one the crate needs.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The name the certificate must hold: the host of `HOST[:PORT]` or
/// `[IPv6]:PORT`, an IP address as such.
pub fn server_name(address: &str) -> ServerName<'static> {
    let host = match crate::client::Target::parse(address).host {
        crate::client::Host::Ip(ip) => return ServerName::IpAddress(ip.into()),
        crate::client::Host::Name(name) => name,
    };
    ServerName::try_from(host.clone()).unwrap_or_else(|_| {
        // Not a DNS name either: no certificate will match, and the
        // handshake says so.
        ServerName::try_from("invalid.invalid").expect("a valid DNS name")
    })
}

/// Connects TLS over `tcp`, the handshake done (within `timeout`) so that
/// a certificate that does not verify is an error here, not a lost write.
pub fn handshake(
    tcp: TcpStream,
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
    timeout: Duration,
) -> io::Result<TlsStream> {
    let connection = ClientConnection::new(config, name).map_err(io::Error::other)?;
    tcp.set_read_timeout(Some(timeout))?;
    let mut stream = StreamOwned::new(connection, tcp);
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock)?;
    }
    stream.flush()?;
    Ok(stream)
}
