//! The trusted roots of a TLS client (`doctor`'s TLS step, `--hep tls:`):
//! the system's, and a private CA's from a PEM file.
use std::{io, path::Path};

use rustls::{
    RootCertStore,
    pki_types::{CertificateDer, pem::PemObject},
};

/// The trusted roots: the system's (rustls-native-certs: the OpenSSL paths,
/// `SSL_CERT_FILE` / `SSL_CERT_DIR`) and those of `ca`.
pub fn roots(ca: Option<&Path>) -> io::Result<RootCertStore> {
    let mut store = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    store.add_parsable_certificates(native.certs);
    if let Some(ca) = ca {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(ca)
            .map_err(|e| io::Error::other(format!("reading {}: {e}", ca.display())))?
            .collect::<Result<_, _>>()
            .map_err(|e| io::Error::other(format!("reading {}: {e}", ca.display())))?;
        if certs.is_empty() {
            return Err(io::Error::other(format!(
                "{}: no PEM certificate",
                ca.display()
            )));
        }
        for c in certs {
            store
                .add(c)
                .map_err(|e| io::Error::other(format!("{}: {e}", ca.display())))?;
        }
    }
    Ok(store)
}
