//! The password a refused REGISTER was sent with, checked offline against
//! the one configured: its digest `response` recomputed (RFC 7616 §3.4.1;
//! RFC 2617 §3.2.2; MD5, SHA-256 and SHA-512-256, their `-sess` forms, qop
//! `auth`, `auth-int` and none) with the configured password tells
//! whether the PBX sent exactly that password (so the registrar holds
//! another one), something else (the running Asterisk holds another
//! configuration), or the configured password as a usual slip changes it.
//! Nothing here keeps or shows a password.
//!
//! ```
//! use sipwatch::track::password::response;
//! // RFC 2617 §3.5's worked example.
//! let r = response("MD5", "Mufasa", "testrealm@host.com", "Circle Of Life",
//!     ("GET", "/dir/index.html", b""), "dcd98b7102dd2f0e8b11d0f600bfb0c093",
//!     Some(("auth", "00000001", "0a4f113b")));
//! assert_eq!(r.as_deref(), Some("6629fae49393a05397450978507c4ef1"));
//! ```
use md5::Md5;
use serde::Serialize;
use sha2::{Digest, Sha256, Sha512_256};

use crate::{
    pbx::config::trunks::{Secret, SecretKind},
    sip::fields::DigestProof,
};

/// What a refused REGISTER's digest says of the configured password.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum PasswordCheck {
    /// The digest was computed with the configured password: the PBX sent
    /// exactly it, so the registrar holds another one for this user (or
    /// knows the account under another user name).
    SentAsConfigured {
        /// What in the configured value is likely not the provider's
        /// password although Asterisk sends it.
        notes: Vec<PasswordNote>,
    },
    /// Computed with the configured password as a slip changes it: the
    /// running Asterisk holds the line as it was before an edit.
    SentAltered {
        /// How the password sent differs from the configured one.
        how: Alteration,
    },
    /// Not computed with the configured password: the running Asterisk
    /// holds another configuration (edited and not reloaded), or another
    /// auth section answers.
    NotConfigured {
        /// The user name the digest was computed for.
        username_sent: String,
        /// The `username` configured, when it differs from the one sent.
        username_configured: Option<String>,
    },
    /// The digest cannot be recomputed.
    Unchecked {
        /// Why not.
        why: Unchecked,
    },
}

/// A likely slip in a configured password that Asterisk sends as it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PasswordNote {
    /// `password = "secret"`: PJSIP sends the quotes as part of it.
    QuotesKept,
    /// A `;` right after it started a comment: the password was cut there
    /// (a `;` in a password is written `\;`).
    CutAtComment,
    /// The line had spaces after it, which Asterisk strips (a password
    /// pasted from a provider's portal): a password that really ends with
    /// a space cannot be configured.
    TrailingSpaceStripped,
}

/// How the password sent differs from the configured one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Alteration {
    /// Without the quotes the configured value has.
    WithoutQuotes,
    /// With the spaces after it that the line holds and Asterisk strips.
    WithTrailingSpace,
}

/// Why a digest could not be checked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unchecked {
    /// An algorithm sipwatch cannot compute, as written.
    Algorithm(String),
    /// `md5_cred` (`auth_type=md5`) against a digest that is not MD5.
    Md5CredForOtherAlgorithm,
}

/// Checks `proof` (a refused REGISTER's digest) against `secret` (the
/// configured password or `md5_cred`).
pub fn check(
    proof: &DigestProof,
    secret: &Secret,
    username_configured: Option<&str>,
) -> PasswordCheck {
    let algorithm = proof.algorithm.as_deref().unwrap_or("MD5");
    if hash(algorithm, b"").is_none() {
        return PasswordCheck::Unchecked {
            why: Unchecked::Algorithm(algorithm.to_owned()),
        };
    }
    let matches = |password: &str| -> bool {
        let r = match secret.kind {
            SecretKind::Password => response_of(proof, ha1(proof, algorithm, password)),
            SecretKind::Md5Cred => response_of(proof, Some(password.to_ascii_lowercase())),
        };
        r.as_deref() == Some(proof.response.as_str())
    };
    if secret.kind == SecretKind::Md5Cred && !base(algorithm).eq_ignore_ascii_case("MD5") {
        return PasswordCheck::Unchecked {
            why: Unchecked::Md5CredForOtherAlgorithm,
        };
    }
    let value = secret.value.as_str();
    if matches(value) {
        let mut notes = Vec::new();
        if value.len() >= 2 && value.starts_with('"') && value.ends_with('"') {
            notes.push(PasswordNote::QuotesKept);
        }
        if secret.cut_by_comment {
            notes.push(PasswordNote::CutAtComment);
        }
        // The whitespace after `=` is layout; after the value, pasted.
        if secret.raw.trim_start() != value && !secret.cut_by_comment {
            notes.push(PasswordNote::TrailingSpaceStripped);
        }
        return PasswordCheck::SentAsConfigured { notes };
    }
    let unquoted = value.trim_matches('"');
    if unquoted != value && matches(unquoted) {
        return PasswordCheck::SentAltered {
            how: Alteration::WithoutQuotes,
        };
    }
    let pasted = secret.raw.trim_start();
    if pasted != value && pasted.trim_end() == value && matches(pasted) {
        return PasswordCheck::SentAltered {
            how: Alteration::WithTrailingSpace,
        };
    }
    PasswordCheck::NotConfigured {
        username_sent: proof.username.clone(),
        username_configured: username_configured
            .filter(|u| *u != proof.username)
            .map(str::to_owned),
    }
}

/// The `response` a client with `password` computes (RFC 7616 §3.4.1),
/// lower case hex; `None` for an algorithm not computed here. `request`:
/// method, digest-uri and body; `qop`: (qop, nc, cnonce) when chosen.
pub fn response(
    algorithm: &str,
    username: &str,
    realm: &str,
    password: &str,
    request: (&str, &str, &[u8]),
    nonce: &str,
    qop: Option<(&str, &str, &str)>,
) -> Option<String> {
    let (method, uri, body) = request;
    let proof = DigestProof {
        method: method.to_owned(),
        username: username.to_owned(),
        realm: realm.to_owned(),
        nonce: nonce.to_owned(),
        uri: uri.to_owned(),
        algorithm: Some(algorithm.to_owned()),
        qop: qop.map(|q| q.0.to_owned()),
        nc: qop.map(|q| q.1.to_owned()),
        cnonce: qop.map(|q| q.2.to_owned()),
        response: String::new(),
        body: body.to_vec(),
    };
    response_of(&proof, ha1(&proof, algorithm, password))
}

/// HA1 = H(username:realm:password), for `-sess` H(that:nonce:cnonce).
fn ha1(proof: &DigestProof, algorithm: &str, password: &str) -> Option<String> {
    hash(
        algorithm,
        format!("{}:{}:{password}", proof.username, proof.realm).as_bytes(),
    )
}

/// The response from HA1 (before any `-sess` step).
fn response_of(proof: &DigestProof, ha1: Option<String>) -> Option<String> {
    let algorithm = proof.algorithm.as_deref().unwrap_or("MD5");
    let mut ha1 = ha1?;
    if is_sess(algorithm) {
        let cnonce = proof.cnonce.as_deref().unwrap_or_default();
        ha1 = hash(
            algorithm,
            format!("{ha1}:{}:{cnonce}", proof.nonce).as_bytes(),
        )?;
    }
    let qop = proof.qop.as_deref().map(str::trim);
    let ha2 = if qop.is_some_and(|q| q.eq_ignore_ascii_case("auth-int")) {
        let body = hash(algorithm, &proof.body)?;
        hash(
            algorithm,
            format!("{}:{}:{body}", proof.method, proof.uri).as_bytes(),
        )?
    } else {
        hash(
            algorithm,
            format!("{}:{}", proof.method, proof.uri).as_bytes(),
        )?
    };
    let text = match qop {
        Some(qop) => format!(
            "{ha1}:{}:{}:{}:{qop}:{ha2}",
            proof.nonce,
            proof.nc.as_deref().unwrap_or_default(),
            proof.cnonce.as_deref().unwrap_or_default()
        ),
        None => format!("{ha1}:{}:{ha2}", proof.nonce),
    };
    hash(algorithm, text.as_bytes())
}

fn is_sess(algorithm: &str) -> bool {
    algorithm.to_ascii_lowercase().ends_with("-sess")
}

/// The algorithm without `-sess`.
fn base(algorithm: &str) -> &str {
    if is_sess(algorithm) {
        &algorithm[..algorithm.len() - "-sess".len()]
    } else {
        algorithm
    }
}

/// H(data) in lower case hex, for the algorithms RFC 7616 §3.3 and RFC 8760
/// name; `None` for any other.
fn hash(algorithm: &str, data: &[u8]) -> Option<String> {
    let bytes: Vec<u8> = match base(algorithm).to_ascii_uppercase().as_str() {
        "MD5" => Md5::digest(data).to_vec(),
        "SHA-256" => Sha256::digest(data).to_vec(),
        "SHA-512-256" => Sha512_256::digest(data).to_vec(),
        _ => return None,
    };
    Some(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    /// RFC 7616 §3.9.1: the same request under MD5 and SHA-256.
    const NONCE: &str = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
    const CNONCE: &str = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";

    fn rfc7616(algorithm: &str) -> Option<String> {
        response(
            algorithm,
            "Mufasa",
            "http-auth@example.org",
            "Circle of Life",
            ("GET", "/dir/index.html", b""),
            NONCE,
            Some(("auth", "00000001", CNONCE)),
        )
    }

    #[test]
    fn the_rfc_7616_worked_examples_are_reproduced() {
        assert_eq!(
            rfc7616("MD5").as_deref(),
            Some("8ca523f5e9506fed4657c9700eebdbec")
        );
        assert_eq!(
            rfc7616("SHA-256").as_deref(),
            Some("753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1")
        );
        assert_eq!(rfc7616("SHA-1"), None);
    }

    #[test]
    fn without_qop_the_rfc_2069_form_is_used() {
        // H(HA1:nonce:HA2), as chan_sip and many registrars challenge.
        let ha1 = hash("MD5", b"alice:pbx:s3cret").unwrap();
        let ha2 = hash("MD5", b"REGISTER:sip:203.0.113.2").unwrap();
        let want = hash("MD5", format!("{ha1}:abc:{ha2}").as_bytes()).unwrap();
        let got = response(
            "MD5",
            "alice",
            "pbx",
            "s3cret",
            ("REGISTER", "sip:203.0.113.2", b""),
            "abc",
            None,
        );
        assert_eq!(got, Some(want));
    }

    fn proof(algorithm: &str, password: &str, qop: Option<&str>) -> DigestProof {
        let qop3 = qop.map(|q| (q, "00000001", "0a4f113b"));
        let request = ("REGISTER", "sip:sip.example.net", &b""[..]);
        let nonce = "5f0c2e41";
        DigestProof {
            method: "REGISTER".into(),
            username: "trunk1".into(),
            realm: "sip.example.net".into(),
            nonce: nonce.into(),
            uri: "sip:sip.example.net".into(),
            algorithm: Some(algorithm.into()),
            qop: qop.map(str::to_owned),
            nc: qop3.map(|q| q.1.to_owned()),
            cnonce: qop3.map(|q| q.2.to_owned()),
            response: response(
                algorithm,
                "trunk1",
                "sip.example.net",
                password,
                request,
                nonce,
                qop3,
            )
            .unwrap(),
            body: Vec::new(),
        }
    }

    fn secret(value: &str, raw: &str, cut: bool) -> Secret {
        Secret {
            line: 12,
            file: PathBuf::from("pjsip.conf"),
            kind: SecretKind::Password,
            value: value.into(),
            raw: raw.into(),
            cut_by_comment: cut,
        }
    }

    #[test]
    fn the_configured_password_sent_as_is_is_told_for_every_algorithm_and_qop() {
        for algorithm in [
            "MD5",
            "MD5-sess",
            "SHA-256",
            "SHA-256-sess",
            "SHA-512-256",
            "SHA-512-256-sess",
        ] {
            for qop in [None, Some("auth"), Some("auth-int")] {
                let p = proof(algorithm, "Pa55word", qop);
                let s = secret("Pa55word", "Pa55word", false);
                assert_eq!(
                    check(&p, &s, Some("trunk1")),
                    PasswordCheck::SentAsConfigured { notes: vec![] },
                    "{algorithm} {qop:?}"
                );
                let other = secret("Pa55w0rd", "Pa55w0rd", false);
                assert_eq!(
                    check(&p, &other, Some("trunk1")),
                    PasswordCheck::NotConfigured {
                        username_sent: "trunk1".into(),
                        username_configured: None
                    },
                    "{algorithm} {qop:?}"
                );
            }
        }
    }

    #[test]
    fn the_usual_slips_are_named() {
        // Quotes kept: Asterisk sends them.
        let p = proof("MD5", "\"Pa55\"", Some("auth"));
        let s = secret("\"Pa55\"", "\"Pa55\"", false);
        assert_eq!(
            check(&p, &s, None),
            PasswordCheck::SentAsConfigured {
                notes: vec![PasswordNote::QuotesKept]
            }
        );
        // The running Asterisk had it without the quotes.
        let p = proof("MD5", "Pa55", Some("auth"));
        assert_eq!(
            check(&p, &s, None),
            PasswordCheck::SentAltered {
                how: Alteration::WithoutQuotes
            }
        );
        // Cut at a `;`.
        let s = secret("abc", "abc", true);
        let p = proof("SHA-256", "abc", None);
        assert_eq!(
            check(&p, &s, None),
            PasswordCheck::SentAsConfigured {
                notes: vec![PasswordNote::CutAtComment]
            }
        );
        // The space after `=` is layout.
        assert_eq!(
            check(
                &proof("MD5", "abc", None),
                &secret("abc", " abc", false),
                None
            ),
            PasswordCheck::SentAsConfigured { notes: vec![] }
        );
        // A pasted trailing space, stripped by Asterisk.
        let s = secret("abc", " abc ", false);
        assert_eq!(
            check(&proof("MD5", "abc", None), &s, None),
            PasswordCheck::SentAsConfigured {
                notes: vec![PasswordNote::TrailingSpaceStripped]
            }
        );
        assert_eq!(
            check(&proof("MD5", "abc ", None), &s, None),
            PasswordCheck::SentAltered {
                how: Alteration::WithTrailingSpace
            }
        );
    }

    #[test]
    fn another_user_name_configured_is_said_and_odd_algorithms_are_not_guessed() {
        let p = proof("MD5", "x", None);
        assert_eq!(
            check(&p, &secret("y", "y", false), Some("account-42")),
            PasswordCheck::NotConfigured {
                username_sent: "trunk1".into(),
                username_configured: Some("account-42".into())
            }
        );
        let mut p = proof("MD5", "x", None);
        p.algorithm = Some("SHA-1".into());
        assert_eq!(
            check(&p, &secret("x", "x", false), None),
            PasswordCheck::Unchecked {
                why: Unchecked::Algorithm("SHA-1".into())
            }
        );
    }

    #[test]
    fn an_md5_cred_is_checked_as_ha1() {
        let p = proof("MD5", "s3cret", Some("auth"));
        let ha1 = hash("MD5", b"trunk1:sip.example.net:s3cret").unwrap();
        let s = Secret {
            kind: SecretKind::Md5Cred,
            ..secret(&ha1, &ha1, false)
        };
        assert_eq!(
            check(&p, &s, None),
            PasswordCheck::SentAsConfigured { notes: vec![] }
        );
        let p = proof("SHA-256", "s3cret", Some("auth"));
        assert_eq!(
            check(&p, &s, None),
            PasswordCheck::Unchecked {
                why: Unchecked::Md5CredForOtherAlgorithm
            }
        );
    }
}
