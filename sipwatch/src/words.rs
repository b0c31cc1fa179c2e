//! Small helpers for output in words, shared by every layer that speaks to
//! the admin (diagnoses, the log, the probe's report).

/// `n` with its noun, singular for one: `1 time`, `3 times`.
pub fn count(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::count;

    #[test]
    fn one_is_singular_everything_else_plural() {
        assert_eq!(count(1u32, "time", "times"), "1 time");
        assert_eq!(count(0u32, "time", "times"), "0 times");
        assert_eq!(
            count(11u64, "transaction", "transactions"),
            "11 transactions"
        );
    }
}
