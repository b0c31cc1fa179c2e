//! Asterisk's configuration files (`pjsip.conf`, `pjsip_wizard.conf`,
//! `sip.conf`) read the way Asterisk reads them, every value remembering
//! its file and line, so that `lint` (and later a diagnosis) can name the
//! line to change.
//!
//! The grammar follows `main/config.c` (`config_text_file_load` and
//! `process_text_line`, Asterisk master f0c1c1a): `;` starts a comment
//! unless escaped as `\;` (the backslash is dropped); `;--` … `--;` is a
//! comment that may span lines and nest; each line is stripped of leading
//! and trailing whitespace; `[name]` opens a section, `[name](!)` a
//! template, `[name](a,b)` inherits the variables of `a` and `b` (templates
//! or sections) before its own, `[name](+)` adds to an existing section;
//! `name = value` and `name => value` are the same, `name += more` appends
//! to the last value of that name; repeated names are all kept, in order.
//! Values are not unquoted: `password="x"` is the seven characters `"x"`.
//! `#include` / `#tryinclude` take a path (quoted or in `<>` allowed),
//! relative to the configuration directory, not to the including file,
//! and a glob; a missing `#include` fails the whole load, a missing
//! `#tryinclude` does not. `#exec` is not run.
//!
//! ```
//! use sipwatch::pbx::config::Config;
//! let c = Config::parse("[trunk](!)\ntype=registration\n[t1](trunk)\nserver_uri=sip:p.example\n", "pjsip.conf").unwrap();
//! let t1 = c.section("t1").unwrap();
//! assert_eq!(t1.get("type").unwrap().value, "registration");
//! assert_eq!(t1.get("server_uri").unwrap().line, 4);
//! ```
use std::path::{Path, PathBuf};

pub mod pjsip;
pub mod schema;
pub mod trunks;

/// How deep `#include`s may nest (Asterisk has no limit but the stack).
pub const MAX_INCLUDE_DEPTH: usize = 16;

/// `;--` comments nest at most this deep (`MAX_NESTED_COMMENTS` in config.c).
const MAX_NESTED_COMMENTS: u32 = 128;

/// A configuration file that cannot be read as Asterisk would: each names
/// the file and line, as Asterisk's own log message does.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("{}: cannot read it", file.display())]
    Io {
        /// The file.
        file: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `[name` without `]`.
    #[error("{}:{line}: no closing ']' in the section header", file.display())]
    NoClosingBracket {
        /// The file.
        file: PathBuf,
        /// The line (1-based).
        line: u32,
    },
    /// `[name](…` without `)`.
    #[error("{}:{line}: no closing ')' after the section's options", file.display())]
    NoClosingParen {
        /// The file.
        file: PathBuf,
        /// The line.
        line: u32,
    },
    /// `[name](tmpl)` names a template that is not defined above.
    #[error("{}:{line}: [{section}] inherits from [{template}], which is not defined above it", file.display())]
    NoSuchTemplate {
        /// The file.
        file: PathBuf,
        /// The line.
        line: u32,
        /// The section.
        section: String,
        /// The missing template.
        template: String,
    },
    /// `[name](+)` for a section not defined above.
    #[error("{}:{line}: [{section}](+) adds to a section that is not defined above it", file.display())]
    NoSectionToAddTo {
        /// The file.
        file: PathBuf,
        /// The line.
        line: u32,
        /// The section.
        section: String,
    },
    /// A `name = value` before any section.
    #[error("{}:{line}: a value before any [section]", file.display())]
    NoSection {
        /// The file.
        file: PathBuf,
        /// The line.
        line: u32,
    },
    /// A line starting with `\` followed by a control character or space.
    #[error("{}:{line}: invalid escape at the start of the line", file.display())]
    InvalidEscape {
        /// The file.
        file: PathBuf,
        /// The line.
        line: u32,
    },
    /// `#include` of a file that does not exist (`#tryinclude` passes over it).
    #[error("{}:{line}: #include {pattern}: no such file (use #tryinclude for an optional file)", file.display())]
    IncludeMissing {
        /// The including file.
        file: PathBuf,
        /// The line.
        line: u32,
        /// The path as written.
        pattern: String,
    },
    /// `#include` of a directory: Asterisk reads regular files only, and
    /// refuses the include as if nothing were there.
    #[error("{}:{line}: #include {pattern} names a directory, not a file (Asterisk then refuses the configuration: \"listed as a #include but it does not exist\"); write #include {pattern}/*.conf to read the files in it", file.display())]
    IncludeDirectory {
        /// The including file.
        file: PathBuf,
        /// The line.
        line: u32,
        /// The path as written.
        pattern: String,
    },
    /// `#include` of something that is neither a file nor a directory (a
    /// FIFO, a device): Asterisk reads regular files only.
    #[error("{}:{line}: #include {pattern} is not a regular file (a FIFO or a device): Asterisk refuses the configuration (\"listed as a #include but it does not exist\")", file.display())]
    IncludeNotAFile {
        /// The including file.
        file: PathBuf,
        /// The line.
        line: u32,
        /// The path as written.
        pattern: String,
    },
    /// `#include` of a file that exists but cannot be read (permissions).
    #[error("{}:{line}: #include {pattern}: cannot read {}", file.display(), target.display())]
    IncludeUnreadable {
        /// The including file.
        file: PathBuf,
        /// The line.
        line: u32,
        /// The path as written.
        pattern: String,
        /// The file that cannot be read.
        target: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file that includes itself, through any chain.
    #[error("{}:{line}: #include {}: that file is already being read (an include cycle)", file.display(), target.display())]
    IncludeCycle {
        /// The including file.
        file: PathBuf,
        /// The line.
        line: u32,
        /// The file included again.
        target: PathBuf,
    },
    /// Includes nested deeper than [`MAX_INCLUDE_DEPTH`].
    #[error("{}:{line}: #include nested deeper than {MAX_INCLUDE_DEPTH} files", file.display())]
    IncludeTooDeep {
        /// The including file.
        file: PathBuf,
        /// The line.
        line: u32,
    },
}

/// A line Asterisk passes over with a warning; the load goes on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ignored {
    /// The file.
    pub file: PathBuf,
    /// The line (1-based).
    pub line: u32,
    /// Why Asterisk ignores it.
    pub why: IgnoredWhy,
}

/// Why a line is ignored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IgnoredWhy {
    /// A line with no `=`.
    NoEquals,
    /// `= value` with no name.
    NoName,
    /// `#something` other than include, tryinclude, exec.
    UnknownDirective(String),
    /// `#include` with no file name.
    DirectiveWithoutArgument(String),
    /// `#exec`, which sipwatch does not run.
    Exec,
}

/// One `name = value`, where it was written and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Value {
    /// The name, stripped.
    pub key: String,
    /// The value as Asterisk holds it: stripped, `\;` unescaped, quotes kept.
    pub value: String,
    /// The value's text as written before Asterisk stripped it (after the
    /// `=`, up to the comment, `\;` unescaped): its whitespace tells a
    /// pasted trailing space.
    pub raw: String,
    /// A `;` comment followed the value with no space before it: the
    /// value may have been cut where the admin meant a `;` in it.
    pub cut_by_comment: bool,
    /// A `;` comment followed on the same line (the whitespace before it
    /// is then layout, not part of a pasted value).
    pub commented: bool,
    /// Written `name => value`.
    pub arrow: bool,
    /// The file it was written in.
    pub file: PathBuf,
    /// Its line (1-based).
    pub line: u32,
    /// The template it was written in, when the section inherits it
    /// rather than writing it itself (the template where a fix belongs).
    pub from_template: Option<String>,
}

/// One `[section]`, its values in order (inherited ones first).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    /// The name, without brackets.
    pub name: String,
    /// The file of its header.
    pub file: PathBuf,
    /// The line of its header.
    pub line: u32,
    /// `[name](!)`: a template, which Asterisk's modules do not load.
    pub template: bool,
    /// The sections it inherits from, in order.
    pub inherits: Vec<String>,
    /// Every value, repeated names kept, in order.
    pub values: Vec<Value>,
}

impl Section {
    /// The last value of `key` (how a single-valued option reads), names
    /// compared as Asterisk's sorcery does (case-insensitively).
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.values
            .iter()
            .rev()
            .find(|v| v.key.eq_ignore_ascii_case(key))
    }

    /// Every value of `key`, in order (`match`, `local_net`, `register`).
    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.values
            .iter()
            .filter(move |v| v.key.eq_ignore_ascii_case(key))
    }

    /// The value of `key` as text, when set.
    pub fn text(&self, key: &str) -> Option<&str> {
        self.get(key).map(|v| v.value.as_str())
    }

    /// Its `type=`.
    pub fn kind(&self) -> Option<&str> {
        self.text("type")
    }
}

/// A configuration file read with everything it includes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Config {
    /// The sections in the order Asterisk read them.
    pub sections: Vec<Section>,
    /// Lines Asterisk ignores with a warning.
    pub ignored: Vec<Ignored>,
    /// Every file read, the top one first.
    pub files: Vec<PathBuf>,
}

impl Config {
    /// Reads `name` (`pjsip.conf`) in the configuration directory `dir`,
    /// with its includes (relative to `dir`, as Asterisk takes them).
    pub fn load(dir: &Path, name: &str) -> Result<Config, ConfigError> {
        let mut reader = Reader {
            dir: dir.to_path_buf(),
            stack: Vec::new(),
            config: Config::default(),
            current: None,
        };
        let path = dir.join(name);
        let bytes = read_capped(&path).map_err(|source| ConfigError::Io {
            file: path.clone(),
            source,
        })?;
        reader.read(&bytes, &path)?;
        Ok(reader.config)
    }

    /// Reads a configuration from text (tests, standard input), named
    /// `file`; includes resolve against the current directory.
    pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
        Config::parse_bytes(text.as_bytes(), Path::new(file), Path::new("."))
    }

    /// Reads a configuration from bytes (any bytes: a broken file is an
    /// error, never a panic), includes resolved against `dir`.
    pub fn parse_bytes(bytes: &[u8], file: &Path, dir: &Path) -> Result<Config, ConfigError> {
        let mut reader = Reader {
            dir: dir.to_path_buf(),
            stack: Vec::new(),
            config: Config::default(),
            current: None,
        };
        reader.read(bytes, file)?;
        Ok(reader.config)
    }

    /// The first section named `name` that is not a template.
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| !s.template && s.name == name)
    }

    /// The sections that are not templates, of `type=kind`.
    pub fn of_type<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Section> + 'a {
        self.sections
            .iter()
            .filter(move |s| !s.template && s.kind().is_some_and(|k| k.eq_ignore_ascii_case(kind)))
    }
}

/// The reader's state across files: the current section carries over an
/// `#include`, as in Asterisk.
struct Reader {
    dir: PathBuf,
    stack: Vec<PathBuf>,
    config: Config,
    current: Option<usize>,
}

/// A line with its comments taken out.
struct Line {
    text: String,
    /// A `;` comment began right after a non-space character.
    cut_by_comment: bool,
    /// A `;` comment ended the line.
    commented: bool,
}

impl Reader {
    fn read(&mut self, bytes: &[u8], file: &Path) -> Result<(), ConfigError> {
        let identity = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
        self.stack.push(identity);
        self.config.files.push(file.to_path_buf());
        let text = String::from_utf8_lossy(bytes);
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        let mut level = 0u32;
        for (n, raw) in text.split('\n').enumerate() {
            // A CRLF file's `\r` ends the line, as `\n` does.
            let raw = raw.strip_suffix('\r').unwrap_or(raw);
            let line = u32::try_from(n + 1).unwrap_or(u32::MAX);
            let stripped = strip_comments(raw, &mut level);
            let trimmed = stripped.text.trim_matches(is_space);
            if trimmed.is_empty() {
                continue;
            }
            self.line(trimmed, &stripped, file, line)?;
        }
        self.stack.pop();
        Ok(())
    }

    fn line(
        &mut self,
        cur: &str,
        stripped: &Line,
        file: &Path,
        line: u32,
    ) -> Result<(), ConfigError> {
        let at = || (file.to_path_buf(), line);
        if let Some(rest) = cur.strip_prefix('[') {
            let (file, line) = at();
            let Some(close) = rest.find(']') else {
                return Err(ConfigError::NoClosingBracket { file, line });
            };
            let name = rest[..close].to_owned();
            let after = &rest[close + 1..];
            let mut section = Section {
                name: name.clone(),
                file: file.clone(),
                line,
                template: false,
                inherits: Vec::new(),
                values: Vec::new(),
            };
            let mut add_to = None;
            if let Some(options) = after.strip_prefix('(') {
                let Some(close) = options.find(')') else {
                    return Err(ConfigError::NoClosingParen { file, line });
                };
                for option in options[..close].split(',') {
                    if option == "!" {
                        section.template = true;
                    } else if option.starts_with('+') {
                        let Some(i) = self.config.sections.iter().position(|s| s.name == name)
                        else {
                            return Err(ConfigError::NoSectionToAddTo {
                                file,
                                line,
                                section: name,
                            });
                        };
                        add_to = Some(i);
                    } else {
                        let Some(base) = self.config.sections.iter().find(|s| s.name == option)
                        else {
                            return Err(ConfigError::NoSuchTemplate {
                                file,
                                line,
                                section: name,
                                template: option.to_owned(),
                            });
                        };
                        let inherited = base.values.iter().cloned().map(|mut v| {
                            v.from_template.get_or_insert_with(|| base.name.clone());
                            v
                        });
                        section.values.extend(inherited);
                        section.inherits.push(option.to_owned());
                    }
                }
            }
            match add_to {
                Some(i) => {
                    let target = &mut self.config.sections[i];
                    target.template |= section.template;
                    target.values.append(&mut section.values);
                    self.current = Some(i);
                }
                None => {
                    self.config.sections.push(section);
                    self.current = Some(self.config.sections.len() - 1);
                }
            }
            return Ok(());
        }
        if let Some(rest) = cur.strip_prefix('#') {
            return self.directive(rest, file, line);
        }
        let Some(current) = self.current else {
            let (file, line) = at();
            return Err(ConfigError::NoSection { file, line });
        };
        let escaped = cur.starts_with('\\');
        let body = if escaped {
            let body = &cur[1..];
            if body.chars().next().is_none_or(|c| (c as u32) < 33) {
                let (file, line) = at();
                return Err(ConfigError::InvalidEscape { file, line });
            }
            body
        } else {
            cur
        };
        let search_from = usize::from(escaped).min(body.len());
        let Some(eq) = body[search_from..].find('=').map(|i| i + search_from) else {
            self.ignore(file, line, IgnoredWhy::NoEquals);
            return Ok(());
        };
        let append = eq > search_from && body[..eq].ends_with('+');
        let name_end = if append { eq - 1 } else { eq };
        let key = body[..name_end].trim_matches(is_space).to_owned();
        let mut after = &body[eq + 1..];
        let arrow = !append && after.starts_with('>');
        if arrow {
            after = &after[1..];
        }
        if key.is_empty() {
            self.ignore(file, line, IgnoredWhy::NoName);
            return Ok(());
        }
        // The raw value: what followed the `=` in the uncommented line,
        // before the line's own trailing whitespace was stripped.
        let raw = raw_value(&stripped.text, after);
        let section = &mut self.config.sections[current];
        if append && let Some(last) = section.values.iter_mut().rev().find(|v| v.key == key) {
            let joined = format!("{}{}", last.value, after);
            last.value = joined.trim_end_matches(is_space).to_owned();
            last.raw.push_str(&raw);
            last.cut_by_comment |= stripped.cut_by_comment;
            return Ok(());
        }
        section.values.push(Value {
            key,
            value: after.trim_matches(is_space).to_owned(),
            raw,
            cut_by_comment: stripped.cut_by_comment,
            commented: stripped.commented,
            arrow,
            file: file.to_path_buf(),
            line,
            from_template: None,
        });
        Ok(())
    }

    fn directive(&mut self, rest: &str, file: &Path, line: u32) -> Result<(), ConfigError> {
        let end = rest.find(|c: char| (c as u32) <= 32).unwrap_or(rest.len());
        let word = &rest[..end];
        let argument = rest[end..].trim_matches(is_space);
        let optional = if word.eq_ignore_ascii_case("include") {
            false
        } else if word.eq_ignore_ascii_case("tryinclude") {
            true
        } else if word.eq_ignore_ascii_case("exec") {
            self.ignore(file, line, IgnoredWhy::Exec);
            return Ok(());
        } else {
            self.ignore(file, line, IgnoredWhy::UnknownDirective(word.to_owned()));
            return Ok(());
        };
        if argument.is_empty() {
            self.ignore(
                file,
                line,
                IgnoredWhy::DirectiveWithoutArgument(word.to_owned()),
            );
            return Ok(());
        }
        let pattern = dequote(argument);
        let full = if Path::new(pattern).is_absolute() {
            PathBuf::from(pattern)
        } else {
            self.dir.join(pattern)
        };
        // Asterisk reads the regular files a pattern matches and passes
        // over anything else (`config_text_file_load`).
        let (matches, others): (Vec<PathBuf>, Vec<PathBuf>) =
            glob(&full).into_iter().partition(|p| p.is_file());
        if matches.is_empty() {
            if optional {
                return Ok(());
            }
            let (file, pattern) = (file.to_path_buf(), pattern.to_owned());
            return Err(if others.iter().any(|p| p.is_dir()) {
                ConfigError::IncludeDirectory {
                    file,
                    line,
                    pattern,
                }
            } else if !others.is_empty() {
                ConfigError::IncludeNotAFile {
                    file,
                    line,
                    pattern,
                }
            } else {
                ConfigError::IncludeMissing {
                    file,
                    line,
                    pattern,
                }
            });
        }
        if self.stack.len() >= MAX_INCLUDE_DEPTH {
            return Err(ConfigError::IncludeTooDeep {
                file: file.to_path_buf(),
                line,
            });
        }
        for target in matches {
            let identity = std::fs::canonicalize(&target).unwrap_or_else(|_| target.clone());
            if self.stack.contains(&identity) {
                return Err(ConfigError::IncludeCycle {
                    file: file.to_path_buf(),
                    line,
                    target,
                });
            }
            let bytes = match read_capped(&target) {
                Ok(bytes) => bytes,
                Err(_) if optional => continue,
                Err(source) => {
                    return Err(ConfigError::IncludeUnreadable {
                        file: file.to_path_buf(),
                        line,
                        pattern: pattern.to_owned(),
                        target,
                        source,
                    });
                }
            };
            self.read(&bytes, &target)?;
        }
        Ok(())
    }

    fn ignore(&mut self, file: &Path, line: u32, why: IgnoredWhy) {
        self.config.ignored.push(Ignored {
            file: file.to_path_buf(),
            line,
            why,
        });
    }
}

/// A configuration file larger than this is refused (a `/dev/zero`, a log
/// given by mistake): Asterisk's own files are kilobytes.
pub const MAX_FILE_BYTES: u64 = 16 << 20;

/// The file's bytes, at most [`MAX_FILE_BYTES`]; a larger one, or a device
/// that never ends, is an `InvalidData` error saying so.
fn read_capped(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "larger than {} MiB: not a configuration file",
                MAX_FILE_BYTES >> 20
            ),
        ));
    }
    Ok(bytes)
}

/// Asterisk's `isspace` for stripping (`ast_strip`).
fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\u{b}' | '\u{c}')
}

/// The value's text as written: `after` is a slice of the uncommented
/// line, which still holds the whitespace the trim took off its end.
fn raw_value(uncommented: &str, after: &str) -> String {
    let start = (after.as_ptr() as usize).saturating_sub(uncommented.as_ptr() as usize);
    uncommented.get(start..).unwrap_or(after).to_owned()
}

/// `"file"` and `<file>` as Asterisk dequotes them.
fn dequote(argument: &str) -> &str {
    for (open, close) in [('"', '"'), ('<', '>')] {
        if let Some(inner) = argument.strip_prefix(open)
            && let Some(inner) = inner.strip_suffix(close)
        {
            return inner;
        }
    }
    argument
}

/// One line with its comments taken out, `\;` unescaped; `level` is the
/// depth of `;--` comments open across lines.
fn strip_comments(line: &str, level: &mut u32) -> Line {
    let b = line.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut cut_by_comment = false;
    let mut commented = false;
    let mut i = 0;
    // Where the innermost open `;--` ended, so `;--;` does not close it.
    let mut opened_at = 0usize;
    while i < b.len() {
        let c = b[i];
        let opens = c == b';'
            && b.get(i + 1) == Some(&b'-')
            && b.get(i + 2) == Some(&b'-')
            && b.get(i + 3) != Some(&b'-');
        if *level > 0 {
            if c == b';' && i >= opened_at + 2 && i >= 2 && b[i - 1] == b'-' && b[i - 2] == b'-' {
                *level -= 1;
                i += 1;
            } else if opens && *level < MAX_NESTED_COMMENTS {
                *level += 1;
                i += 3;
                opened_at = i;
            } else {
                i += 1;
            }
            continue;
        }
        if c == b'\\' && b.get(i + 1) == Some(&b';') {
            out.push(b';');
            i += 2;
            continue;
        }
        if c == b';' {
            if opens {
                *level += 1;
                i += 3;
                opened_at = i;
                continue;
            }
            cut_by_comment = out.last().is_some_and(|c| !c.is_ascii_whitespace());
            commented = true;
            break;
        }
        out.push(c);
        i += 1;
    }
    Line {
        // Only ASCII bytes were removed, so the text stays UTF-8.
        text: String::from_utf8(out).unwrap_or_default(),
        cut_by_comment,
        commented,
    }
}

/// The paths a pattern with `*`, `?` or `[…]` in any component matches,
/// sorted (as glob(3)); a path without them, when it exists.
fn glob(pattern: &Path) -> Vec<PathBuf> {
    let mut found = vec![PathBuf::new()];
    for component in pattern.components() {
        let part = component.as_os_str().to_string_lossy();
        let magic = part.contains(['*', '?', '[']);
        let mut next = Vec::new();
        for base in &found {
            if !magic {
                next.push(base.join(component));
                continue;
            }
            let dir = if base.as_os_str().is_empty() {
                Path::new(".")
            } else {
                base.as_path()
            };
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            let mut names: Vec<String> = entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.') && wildcard(part.as_bytes(), n.as_bytes()))
                .collect();
            names.sort();
            next.extend(names.into_iter().map(|n| base.join(n)));
        }
        found = next;
    }
    found.retain(|p| p.exists());
    found
}

/// Shell wildcard match of one name: `*`, `?`, `[abc]`, `[a-z]`, `[!a]`.
fn wildcard(pattern: &[u8], name: &[u8]) -> bool {
    match pattern.first() {
        None => name.is_empty(),
        Some(b'*') => (0..=name.len()).any(|i| wildcard(&pattern[1..], &name[i..])),
        Some(b'?') => !name.is_empty() && wildcard(&pattern[1..], &name[1..]),
        Some(b'[') => {
            let Some(close) = pattern
                .iter()
                .skip(2)
                .position(|&c| c == b']')
                .map(|p| p + 2)
            else {
                return name.first() == Some(&b'[') && wildcard(&pattern[1..], &name[1..]);
            };
            let Some(&c) = name.first() else { return false };
            let set = &pattern[1..close];
            let (negate, set) = match set.first() {
                Some(b'!' | b'^') => (true, &set[1..]),
                _ => (false, set),
            };
            let mut hit = false;
            let mut j = 0;
            while j < set.len() {
                if j + 2 < set.len() && set[j + 1] == b'-' {
                    hit |= (set[j]..=set[j + 2]).contains(&c);
                    j += 3;
                } else {
                    hit |= set[j] == c;
                    j += 1;
                }
            }
            hit != negate && wildcard(&pattern[close + 1..], &name[1..])
        }
        Some(&p) => name.first() == Some(&p) && wildcard(&pattern[1..], &name[1..]),
    }
}

#[cfg(test)]
mod tests;
