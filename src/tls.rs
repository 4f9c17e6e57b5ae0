//! The certificates rcptsync trusts when it speaks TLS (LDAPS/StartTLS to the directory,
//! STARTTLS to a gateway): a configured CA file, or the system trust store. Verification is
//! always on; this is the only place that decides what it verifies against.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;

/// Why the trust anchors or the TLS settings could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The CA file is unreadable or holds no usable certificate.
    #[error("ca_file {path}: {reason}")]
    CaFile {
        /// The CA file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// rustls refused the configuration.
    #[error("TLS setup: {0}")]
    Setup(String),
}

/// The certificates in `ca_file`, or the system's when there is none.
pub fn roots(ca_file: Option<&Path>) -> Result<rustls::RootCertStore, Error> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            for cert in file_certificates(path)? {
                roots.add(cert).map_err(|e| Error::CaFile {
                    path: path.display().to_string(),
                    reason: format!("unusable certificate: {e}"),
                })?;
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                // A single broken system certificate must not disable TLS altogether.
                let _ = roots.add(cert);
            }
        }
    }
    Ok(roots)
}

/// The system's certificates plus those in `ca_file`: extra trust anchors for a service whose
/// public certificate the system store verifies, where a TLS-inspecting proxy (or a test's
/// own CA) must be trusted as well.
pub fn system_and(ca_file: Option<&Path>) -> Result<Vec<CertificateDer<'static>>, Error> {
    let mut certs = rustls_native_certs::load_native_certs().certs;
    if let Some(path) = ca_file {
        certs.extend(file_certificates(path)?);
    }
    Ok(certs)
}

/// The PEM certificates in `path`; none at all is an error.
fn file_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let ca_error = |reason: String| Error::CaFile {
        path: path.display().to_string(),
        reason,
    };
    let pem = fs_err::read(path).map_err(|e| ca_error(e.to_string()))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ca_error(format!("not a PEM certificate file: {e}")))?;
    if certs.is_empty() {
        return Err(ca_error("no PEM certificate in the file".into()));
    }
    Ok(certs)
}

/// A client configuration verifying servers against `roots`.
pub fn client_config(roots: rustls::RootCertStore) -> Result<Arc<rustls::ClientConfig>, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Setup(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
