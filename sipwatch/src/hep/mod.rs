//! HEP (Homer Encapsulation Protocol, also EEP): SIP messages and log
//! records exchanged with HOMER, heplify, Asterisk's `res_hep`, Kamailio's
//! `siptrace` and FreeSWITCH's capture server.
//!
//! [`chunk`] holds the protocol's numbers (chunk types, capture protocol
//! types), shared by what encodes HEP and what decodes it. Source: the HEP
//! v3 specification (github.com/sipcapture/HEP, `docs/HEP3_rev12.pdf`) and
//! the chunk list heplify-server checks against. [`encode`] makes one HEP
//! v3 packet of a message or a log record, as the strictest receiver
//! wants it; [`send`] takes packets to a receiver over UDP, TCP or TLS
//! ([`tls`]) from a bounded queue, never holding up the capture.
//! [`decode`] reads HEP v3 and v2 packets (`sipwatch hep-listen`, `attach
//! --hep-listen`), [`tally`] counts what it refused.
pub mod chunk;
pub mod decode;
pub mod encode;
pub mod send;
pub mod tally;
pub mod tls;
