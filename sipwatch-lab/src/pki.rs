//! Certificates for the lab's TLS peers, made by the test that needs them:
//! a lab CA, and server certificates it signs (or that sign themselves)
//! for the names and the expiry a case needs.
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, date_time_ymd};

/// A CA made for one test.
pub struct Pki {
    /// The CA's certificate, PEM (what `--ca` reads).
    pub ca_pem: String,
    /// The CA's certificate, DER.
    pub ca_der: Vec<u8>,
    ca: Issuer<'static, KeyPair>,
}

/// A server certificate and its key.
pub struct Issued {
    /// The certificate, DER.
    pub der: Vec<u8>,
    /// The certificate, PEM.
    pub pem: String,
    /// The private key, PKCS #8 DER.
    pub key_der: Vec<u8>,
    /// The private key, PKCS #8 PEM.
    pub key_pem: String,
}

impl Default for Pki {
    fn default() -> Self {
        Pki::new()
    }
}

impl Pki {
    /// A fresh CA, `CN=Lab CA`.
    pub fn new() -> Pki {
        let key = KeyPair::generate().expect("a CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, "Lab CA");
        let cert = params.self_signed(&key).expect("the CA certificate");
        Pki {
            ca_pem: cert.pem(),
            ca_der: cert.der().to_vec(),
            ca: Issuer::new(params, key),
        }
    }

    /// A certificate for `names` (the first also its CN), valid for a year
    /// until `until` (year, month, day) or rcgen's default validity, signed
    /// by this CA or by itself.
    pub fn server(
        &self,
        names: &[&str],
        until: Option<(i32, u8, u8)>,
        self_signed: bool,
    ) -> Issued {
        let key = KeyPair::generate().expect("a server key");
        let mut params =
            CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
                .expect("server parameters");
        params.distinguished_name.push(DnType::CommonName, names[0]);
        if let Some((y, m, d)) = until {
            params.not_before = date_time_ymd(y - 1, m, d);
            params.not_after = date_time_ymd(y, m, d);
        }
        let cert = if self_signed {
            params.self_signed(&key)
        } else {
            params.signed_by(&key, &self.ca)
        }
        .expect("the server certificate");
        Issued {
            der: cert.der().to_vec(),
            pem: cert.pem(),
            key_der: key.serialize_der(),
            key_pem: key.serialize_pem(),
        }
    }
}
