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
