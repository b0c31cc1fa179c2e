//! F7's filter and `/`'s search over the dialogs and trunks: the filter is
//! typed words (`method:INVITE code:403 addr:203.0.113.2 aor:alice
//! failing`, all of which must match), the search a piece of text found
//! in From, To, Call-ID, method or an address.
use super::model::{Dialog, Trunk};

/// A filter as typed after F7; empty lets everything through.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// What was typed, for the status line.
    pub text: String,
    /// The first request's method, any case.
    pub method: Option<String>,
    /// A final answer code seen in the dialog.
    pub code: Option<u16>,
    /// Text found in the source or destination address:port.
    pub addr: Option<String>,
    /// Text found in From or To (a trunk: its AOR).
    pub aor: Option<String>,
    /// Failing ones only.
    pub failing: bool,
}

impl Filter {
    /// `text` read word by word; the word not understood is the error.
    pub fn parse(text: &str) -> Result<Filter, String> {
        let mut f = Filter {
            text: text.trim().to_owned(),
            ..Filter::default()
        };
        for word in text.split_whitespace() {
            match word.split_once(':') {
                Some(("method", m)) if !m.is_empty() => f.method = Some(m.to_ascii_uppercase()),
                Some(("code", c)) => f.code = Some(c.parse().map_err(|_| word.to_owned())?),
                Some(("addr", a)) if !a.is_empty() => f.addr = Some(a.to_owned()),
                Some(("aor", a)) if !a.is_empty() => f.aor = Some(a.to_owned()),
                None if word == "failing" => f.failing = true,
                _ => return Err(word.to_owned()),
            }
        }
        Ok(f)
    }

    /// Whether `d` passes.
    pub fn admits(&self, d: &Dialog) -> bool {
        self.method.as_ref().is_none_or(|m| d.method == *m)
            && self.code.is_none_or(|c| d.codes.contains(&c))
            && self.addr.as_ref().is_none_or(|a| {
                d.src.to_string().contains(a.as_str()) || d.dst.to_string().contains(a.as_str())
            })
            && self
                .aor
                .as_ref()
                .is_none_or(|a| d.from.contains(a.as_str()) || d.to.contains(a.as_str()))
            && (!self.failing || d.failing())
    }

    /// Whether trunk `t` passes (method and address do not apply to it).
    pub fn admits_trunk(&self, t: &Trunk) -> bool {
        self.code.is_none_or(|c| t.last_code == Some(c))
            && self.aor.as_ref().is_none_or(|a| t.aor.contains(a.as_str()))
            && (!self.failing || t.failing)
    }
}

/// Whether `query` is in the dialog's From, To, Call-ID, method or
/// addresses (any case); an empty query finds everything.
pub fn finds(query: &str, d: &Dialog) -> bool {
    let q = query.to_lowercase();
    q.is_empty()
        || [
            d.from.as_str(),
            d.to.as_str(),
            d.call_id.as_str(),
            d.method.as_str(),
        ]
        .iter()
        .any(|f| f.to_lowercase().contains(&q))
        || d.src.to_string().contains(&q)
        || d.dst.to_string().contains(&q)
}

/// Whether `query` is in the trunk's AOR, registrar or state.
pub fn finds_trunk(query: &str, t: &Trunk) -> bool {
    let q = query.to_lowercase();
    [t.aor.as_str(), t.registrar.as_str(), t.status.as_str()]
        .iter()
        .any(|f| f.to_lowercase().contains(&q))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filter_reads_its_words_and_names_the_one_it_does_not_know() {
        let f = Filter::parse("method:invite code:403 failing").unwrap();
        assert_eq!(f.method.as_deref(), Some("INVITE"));
        assert_eq!(f.code, Some(403));
        assert!(f.failing);
        assert_eq!(Filter::parse("code:abc").unwrap_err(), "code:abc");
        assert_eq!(Filter::parse("colour:red").unwrap_err(), "colour:red");
        assert_eq!(Filter::parse("  ").unwrap(), Filter::default());
    }
}
