//! The trunks screen: every registration in a table, failing first, and
//! under it the one under the cursor with its failure record, the PBX's
//! next move, each cause and fix, in the summary's own sentences.
use ratatui::{
    Frame,
    layout::{Constraint, Layout, Rect},
    style::{Modifier, Style},
    text::{Line, Span},
    widgets::{Block, Borders, Paragraph, Row, Table, TableState, Wrap},
};

use super::{cursor, failing};
use crate::{say, tui::app::App};

pub(super) fn draw(f: &mut Frame, area: Rect, app: &App) {
    let shown = app.shown_trunks();
    if shown.is_empty() {
        f.render_widget(Paragraph::new(say::tui::NO_TRUNKS), area);
        return;
    }
    // The table takes what it needs, at most half the screen.
    let table_rows = (shown.len() as u16 + 1).min(area.height / 2).max(2);
    let [table_area, detail_area] =
        Layout::vertical([Constraint::Length(table_rows), Constraint::Min(0)]).areas(area);
    let rows = shown.iter().map(|&i| {
        let t = &app.model.trunks[i];
        let row = Row::new(vec![
            // Without `sip:`: room for the state.
            t.aor
                .split_once(':')
                .map_or(t.aor.as_str(), |(_, rest)| rest)
                .to_owned(),
            t.status.clone(),
            t.last_code.map_or("-".into(), |c| c.to_string()),
            say::tui::expires_in(t.expires_in),
            say::tui::rtt(t.rtt_us),
        ]);
        if t.failing { row.style(failing()) } else { row }
    });
    let [aor, state, last, expires, rtt] = say::tui::TRUNK_COLUMNS;
    let table = Table::new(
        rows,
        [
            Constraint::Max(28),
            Constraint::Fill(1),
            Constraint::Length(4),
            Constraint::Length(7),
            Constraint::Length(8),
        ],
    )
    .header(
        Row::new(vec![aor, state, last, expires, rtt])
            .style(Style::default().add_modifier(Modifier::UNDERLINED)),
    )
    .row_highlight_style(cursor());
    let mut state = TableState::default().with_selected(Some(app.trunk_row));
    f.render_stateful_widget(table, table_area, &mut state);

    let Some(&t) = shown.get(app.trunk_row) else {
        return;
    };
    let t = &app.model.trunks[t];
    let head = format!("{} at {}: {}", t.aor, t.registrar, t.status);
    let mut lines = vec![Line::styled(
        head,
        if t.failing {
            failing()
        } else {
            Style::default().add_modifier(Modifier::BOLD)
        },
    )];
    if t.details.is_empty() {
        lines.push(Line::raw(say::tui::NOTHING_WRONG));
    }
    for (label, text) in &t.details {
        let style = match label.trim() {
            "cause" | "fails" => failing(),
            "fix" => Style::default().add_modifier(Modifier::BOLD),
            _ => Style::default(),
        };
        lines.push(Line::from(vec![
            Span::styled(format!("{label}: "), style),
            Span::raw(text.as_str()),
        ]));
    }
    if let Some(echo) = &t.echo {
        lines.push(Line::raw(say::tui::echo_finding(echo)));
    }
    let notes = app.model.notes_of(t);
    if let Some(&last) = notes.last() {
        lines.push(Line::styled(
            say::tui::tied_notes(notes.len(), &app.model.notes[last].text),
            failing(),
        ));
    }
    f.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::default()
                .borders(Borders::TOP)
                .title(say::tui::DETAILS),
        ),
        detail_area,
    );
}
