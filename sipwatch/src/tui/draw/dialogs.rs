//! The dialogs screen, sngrep's call list: index, method, From, To,
//! source, destination, message count, state; the first time when the
//! terminal is wide, the Call-ID on demand (`c`). Failing ones in red,
//! selected ones marked.
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
    let wide = area.width >= WIDE;
    // Narrow (80 columns): From is left out (To is the AOR of a REGISTER)
    // and the addresses keep their whole width.
    let narrow = area.width < NARROW;
    let heads = say::tui::DIALOG_COLUMNS;
    let address = shown
        .iter()
        .flat_map(|&i| {
            let d = &app.model.dialogs[i];
            [d.src.to_string().len(), d.dst.to_string().len()]
        })
        .max()
        .unwrap_or(11)
        .clamp(11, 21) as u16;
    let mut widths = vec![Constraint::Length(4), Constraint::Length(9)];
    let mut head: Vec<&str> = heads[..2].to_vec();
    if !narrow {
        widths.push(Constraint::Fill(1));
        head.push(heads[2]);
    }
    widths.extend([
        Constraint::Fill(1),
        Constraint::Length(address),
        Constraint::Length(address),
        Constraint::Length(4),
        Constraint::Min(12),
    ]);
    head.extend(&heads[3..8]);
    if wide {
        widths.push(Constraint::Length(12));
        head.push(heads[8]);
    }
    if app.call_id_column {
        widths.push(Constraint::Fill(2));
        head.push(heads[9]);
    }
    let rows = shown.iter().map(|&i| {
        let d = &app.model.dialogs[i];
        let mark = if app.selected.contains(&i) {
            say::tui::SELECTED
        } else {
            ""
        };
        let mut cells = vec![format!("{mark}{}", i + 1), d.method.clone()];
        if !narrow {
            cells.push(short(&d.from).to_owned());
        }
        cells.extend([
            short(&d.to).to_owned(),
            d.src.to_string(),
            d.dst.to_string(),
            d.messages.len().to_string(),
            d.state.words(),
        ]);
        if wide {
            cells.push(crate::time::clock(d.first));
        }
        if app.call_id_column {
            cells.push(d.call_id.clone());
        }
        let row = Row::new(cells);
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
