#![deny(missing_docs)]
//! sipwatch: finds out, from the wire, why SIP registrations fail.
//!
//! Data flows one way, and a module uses only the ones before it:
//!
//! ```text
//! capture → net → tls → sip → pbx → lint / track / alg → say → report → tui
//! ```
//!
//! * [`capture`]: the kernel programs (XDP ingress, TC egress), their ring
//!   buffer and counters, and capture files (pcap / pcapng): all yield
//!   [`capture::Frame`]s.
//! * [`net`]: frames to UDP datagrams and TCP segments (VLANs, IPv4, IPv6,
//!   IP defragmentation, TCP stream reassembly).
//! * [`tls`]: TLS connections found on any port, their handshakes
//!   followed (and failures told), their records opened with an NSS key log
//!   into the plaintext SIP framing reads.
//! * [`sip`]: whole SIP messages out of datagrams and streams, their
//!   original bytes kept, with an index and typed fields read from it.
//! * [`hep`]: HEP (Homer encapsulation protocol), its numbers and
//!   [`hep::decode`], which reads HEP v3 and v2 packets into SIP messages
//!   with their addresses, transport and the agent's capture time, each
//!   refusal named ([`hep::tally`] counts them).
//! * [`pbx`]: what sipwatch knows about the PBXs that register (Asterisk
//!   PJSIP, chan_sip, FreeSWITCH): recognition, options and their
//!   defaults, version facts, retry rules, each with its source; and
//!   Asterisk's own configuration files read as Asterisk reads them
//!   ([`pbx::config`]).
//! * [`lint`]: `sipwatch lint`, the classic configuration mistakes as typed
//!   findings with their file and line (worded by [`say::lint`]).
//! * [`track`]: transactions (RFC 3261 §17 timers), registrations per
//!   binding, and the diagnosis of each failure.
//! * [`alg`]: a message as sent against the same message as received: what a
//!   SIP ALG, NAT or proxy changed, as typed findings.
//! * [`client`]: the SIP client that sends rather than watches: one client
//!   transaction (RFC 3261 §17.1, UDP retransmissions and TCP) and one
//!   resolver, for [`probe`], the audit's TCP shadows and `doctor`.
//! * [`audit`]: `attach --echo`: the PBX's own REGISTERs shadowed through an
//!   echo, what the path does to them, where their timeouts were lost.
//! * [`say`]: the words a user reads about what [`track`] decided
//!   (diagnoses, path findings, the next move, the failure record, kernel
//!   drops), given a [`say::Context`] (which PBX, which configuration
//!   section).
//! * [`report`]: what the user sees, one [`report::Output`] per file: the
//!   message log, JSON Lines, the live table, the summary, pcapng, metrics.
//! * [`tui`]: `--tui`, the terminal UI (trunks, dialogs, ladder, raw,
//!   diff, save), an [`report::Output`] that browses the run; read only by
//!   the command line.
//!
//! Around that path: [`pipeline`] is the path for one frame or one whole
//! message, and [`source`] the places they come from (the NIC ring, a
//! capture file, a HEP listener; later a uprobe ring) with the one loop that
//! drives a pipeline from any of them; [`live`] (`sipwatch attach`) and
//! [`analyze`] (`sipwatch analyze`) run that loop over the NIC and over a
//! file or standard input; [`live::listen`] (`sipwatch hep-listen`) over a
//! HEP listener, and `attach --hep-listen` over both. [`source`] sits beside [`pipeline`], using it.
//! [`echo`] (`sipwatch echo`) is the cooperating server on a public host,
//! and [`probe`] (`sipwatch probe`) the pre-go-live router check against
//! it, built on [`client`], [`alg`] and [`capture`]. [`doctor`] (`sipwatch
//! doctor`) is the provider checklist before any capture, built on
//! [`client`], its words in [`say::doctor`]. [`time`], which any of them
//! may use, writes the RFC 3339 times of every JSON object.
//!
//! `tests/module_graph.rs` fails on any cycle between these modules.
pub mod alg;
pub mod analyze;
pub mod audit;
pub mod capture;
pub mod client;
pub mod doctor;
pub mod echo;
pub mod hep;
pub mod lint;
pub mod live;
pub mod net;
pub mod pbx;
pub mod pipeline;
pub mod probe;
pub mod report;
pub mod say;
pub mod sip;
pub mod source;
pub mod time;
pub mod tls;
pub mod track;
pub mod tui;
