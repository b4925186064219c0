//! The TLS identity of the service: a configured certificate, or one
//! generated on first start (self-signed, kept in `<data-dir>/tls/`), and
//! its SHA-256 fingerprint for clients to pin.

use anyhow::{Context, anyhow};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use salve::Sha256Digest;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

pub struct Identity {
    pub config: Arc<rustls::ServerConfig>,
    pub fingerprint: Sha256Digest,
}

/// Writes `bytes` to `path` (mode 0600) whole or not at all: into a
/// temporary file beside it, synced, then renamed over it.
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut file = tempfile::Builder::new()
        .permissions(std::fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    file.write_all(bytes)?;
    file.as_file().sync_all()?;
    file.persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    std::fs::File::open(dir)?.sync_all()?;
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
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create the TLS directory {}", dir.display()))?;
            let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
            // The certificate is written last: where it exists, its key
            // does. A start interrupted in between makes a new pair.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_identity_is_kept_and_a_half_made_one_is_made_again() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let tls = dir.path().join("tls");
        let first = identity(None, None, &tls, "pc-test")?;
        // Kept across starts: the same fingerprint for clients that pinned it.
        assert_eq!(
            identity(None, None, &tls, "pc-test")?.fingerprint,
            first.fingerprint
        );
        let mode = std::fs::metadata(tls.join("key.pem"))?.permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // A start that died after the key and before the certificate: the
        // next one makes a new pair instead of refusing to start.
        std::fs::remove_file(tls.join("cert.pem"))?;
        let again = identity(None, None, &tls, "pc-test")?;
        assert_ne!(again.fingerprint, first.fingerprint);
        assert!(
            std::fs::read_dir(&tls)?.count() == 2,
            "no temporary file left"
        );
        // A configured pair is used as it is; a broken one is named.
        let cert = tls.join("cert.pem");
        let key = tls.join("key.pem");
        assert_eq!(
            identity(Some(&cert), Some(&key), dir.path(), "x")?.fingerprint,
            again.fingerprint
        );
        std::fs::write(dir.path().join("bad.pem"), "not PEM")?;
        let error = identity(
            Some(&dir.path().join("bad.pem")),
            Some(&key),
            dir.path(),
            "x",
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(
            error.contains("holds no certificate") || error.contains("not a PEM certificate"),
            "{error}"
        );
        Ok(())
    }
}
