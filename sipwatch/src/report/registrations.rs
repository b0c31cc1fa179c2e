//! The registration view: events as they happen, and the table with each
//! failure's cause and fix, like `pjsip show registrations` from the wire.
use std::{
    io::{self, Write},
    time::SystemTime,
};

use crate::{
    pbx::config::trunks::Trunks,
    say::{self, Context, count},
    time::{clock, stamp},
    track::{Event, Registration, RegistrationState, TrackStats},
};

/// One line for an event in the message log.
pub fn write_event(out: &mut dyn Write, e: &Event) -> io::Result<()> {
    write_event_in(out, e, None)
}

/// [`write_event`], a failure naming the configuration section that sends
/// the registration when the configuration was read (`--config-dir`).
pub fn write_event_in(out: &mut dyn Write, e: &Event, trunks: Option<&Trunks>) -> io::Result<()> {
    match e {
        Event::Registration(r) => {
            let why = r
                .diagnoses
                .iter()
                .find(|d| d.is_failure())
                .map(|d| {
                    let cx = Context::of_in(r, trunks);
                    let at = cx
                        .config
                        .as_ref()
                        .map(|c| format!(" [{}] ({}:{})", c.section, c.file.display(), c.line))
                        .unwrap_or_default();
                    format!(": {}{at}", say::diagnosis::explain(d, &cx).0)
                })
                .unwrap_or_default();
            writeln!(
                out,
                "{} REGISTRATION {} at {} -> {}{why}",
                stamp(r.last_change),
                r.key.aor,
                say::registration::registrar(r),
                say::registration::status(r)
            )
        }
        Event::Timeout(tx) => writeln!(
            out,
            "{} TIMEOUT {} {} to {} over {}: no final response {}, sent {}{}",
            stamp(e.at()),
            tx.method,
            tx.call_id,
            tx.dst,
            tx.transport,
            // Ended early: the capture stopped after ICMP errors answered it.
            match e.at().duration_since(tx.first_sent) {
                Ok(d) if d < crate::track::TIMER_B => format!(
                    "before the capture ended {} s after it (ICMP errors came back; the PBX keeps sending it until Timer F)",
                    d.as_secs()
                ),
                _ => "in 32 s".to_owned(),
            },
            count(tx.sent, "time", "times"),
            if tx.provisional.is_some() {
                " (provisional answers only)"
            } else {
                ""
            }
        ),
    }
}

/// The table, then every failure and NAT hint with its cause and fix.
pub fn write_table(
    out: &mut dyn Write,
    regs: &[&Registration],
    now: Option<SystemTime>,
) -> io::Result<()> {
    write_table_in(out, regs, now, None)
}

/// [`write_table`], each fix naming the configuration section that sends
/// the registration when the configuration was read (`--config-dir`).
pub fn write_table_in(
    out: &mut dyn Write,
    regs: &[&Registration],
    now: Option<SystemTime>,
    trunks: Option<&Trunks>,
) -> io::Result<()> {
    writeln!(out, "--- registrations ---")?;
    if regs.is_empty() {
        writeln!(out, "(no REGISTER seen)")?;
        return Ok(());
    }
    let widths = (
        regs.iter()
            .map(|r| say::registration::registrar(r).len())
            .max()
            .unwrap_or(9)
            .max(9),
        regs.iter()
            .map(|r| r.key.aor.len())
            .max()
            .unwrap_or(3)
            .max(3),
        regs.iter()
            .map(|r| say::registration::status(r).chars().count())
            .max()
            .unwrap_or(16)
            .max(16),
    );
    writeln!(
        out,
        "{:<w0$}  {:<w1$}  {:<w2$}  {:>4}  {:>7}  {:>10}  {:<15}",
        "REGISTRAR",
        "AOR",
        "STATE",
        "LAST",
        "RTT",
        "EXPIRES IN",
        "LAST CHANGE",
        w0 = widths.0,
        w1 = widths.1,
        w2 = widths.2
    )?;
    for r in regs {
        let expires_in = match (r.expires_at(), now) {
            (Some(at), Some(now)) => {
                format!("{} s", at.duration_since(now).unwrap_or_default().as_secs())
            }
            _ => "-".into(),
        };
        writeln!(
            out,
            "{:<w0$}  {:<w1$}  {:<w2$}  {:>4}  {:>7}  {:>10}  {:<15}",
            say::registration::registrar(r),
            r.key.aor,
            say::registration::status(r),
            r.last_code.map_or("-".into(), |c| c.to_string()),
            r.response_us
                .map_or("-".into(), |us| format!("{:.1} ms", us as f64 / 1000.0)),
            expires_in,
            clock(r.last_change),
            w0 = widths.0,
            w1 = widths.1,
            w2 = widths.2
        )?;
    }
    for r in regs {
        let lines = details(r, trunks);
        if lines.is_empty() {
            continue;
        }
        writeln!(
            out,
            "\n{} at {} (contact {}): {}",
            r.key.aor,
            say::registration::registrar(r),
            r.key.contact,
            say::registration::status(r)
        )?;
        for (label, text) in lines {
            writeln!(out, "  {label}: {text}")?;
        }
    }
    Ok(())
}

/// A binding's detail lines, (label, text): its failure record and the
/// PBX's next move, every diagnosis with its fix, the Contacts the
/// registrar kept, a gap in the registration and the request delay, a
/// retry storm.
pub fn details(r: &Registration, trunks: Option<&Trunks>) -> Vec<(&'static str, String)> {
    let cx = Context::of_in(r, trunks);
    let mut lines = Vec::new();
    if let Some(record) = r.record() {
        lines.push(("fails", say::record::failure_record(&record)));
        if let Some(next) = say::next_move::next_move(&r.next_move(), &cx) {
            lines.push(("next ", next));
        }
    }
    for d in &r.diagnoses {
        let (cause, fix) = say::diagnosis::explain(d, &cx);
        let label = if d.is_failure() { "cause" } else { "hint " };
        lines.push((label, cause));
        lines.push(("fix  ", fix));
    }
    if let Some(kept) = r.contacts_kept.as_ref().filter(|k| k.notable()) {
        for (seen, means) in say::contacts::contacts_kept(kept, &r.key.contact) {
            lines.push(("hint ", seen));
            lines.push(("fix  ", means));
        }
    }
    if let Some(gap) = say::continuity::gap(&r.continuity) {
        lines.push(("gap  ", gap));
    }
    // Said where something is said about the binding anyway.
    if let Some(rrd) = say::continuity::rrd(&r.continuity).filter(|_| !lines.is_empty()) {
        lines.push(("rrd  ", rrd));
    }
    if let Some(storm) = r.storm() {
        let (seen, slow) = say::storm::retry_storm(&storm, &cx);
        lines.push(("risk ", seen));
        lines.push(("fix  ", slow));
    }
    lines
}

/// "registrations: 3 OK, 1 failing, 0 unregistered; 12 transactions, 1 timeout, 4 retransmissions".
pub fn write_totals(out: &mut dyn Write, regs: &[&Registration], s: &TrackStats) -> io::Result<()> {
    let ok = regs
        .iter()
        .filter(|r| matches!(r.state(), RegistrationState::Registered { .. }))
        .count();
    let failing = regs.iter().filter(|r| r.state().is_failing()).count();
    let unregistered = regs
        .iter()
        .filter(|r| r.state() == RegistrationState::Unregistered)
        .count();
    // Only where the capture held one direction of a flow.
    let not_captured = if s.answers_not_captured > 0 {
        format!(
            "; {} (one direction only)",
            count(
                s.answers_not_captured,
                "transaction whose answers are not in this capture",
                "transactions whose answers are not in this capture"
            )
        )
    } else {
        String::new()
    };
    writeln!(
        out,
        "registrations: {ok} OK, {failing} failing, {unregistered} unregistered; {}, {}, {}, {}{not_captured}",
        count(s.transactions, "transaction", "transactions"),
        count(s.timeouts, "timeout", "timeouts"),
        count(s.retransmissions, "retransmission", "retransmissions"),
        count(
            s.response_retransmissions,
            "response retransmission",
            "response retransmissions"
        )
    )
}
