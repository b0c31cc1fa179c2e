//! The dialogs screen, sngrep's call list: index, method, From, To,
//! source, destination, message count, state; the first time when the
//! terminal is wide, the Call-ID on demand (`c`); any of them on or off
//! with F10. Failing ones in red, selected ones marked.
use ratatui::{
    Frame,
    layout::{Constraint, Rect},
    style::{Modifier, Style},
    widgets::{Paragraph, Row, Table, TableState},
};

use super::{cursor, failing};
use crate::{say, tui::app::App};

/// From here on the first time has room.
const WIDE: u16 = 110;
/// Below this From is left out.
const NARROW: u16 = 100;

/// A URI without its scheme, as sngrep shows From and To.
fn short(uri: &str) -> &str {
    let uri = uri.split(';').next().unwrap_or(uri);
    uri.split_once(':').map_or(uri, |(_, rest)| rest)
}

pub(super) fn draw(f: &mut Frame, area: Rect, app: &App) {
    let shown = app.shown_dialogs();
    if shown.is_empty() {
        f.render_widget(Paragraph::new(say::tui::NO_DIALOGS), area);
        return;
    }
    // By default, narrow (80 columns): From is left out (To is the AOR of
    // a REGISTER) and the addresses keep their whole width; the first time
    // from 110. F10's choice, once made, is kept whatever the width.
    let fits = |c: usize| match c {
        2 => area.width >= NARROW,
        8 => area.width >= WIDE,
        _ => true,
    };
    let shown_columns: Vec<usize> = (0..say::tui::DIALOG_COLUMNS.len())
        .filter(|&c| app.columns[c] && (app.columns_chosen || fits(c)))
        .collect();
    let address = shown
        .iter()
        .flat_map(|&i| {
            let d = &app.model.dialogs[i];
            [d.src.to_string().len(), d.dst.to_string().len()]
        })
        .max()
        .unwrap_or(11)
        .clamp(11, 21) as u16;
    let width = |c: usize| match c {
        0 => Constraint::Length(4),
        1 => Constraint::Length(9),
        2 | 3 => Constraint::Fill(1),
        4 | 5 => Constraint::Length(address),
        6 => Constraint::Length(4),
        7 => Constraint::Min(12),
        8 => Constraint::Length(12),
        _ => Constraint::Fill(2),
    };
    let widths: Vec<Constraint> = shown_columns.iter().map(|&c| width(c)).collect();
    let head: Vec<&str> = shown_columns
        .iter()
        .map(|&c| say::tui::DIALOG_COLUMNS[c])
        .collect();
    let rows = shown.iter().map(|&i| {
        let d = &app.model.dialogs[i];
        let cell = |c: usize| match c {
            0 => {
                let mark = if app.selected.contains(&i) {
                    say::tui::SELECTED
                } else {
                    ""
                };
                format!("{mark}{}", i + 1)
            }
            1 => d.method.clone(),
            2 => short(&d.from).to_owned(),
            3 => short(&d.to).to_owned(),
            4 => d.src.to_string(),
            5 => d.dst.to_string(),
            6 => d.messages.len().to_string(),
            7 => d.state.words(),
            8 => crate::time::clock(d.first),
            _ => d.call_id.clone(),
        };
        let row = Row::new(shown_columns.iter().map(|&c| cell(c)).collect::<Vec<_>>());
        if d.failing() {
            row.style(failing())
        } else {
            row
        }
    });
    let table = Table::new(rows, widths)
        .header(Row::new(head).style(Style::default().add_modifier(Modifier::UNDERLINED)))
        .row_highlight_style(cursor());
    let mut state = TableState::default().with_selected(Some(app.dialog_row));
    f.render_stateful_widget(table, area, &mut state);
}
