//! The words of a call (an INVITE dialog) where a view tells one: `--events`'
//! failed calls.

/// `--events`' line for a call that failed (4xx–6xx to an INVITE):
/// "CALL FAILED 486 Busy Here sip:1001@pbx -> sip:2000@pbx (Call-ID c1)".
pub fn call_failed(status_line: &str, from: &str, to: &str, call_id: &str) -> String {
    let status = status_line.strip_prefix("SIP/2.0 ").unwrap_or(status_line);
    format!("CALL FAILED {status} {from} -> {to} (Call-ID {call_id})")
}
