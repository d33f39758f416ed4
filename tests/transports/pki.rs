//! TLS material (rcgen) and TLS clients (rustls) for the transport tests.

use super::*;

/// A throwaway CA, a server certificate for 127.0.0.1/localhost and a client certificate, as
/// PEM files in a directory (for the router) and DER (for the test's clients).
pub(crate) struct Pki {
    pub(crate) ca_pem: PathBuf,
    pub(crate) server_key: PathBuf,
    pub(crate) server_crt: PathBuf,
    pub(crate) ca_der: rustls::pki_types::CertificateDer<'static>,
    pub(crate) client_crt_der: rustls::pki_types::CertificateDer<'static>,
    pub(crate) client_key_der: Vec<u8>,
    /// A client certificate from another CA.
    pub(crate) rogue_crt_der: rustls::pki_types::CertificateDer<'static>,
    pub(crate) rogue_key_der: Vec<u8>,
}

pub(crate) fn make_ca(cn: &str) -> (rcgen::CertificateParams, rcgen::KeyPair, rcgen::Certificate) {
    let key = rcgen::KeyPair::generate().expect("CA key");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    let cert = params.self_signed(&key).expect("self-sign the CA");
    (params, key, cert)
}

pub(crate) fn make_leaf(
    issuer: &rcgen::Issuer<'_, &rcgen::KeyPair>,
    names: &[&str],
    cn: &str,
    eku: rcgen::ExtendedKeyUsagePurpose,
) -> (rcgen::KeyPair, rcgen::Certificate) {
    let key = rcgen::KeyPair::generate().expect("leaf key");
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let mut params = rcgen::CertificateParams::new(names).expect("leaf params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    params.extended_key_usages = vec![eku];
    params.use_authority_key_identifier_extension = true;
    let cert = params.signed_by(&key, issuer).expect("sign the leaf");
    (key, cert)
}

/// Makes the CA, the server and the client certificates; writes `ca.pem`, `server.key` and
/// `server.crt` (PEM, PKCS#8 key) into `dir` (the names the config examples use).
pub(crate) fn make_pki(dir: &Path) -> Pki {
    let (ca_params, ca_key, ca_cert) = make_ca("ferrobar test CA");
    let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);
    let (server_key, server_cert) = make_leaf(
        &issuer,
        &["127.0.0.1", "localhost"],
        "127.0.0.1",
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
    );
    let (client_key, client_cert) = make_leaf(
        &issuer,
        &[],
        "test client",
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
    );
    let (rogue_params, rogue_ca_key, _) = make_ca("some other CA");
    let rogue_issuer = rcgen::Issuer::from_params(&rogue_params, &rogue_ca_key);
    let (rogue_key, rogue_cert) = make_leaf(
        &rogue_issuer,
        &[],
        "rogue client",
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
    );
    let pki = Pki {
        ca_pem: dir.join("ca.pem"),
        server_key: dir.join("server.key"),
        server_crt: dir.join("server.crt"),
        ca_der: ca_cert.der().clone(),
        client_crt_der: client_cert.der().clone(),
        client_key_der: client_key.serialize_der(),
        rogue_crt_der: rogue_cert.der().clone(),
        rogue_key_der: rogue_key.serialize_der(),
    };
    std::fs::write(&pki.ca_pem, ca_cert.pem()).unwrap();
    std::fs::write(&pki.server_key, server_key.serialize_pem()).unwrap();
    std::fs::write(&pki.server_crt, server_cert.pem()).unwrap();
    pki
}

#[derive(Clone, Copy, PartialEq)]
pub(crate) enum ClientCert {
    None,
    Good,
    Rogue,
}

pub(crate) fn tls_config(pki: &Pki, cert: ClientCert) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca_der.clone()).expect("add the test CA");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots);
    let key = |der: &Vec<u8>| {
        rustls::pki_types::PrivateKeyDer::Pkcs8(rustls::pki_types::PrivatePkcs8KeyDer::from(
            der.clone(),
        ))
    };
    let config = match cert {
        ClientCert::None => builder.with_no_client_auth(),
        ClientCert::Good => builder
            .with_client_auth_cert(vec![pki.client_crt_der.clone()], key(&pki.client_key_der))
            .expect("client cert"),
        ClientCert::Rogue => builder
            .with_client_auth_cert(vec![pki.rogue_crt_der.clone()], key(&pki.rogue_key_der))
            .expect("rogue cert"),
    };
    Arc::new(config)
}

/// A TLS connection to 127.0.0.1:`port` (verifying the server certificate for 127.0.0.1);
/// the handshake runs on the first read or write.
pub(crate) fn tls(port: u16, pki: &Pki, cert: ClientCert) -> Tls {
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let conn = rustls::ClientConnection::new(tls_config(pki, cert), name).expect("TLS client");
    rustls::StreamOwned::new(conn, tcp(port))
}

/// GET `path` over `s` (HTTP/1.1, Connection: close); the whole answer.
pub(crate) fn get_over(
    s: &mut impl Conn,
    port: u16,
    path: &str,
) -> Result<Vec<u8>, std::io::Error> {
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes())?;
    s.flush()?;
    let deadline = Instant::now() + T;
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        assert!(
            Instant::now() < deadline,
            "no complete answer to GET {path}"
        );
        s.set_timeout(deadline - Instant::now());
        match s.read(&mut buf) {
            Ok(0) => return Ok(out),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if is_timeout(&e) || e.kind() == ErrorKind::Interrupted => {}
            Err(e) if !out.is_empty() => {
                let _ = e;
                return Ok(out);
            }
            Err(e) => return Err(e),
        }
    }
}
