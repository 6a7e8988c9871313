//! HTTPS: the server's certificate chain and key, read from PEM files into a rustls
//! configuration that offers HTTP/2 and HTTP/1.1 by ALPN. Its own module so that a bad file
//! stops the start with the file and the reason, before the socket is bound.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::{self, ServerConfig};

use crate::state::TlsFiles;

/// Why the TLS files cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{}: {reason}", path.display())]
    File { path: PathBuf, reason: String },
    #[error("the certificate and the key do not go together: {0}")]
    Mismatch(String),
}

/// The acceptor of TLS connections for `files`.
pub fn acceptor(files: &TlsFiles) -> Result<TlsAcceptor, TlsError> {
    Ok(TlsAcceptor::from(Arc::new(server_config(files)?)))
}

/// The rustls server configuration: the certificate chain (leaf first), its key, and ALPN
/// `h2` then `http/1.1`.
pub fn server_config(files: &TlsFiles) -> Result<ServerConfig, TlsError> {
    let chain = certificates(&files.cert)?;
    let key = private_key(&files.key)?;
    // ring, explicitly: the build holds two rustls providers (reqwest's and lettre's), and
    // rustls refuses to guess between them.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Mismatch(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Mismatch(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let file_error = |reason: String| TlsError::File {
        path: path.to_owned(),
        reason,
    };
    let chain = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error(pem_reason(&e)))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(pem_reason(&e)))?;
    if chain.is_empty() {
        return Err(file_error(
            "holds no certificate (expected PEM blocks \"BEGIN CERTIFICATE\")".into(),
        ));
    }
    Ok(chain)
}

fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| TlsError::File {
        path: path.to_owned(),
        reason: match e {
            rustls_pki_types::pem::Error::NoItemsFound => {
                "holds no private key (expected a PEM block \"BEGIN PRIVATE KEY\", \
                 \"BEGIN RSA PRIVATE KEY\" or \"BEGIN EC PRIVATE KEY\")"
                    .into()
            }
            other => pem_reason(&other),
        },
    })
}

fn pem_reason(e: &rustls_pki_types::pem::Error) -> String {
    match e {
        rustls_pki_types::pem::Error::Io(io) => io.to_string(),
        other => format!("not a readable PEM file ({other:?})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write");
        path
    }

    #[test]
    fn a_certificate_and_its_key_make_a_config_offering_h2_then_http1() {
        let dir = tempfile::tempdir().expect("dir");
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("cert");
        let files = TlsFiles {
            cert: write(dir.path(), "cert.pem", &cert.cert.pem()),
            key: write(dir.path(), "key.pem", &cert.signing_key.serialize_pem()),
        };
        let config = server_config(&files).expect("config");
        assert_eq!(
            config.alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );
    }

    #[test]
    fn missing_empty_or_mismatched_files_name_the_file_and_the_reason() {
        let dir = tempfile::tempdir().expect("dir");
        let one = rcgen::generate_simple_self_signed(vec!["a".into()]).expect("cert");
        let other = rcgen::generate_simple_self_signed(vec!["b".into()]).expect("cert");
        let cert = write(dir.path(), "cert.pem", &one.cert.pem());
        let key = write(dir.path(), "key.pem", &one.signing_key.serialize_pem());
        let other_key = write(dir.path(), "other.pem", &other.signing_key.serialize_pem());
        let empty = write(dir.path(), "empty.pem", "");

        let missing = dir.path().join("nope.pem");
        let e = server_config(&TlsFiles {
            cert: missing.clone(),
            key: key.clone(),
        })
        .expect_err("missing");
        assert!(
            e.to_string().starts_with(&missing.display().to_string()),
            "{e}"
        );

        let e = server_config(&TlsFiles {
            cert: empty.clone(),
            key: key.clone(),
        })
        .expect_err("empty");
        assert!(e.to_string().contains("holds no certificate"), "{e}");

        let e = server_config(&TlsFiles {
            cert: cert.clone(),
            key: empty,
        })
        .expect_err("no key");
        assert!(e.to_string().contains("holds no private key"), "{e}");

        let e = server_config(&TlsFiles {
            cert,
            key: other_key,
        })
        .expect_err("mismatch");
        assert!(matches!(e, TlsError::Mismatch(_)), "{e}");
    }
}
