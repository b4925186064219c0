//! The TLS identity of the service: a configured certificate, or one
//! generated on first start (self-signed, kept in `<data-dir>/tls/`), and
//! its SHA-256 fingerprint for clients to pin.

use anyhow::{Context, anyhow};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use salve::Sha256Digest;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Arc;

pub struct Identity {
    pub config: Arc<rustls::ServerConfig>,
    pub fingerprint: Sha256Digest,
}

fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(())
}

/// Loads `cert`/`key`, or the generated pair in `dir` (made if missing).
pub fn identity(
    cert: Option<&Path>,
    key: Option<&Path>,
    dir: &Path,
    endpoint: &str,
) -> anyhow::Result<Identity> {
    let (cert_path, key_path) = match (cert, key) {
        (Some(cert), Some(key)) => (cert.to_path_buf(), key.to_path_buf()),
        _ => {
            std::fs::create_dir_all(dir)?;
            let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
            if !cert.exists() {
                let names = vec![endpoint.to_string(), "localhost".to_string()];
                let made = rcgen::generate_simple_self_signed(names)
                    .context("cannot generate a TLS certificate")?;
                write_private(&key, made.signing_key.serialize_pem().as_bytes())?;
                write_private(&cert, made.cert.pem().as_bytes())?;
                tracing::info!(path = %cert.display(), "generated a self-signed TLS certificate");
            }
            (cert, key)
        }
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert_path)
        .and_then(|i| i.collect::<Result<_, _>>())
        .map_err(|e| anyhow!("{}: not a PEM certificate ({e})", cert_path.display()))?;
    let first = certs
        .first()
        .ok_or_else(|| anyhow!("{} holds no certificate", cert_path.display()))?;
    let fingerprint = Sha256Digest::of(first.as_ref());
    let key = PrivateKeyDer::from_pem_file(&key_path)
        .map_err(|e| anyhow!("{}: not a PEM private key ({e})", key_path.display()))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .context("TLS versions")?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .context("the TLS certificate and key do not go together")?;
    Ok(Identity {
        config: Arc::new(config),
        fingerprint,
    })
}
