//! TLS for listening endpoints (rustls): the server configuration built once per endpoint from
//! the Crossbar `tls` block. The per-connection state machine is rustls' own `ServerConnection`,
//! driven by the reactor: ciphertext in, plaintext out, and back.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use thiserror::Error;

/// Why an endpoint's TLS configuration cannot be used.
#[derive(Debug, Error)]
pub enum TlsSetupError {
    /// A PEM file could not be read or holds nothing usable.
    #[error("{}: {reason}", file.display())]
    File {
        /// The file.
        file: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// rustls refused the key, certificates or CA set.
    #[error("TLS configuration: {0}")]
    Rustls(String),
}

/// When the first certificate in the PEM file `path` expires, in seconds since the Unix epoch
/// (for the `ferrobar_tls_certificate_expiry_timestamp_seconds` metric).
pub fn certificate_expiry(path: &Path) -> Result<i64, TlsSetupError> {
    let certs = certificates(path)?;
    let first = certs.first().ok_or_else(|| TlsSetupError::File {
        file: path.to_path_buf(),
        reason: "no PEM certificate in the file".into(),
    })?;
    let (_, cert) =
        x509_parser::parse_x509_certificate(first.as_ref()).map_err(|e| TlsSetupError::File {
            file: path.to_path_buf(),
            reason: format!("not an X.509 certificate: {e}"),
        })?;
    Ok(cert.validity().not_after.timestamp())
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let file_err = |reason: String| TlsSetupError::File {
        file: path.to_path_buf(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_err(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_err(e.to_string()))?;
    if certs.is_empty() {
        return Err(file_err("no PEM certificate in the file".into()));
    }
    Ok(certs)
}

/// Builds the server configuration: the certificate followed by the chain, the private key,
/// and, when `ca_certificates` are given, required client certificates verified against them.
pub fn server_config(
    key: &Path,
    certificate: &Path,
    chain: &[PathBuf],
    ca_certificates: &[PathBuf],
) -> Result<Arc<ServerConfig>, TlsSetupError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut certs = certificates(certificate)?;
    for c in chain {
        certs.extend(certificates(c)?);
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsSetupError::File {
        file: key.to_path_buf(),
        reason: e.to_string(),
    })?;
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsSetupError::Rustls(e.to_string()))?;
    let builder = if ca_certificates.is_empty() {
        builder.with_no_client_auth()
    } else {
        let mut roots = RootCertStore::empty();
        for path in ca_certificates {
            for cert in certificates(path)? {
                roots.add(cert).map_err(|e| TlsSetupError::File {
                    file: path.clone(),
                    reason: e.to_string(),
                })?;
            }
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| TlsSetupError::Rustls(e.to_string()))?;
        builder.with_client_cert_verifier(verifier)
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| TlsSetupError::Rustls(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod expiry_tests {
    #[test]
    fn the_expiry_is_the_first_certificates_not_after() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
        params.not_after = rcgen::date_time_ymd(2031, 5, 6);
        let cert = params.self_signed(&key).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.crt");
        std::fs::write(&path, cert.pem()).unwrap();
        // 2031-05-06T00:00:00Z
        assert_eq!(super::certificate_expiry(&path).unwrap(), 1_935_792_000);
        std::fs::write(&path, "not a certificate").unwrap();
        assert!(super::certificate_expiry(&path).is_err());
    }
}
