//! The live registration table (`attach --table`): redrawn in place every
//! second instead of the message log, with the path audit's latest finding
//! per registration under it when `--echo` runs.
//!
//! On a terminal it fits the terminal: the table first (failing rows
//! first; columns left out, then cells cut, until a row fits the width),
//! the totals, then the details of the failing rows only, each line cut to
//! the width; what healthy rows' hints say is said once, with how many it
//! applies to; past the height, how many lines were left out. Not on a
//! terminal (a pipe, a file), it is the summary's whole table.
use std::{
    io::{self, Write},
    time::SystemTime,
};

use super::{
    Output, Snapshot,
    registrations::{details, write_table, write_totals},
};
use crate::{
    say,
    time::clock,
    track::{Registration, TrackStats},
};

/// Redraws the table (cursor home, clear screen) on every tick.
pub struct LiveTable;

impl Output for LiveTable {
    fn tick(&mut self, out: &mut dyn Write, now: &Snapshot<'_>) -> io::Result<()> {
        let tracker = now.tracker;
        out.write_all(b"\x1b[H\x1b[2J")?;
        let out = &mut super::printable::Printable::new(out);
        let regs = tracker.registrations();
        match terminal_size() {
            Some((width, height)) => {
                let mut audit = Vec::new();
                if let Some(a) = now.audit {
                    super::summary::write_audit(&mut audit, a)?;
                }
                let audit: Vec<String> = String::from_utf8_lossy(&audit)
                    .lines()
                    .map(str::to_owned)
                    .collect();
                let lines = fitted(
                    &regs,
                    tracker.now(),
                    &tracker.stats(),
                    &audit,
                    (width, height),
                );
                for line in lines {
                    writeln!(out, "{line}")?;
                }
            }
            None => {
                write_table(out, &regs, tracker.now())?;
                write_totals(out, &regs, &tracker.stats())?;
                if let Some(audit) = now.audit {
                    super::summary::write_audit(out, audit)?;
                }
            }
        }
        out.flush()
    }
}

/// Standard output's terminal size (columns, rows), when it is one.
fn terminal_size() -> Option<(usize, usize)> {
    use std::io::IsTerminal;
    if !io::stdout().is_terminal() {
        return None;
    }
    let (w, h) = crossterm::terminal::size().ok()?;
    Some((usize::from(w), usize::from(h)))
}

/// One column: its head, its cells, and whether it is right-aligned.
struct Column {
    head: &'static str,
    cells: Vec<String>,
    right: bool,
}

impl Column {
    fn width(&self) -> usize {
        self.cells
            .iter()
            .map(|c| c.chars().count())
            .chain([self.head.len()])
            .max()
            .unwrap_or(0)
    }
}

/// `text` cut to `width` characters, an ellipsis where it was cut.
fn cut(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut s: String = text.chars().take(width.saturating_sub(1)).collect();
    s.push('…');
    s
}

/// The table, totals, details and `audit`'s lines as lines that fit
/// `(width, height)` (one line is kept free for the cursor).
pub fn fitted(
    regs: &[&Registration],
    now: Option<SystemTime>,
    stats: &TrackStats,
    audit: &[String],
    (width, height): (usize, usize),
) -> Vec<String> {
    let mut regs = regs.to_vec();
    regs.sort_by_key(|r| !r.state().is_failing());
    let mut lines = vec!["--- registrations ---".to_owned()];
    if regs.is_empty() {
        lines.push("(no REGISTER seen)".to_owned());
    } else {
        lines.extend(table_lines(&regs, now, width));
    }
    let mut totals = Vec::new();
    write_totals(&mut totals, &regs, stats).ok();
    lines.extend(
        String::from_utf8_lossy(&totals)
            .lines()
            .map(|l| cut(l, width)),
    );
    lines.extend(detail_lines(&regs, width));
    lines.extend(audit.iter().map(|l| cut(l, width)));
    let room = height.saturating_sub(1).max(1);
    if lines.len() > room {
        let left_out = lines.len() - (room - 1);
        lines.truncate(room - 1);
        lines.push(cut(&say::registration::lines_left_out(left_out), width));
    }
    lines
}

fn table_lines(regs: &[&Registration], now: Option<SystemTime>, width: usize) -> Vec<String> {
    let column = |head, right, cell: &dyn Fn(&Registration) -> String| Column {
        head,
        cells: regs.iter().map(|r| cell(r)).collect(),
        right,
    };
    // In the order they are left out when the row is too wide: the last
    // change, the round trip, the registrar (named again in the details).
    let mut columns = vec![
        column("REGISTRAR", false, &say::registration::registrar),
        column("AOR", false, &|r| r.key.aor.clone()),
        column("STATE", false, &say::registration::status),
        column("LAST", true, &|r| {
            r.last_code.map_or("-".into(), |c| c.to_string())
        }),
        column("RTT", true, &|r| {
            r.response_us
                .map_or("-".into(), |us| format!("{:.1} ms", us as f64 / 1000.0))
        }),
        column("EXPIRES IN", true, &|r| match (r.expires_at(), now) {
            (Some(at), Some(now)) => {
                format!("{} s", at.duration_since(now).unwrap_or_default().as_secs())
            }
            _ => "-".into(),
        }),
        column("LAST CHANGE", false, &|r| clock(r.last_change)),
    ];
    let total = |cs: &[Column]| cs.iter().map(|c| c.width() + 2).sum::<usize>() - 2;
    for head in ["LAST CHANGE", "RTT", "REGISTRAR"] {
        if total(&columns) <= width {
            break;
        }
        columns.retain(|c| c.head != head);
    }
    // Still too wide: the AOR cut (not below 24), then the state (not
    // below 16).
    let mut widths: Vec<usize> = columns.iter().map(Column::width).collect();
    for (head, least) in [("AOR", 24), ("STATE", 16)] {
        let over = (widths.iter().map(|w| w + 2).sum::<usize>() - 2).saturating_sub(width);
        if let Some(i) = columns.iter().position(|c| c.head == head) {
            widths[i] = widths[i].saturating_sub(over).max(least.min(widths[i]));
        }
    }
    let row = |cells: Vec<String>| {
        columns
            .iter()
            .zip(&widths)
            .zip(cells)
            .map(|((c, &w), cell)| {
                let cell = cut(&cell, w);
                if c.right {
                    format!("{cell:>w$}")
                } else {
                    format!("{cell:<w$}")
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    let mut lines = vec![row(columns.iter().map(|c| c.head.to_owned()).collect())];
    for i in 0..regs.len() {
        lines.push(row(columns.iter().map(|c| c.cells[i].clone()).collect()));
    }
    lines.into_iter().map(|l| cut(&l, width)).collect()
}

/// The failing rows' details, then the healthy rows' hints once each.
fn detail_lines(regs: &[&Registration], width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for r in regs.iter().filter(|r| r.state().is_failing()) {
        lines.push(String::new());
        lines.push(cut(
            &format!(
                "{} at {}: {}",
                r.key.aor,
                say::registration::registrar(r),
                say::registration::status(r)
            ),
            width,
        ));
        for (label, text) in details(r, None) {
            lines.extend(wrap(&format!("  {label}: {text}"), width));
        }
    }
    // Healthy rows' advice: each (label, text) once, with how many say it.
    let mut once: Vec<((&'static str, String), usize)> = Vec::new();
    for r in regs.iter().filter(|r| !r.state().is_failing()) {
        for line in details(r, None) {
            match once.iter_mut().find(|(l, _)| *l == line) {
                Some((_, n)) => *n += 1,
                None => once.push((line, 1)),
            }
        }
    }
    if !once.is_empty() {
        lines.push(String::new());
    }
    for ((label, text), n) in once {
        let text = if n > 1 {
            format!("  {label}: {text} {}", say::registration::applies_to(n))
        } else {
            format!("  {label}: {text}")
        };
        lines.extend(wrap(&text, width));
    }
    lines
}

/// `text` wrapped at spaces to `width`, each line after the first
/// indented under the label ("  fix  : " is 9 wide); a word longer than
/// a line is cut.
fn wrap(text: &str, width: usize) -> Vec<String> {
    const INDENT: usize = 9;
    let rest = text.trim_start_matches(' ');
    let mut line = text[..text.len() - rest.len()].to_owned();
    let mut fresh = true;
    let mut lines = Vec::new();
    for word in rest.split(' ') {
        let len = line.chars().count();
        if !fresh && len + 1 + word.chars().count() > width {
            lines.push(cut(&line, width));
            line = " ".repeat(INDENT.min(width / 2));
            fresh = true;
        }
        if !fresh {
            line.push(' ');
        }
        line.push_str(word);
        fresh = false;
    }
    lines.push(cut(&line, width));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{pipeline::tests::from_agent, track::Tracker};

    /// Six trunks on long AORs, two refused (403), four registered.
    fn six() -> Tracker {
        let mut t = Tracker::default();
        let mut events = Vec::new();
        for n in 0..6u64 {
            let user = format!("trunk-{n}-with-a-rather-long-account-name");
            let request = format!(
                "REGISTER sip:voice.provider-with-a-long-name.example.com SIP/2.0\r\n\
                 Via: SIP/2.0/UDP 192.168.77.10:5060;branch=z9hG4bK-{n}\r\n\
                 From: <sip:{user}@voice.provider-with-a-long-name.example.com>;tag=1\r\n\
                 To: <sip:{user}@voice.provider-with-a-long-name.example.com>\r\nCall-ID: c{n}\r\n\
                 CSeq: 1 REGISTER\r\nContact: <sip:{user}@192.168.77.10:5060>\r\nExpires: 3600\r\n\
                 User-Agent: Asterisk PBX 20.5.0\r\nContent-Length: 0\r\n\r\n"
            );
            let answer = if n < 2 { "403 Forbidden" } else { "200 OK" };
            let response = format!(
                "SIP/2.0 {answer}\r\nVia: SIP/2.0/UDP 192.168.77.10:5060;branch=z9hG4bK-{n}\r\n\
                 From: <sip:{user}@voice.provider-with-a-long-name.example.com>;tag=1\r\n\
                 To: <sip:{user}@voice.provider-with-a-long-name.example.com>;tag=2\r\nCall-ID: c{n}\r\n\
                 CSeq: 1 REGISTER\r\nContact: <sip:{user}@192.168.77.10:5060>;expires=3600\r\n\
                 Content-Length: 0\r\n\r\n"
            );
            for (ms, from_pbx, text) in [(n * 10, true, request), (n * 10 + 5, false, response)] {
                let m = from_agent(5060, ms, from_pbx, &text);
                t.push(&m.parsed(), &mut events);
            }
        }
        t
    }

    #[test]
    fn six_registrations_fit_a_120_by_30_terminal_table_first_failing_first() {
        let t = six();
        let regs = t.registrations();
        let lines = fitted(&regs, t.now(), &t.stats(), &[], (120, 30));
        assert!(lines.len() <= 29, "{}", lines.join("\n"));
        assert!(
            lines.iter().all(|l| l.chars().count() <= 120),
            "{}",
            lines.join("\n")
        );
        // The table: its head, then the two refused, then the four others.
        assert!(
            lines[1].starts_with("AOR") || lines[1].starts_with("REGISTRAR"),
            "{}",
            lines[1]
        );
        assert!(lines[2].contains("Rejected 403") && lines[3].contains("Rejected 403"));
        assert!(
            lines[4..8].iter().all(|l| l.contains("Registered")),
            "{}",
            lines.join("\n")
        );
        assert!(lines[8].starts_with("registrations: 4 OK, 2 failing"));
        // Details for the failing rows only.
        let text = lines.join("\n");
        assert_eq!(text.matches("  cause: ").count(), 2, "{text}");
        assert!(!text.contains(
            "trunk-2-with-a-rather-long-account-name@voice.provider-with-a-long-name.example.com at"
        ));
    }

    #[test]
    fn a_short_terminal_keeps_the_table_and_says_what_it_left_out() {
        let t = six();
        let regs = t.registrations();
        let lines = fitted(&regs, t.now(), &t.stats(), &[], (80, 12));
        assert_eq!(lines.len(), 11);
        assert!(lines[2].contains("Rejected 403"), "{}", lines.join("\n"));
        assert!(lines[10].contains("more lines (the summary at the end has them all)"));
        assert!(
            lines.iter().all(|l| l.chars().count() <= 80),
            "{}",
            lines.join("\n")
        );
    }
}
