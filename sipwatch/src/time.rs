//! Times in one form for every JSON object sipwatch writes (messages,
//! events, summaries, probe reports, the echo's counters): RFC 3339, UTC,
//! with microseconds, e.g. `2026-11-24T14:37:34.750911Z`.
//!
//! Written by hand rather than with a date crate because it must be total:
//! a capture file may carry any 64-bit timestamp, and a formatter that
//! panics past year 9999 or before 1970 would let a hostile file stop
//! the analysis.
use std::time::SystemTime;

/// `t` as RFC 3339 UTC with microseconds. Times before 1970 are written as
/// the epoch itself.
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm),
    // in i128 so that no 64-bit timestamp overflows.
    let z = i128::from(days) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i128::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        d.subsec_micros()
    )
}

/// UTC time of day with microseconds, `HH:MM:SS.uuuuuu`: the stamp that
/// starts every line of the text views (messages, events, ICMP errors,
/// path findings, drops), as tcpdump prints it.
pub fn stamp(t: SystemTime) -> String {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    format!("{}{:03}", clock(t), d.subsec_micros() % 1000)
}

/// UTC time of day, `HH:MM:SS.mmm`, for times inside sentences and table
/// cells (a line's own stamp is [`stamp`]).
pub fn clock(t: SystemTime) -> String {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let s = d.as_secs() % 86_400;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        s / 3600,
        s / 60 % 60,
        s % 60,
        d.subsec_millis()
    )
}

/// `#[serde(serialize_with = "crate::time::serialize")]` for a [`SystemTime`].
pub fn serialize<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339(*t))
}

/// `#[serde(serialize_with = "crate::time::serialize_opt")]` for an
/// `Option<SystemTime>` (`null` when absent).
pub fn serialize_opt<S: serde::Serializer>(
    t: &Option<SystemTime>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&rfc3339(*t)),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn times_are_rfc3339_utc() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_micros(1_795_963_054_750_911);
        assert_eq!(rfc3339(t), "2026-11-29T14:37:34.750911Z");
        assert_eq!(
            rfc3339(SystemTime::UNIX_EPOCH),
            "1970-01-01T00:00:00.000000Z"
        );
        let leap = SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(&rfc3339(leap)[..10], "2000-02-29");
    }

    #[test]
    fn any_timestamp_a_file_can_hold_is_written_without_panic() {
        let far = SystemTime::UNIX_EPOCH + Duration::from_secs(u64::MAX / 2);
        assert!(rfc3339(far).ends_with('Z'));
        let before = SystemTime::UNIX_EPOCH - Duration::from_secs(10);
        assert_eq!(rfc3339(before), "1970-01-01T00:00:00.000000Z");
    }
}
