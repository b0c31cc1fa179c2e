//! The SIP client: one client transaction and one resolver, shared by
//! everything in sipwatch that sends SIP itself (`probe`, the audit's TCP
//! shadows, and `doctor` to come) rather than watching it.
//!
//! * [`exchange`] sends one request over a [`Channel`] and collects its
//!   responses (RFC 3261 §17.1): over UDP retransmitted on the
//!   [`Schedule`] of [`Timers`] (T1 doubling, capped at T2 except for an
//!   INVITE, Timer B / F overall), over TCP sent once and framed by
//!   Content-Length. Responses are matched to the request by top Via
//!   branch and CSeq method (§17.1.3); everything else is ignored and
//!   counted. The typed [`Outcome`]: a final response, a timeout, a refusal
//!   (ICMP port unreachable), a reset or close of the stream.
//! * [`seen`] asks an echo's query channel whether a probe arrived;
//!   [`mirror`] for the request it left out of a UDP answer.
//! * [`roots`] are the certificates a TLS client trusts: the system's and
//!   a private CA's.
//! * [`resolve`] turns what a user typed into every address it stands for
//!   ([`Resolved`]); [`Resolver`] is where RFC 3263 (NAPTR / SRV) plugs in.
//!
//! What a caller makes of a response (the probe's mirror, the audit's
//! shadow) stays with the caller.
//!
//! ```no_run
//! use std::net::UdpSocket;
//! use sipwatch::client::{self, Channel, Outcome, Timers};
//! let peer = client::resolve("pbx.example", 5060)?.chosen();
//! let socket = UdpSocket::bind("0.0.0.0:0")?;
//! # let options: &[u8] = b"";
//! let exchange = client::exchange(&mut Channel::udp(socket, peer), peer, options, &Timers::default());
//! if let Outcome::Final(response) = &exchange.outcome {
//!     println!("{} after {} transmissions", response.code, exchange.sent());
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
mod query;
mod resolve;
mod roots;
mod timers;
mod transaction;

pub use query::{Fate, mirror, seen};
pub use resolve::{Host, ResolveError, Resolved, Resolver, SystemResolver, Target, resolve};
pub use roots::roots;
pub use timers::{Schedule, T1, T2, TIMER_F, Timers};
pub use transaction::{
    Channel, ConnectError, Exchange, Heard, Ignored, MAX_KEPT, Outcome, Received, Response,
    SipStream, connect_tcp, exchange,
};

#[cfg(test)]
mod tests;
