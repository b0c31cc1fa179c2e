//! The words for what a HEP listener (`hep-listen`, `attach
//! --hep-listen`) counted: each reason a packet was refused, and what the
//! listener could not keep, as the summary's counts show them.
use crate::hep::decode::Refusal;

/// Who counted, in the summary.
pub const BY: &str = "HEP listener";

/// A refusal, as the words after its count: "HEP packets refused: wrong
/// or missing password (--hep-password)".
pub fn refused(why: Refusal) -> &'static str {
    match why {
        Refusal::NotHep => {
            "packets refused: not HEP (neither \"HEP3\" nor a version 1 or 2 header; SIP sent to the HEP port?)"
        }
        Refusal::Truncated => "HEP packets refused: shorter than their own header",
        Refusal::LengthMismatch => {
            "HEP packets refused: the length in the header is not the packet's"
        }
        Refusal::ChunkTooShort => "HEP packets refused: a chunk length below 6 bytes",
        Refusal::ChunkPastEnd => "HEP packets refused: a chunk running past the packet's end",
        Refusal::ChunkWrongSize => {
            "HEP packets refused: a chunk of the wrong size (an address, a port, a time)"
        }
        Refusal::V2TooShort => "HEP v2 packets refused: shorter than their header and time",
        Refusal::V2OverTcp => {
            "HEP v2 connections closed: v2 cannot be framed over TCP (send HEP v3, or v2 over UDP)"
        }
        Refusal::UnknownFamily => "HEP packets refused: an address family other than IPv4 and IPv6",
        Refusal::NoAddresses => "HEP packets refused: no source and destination address and port",
        Refusal::NoPayload => "HEP packets refused: no payload",
        Refusal::BadCompression => {
            "HEP packets refused: a compressed payload neither gzip nor zlib, or corrupt"
        }
        Refusal::InflatesTooLarge => {
            "HEP packets refused: a compressed payload inflating beyond 256 KiB (a gzip bomb?)"
        }
        Refusal::WrongPassword => {
            "HEP packets refused: wrong or missing password (the agent's capture_password / auth_key)"
        }
        Refusal::NotSip => "HEP packets passed over: not SIP (RTCP, logs, QoS reports)",
        Refusal::OtherTransport => {
            "HEP packets refused: SIP over SCTP, which sipwatch does not follow"
        }
    }
}

/// Packets taken.
pub const TAKEN: &str = "HEP packets taken (one SIP message each)";
/// TCP connections followed.
pub const CONNECTIONS: &str = "HEP TCP connections accepted";

/// TCP connections closed at once, too many being open.
pub const CONNECTIONS_REFUSED: &str =
    "HEP TCP connections closed at once: too many open (64 at most), none silent for a minute";
/// Silent TCP connections closed for new ones.
pub const CONNECTIONS_SILENT: &str =
    "HEP TCP connections closed after a minute or more of silence, to make room for a new one";
/// Packets from one agent too many.
pub const AGENTS_REFUSED: &str = "HEP packets refused: from a new agent address beyond 256 agents";
/// Datagrams the kernel dropped at the socket.
pub const SOCKET_DROPS: &str =
    "HEP datagrams dropped by this host's kernel before sipwatch read them (socket buffer full)";
