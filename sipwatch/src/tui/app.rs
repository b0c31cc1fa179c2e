//! The UI's state and its keys, as plain data: which screen, which row,
//! what is selected, searched and filtered, what is being typed. A key
//! changes the state and may ask for one thing the state cannot do itself
//! ([`Effect`]: save, quit). Drawing reads this state; nothing here draws,
//! so every key is testable without a terminal.
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::{
    filter::{self, Filter},
    model::{Ladder, Model},
};
use crate::say;

/// The screens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Screen {
    /// Every registration, failing first (the first screen).
    Trunks,
    /// sngrep's call list.
    Dialogs,
    /// The ladder of a trunk or of the selected dialogs, the selected
    /// message raw beside it.
    Flow,
    /// Every message of the flow, raw (F6).
    Raw,
    /// Two marked messages side by side.
    Diff,
    /// The keys (F1).
    Help,
    /// The dialogs' columns, on or off (F10).
    Columns,
}

/// What is being typed on the input line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Prompt {
    /// `/` or F3.
    Search(String),
    /// F7.
    Filter(String),
    /// F2: the file to save to.
    Save(String),
}

/// What a ladder is of: a trunk (by its AOR: the trunks are sorted anew
/// with each update) or dialogs (by index: they only grow).
#[derive(Clone, Debug, PartialEq, Eq)]
enum FlowOf {
    Trunk(String),
    Dialogs(Vec<usize>),
}

/// What the caller is to do after a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Nothing beyond redrawing.
    None,
    /// Leave: restore the terminal.
    Quit,
    /// Write these messages (indices into [`Model::messages`]) of this
    /// many dialogs to `path`, then tell [`App::told`] how it went.
    Save {
        /// The file: `.txt` as text, `.pcap` as pcap, else pcapng.
        path: String,
        /// The messages, oldest first.
        messages: Vec<usize>,
        /// How many dialogs (or trunks) they are.
        dialogs: usize,
    },
}

/// The whole state of the UI.
pub struct App {
    /// What is shown.
    pub model: Model,
    /// The screen on top.
    pub screen: Screen,
    /// Screens to go back to with Esc.
    back: Vec<Screen>,
    /// The row under the cursor, per list screen.
    pub trunk_row: usize,
    /// The dialogs screen's row (in the filtered list).
    pub dialog_row: usize,
    /// The flow's step under the cursor.
    pub step: usize,
    /// The raw and diff screens' first line shown.
    pub scroll: usize,
    /// The ladder shown on the flow screen, and what it is of.
    pub ladder: Ladder,
    /// How many dialogs (or trunks) the ladder is of.
    pub ladder_of: usize,
    /// What the ladder is of, to draw it again as messages come (live).
    flow_of: Option<FlowOf>,
    /// Dialogs selected with Space (indices into [`Model::dialogs`]).
    pub selected: Vec<usize>,
    /// Messages marked in the flow with Space, at most two (indices into
    /// [`Model::messages`]).
    pub marked: Vec<usize>,
    /// The search in force.
    pub search: String,
    /// The filter in force.
    pub filter: Filter,
    /// The dialogs' columns shown (by [`crate::say::tui::DIALOG_COLUMNS`]'
    /// order): all but the Call-ID at first.
    pub columns: [bool; 10],
    /// Whether F10 chose them: then they hold whatever the width (else From
    /// and the first time come and go with it).
    pub columns_chosen: bool,
    /// The row under the cursor on the columns screen.
    pub column_row: usize,
    /// What is being typed, if anything.
    pub prompt: Option<Prompt>,
    /// One line of news (a save done, a filter refused), until the next key.
    pub news: Option<String>,
}

impl App {
    /// On the trunks screen, or on the dialogs when no REGISTER was seen.
    pub fn new(model: Model) -> App {
        let screen = if model.trunks.is_empty() && !model.dialogs.is_empty() {
            Screen::Dialogs
        } else {
            Screen::Trunks
        };
        App {
            model,
            screen,
            back: Vec::new(),
            trunk_row: 0,
            dialog_row: 0,
            step: 0,
            scroll: 0,
            ladder: Ladder::default(),
            ladder_of: 0,
            flow_of: None,
            selected: Vec::new(),
            marked: Vec::new(),
            search: String::new(),
            filter: Filter::default(),
            columns: [true, true, true, true, true, true, true, true, true, false],
            columns_chosen: false,
            column_row: 0,
            prompt: None,
            news: None,
        }
    }

    /// The dialogs through the filter and the search (indices into
    /// [`Model::dialogs`]).
    pub fn shown_dialogs(&self) -> Vec<usize> {
        (0..self.model.dialogs.len())
            .filter(|&i| {
                let d = &self.model.dialogs[i];
                self.filter.admits(d) && filter::finds(&self.search, d)
            })
            .collect()
    }

    /// The trunks through the filter and the search (indices into
    /// [`Model::trunks`]).
    pub fn shown_trunks(&self) -> Vec<usize> {
        (0..self.model.trunks.len())
            .filter(|&i| {
                let t = &self.model.trunks[i];
                self.filter.admits_trunk(t) && filter::finds_trunk(&self.search, t)
            })
            .collect()
    }

    /// The message under the flow's cursor, if the cursor is on one.
    pub fn current_message(&self) -> Option<usize> {
        match self.ladder.steps.get(self.step)? {
            super::model::Step::Message { index, .. } => Some(*index),
            super::model::Step::Note(_) => None,
        }
    }

    /// The messages of the flow shown, in order.
    pub fn flow_messages(&self) -> Vec<usize> {
        self.ladder
            .steps
            .iter()
            .filter_map(|s| match s {
                super::model::Step::Message { index, .. } => Some(*index),
                super::model::Step::Note(_) => None,
            })
            .collect()
    }

    /// Live: what is new taken in (at most `max_messages` kept), the
    /// cursors kept on rows that are there.
    pub fn apply(&mut self, update: super::model::Update, max_messages: usize) {
        let first = self.model.dialogs.is_empty() && self.model.trunks.is_empty();
        self.model.apply(update, max_messages);
        // An open ladder takes in its new messages; the cursor stays.
        if let Some(of) = &self.flow_of {
            let messages = self.messages_of(of);
            self.ladder = self.model.ladder(&messages);
        }
        // The first registration seen opens the trunks, as a file does.
        if first && self.back.is_empty() {
            self.screen = if self.model.trunks.is_empty() && !self.model.dialogs.is_empty() {
                Screen::Dialogs
            } else {
                Screen::Trunks
            };
        }
        self.clamp();
    }

    /// A save's outcome, for the news line.
    pub fn told(&mut self, news: String) {
        self.news = Some(news);
    }

    /// One key. `page` is how many rows a page is (the list's height).
    pub fn on_key(&mut self, key: KeyEvent, page: usize) -> Effect {
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            return Effect::Quit;
        }
        self.news = None;
        if let Some(prompt) = self.prompt.take() {
            return self.on_prompt_key(prompt, key);
        }
        if self.screen == Screen::Help {
            self.go_back();
            return Effect::None;
        }
        match key.code {
            KeyCode::Char('q') | KeyCode::Char('Q') => {
                if matches!(self.screen, Screen::Trunks | Screen::Dialogs) {
                    return Effect::Quit;
                }
                self.go_back();
            }
            KeyCode::Esc => self.go_back(),
            KeyCode::F(1) | KeyCode::Char('h') | KeyCode::Char('?') => self.open(Screen::Help),
            KeyCode::Tab => match self.screen {
                Screen::Trunks => self.screen = Screen::Dialogs,
                Screen::Dialogs => self.screen = Screen::Trunks,
                _ => {}
            },
            KeyCode::Up | KeyCode::Char('k') => self.move_by(-1),
            KeyCode::Down | KeyCode::Char('j') => self.move_by(1),
            KeyCode::PageUp => self.move_by(-(page.max(1) as isize)),
            KeyCode::PageDown => self.move_by(page.max(1) as isize),
            KeyCode::Home => self.move_by(isize::MIN / 2),
            KeyCode::End => self.move_by(isize::MAX / 2),
            KeyCode::Enter => self.enter(),
            KeyCode::Char(' ') => self.space(),
            KeyCode::F(3) | KeyCode::Char('/') => {
                self.prompt = Some(Prompt::Search(self.search.clone()));
            }
            KeyCode::F(7) | KeyCode::Char('f') => {
                self.prompt = Some(Prompt::Filter(self.filter.text.clone()));
            }
            KeyCode::F(2) | KeyCode::Char('s') => {
                self.prompt = Some(Prompt::Save(say::tui::SAVE_DEFAULT.to_owned()));
            }
            KeyCode::F(6) | KeyCode::Char('r') if self.screen == Screen::Flow => {
                self.open(Screen::Raw);
            }
            KeyCode::Char('c') if self.screen == Screen::Dialogs => {
                self.columns[9] = !self.columns[9];
            }
            KeyCode::F(10) if self.screen == Screen::Dialogs => self.open(Screen::Columns),
            _ => {}
        }
        Effect::None
    }

    fn on_prompt_key(&mut self, prompt: Prompt, key: KeyEvent) -> Effect {
        let (mut text, make): (String, fn(String) -> Prompt) = match prompt {
            Prompt::Search(t) => (t, Prompt::Search),
            Prompt::Filter(t) => (t, Prompt::Filter),
            Prompt::Save(t) => (t, Prompt::Save),
        };
        let control = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Esc => return Effect::None,
            KeyCode::Enter => return self.apply_prompt(make(text)),
            // As a shell edits a line: ^H (Backspace on some terminals),
            // ^U the whole line, ^W the last word.
            KeyCode::Backspace | KeyCode::Char('h')
                if control || key.code == KeyCode::Backspace =>
            {
                text.pop();
            }
            KeyCode::Char('u') if control => text.clear(),
            KeyCode::Char('w') if control => {
                let kept = text.trim_end().rfind([' ', '/']).map_or(0, |i| i + 1);
                text.truncate(kept);
            }
            KeyCode::Char(_) if control => {}
            KeyCode::Char(c) => text.push(c),
            _ => {}
        }
        self.prompt = Some(make(text));
        Effect::None
    }

    fn apply_prompt(&mut self, prompt: Prompt) -> Effect {
        match prompt {
            Prompt::Search(text) => {
                self.search = text.trim().to_owned();
                self.clamp();
            }
            Prompt::Filter(text) => match Filter::parse(&text) {
                Ok(f) => {
                    self.filter = f;
                    self.clamp();
                }
                Err(word) => self.news = Some(say::tui::bad_filter(&word)),
            },
            Prompt::Save(path) => {
                let (messages, dialogs) = self.to_save();
                return Effect::Save {
                    path: path.trim().to_owned(),
                    messages,
                    dialogs,
                };
            }
        }
        Effect::None
    }

    /// What F2 saves: the selected dialogs, else the flow shown (on its
    /// screens), else the trunk under the cursor (on the trunks screen),
    /// else every dialog through the filter.
    fn to_save(&self) -> (Vec<usize>, usize) {
        if !self.selected.is_empty() {
            return (self.model.messages_of(&self.selected), self.selected.len());
        }
        match self.screen {
            Screen::Flow | Screen::Raw | Screen::Diff => (self.flow_messages(), self.ladder_of),
            Screen::Trunks => match self.shown_trunks().get(self.trunk_row) {
                Some(&t) => (self.model.trunks[t].messages.clone(), 1),
                None => (Vec::new(), 0),
            },
            _ => {
                let shown = self.shown_dialogs();
                (self.model.messages_of(&shown), shown.len())
            }
        }
    }

    fn open(&mut self, screen: Screen) {
        if self.screen != screen {
            self.back.push(self.screen);
            self.screen = screen;
            self.scroll = 0;
        }
    }

    fn go_back(&mut self) {
        if let Some(s) = self.back.pop() {
            if self.screen == Screen::Diff {
                self.marked.clear();
            }
            if self.screen == Screen::Flow {
                self.flow_of = None;
            }
            self.screen = s;
            self.scroll = 0;
        }
    }

    fn move_by(&mut self, by: isize) {
        let (at, len) = match self.screen {
            Screen::Trunks => (&mut self.trunk_row, self.model.trunks.len()),
            Screen::Dialogs => (&mut self.dialog_row, self.model.dialogs.len()),
            Screen::Flow => (&mut self.step, self.ladder.steps.len()),
            Screen::Raw | Screen::Diff => (&mut self.scroll, usize::MAX),
            Screen::Columns => (&mut self.column_row, self.columns.len()),
            Screen::Help => return,
        };
        *at = at.saturating_add_signed(by).min(len.saturating_sub(1));
        self.clamp();
    }

    /// Keeps every cursor on a row that is there.
    fn clamp(&mut self) {
        let trunks = self.shown_trunks().len();
        let dialogs = self.shown_dialogs().len();
        self.trunk_row = self.trunk_row.min(trunks.saturating_sub(1));
        self.dialog_row = self.dialog_row.min(dialogs.saturating_sub(1));
        self.step = self.step.min(self.ladder.steps.len().saturating_sub(1));
    }

    fn enter(&mut self) {
        match self.screen {
            Screen::Trunks => {
                if let Some(&t) = self.shown_trunks().get(self.trunk_row) {
                    self.show_flow(FlowOf::Trunk(self.model.trunks[t].aor.clone()), 1);
                }
            }
            Screen::Dialogs => {
                let dialogs = if self.selected.is_empty() {
                    self.shown_dialogs()
                        .get(self.dialog_row)
                        .copied()
                        .into_iter()
                        .collect()
                } else {
                    self.selected.clone()
                };
                if !dialogs.is_empty() {
                    let n = dialogs.len();
                    self.show_flow(FlowOf::Dialogs(dialogs), n);
                }
            }
            Screen::Flow => self.open(Screen::Raw),
            _ => {}
        }
    }

    fn messages_of(&self, of: &FlowOf) -> Vec<usize> {
        match of {
            FlowOf::Trunk(aor) => self
                .model
                .trunks
                .iter()
                .find(|t| t.aor == *aor)
                .map(|t| t.messages.clone())
                .unwrap_or_default(),
            FlowOf::Dialogs(d) => self.model.messages_of(d),
        }
    }

    fn show_flow(&mut self, of: FlowOf, n: usize) {
        self.ladder = self.model.ladder(&self.messages_of(&of));
        self.flow_of = Some(of);
        self.ladder_of = n;
        self.step = 0;
        self.marked.clear();
        self.open(Screen::Flow);
    }

    fn space(&mut self) {
        match self.screen {
            Screen::Dialogs => {
                if let Some(&d) = self.shown_dialogs().get(self.dialog_row) {
                    match self.selected.iter().position(|&s| s == d) {
                        Some(at) => {
                            self.selected.remove(at);
                        }
                        None => self.selected.push(d),
                    }
                }
            }
            Screen::Columns => {
                self.columns[self.column_row] = !self.columns[self.column_row];
                self.columns_chosen = true;
            }
            Screen::Flow => {
                let Some(m) = self.current_message() else {
                    return;
                };
                match self.marked.iter().position(|&s| s == m) {
                    Some(at) => {
                        self.marked.remove(at);
                    }
                    None => self.marked.push(m),
                }
                if self.marked.len() == 2 {
                    self.open(Screen::Diff);
                }
            }
            _ => {}
        }
    }
}
