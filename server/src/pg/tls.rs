//! TLS for the Postgres protocol (`[server.tls]`): rustls with the ring provider, the
//! certificate chain and key read from PEM files at start, so a bad path or a key that does not
//! match fails the start with the file named, not the first client.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

use crate::config::TlsConfig;
use crate::ServerError;

/// What pgwire takes to offer TLS.
pub type TlsAcceptor = datafusion_postgres::pgwire::tokio::TlsAcceptor;

fn open(path: &Path, what: &str) -> Result<BufReader<File>, ServerError> {
    File::open(path).map(BufReader::new).map_err(|error| {
        ServerError::Config(format!("[server.tls] {what} {}: {error}", path.display()))
    })
}

/// The acceptor for `settings`.
pub fn acceptor(settings: &TlsConfig) -> Result<TlsAcceptor, ServerError> {
    let certificates = rustls_pemfile::certs(&mut open(&settings.cert, "cert")?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| {
            ServerError::Config(format!(
                "[server.tls] cert {}: {error}",
                settings.cert.display()
            ))
        })?;
    if certificates.is_empty() {
        return Err(ServerError::Config(format!(
            "[server.tls] cert {}: no PEM certificate in the file",
            settings.cert.display()
        )));
    }
    let key = rustls_pemfile::private_key(&mut open(&settings.key, "key")?)
        .map_err(|error| {
            ServerError::Config(format!(
                "[server.tls] key {}: {error}",
                settings.key.display()
            ))
        })?
        .ok_or_else(|| {
            ServerError::Config(format!(
                "[server.tls] key {}: no PEM private key in the file",
                settings.key.display()
            ))
        })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| ServerError::Config(format!("[server.tls]: {error}")))?
        .with_no_client_auth()
        .with_single_cert(certificates, key)
        .map_err(|error| {
            ServerError::Config(format!(
                "[server.tls] cert {} and key {}: {error}",
                settings.cert.display(),
                settings.key.display()
            ))
        })?;
    // PostgreSQL 17 clients negotiating TLS directly (sslnegotiation=direct) require it.
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
