//! The words of a binding's continuity ([`Continuity`]): the request delay
//! and the gaps when it was not registered.
use super::interval;
use crate::{time::clock, track::Continuity};

/// The detail line about the request delay, once one succeeded:
/// "10 ms last, 30 ms at most (RFC 6076 RRD: …)".
pub fn rrd(c: &Continuity) -> Option<String> {
    let (last, max) = (c.rrd_last_us?, c.rrd_max_us?);
    Some(format!(
        "{} last, {} at most (RFC 6076 registration request delay: first REGISTER of an attempt to its final answer)",
        human_us(last),
        human_us(max)
    ))
}

/// The detail line about the latest gap, if there was one.
pub fn gap(c: &Continuity) -> Option<String> {
    let g = c.last_gap?;
    let more = if c.gaps > 1 {
        format!(
            " ({} gaps, the longest {})",
            c.gaps,
            interval(c.longest_gap_ms.unwrap_or(g.length_ms))
        )
    } else {
        String::new()
    };
    Some(format!(
        "not registered from {} to {} ({}){more}: the refresh came after the registrar's binding had expired, and inbound calls could not reach the PBX meanwhile",
        clock(g.lapsed_at),
        clock(g.registered_at),
        interval(g.length_ms)
    ))
}

/// A delay for people: "0.3 ms", "12.0 ms", "2.5 s".
fn human_us(us: u64) -> String {
    if us < 100_000 {
        format!("{:.1} ms", us as f64 / 1000.0)
    } else {
        interval(us / 1000)
    }
}
