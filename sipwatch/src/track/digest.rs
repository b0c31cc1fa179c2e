//! Digest algorithms as a type, so that "which algorithm was asked, which
//! was used" is compared on meaning, not on spelling: no `algorithm=` means
//! MD5 (RFC 7616 §3.3, RFC 3261 §22.4), and names compare without case.
//!
//! ```
//! use sipwatch::track::DigestAlgorithm;
//! assert_eq!(DigestAlgorithm::named(None), DigestAlgorithm::Md5);
//! assert_eq!(DigestAlgorithm::named(Some("sha-256")), DigestAlgorithm::Sha256);
//! ```
use serde::{Serialize, Serializer};

use crate::sip::fields::Challenge;

/// A digest algorithm, as an `algorithm=` parameter names it in a
/// WWW-Authenticate / Proxy-Authenticate challenge or in the Authorization
/// that answers it (RFC 7616 §3.3; for SIP, RFC 8760).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DigestAlgorithm {
    /// `MD5`, also what a missing `algorithm=` means: the one every SIP stack
    /// (chan_sip included) answers.
    Md5,
    /// `MD5-sess`: MD5 with HA1 computed once per session over the server
    /// and client nonces (RFC 7616 §3.4.2).
    Md5Sess,
    /// `SHA-256`: answered by Asterisk PJSIP from 20.12.0, 21.7.0 and 22.2.0,
    /// never by chan_sip ([`crate::pbx::asterisk::has_sha256`]).
    Sha256,
    /// `SHA-256-sess`: the session variant of SHA-256.
    Sha256Sess,
    /// `SHA-512-256`: SHA-512 truncated to 256 bits.
    Sha512_256,
    /// `SHA-512-256-sess`: the session variant of SHA-512-256.
    Sha512_256Sess,
    /// Anything else, as written.
    Other(String),
}

impl DigestAlgorithm {
    /// The algorithm an `algorithm=` parameter names; absent means MD5.
    pub fn named(name: Option<&str>) -> DigestAlgorithm {
        let Some(name) = name.map(str::trim) else {
            return DigestAlgorithm::Md5;
        };
        match name.to_ascii_uppercase().as_str() {
            "MD5" => DigestAlgorithm::Md5,
            "MD5-SESS" => DigestAlgorithm::Md5Sess,
            "SHA-256" => DigestAlgorithm::Sha256,
            "SHA-256-SESS" => DigestAlgorithm::Sha256Sess,
            "SHA-512-256" => DigestAlgorithm::Sha512_256,
            "SHA-512-256-SESS" => DigestAlgorithm::Sha512_256Sess,
            _ => DigestAlgorithm::Other(name.to_owned()),
        }
    }

    /// Every algorithm a 401/407 offers, one per challenge header, in order.
    pub fn offered(challenges: &[Challenge]) -> Vec<DigestAlgorithm> {
        challenges
            .iter()
            .filter(|c| c.scheme.eq_ignore_ascii_case("digest"))
            .map(|c| DigestAlgorithm::named(c.algorithm.as_deref()))
            .collect()
    }

    /// MD5 and MD5-sess: what every SIP stack can answer.
    pub fn is_md5(&self) -> bool {
        matches!(self, DigestAlgorithm::Md5 | DigestAlgorithm::Md5Sess)
    }

    /// The IANA name, as it appears on the wire.
    pub fn name(&self) -> &str {
        match self {
            DigestAlgorithm::Md5 => "MD5",
            DigestAlgorithm::Md5Sess => "MD5-sess",
            DigestAlgorithm::Sha256 => "SHA-256",
            DigestAlgorithm::Sha256Sess => "SHA-256-sess",
            DigestAlgorithm::Sha512_256 => "SHA-512-256",
            DigestAlgorithm::Sha512_256Sess => "SHA-512-256-sess",
            DigestAlgorithm::Other(name) => name,
        }
    }
}

impl Serialize for DigestAlgorithm {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}
