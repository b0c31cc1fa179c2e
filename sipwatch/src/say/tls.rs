//! The words about TLS sessions: why one could not be read, how its
//! handshake failed and what to change in Asterisk (PJSIP transport
//! options, chan_sip's `tls*` options in `sip.conf`), and the key log's
//! malformed lines. The decisions are [`crate::tls`]'s.
use std::fmt::Write as _;

use crate::tls::{
    CertificateProblem, HandshakeFailure, KeyLogError, SessionReport, Side, Stage, Unreadable,
    Version,
};

/// A malformed line of a key log: which, and that the others were used.
pub fn keylog_line(e: &KeyLogError) -> String {
    format!("warning: TLS key log {e}; that line is passed over, the others are used")
}

/// Malformed lines of a key log beyond those told one by one.
pub fn keylog_more(n: u64, name: &str) -> String {
    format!(
        "warning: and {} in the TLS key log {name} (is it a key log, as SSLKEYLOGFILE writes?)",
        super::count(n, "more malformed line", "more malformed lines")
    )
}

/// A key log without one usable secret.
pub fn keylog_empty(name: &str) -> String {
    format!(
        "warning: the TLS key log {name} holds no TLS secret (CLIENT_RANDOM, or TLS 1.3's *_TRAFFIC_SECRET lines): no session can be decrypted with it"
    )
}

/// What TLS reading lost, one sentence each.
pub fn losses(t: &crate::tls::TlsCounts) -> Vec<String> {
    let mut out = Vec::new();
    if t.late_plaintext_bytes > 0 {
        out.push(format!(
            "{} bytes of TLS plaintext not analysed: their keys came after their connection had ended",
            t.late_plaintext_bytes
        ));
    }
    if t.evicted > 0 {
        out.push(format!(
            "{} TLS connections ended early to stay within bounds (4096 followed at once)",
            t.evicted
        ));
    }
    out
}

/// How a capture's secrets block is named in errors.
pub fn secrets_block(file: &str) -> String {
    format!("{file}'s decryption secrets block")
}

/// The session's heading: "TLS 192.0.2.10:40312 -> 203.0.113.2:5061
/// (sip.provider.lab, TLS 1.3, TLS_AES_128_GCM_SHA256)".
pub fn heading(r: &SessionReport) -> String {
    let mut about = Vec::new();
    about.extend(r.sni.clone());
    about.push(match r.version {
        Some(Version::Tls12) => "TLS 1.2".to_owned(),
        Some(Version::Tls13) => "TLS 1.3".to_owned(),
        Some(Version::Older) => "TLS 1.1 or older".to_owned(),
        None => "version not seen".to_owned(),
    });
    about.push(
        r.cipher
            .clone()
            .unwrap_or_else(|| "cipher not seen".to_owned()),
    );
    format!("TLS {} -> {} ({})", r.client, r.server, about.join(", "))
}

/// Why a session's records were not read, in a clause.
pub fn unreadable(u: Unreadable) -> &'static str {
    match u {
        Unreadable::NoKey => {
            "no key for this session's client random in the key log (--tls-keylog, or the capture's secrets block)"
        }
        Unreadable::WrongKey => {
            "the key log's secret for this session does not open its records (a key log for another session, or a wrong secret)"
        }
        Unreadable::CipherNotSupported => {
            "cipher not supported: sipwatch decrypts AES-GCM and ChaCha20-Poly1305 only"
        }
        Unreadable::VersionNotSupported => {
            "TLS 1.1 or older: sipwatch decrypts TLS 1.2 and 1.3 only"
        }
        Unreadable::HandshakeNotInCapture => {
            "handshake not in the capture: it started before the capture did"
        }
        Unreadable::BytesMissing => {
            "bytes of the connection are missing from the capture: what follows them cannot be read"
        }
        Unreadable::KeyUpdate => "a TLS 1.3 key update: the later secrets are in no key log",
        Unreadable::NotTls => "bytes that are not TLS records",
        Unreadable::CaptureEndedInHandshake => "the capture ended during the handshake",
    }
}

/// The session in a few lines: its heading, what went wrong, and the fix
/// in Asterisk's terms. Empty for a session read whole.
pub fn session(r: &SessionReport) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(f) = &r.failure {
        lines.push(format!(
            "{}: handshake failed: {}",
            heading(r),
            failure(r, f)
        ));
        lines.extend(fix(f).map(|f| format!("  fix: {f}")));
    } else if let Some(u) = r.unreadable {
        lines.push(format!("{}: not decrypted: {}", heading(r), unreadable(u)));
    }
    lines
}

fn who(r: &SessionReport, side: Side) -> String {
    match side {
        Side::Client => format!("the client {}", r.client),
        Side::Server => format!("the server {}", r.server),
    }
}

/// What the wire shows of the failure.
pub fn failure(r: &SessionReport, f: &HandshakeFailure) -> String {
    let mut s = String::new();
    match f {
        HandshakeFailure::Alert {
            from,
            alert,
            stage,
            certificate,
        } => {
            let what = match (*from, *alert, stage) {
                (
                    Side::Client,
                    "bad_certificate"
                    | "certificate_expired"
                    | "unknown_ca"
                    | "certificate_unknown"
                    | "unsupported_certificate"
                    | "certificate_revoked",
                    _,
                ) => "rejected the server's certificate",
                (Side::Server, "bad_certificate" | "certificate_required" | "unknown_ca", _) => {
                    "rejected the client's certificate (or its lack of one)"
                }
                (
                    Side::Server,
                    "handshake_failure" | "insufficient_security",
                    Stage::ClientHello,
                ) => "shares no cipher suite with the client",
                (_, "protocol_version", _) => "shares no TLS version with the other side",
                (Side::Server, "unrecognized_name", _) => {
                    "does not serve the name the client asked for (SNI)"
                }
                _ => "ended the handshake",
            };
            let _ = write!(s, "{} {what}: fatal alert {alert}", who(r, *from));
            if let Some(c) = certificate {
                let _ = write!(s, "; {}", problem(c));
            }
        }
        HandshakeFailure::NoServerHello => {
            s.push_str(
                "the connection ended after the client's hello with no answer from the server: it refused the client's TLS versions or ciphers without saying why, or does not speak TLS there",
            );
        }
        HandshakeFailure::ClosedDuringHandshake {
            certificate,
            by,
            unread_alert,
            ..
        } => {
            let who = by.map_or_else(|| "one side".to_owned(), |side| who(r, side));
            let _ = write!(
                s,
                "{who} closed the connection before the handshake finished"
            );
            if *unread_alert {
                s.push_str(
                    ", after an encrypted record (TLS 1.3 encrypts its alert; the key log lacks that side's handshake secret)",
                );
            } else {
                s.push_str(", without an alert");
            }
            if let Some(c) = certificate {
                let _ = write!(s, "; {}", problem(c));
            }
        }
    }
    s
}

/// What is wrong with the certificate, in a clause.
pub fn problem(c: &CertificateProblem) -> String {
    match c {
        CertificateProblem::Expired { not_after } => format!(
            "the server's certificate expired on {}",
            crate::time::rfc3339(*not_after)
        ),
        CertificateProblem::NotYetValid { not_before } => format!(
            "the server's certificate is not valid before {}",
            crate::time::rfc3339(*not_before)
        ),
        CertificateProblem::NameMismatch { asked, names } => format!(
            "the client asked for {asked} and the server's certificate is for {}",
            names.join(", ")
        ),
    }
}

/// What to change, in Asterisk's words.
fn fix(f: &HandshakeFailure) -> Option<String> {
    let certificate = match f {
        HandshakeFailure::Alert { certificate, .. }
        | HandshakeFailure::ClosedDuringHandshake { certificate, .. } => certificate.as_ref(),
        HandshakeFailure::NoServerHello => None,
    };
    if let Some(c) = certificate {
        return Some(match c {
            CertificateProblem::Expired { .. } | CertificateProblem::NotYetValid { .. } => {
                "the provider must renew its certificate; until then Asterisk can skip the check with PJSIP transport `verify_server=no` (chan_sip: `tlsdontverifyserver=yes`), which also lets an impostor in".to_owned()
            }
            CertificateProblem::NameMismatch { .. } => {
                "register to a name the certificate holds (PJSIP: the host of the registration's `server_uri` / `outbound_proxy`; chan_sip: the `register =>` host), or ask the provider for a certificate with that name; PJSIP transport `verify_server=no` (chan_sip `tlsdontverifyserver=yes`) skips the check".to_owned()
            }
        });
    }
    let (from, alert) = match f {
        HandshakeFailure::Alert { from, alert, .. } => (*from, *alert),
        HandshakeFailure::ClosedDuringHandshake {
            by: Some(Side::Client),
            stage: Stage::ServerHello,
            ..
        } => {
            return Some(
                "the client most likely rejected the server's certificate: check that Asterisk trusts its CA (PJSIP transport `ca_list_file=`, chan_sip `tlscafile=`) and registers to a name the certificate holds; a key log (SSLKEYLOGFILE) of the client shows the certificate and the alert".to_owned(),
            );
        }
        _ => {
            return Some(
                "check the TLS port and that both sides allow TLS 1.2 or 1.3: PJSIP transport `method=tlsv1_2` (or `tlsv1_3`), chan_sip `tlsclientmethod=tlsv1_2`".to_owned(),
            );
        }
    };
    Some(
        match (from, alert) {
            (Side::Client, "unknown_ca") => {
                "give Asterisk the CA that issued the provider's certificate: PJSIP transport `ca_list_file=` (or `ca_list_path=`), chan_sip `tlscafile=` (or `tlscapath=`)"
            }
            (Side::Client, "certificate_expired") => {
                "the provider must renew its certificate; until then PJSIP transport `verify_server=no` (chan_sip `tlsdontverifyserver=yes`) skips the check, which also lets an impostor in"
            }
            (Side::Client, "certificate_unknown" | "bad_certificate") => {
                "the certificate's name or chain was refused: register to a name it holds (PJSIP: the host of `server_uri` / `outbound_proxy`; chan_sip: the `register =>` host) and trust its CA (PJSIP transport `ca_list_file=`, chan_sip `tlscafile=`); in TLS 1.3 a key log of the client (SSLKEYLOGFILE) shows the certificate"
            }
            (Side::Client, _) => {
                "check the provider's certificate chain against the CA Asterisk trusts: PJSIP transport `ca_list_file=`, chan_sip `tlscafile=`"
            }
            (Side::Server, "bad_certificate" | "certificate_required" | "unknown_ca") => {
                "the provider wants a client certificate it trusts: PJSIP transport `cert_file=` and `priv_key_file=`, chan_sip `tlscertfile=` and `tlsprivatekey=`"
            }
            (_, "protocol_version") => {
                "allow a version the provider speaks: PJSIP transport `method=tlsv1_2` (or `tlsv1_3`), chan_sip `tlsclientmethod=tlsv1_2`"
            }
            (_, "handshake_failure" | "insufficient_security") => {
                "allow a cipher and version the provider accepts: PJSIP transport `method=tlsv1_2` and `cipher=` (empty: OpenSSL's defaults), chan_sip `tlsclientmethod=tlsv1_2` and `tlscipher=`"
            }
            _ => return None,
        }
        .to_owned(),
    )
}

/// Who counted the TLS plaintext read inside the PBX's process, in the
/// summary.
pub const PLAINTEXT_BY: &str = "TLS plaintext probes (--pid/--process)";

/// The plaintext probes' counts, as the words after each number: calls
/// read.
pub const PLAIN_CALLS: &str = "SSL_write/SSL_read calls with data read";
/// SIP messages framed from the calls' plaintext.
pub const PLAIN_FRAMED: &str = "SIP messages framed from them";
/// Plaintext records lost: the ring was full (a loss).
pub const PLAIN_RING_FULL: &str = "plaintext records lost: the ring was full";
/// Calls whose bytes went past what one call copies (a loss).
pub const PLAIN_CUT: &str = "calls of over 16 KiB: the rest of their bytes not copied";
/// Records the kernel could not read from the process (a loss).
pub const PLAIN_UNREADABLE: &str = "plaintext records unreadable in the process's memory";
/// Calls that arrived in part: a gap in their stream (a loss).
pub const PLAIN_INCOMPLETE: &str = "calls with part of their bytes missing: a gap in their stream";
/// Bytes never placed on a connection (a loss).
pub const PLAIN_NO_CONNECTION: &str = "plaintext bytes whose TCP connection was never seen (a connection opened before attach, not yet read from)";
/// Bytes the framer skipped as not SIP.
pub const PLAIN_SKIPPED: &str = "plaintext bytes skipped as not SIP (resynchronising after a gap, or another protocol over TLS)";
/// Streams ended early to make room (a loss).
pub const PLAIN_EVICTED: &str =
    "plaintext streams ended early to make room (over 4,096 connections)";
/// Calls whose return was never seen.
pub const PLAIN_UNPAIRED: &str =
    "calls whose return was never seen (a thread that entered SSL_write/SSL_read again first)";
