//! The words of a binding's state for the table, the log and the JSON
//! `status` field (prose that may change).
use super::record;
use crate::track::{Diagnosis, Purpose, Registration, RegistrationState};

/// The state in words, with the run of failures, the PBX's next move
/// and the attempt in flight: "Rejected 403 ×7 since 14:02:10, retry
/// every 10 s", "Rejected 401 since 14:02:10, gave up",
/// "Registered, refreshing", "Registered; un-REGISTER not completed".
pub fn status(r: &Registration) -> String {
    let mut s = state(&r.state());
    let held = r.expires_at().is_some();
    if let Some(run) = &r.failures {
        s.push_str(&record::failure_run(run, &r.next_move()));
        if r.attempt.is_some() {
            s.push_str(", retrying");
        }
        if held {
            s.push_str("; registration still held");
        }
        return s;
    }
    match r.attempt.as_ref().map(|a| a.purpose) {
        Some(Purpose::Refresh) if held => s.push_str(", refreshing"),
        Some(Purpose::Unregister) if held => s.push_str(", unregistering"),
        _ => {}
    }
    let unregister_failed = r
        .diagnoses
        .iter()
        .any(|d| matches!(d, Diagnosis::UnregisterNotCompleted { .. }));
    if held && unregister_failed {
        s.push_str("; un-REGISTER not completed");
    }
    s
}

/// The state as the table shows it: "Registered", "Rejected 403",
/// "Timeout (408)".
pub fn state(state: &RegistrationState) -> String {
    match state {
        RegistrationState::RequestSent => "Request sent".into(),
        RegistrationState::Registered { .. } => "Registered".into(),
        RegistrationState::Rejected { code } => format!("Rejected {code}"),
        RegistrationState::Timeout => "Timeout (408)".into(),
        RegistrationState::Unregistered => "Unregistered".into(),
        RegistrationState::Expired => "Expired".into(),
    }
}

/// The binding's registrar as the admin wrote it: the key's Request-URI,
/// and every other form of it the REGISTERs used
/// (`sip:203.0.113.2 | sip:203.0.113.2;transport=udp`), one registrar.
pub fn registrar(r: &Registration) -> String {
    std::iter::once(r.key.registrar.as_str())
        .chain(r.request_uri_forms.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" | ")
}

/// The fitted table's last line when the terminal is too short:
/// "… 12 more lines (the summary at the end has them all)".
pub fn lines_left_out(n: usize) -> String {
    format!(
        "… {} (the summary at the end has them all)",
        super::count(n as u64, "more line", "more lines")
    )
}

/// After a hint that several healthy registrations share: "(6 registrations)".
pub fn applies_to(n: usize) -> String {
    format!(
        "({})",
        super::count(n as u64, "registration", "registrations")
    )
}
