//! `sipwatch echo`: the cooperating server on a public host that answers
//! sipwatch's probes with exactly what it received ([`wire`]), safely
//! ([`Responder`]: probes only, optional key, rate limits, no amplification).
mod responder;
mod server;
pub mod wire;

pub use responder::{EchoPolicy, EchoStats, MAX_REQUEST, PROBE_LOG_SIZE, Refusal, Responder, Seen};
pub use server::{EchoConfig, EchoError, ServerStats, serve, serve_announced};

/// The echo's query channel port (TCP), offered by default on each address
/// the echo listens on, and asked by default by `sipwatch probe`: one
/// place, so that the two agree.
pub const DEFAULT_QUERY_PORT: u16 = 5099;
