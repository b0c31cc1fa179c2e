//! The client side of the echo's query channel (`sipwatch echo`, TCP 5099
//! by default): did a probe with this id arrive? That tells a probe lost on
//! the way out from one whose answer was lost on the way back. Used by
//! `probe` and by the audit (`attach --echo`).
use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpStream},
    time::Duration,
};

/// What the echo's query channel says became of a probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fate {
    /// It arrived and was answered: its answer was lost on the way back.
    Arrived,
    /// It never arrived: lost on the way out.
    NotArrived,
    /// It arrived and the echo refused it (key, rate, size): nothing was
    /// lost; why, in words.
    Refused(String),
}

/// Asks the echo's query channel whether probe `id` arrived; the error
/// says, in words, why the channel gave no answer.
pub fn seen(query: SocketAddr, id: &str) -> Result<Fate, String> {
    let line = ask(query, &format!("SEEN? {id}\n"), 256)?;
    if line.starts_with("SEEN ") {
        Ok(Fate::Arrived)
    } else if line.starts_with("UNSEEN ") {
        Ok(Fate::NotArrived)
    } else if let Some(rest) = line.strip_prefix("REFUSED ") {
        Ok(Fate::Refused(match rest.split_whitespace().nth(1) {
            Some("unauthorized") => "the echo refused it: it was not signed with the echo's key (give the --key the echo was started with)".to_owned(),
            Some("rate_limited") => "the echo refused it: too many probes from this address (the echo's --rate and --burst); wait a few seconds and probe again".to_owned(),
            Some("answer_too_large") => "the echo refused it: its answer would have been too large to send".to_owned(),
            _ => format!("the echo refused it ({})", rest.trim()),
        }))
    } else {
        Err(format!("answered something else: {:?}", line.trim()))
    }
}

/// Asks the echo's query channel for probe `id`'s request as it arrived,
/// which the echo left out of its UDP answer to keep that unfragmented
/// ([`crate::echo::wire::UDP_ANSWER_MAX`]); with a key, the answer's
/// signature is checked. The error says, in words, why there is none.
pub fn mirror(query: SocketAddr, id: &str, key: Option<&[u8]>) -> Result<Vec<u8>, String> {
    use crate::echo::{MAX_REQUEST, wire};
    let question = format!("{} {id}\n", wire::MIRROR_QUERY);
    // Base64 of the largest request, the id, a signature and the words.
    let line = ask(query, &question, (MAX_REQUEST * 4 / 3 + 256) as u64)?;
    match wire::parse_mirror_line(&line, id, key) {
        Ok(Some(request)) => Ok(request),
        Ok(None) => Err("no longer holds it (it keeps the last 1000)".to_owned()),
        Err(why) => Err(format!("answered something else: {why}")),
    }
}

/// One question, one line of answer (at most `limit` bytes).
fn ask(query: SocketAddr, question: &str, limit: u64) -> Result<String, String> {
    let s =
        TcpStream::connect_timeout(&query, Duration::from_secs(3)).map_err(|e| match e.kind() {
            std::io::ErrorKind::ConnectionRefused => {
                "refused the connection (nothing listens there)".to_owned()
            }
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
                "did not answer within 3 s (filtered?)".to_owned()
            }
            _ => format!("could not be reached ({e})"),
        })?;
    let broken = |e: std::io::Error| format!("broke off ({e})");
    s.set_read_timeout(Some(Duration::from_secs(3)))
        .map_err(broken)?;
    (&s).write_all(question.as_bytes()).map_err(broken)?;
    let mut line = String::new();
    BufReader::new(s.take(limit))
        .read_line(&mut line)
        .map_err(broken)?;
    Ok(line)
}
