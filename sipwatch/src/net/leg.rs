//! The legs of a path on which a request or its answer can be lost.
use serde::Serialize;

/// Where a SIP request ended up on its way to the far end and back: one
/// vocabulary for `probe`, the continuous audit of a PBX's own
/// registrations and the tracker's timeouts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Leg {
    /// Answered: it arrived, and the answer came back.
    Delivered,
    /// The echo never saw it (its query channel says so): lost on the way out.
    DroppedOnTheWayOut,
    /// The echo saw and answered it; the answer never arrived here.
    LostOnTheWayBack,
    /// No answer, and the query channel could not tell which way it was lost.
    NoAnswer,
    /// The echo received it and refused it (not signed with its key,
    /// rate-limited, its answer too large), as its query channel says:
    /// nothing was lost, and the path is not tested by it.
    RefusedByEcho,
    /// TCP: the connection never came up (the SYN or its answer was lost);
    /// nothing was sent, so the query channel cannot tell the way.
    TcpConnectFailed,
    /// Refused: a TCP reset, or over UDP an ICMP port unreachable, came
    /// back: nothing listens on that port, or a firewall rejects SIP.
    Refused,
    /// Something answered, but not with an echo's mirror (why, in
    /// `answer_problem`): not a `sipwatch echo`, or its answer was mangled.
    InvalidAnswer,
    /// Sent by the socket, never seen leaving the NIC: this host's own
    /// firewall (OUTPUT) dropped it.
    DroppedOnThisHost,
    /// The answer reached the NIC but not the socket: this host's own
    /// firewall (INPUT) dropped it.
    AnswerDroppedOnThisHost,
}
