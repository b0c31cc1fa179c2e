//! Drawing the [`App`]'s state, one file per screen: a title line on
//! top, the screen, the key bar (or the line being typed, or the news) and
//! the status line at the foot, always. Reads the state, never changes it.
use ratatui::{
    Frame,
    layout::{Constraint, Layout, Rect},
    style::{Color, Modifier, Style},
    text::{Line, Span},
    widgets::Paragraph,
};

use super::app::{App, Prompt, Screen};
use crate::say;

mod dialogs;
mod flow;
mod text;
mod trunks;

/// The style of a failing row or finding.
pub(super) fn failing() -> Style {
    Style::default().fg(Color::Red).add_modifier(Modifier::BOLD)
}

/// The style of the row under the cursor.
pub(super) fn cursor() -> Style {
    Style::default().add_modifier(Modifier::REVERSED)
}

/// Rows of a page on the current screen, for PgUp / PgDn, given the
/// terminal's height.
pub fn page(height: u16) -> usize {
    usize::from(height.saturating_sub(6)).max(1)
}

/// The whole screen.
pub fn draw(f: &mut Frame, app: &App) {
    let [title, body, keys, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(f.area());
    let name = match app.screen {
        Screen::Trunks => say::tui::TRUNKS,
        Screen::Dialogs => say::tui::DIALOGS,
        Screen::Flow => say::tui::FLOW,
        Screen::Raw => say::tui::RAW,
        Screen::Diff => say::tui::DIFF,
        Screen::Help => say::tui::HELP,
        Screen::Columns => say::tui::COLUMNS,
    };
    f.render_widget(
        Paragraph::new(format!("sipwatch · {name}"))
            .style(Style::default().add_modifier(Modifier::BOLD | Modifier::REVERSED)),
        title,
    );
    match app.screen {
        Screen::Trunks => trunks::draw(f, body, app),
        Screen::Dialogs => dialogs::draw(f, body, app),
        Screen::Flow => flow::draw(f, body, app),
        Screen::Raw => text::raw(f, body, app),
        Screen::Diff => text::diff(f, body, app),
        Screen::Help => text::help(f, body, app),
        Screen::Columns => text::columns(f, body, app),
    }
    foot(f, keys, status, app);
}

fn foot(f: &mut Frame, keys: Rect, status: Rect, app: &App) {
    let line = match (&app.prompt, &app.news) {
        (Some(p), _) => {
            let (label, text) = match p {
                Prompt::Search(t) => (say::tui::SEARCH_PROMPT, t),
                Prompt::Filter(t) => (say::tui::FILTER_PROMPT, t),
                Prompt::Save(t) => (say::tui::SAVE_PROMPT, t),
            };
            Line::from(vec![
                Span::styled(label, Style::default().add_modifier(Modifier::BOLD)),
                Span::raw(text.as_str()),
                Span::styled(" ", cursor()),
            ])
        }
        (None, Some(news)) => Line::styled(news.as_str(), Style::default().fg(Color::Yellow)),
        (None, None) => {
            let screen = match app.screen {
                Screen::Trunks => "trunks",
                Screen::Dialogs => "dialogs",
                Screen::Flow => "flow",
                _ => "other",
            };
            Line::styled(say::tui::keys(screen), Style::default().fg(Color::Cyan))
        }
    };
    f.render_widget(Paragraph::new(line), keys);
    let c = &app.model.counters;
    let losses = c.losses();
    let text = say::tui::status(&say::tui::Status {
        source: &app.model.source,
        frames: c.frames,
        messages: c.messages,
        losses: &losses,
        filter: &app.filter.text,
        search: &app.search,
    });
    let style = if losses.is_empty() {
        Style::default().add_modifier(Modifier::REVERSED)
    } else {
        Style::default().fg(Color::White).bg(Color::Red)
    };
    f.render_widget(Paragraph::new(text).style(style), status);
}

/// The first row to show so that `row` is on a screen of `height` rows.
pub(super) fn first_shown(row: usize, height: usize) -> usize {
    if height == 0 {
        return row;
    }
    row.saturating_sub(height - 1)
}
