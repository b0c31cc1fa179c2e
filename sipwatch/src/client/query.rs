//! The client side of the echo's query channel (`sipwatch echo`, TCP 5099
//! by default): did a probe with this id arrive? That tells a probe lost on
//! the way out from one whose answer was lost on the way back. Used by
//! `probe` and by the audit (`attach --echo`).
use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpStream},
    time::Duration,
};

/// Asks the echo's query channel whether probe `id` arrived; the error
/// says, in words, why the channel gave no answer.
pub fn seen(query: SocketAddr, id: &str) -> Result<bool, String> {
    let line = ask(query, &format!("SEEN? {id}\n"), 256)?;
    if line.starts_with("SEEN ") {
        Ok(true)
    } else if line.starts_with("UNSEEN ") {
        Ok(false)
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
