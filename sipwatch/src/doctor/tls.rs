//! Step 5: TLS (RFC 5630, RFC 5922) with rustls: the handshake to each TLS
//! target, the certificate chain fetched even when it does not verify, then
//! judged: verified against the system's store (and `--ca`), the names it
//! covers against the SIP domain and the SRV target (RFC 5922 §7.2: the
//! subjectAltName's DNS names, the CN only without any), days to expiry,
//! self-signed; the version and cipher negotiated and whether the server
//! asked for a client certificate.
use std::{
    io,
    net::TcpStream,
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime},
};

use rustls::{
    ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, SignatureScheme,
    StreamOwned,
    client::{
        ResolvesClientCert, WebPkiServerVerifier,
        danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    },
    crypto::CryptoProvider,
    pki_types::{CertificateDer, ServerName, UnixTime},
    sign::CertifiedKey,
};
use serde::Serialize;

use super::{Config, Provider, Timed, dns::Target};
use crate::client::{self, SipStream};

impl SipStream for StreamOwned<ClientConnection, TcpStream> {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.sock.set_read_timeout(timeout)
    }
}

/// One certificate of the chain the server sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Certificate {
    /// The subject, as an RFC 4514 string.
    pub subject: String,
    /// The issuer.
    pub issuer: String,
    /// The subjectAltName's DNS names.
    pub dns_names: Vec<String>,
    /// The end of validity, RFC 3339 UTC.
    pub not_after: String,
    /// Days from now to the end of validity (negative: expired).
    pub days_left: i64,
    /// Issuer and subject are the same.
    pub self_signed: bool,
}

pub use crate::tls::{NameMatch, name_match};

/// Whether the chain verified against the trusted roots.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Trust {
    /// Verified up to a trusted root.
    Trusted,
    /// No trusted root issued it (self-signed, or a private CA).
    UnknownIssuer,
    /// Expired.
    Expired,
    /// Not valid yet.
    NotValidYet,
    /// No trusted root certificate on this host.
    NoRoots,
    /// Another reason, in rustls's words.
    Other {
        /// rustls's error.
        error: String,
    },
}

/// The handshake and what it showed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Handshake {
    /// `TLSv1_3`…
    pub version: String,
    /// `TLS13_AES_256_GCM_SHA384`…
    pub cipher: String,
    /// The server asked for a client certificate.
    pub client_certificate_requested: bool,
    /// The chain, end-entity first.
    pub chain: Vec<Certificate>,
    /// Verification against the roots.
    pub trust: Trust,
    /// The SIP domain against the certificate.
    pub domain_match: NameMatch,
    /// The SRV target's name against it, when it differs from the domain.
    pub target_match: Option<NameMatch>,
}

/// One TLS target's check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum Session {
    /// The handshake completed.
    Completed(Box<Handshake>),
    /// TCP did not connect.
    NoConnection {
        /// The system's words.
        error: String,
    },
    /// The handshake failed (a plain SIP port, no common version).
    HandshakeFailed {
        /// rustls's or the system's words.
        error: String,
    },
}

/// One TLS target with the name checked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Checked {
    /// The target.
    pub target: Target,
    /// The SIP domain.
    pub domain: String,
    /// What happened.
    #[serde(flatten)]
    pub session: Session,
}

/// The step's result.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum Tls {
    /// TLS not among the transports asked.
    NotAsked,
    /// TLS asked but DNS gave no TLS target.
    NoTarget,
    /// Each TLS target.
    Checked {
        /// One per target.
        targets: Vec<Timed<Checked>>,
    },
}

/// Records the chain and the verdict of the real verifier, and accepts the
/// chain anyway, so that it can be shown even when it fails.
#[derive(Debug)]
struct Recorder {
    inner: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
    seen: Mutex<Option<(Vec<CertificateDer<'static>>, Trust)>>,
}

fn trust_of(e: rustls::Error) -> Trust {
    use rustls::CertificateError as C;
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            C::UnknownIssuer => Trust::UnknownIssuer,
            C::Expired | C::ExpiredContext { .. } => Trust::Expired,
            C::NotValidYet | C::NotValidYetContext { .. } => Trust::NotValidYet,
            // The names are judged apart, for both the domain and the target.
            C::NotValidForName | C::NotValidForNameContext { .. } => Trust::Trusted,
            other => Trust::Other {
                error: format!("{other:?}"),
            },
        },
        other => Trust::Other {
            error: other.to_string(),
        },
    }
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let trust = match &self.inner {
            Some(v) => v
                .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
                .map_or_else(trust_of, |_| Trust::Trusted),
            None => Trust::NoRoots,
        };
        let chain = std::iter::once(end_entity)
            .chain(intermediates)
            .map(|c| c.clone().into_owned())
            .collect();
        *self.seen.lock().unwrap_or_else(|e| e.into_inner()) = Some((chain, trust));
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Notes whether the server asked for a client certificate; offers none.
#[derive(Debug, Default)]
struct NoClientCert {
    asked: Mutex<bool>,
}

impl ResolvesClientCert for NoClientCert {
    fn resolve(&self, _: &[&[u8]], _: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        *self.asked.lock().unwrap_or_else(|e| e.into_inner()) = true;
        None
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// The trusted roots (the system's and `--ca`'s): one home, in
/// [`crate::client`], shared with `--hep tls:`.
pub use crate::client::roots;

/// An open TLS connection and what its handshake showed.
pub(crate) struct Connected {
    pub(crate) stream: StreamOwned<ClientConnection, TcpStream>,
    chain: Vec<CertificateDer<'static>>,
    trust: Trust,
    client_certificate_requested: bool,
}

/// The server name sent (SNI) and verified: the SIP domain (RFC 5922 §7.1).
fn server_name(domain: &str) -> Result<ServerName<'static>, String> {
    ServerName::try_from(domain.to_owned()).map_err(|e| e.to_string())
}

/// The TLS handshake as `domain` over `tcp`, within `config.timeout`; the
/// chain is accepted whatever it is, and judged afterwards.
pub(crate) fn handshake(
    domain: &str,
    mut tcp: TcpStream,
    config: &Config,
    roots: &Arc<RootCertStore>,
) -> Result<Connected, Session> {
    // ring, not aws-lc-rs: no C toolchain beyond the one the crate needs.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let inner = WebPkiServerVerifier::builder_with_provider(roots.clone(), provider.clone())
        .build()
        .ok();
    let recorder = Arc::new(Recorder {
        inner,
        provider: provider.clone(),
        seen: Mutex::new(None),
    });
    let client_cert = Arc::new(NoClientCert::default());
    let tls = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Session::HandshakeFailed {
            error: e.to_string(),
        })?
        .dangerous()
        .with_custom_certificate_verifier(recorder.clone())
        .with_client_cert_resolver(client_cert.clone());
    let name = server_name(domain).map_err(|error| Session::HandshakeFailed { error })?;
    let mut conn =
        ClientConnection::new(Arc::new(tls), name).map_err(|e| Session::HandshakeFailed {
            error: e.to_string(),
        })?;
    tcp.set_read_timeout(Some(config.timeout)).ok();
    tcp.set_write_timeout(Some(config.timeout)).ok();
    let start = Instant::now();
    while conn.is_handshaking() {
        if start.elapsed() > config.timeout {
            return Err(Session::HandshakeFailed {
                error: "no handshake within the timeout".to_owned(),
            });
        }
        match conn.complete_io(&mut tcp) {
            Ok((0, 0)) if conn.is_handshaking() => {
                return Err(Session::HandshakeFailed {
                    error: "the server closed the connection during the handshake".to_owned(),
                });
            }
            Ok(_) => {}
            Err(e) => {
                return Err(Session::HandshakeFailed {
                    error: e.to_string(),
                });
            }
        }
    }
    let (chain, trust) = recorder
        .seen
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
        .unwrap_or((
            Vec::new(),
            Trust::Other {
                error: "no certificate".to_owned(),
            },
        ));
    let client_certificate_requested = *client_cert.asked.lock().unwrap_or_else(|e| e.into_inner());
    Ok(Connected {
        stream: StreamOwned::new(conn, tcp),
        chain,
        trust,
        client_certificate_requested,
    })
}

fn read(der: &CertificateDer<'_>, now: i64) -> Option<(Certificate, Option<String>)> {
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
    let dns_names: Vec<String> = crate::tls::certificate::dns_names(&cert)
        .iter()
        .map(|n| super::clean(n))
        .collect();
    let cn = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|c| c.as_str().ok())
        .map(str::to_owned);
    let not_after = cert.validity().not_after.timestamp();
    let subject = super::clean(&cert.subject().to_string());
    let issuer = super::clean(&cert.issuer().to_string());
    Some((
        Certificate {
            self_signed: subject == issuer,
            subject,
            issuer,
            dns_names,
            not_after: crate::time::rfc3339(
                SystemTime::UNIX_EPOCH + Duration::from_secs(not_after.max(0) as u64),
            ),
            days_left: (not_after - now).div_euclid(86_400),
        },
        cn,
    ))
}

/// The TLS step for one target: handshake, chain, names.
pub fn check(
    provider: &Provider,
    target: &Target,
    config: &Config,
    roots: &Arc<RootCertStore>,
) -> Checked {
    let domain = provider.host.clone();
    let connected = client::connect_tcp(None, target.address, config.timeout)
        .map_err(|e| Session::NoConnection {
            error: e.to_string(),
        })
        .and_then(|tcp| handshake(&domain, tcp, config, roots));
    let session = match connected {
        Err(session) => session,
        Ok(c) => {
            let now = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs() as i64;
            let read: Vec<(Certificate, Option<String>)> =
                c.chain.iter().filter_map(|d| read(d, now)).collect();
            let (names, cn) = read
                .first()
                .map(|(c, cn)| (c.dns_names.clone(), cn.clone()))
                .unwrap_or_default();
            let target_match = (!target.host.eq_ignore_ascii_case(&domain))
                .then(|| name_match(&target.host, &names, cn.as_deref()));
            let conn = &c.stream.conn;
            Session::Completed(Box::new(Handshake {
                version: conn
                    .protocol_version()
                    .map(|v| format!("{v:?}"))
                    .unwrap_or_default(),
                cipher: conn
                    .negotiated_cipher_suite()
                    .map(|s| format!("{:?}", s.suite()))
                    .unwrap_or_default(),
                client_certificate_requested: c.client_certificate_requested,
                domain_match: name_match(&domain, &names, cn.as_deref()),
                target_match,
                trust: c.trust.clone(),
                chain: read.into_iter().map(|(c, _)| c).collect(),
            }))
        }
    };
    Checked {
        target: target.clone(),
        domain,
        session,
    }
}

/// The TLS step over every TLS target.
pub fn check_all(
    provider: &Provider,
    targets: &[Target],
    config: &Config,
    roots: &Arc<RootCertStore>,
) -> Tls {
    if !config.transports.contains(&super::Transport::Tls) {
        return Tls::NotAsked;
    }
    let tls: Vec<&Target> = targets
        .iter()
        .filter(|t| t.transport == super::Transport::Tls)
        .collect();
    if tls.is_empty() {
        return Tls::NoTarget;
    }
    Tls::Checked {
        targets: tls
            .into_iter()
            .map(|t| super::timed(|| check(provider, t, config, roots)))
            .collect(),
    }
}
