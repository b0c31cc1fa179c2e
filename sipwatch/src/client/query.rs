//! The client side of the echo's query channel (`sipwatch echo`, TCP 5099
//! by default): did a probe with this id arrive? That tells a probe lost on
//! the way out from one whose answer was lost on the way back. Used by
//! `probe` and by the audit (`attach --echo`).
use std::{
    io::{BufRead, BufReader, Write},
    net::{SocketAddr, TcpStream},
    time::Duration,
};

/// Asks the echo's query channel whether probe `id` arrived; the error
/// says, in words, why the channel gave no answer.
pub fn seen(query: SocketAddr, id: &str) -> Result<bool, String> {
    let mut s =
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
    s.write_all(format!("SEEN? {id}\n").as_bytes())
        .map_err(broken)?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).map_err(broken)?;
    if line.starts_with("SEEN ") {
        Ok(true)
    } else if line.starts_with("UNSEEN ") {
        Ok(false)
    } else {
        Err(format!("answered something else: {:?}", line.trim()))
    }
}
