//! The flow screen: the ladder (one column per address:port, one line per
//! message with its time, the delta from the one before and an arrow
//! labelled with its method or status; retransmissions marked, ICMP
//! errors and kernel drops where they happened), and beside it the
//! message under the cursor, raw, digest responses masked.
use std::time::SystemTime;

use ratatui::{
    Frame,
    layout::{Constraint, Layout, Rect},
    style::{Color, Modifier, Style},
    text::Line,
    widgets::{Block, Borders, Paragraph, Wrap},
};

use super::{cursor, failing, first_shown};
use crate::{
    say,
    tui::{
        app::App,
        model::{Step, first_line},
    },
};

/// Time and delta before the lanes: "16:00:50.123 +10.012 ".
const STAMP: usize = 21;

/// Below this the raw pane is left out.
const RAW_MIN: u16 = 24;

pub(super) fn draw(f: &mut Frame, area: Rect, app: &App) {
    let ladder_width = (area.width * 11 / 20).max(44.min(area.width));
    let (ladder_area, raw_area) = if area.width - ladder_width >= RAW_MIN {
        let [l, r] =
            Layout::horizontal([Constraint::Length(ladder_width), Constraint::Min(0)]).areas(area);
        (l, Some(r))
    } else {
        (area, None)
    };
    let lines = ladder(app, usize::from(ladder_area.width));
    let head = 2;
    let height = usize::from(ladder_area.height).saturating_sub(head);
    let from = first_shown(app.step, height);
    let shown: Vec<Line> = lines[..head.min(lines.len())]
        .iter()
        .cloned()
        .chain(lines.iter().skip(head + from).take(height).cloned())
        .collect();
    f.render_widget(Paragraph::new(shown), ladder_area);
    if let Some(raw_area) = raw_area {
        raw_pane(f, raw_area, app);
    }
}

/// The ladder as lines `width` wide: two header lines (the columns'
/// addresses), then one line per step, the cursor's highlighted.
pub fn ladder(app: &App, width: usize) -> Vec<Line<'static>> {
    let columns = &app.ladder.columns;
    let lanes = width.saturating_sub(STAMP).max(8);
    let n = columns.len().max(1);
    let at = |c: usize| {
        if n == 1 {
            lanes / 2
        } else {
            c * (lanes - 1) / (n - 1)
        }
    };
    // Header: each address centred over its column when they fit, else
    // letters over the columns and the addresses named below them.
    let names: Vec<String> = columns.iter().map(|a| a.to_string()).collect();
    let fits = names.iter().all(|a| a.len() < lanes / n.max(2));
    let mut top = vec![' '; lanes];
    let mut legend = String::new();
    for (c, name) in names.iter().enumerate() {
        let label: String = if fits {
            name.clone()
        } else {
            char::from(b'A' + (c as u8 % 26)).to_string()
        };
        let start = at(c)
            .saturating_sub(label.len() / 2)
            .min(lanes.saturating_sub(label.len()));
        for (k, ch) in label.chars().enumerate() {
            if let Some(cell) = top.get_mut(start + k) {
                *cell = ch;
            }
        }
        if !fits {
            legend.push_str(&format!("{label} {name}  "));
        }
    }
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let mut lines = vec![
        Line::styled(
            format!("{:STAMP$}{}", "", top.iter().collect::<String>()),
            bold,
        ),
        Line::styled(legend, bold),
    ];
    let mut before: Option<SystemTime> = None;
    for (k, step) in app.ladder.steps.iter().enumerate() {
        let (at_time, text, style) = match *step {
            Step::Message { index, again } => {
                let m = &app.model.messages[index];
                let label = say::tui::arrow_label(&first_line(&m.bytes), again);
                let col = |a| columns.iter().position(|c| *c == a).unwrap_or(0);
                let text = arrow(
                    at(col(m.src)),
                    at(col(m.dst)),
                    &label,
                    lanes,
                    &lane_marks(n, &at),
                );
                let status = m.parsed().status();
                let mut style = match status {
                    Some(c) if c >= 400 => failing(),
                    Some(c) if c >= 200 => Style::default().fg(Color::Green),
                    _ => Style::default(),
                };
                if again {
                    style = style.fg(Color::Yellow);
                }
                if app.marked.contains(&index) {
                    style = style.add_modifier(Modifier::UNDERLINED);
                }
                (m.timestamp, text, style)
            }
            Step::Note(i) => {
                let note = &app.model.notes[i];
                let col = |a| columns.iter().position(|c| *c == a).unwrap_or(0);
                let (from, to) = (at(col(note.src)), at(col(note.dst)));
                // An ICMP error comes back from where the packet went; a
                // drop stops the packet on its way.
                let text = if note.back {
                    arrow(to, from, &note.label, lanes, &lane_marks(n, &at))
                } else {
                    arrow(from, to, &note.label, lanes, &lane_marks(n, &at))
                        .replace(['>', '<'], "✗")
                };
                (note.at, text, failing())
            }
        };
        let delta = before
            .and_then(|b| at_time.duration_since(b).ok())
            .map_or(String::new(), |d| format!("+{:.3}", d.as_secs_f64()));
        before = Some(at_time);
        let clock = crate::time::clock(at_time);
        let line = format!("{clock:12} {delta:>7} {text}");
        let style = if k == app.step {
            style.patch(cursor())
        } else {
            style
        };
        lines.push(Line::styled(line, style));
    }
    lines
}

/// Where each column's vertical line is.
fn lane_marks(n: usize, at: &dyn Fn(usize) -> usize) -> Vec<usize> {
    (0..n).map(at).collect()
}

/// One arrow across the lanes from column position `from` to `to`,
/// `label` in its middle, the other columns' lines where it does not pass.
fn arrow(from: usize, to: usize, label: &str, lanes: usize, marks: &[usize]) -> String {
    let mut cells = vec![' '; lanes];
    for &m in marks {
        if let Some(c) = cells.get_mut(m) {
            *c = '│';
        }
    }
    let (lo, hi) = (from.min(to), from.max(to));
    if lo == hi {
        let text = format!("↺ {label}");
        for (k, ch) in text.chars().enumerate() {
            if let Some(c) = cells.get_mut(lo + k) {
                *c = ch;
            }
        }
        return cells.into_iter().collect();
    }
    for c in cells.iter_mut().take(hi + 1).skip(lo) {
        *c = '─';
    }
    if to > from {
        cells[hi] = '>';
    } else {
        cells[lo] = '<';
    }
    let room = hi - lo - 1;
    let label: String = label.chars().take(room).collect();
    let start = lo + 1 + (room - label.chars().count()) / 2;
    for (k, ch) in label.chars().enumerate() {
        cells[start + k] = ch;
    }
    cells.into_iter().collect()
}

/// The message under the cursor, raw, masked.
fn raw_pane(f: &mut Frame, area: Rect, app: &App) {
    let block = Block::default().borders(Borders::LEFT);
    let Some(index) = app.current_message() else {
        let text = match app.ladder.steps.get(app.step) {
            Some(Step::Note(i)) => app.model.notes[*i].text.clone(),
            _ => String::new(),
        };
        f.render_widget(
            Paragraph::new(text)
                .wrap(Wrap { trim: false })
                .style(failing())
                .block(block),
            area,
        );
        return;
    };
    let m = &app.model.messages[index];
    let (title, text) = super::text::message_lines(m);
    let mut lines = vec![Line::styled(
        title,
        Style::default().add_modifier(Modifier::BOLD),
    )];
    // The parsed fields first, then the bytes as they were.
    let cyan = Style::default().fg(Color::Cyan);
    lines.extend(
        say::tui::parsed_fields(&m.parsed())
            .into_iter()
            .map(|l| Line::styled(l, cyan)),
    );
    lines.extend(text.into_iter().map(Line::raw));
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block),
        area,
    );
}

#[cfg(test)]
mod tests {
    use super::arrow;

    #[test]
    fn an_arrow_points_its_way_with_its_label_in_the_middle() {
        assert_eq!(arrow(0, 9, "REG", 10, &[0, 9]), "───REG───>");
        assert_eq!(arrow(9, 0, "200 OK", 10, &[0, 9]), "<─200 OK──");
        assert_eq!(arrow(0, 4, "INVITE", 10, &[0, 4, 9]), "─INV>    │");
    }
}
