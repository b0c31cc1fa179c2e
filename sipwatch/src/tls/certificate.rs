//! The server's certificate as a handshake carries it (in clear in TLS 1.2,
//! opened with the key log in TLS 1.3): the names it covers and its
//! validity, what a client that rejects it checked (RFC 5280 §4.1.2.5,
//! RFC 5922 §7.2).
use std::time::{Duration, SystemTime};

/// What sipwatch reads of the server's own (end-entity) certificate.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Certificate {
    /// Its subject, as a distinguished name.
    pub subject: String,
    /// Its issuer.
    pub issuer: String,
    /// Its DNS names (subjectAltName); the subject's CN when it has none.
    pub names: Vec<String>,
    /// Not valid before this time.
    #[serde(serialize_with = "rfc3339")]
    pub not_before: SystemTime,
    /// Not valid after this time.
    #[serde(serialize_with = "rfc3339")]
    pub not_after: SystemTime,
}

fn rfc3339<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::time::rfc3339(*t))
}

impl Certificate {
    /// Whether it was out of its validity period at `when`.
    pub fn out_of_date(&self, when: SystemTime) -> bool {
        when > self.not_after || when < self.not_before
    }
}

/// How a name matches the end-entity certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NameMatch {
    /// A DNS name of the certificate is the name.
    Exact,
    /// Only a wildcard covers it, which RFC 5922 §7.2 does not accept for a
    /// SIP domain (many stacks, PJSIP's included, accept it still).
    Wildcard,
    /// Not covered.
    No,
}

/// `name` against the certificate's DNS names (the CN only when there are
/// none), case-insensitive; `*.` covers one label.
pub fn name_match(name: &str, dns_names: &[String], cn: Option<&str>) -> NameMatch {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let names: Vec<String> = if dns_names.is_empty() {
        cn.into_iter().map(str::to_owned).collect()
    } else {
        dns_names.to_vec()
    };
    let mut best = NameMatch::No;
    for n in names {
        let n = n.trim_end_matches('.').to_ascii_lowercase();
        if n == name {
            return NameMatch::Exact;
        }
        if let Some(rest) = n.strip_prefix("*.")
            && let Some((_, parent)) = name.split_once('.')
            && parent == rest
        {
            best = NameMatch::Wildcard;
        }
    }
    best
}

/// The end-entity certificate of a Certificate message's `body` (RFC 5246
/// §7.4.2; TLS 1.3's adds a request context and per-entry extensions, RFC
/// 8446 §4.4.2). `None` when it holds none or it does not parse.
pub fn leaf(body: &[u8], tls13: bool) -> Option<Certificate> {
    let mut at = 0;
    if tls13 {
        at += 1 + usize::from(*body.first()?);
    }
    let u24 = |at: usize| -> Option<usize> {
        let b = body.get(at..at + 3)?;
        Some(usize::from(b[0]) << 16 | usize::from(b[1]) << 8 | usize::from(b[2]))
    };
    let _list = u24(at)?;
    let len = u24(at + 3)?;
    let der = body.get(at + 6..at + 6 + len)?;
    read(der)
}

/// A certificate's DNS names (subjectAltName), as written in it.
pub fn dns_names(cert: &x509_parser::certificate::X509Certificate<'_>) -> Vec<String> {
    use x509_parser::extensions::GeneralName;
    cert.subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|g| match g {
                    GeneralName::DNSName(n) => Some((*n).to_owned()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

fn read(der: &[u8]) -> Option<Certificate> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let mut names = dns_names(&cert);
    if names.is_empty() {
        names.extend(
            cert.subject()
                .iter_common_name()
                .filter_map(|c| c.as_str().ok().map(str::to_owned)),
        );
    }
    let time = |t: &x509_parser::time::ASN1Time| {
        let secs = t.timestamp();
        if secs >= 0 {
            SystemTime::UNIX_EPOCH + Duration::from_secs(secs as u64)
        } else {
            SystemTime::UNIX_EPOCH
        }
    };
    Some(Certificate {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        names,
        not_before: time(&cert.validity().not_before),
        not_after: time(&cert.validity().not_after),
    })
}
