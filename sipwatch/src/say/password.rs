//! The words of a password check ([`PasswordCheck`]): what a refused
//! REGISTER's digest says of the password configured in the auth section
//! (PJSIP `password`, `md5_cred`), and what to change. No password is ever
//! written out.
use super::AuthRef;
use crate::track::password::{Alteration, PasswordCheck, PasswordNote, Unchecked};

/// (what the digest says of the configured password; what to do), for the
/// cause and fix of a refused REGISTER.
pub fn explain(check: &PasswordCheck, auth: &AuthRef) -> (String, Option<String>) {
    let here = format!("[{}] ({}:{})", auth.section, auth.file.display(), auth.line);
    match check {
        PasswordCheck::SentAsConfigured { notes } => {
            let mut fix = format!(
                "Asterisk sends the password configured in {here}: have the provider confirm the password and the SIP user name (which may differ from the account id), set `password` in {here}, then `pjsip reload`"
            );
            for note in notes {
                fix.push_str("; ");
                fix.push_str(self::note(*note));
            }
            (
                format!(
                    "the refused digest was computed with exactly the password of {here}: the registrar holds another password for this user"
                ),
                Some(fix),
            )
        }
        PasswordCheck::SentAltered { how } => {
            let (as_what, then) = match how {
                Alteration::WithoutQuotes => (
                    "without the quotes the file has",
                    "and the quotes would then be sent as part of the password: write it without quotes",
                ),
                Alteration::WithTrailingSpace => (
                    "with the spaces after it that the line has",
                    "and Asterisk strips those spaces: if the provider's password ends with one, have it changed",
                ),
            };
            (
                format!(
                    "the refused digest was computed with the password of {here} {as_what}: the running Asterisk holds another version of that line"
                ),
                Some(format!(
                    "it was edited without a reload: `pjsip reload` (or `module reload res_pjsip.so`), {then}"
                )),
            )
        }
        PasswordCheck::NotConfigured {
            username_sent,
            username_configured,
        } => {
            let user = match username_configured {
                Some(configured) => format!(
                    ", nor for its user name (the digest is for {username_sent}, the section has username={configured})"
                ),
                None => String::new(),
            };
            (
                format!(
                    "the refused digest was not computed with the password of {here}{user}: the running Asterisk answers with other credentials"
                ),
                Some(format!(
                    "the file was edited without a reload (`pjsip reload`), or the registration's `outbound_auth` names another section than {here}: check `pjsip show registration` and `pjsip show auth`"
                )),
            )
        }
        PasswordCheck::Unchecked { why } => {
            let why = match why {
                Unchecked::Algorithm(name) => {
                    format!("its algorithm {name} is not one sipwatch computes")
                }
                Unchecked::Md5CredForOtherAlgorithm => {
                    "`md5_cred` is an MD5 hash and the digest used another algorithm".to_owned()
                }
            };
            (
                format!(
                    "the password of {here} could not be checked against the refused digest: {why}"
                ),
                None,
            )
        }
    }
}

/// A likely slip in a password Asterisk sends as it is.
fn note(note: PasswordNote) -> &'static str {
    match note {
        PasswordNote::QuotesKept => {
            "its quotes are sent as part of the password: write it without quotes"
        }
        PasswordNote::CutAtComment => {
            "it ends where a `;` starts a comment: a `;` in a password is written `\\;`"
        }
        PasswordNote::TrailingSpaceStripped => {
            "the line has spaces after it (pasted?), which Asterisk strips: a password that ends with a space cannot be configured"
        }
    }
}
