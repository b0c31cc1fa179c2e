//! The screens of text: every message of the flow raw (F6), two marked
//! messages side by side with the lines that differ highlighted, and the
//! help screen.
use ratatui::{
    Frame,
    layout::{Constraint, Layout, Rect},
    style::{Color, Modifier, Style},
    text::Line,
    widgets::{Block, Borders, Paragraph, Wrap},
};

use crate::{
    say,
    sip::{Message, fields::redact},
    tui::app::App,
};

/// A message's lines as shown: a title, then its text, masked.
pub(super) fn message_lines(m: &Message) -> (String, Vec<String>) {
    let title = format!(
        "{} {}",
        crate::time::clock(m.timestamp),
        say::tui::way(m.src, m.dst)
    );
    let text = redact(&String::from_utf8_lossy(&m.bytes));
    (title, text.lines().map(str::to_owned).collect())
}

pub(super) fn raw(f: &mut Frame, area: Rect, app: &App) {
    let bold = Style::default().add_modifier(Modifier::BOLD | Modifier::REVERSED);
    let mut lines = Vec::new();
    for index in app.flow_messages() {
        let (title, text) = message_lines(&app.model.messages[index]);
        lines.push(Line::styled(title, bold));
        lines.extend(text.into_iter().map(Line::raw));
    }
    let from = app.scroll.min(lines.len().saturating_sub(1));
    f.render_widget(Paragraph::new(lines.split_off(from)), area);
}

/// Which lines of `a` and of `b` are not in their longest common
/// subsequence: the lines that changed.
pub fn changed(a: &[String], b: &[String]) -> (Vec<bool>, Vec<bool>) {
    let (n, m) = (a.len(), b.len());
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut ca, mut cb) = (vec![true; n], vec![true; m]);
    let (mut i, mut j) = (0, 0);
    while i < n && j < m {
        if a[i] == b[j] {
            ca[i] = false;
            cb[j] = false;
            i += 1;
            j += 1;
        } else if lcs[i + 1][j] >= lcs[i][j + 1] {
            i += 1;
        } else {
            j += 1;
        }
    }
    (ca, cb)
}

pub(super) fn diff(f: &mut Frame, area: Rect, app: &App) {
    let [a, b] = match app.marked.as_slice() {
        [a, b] => [*a, *b],
        _ => {
            f.render_widget(Paragraph::new(say::tui::DIFF_HOW), area);
            return;
        }
    };
    let (ta, la) = message_lines(&app.model.messages[a]);
    let (tb, lb) = message_lines(&app.model.messages[b]);
    let (ca, cb) = changed(&la, &lb);
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(area);
    let pane = |title: String, lines: Vec<String>, changed: Vec<bool>, colour: Color| {
        let mut out = vec![Line::styled(
            title,
            Style::default().add_modifier(Modifier::BOLD),
        )];
        out.extend(lines.into_iter().zip(changed).map(|(l, c)| {
            if c {
                Line::styled(l, Style::default().fg(Color::Black).bg(colour))
            } else {
                Line::raw(l)
            }
        }));
        let from = app.scroll.min(out.len().saturating_sub(1));
        Paragraph::new(out.split_off(from)).wrap(Wrap { trim: false })
    };
    f.render_widget(pane(ta, la, ca, Color::Red), left);
    f.render_widget(
        pane(tb, lb, cb, Color::Green).block(Block::default().borders(Borders::LEFT)),
        right,
    );
}

pub(super) fn columns(f: &mut Frame, area: Rect, app: &App) {
    let lines: Vec<Line> = say::tui::DIALOG_COLUMNS
        .iter()
        .zip(app.columns)
        .enumerate()
        .map(|(i, (name, on))| {
            let text = say::tui::column_choice(name, on);
            if i == app.column_row {
                Line::styled(text, super::cursor())
            } else {
                Line::raw(text)
            }
        })
        .collect();
    f.render_widget(Paragraph::new(lines), area);
}

pub(super) fn help(f: &mut Frame, area: Rect, _app: &App) {
    let lines: Vec<Line> = say::tui::HELP_LINES
        .iter()
        .map(|l| {
            if l.starts_with(' ') {
                Line::raw(*l)
            } else {
                Line::styled(*l, Style::default().add_modifier(Modifier::BOLD))
            }
        })
        .collect();
    f.render_widget(Paragraph::new(lines), area);
}

#[cfg(test)]
mod tests {
    use super::changed;

    #[test]
    fn only_the_lines_that_differ_are_changed() {
        let a: Vec<String> = ["REGISTER", "CSeq: 1", "Via: x"].map(String::from).to_vec();
        let b: Vec<String> = ["REGISTER", "CSeq: 2", "Via: x", "Authorization: y"]
            .map(String::from)
            .to_vec();
        let (ca, cb) = changed(&a, &b);
        assert_eq!(ca, [false, true, false]);
        assert_eq!(cb, [false, true, false, true]);
    }
}
