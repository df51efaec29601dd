//! How a [`super::PgLog`] reaches its database: the address, and TLS as libpq does it.
//!
//! tokio-postgres parses addresses but knows only `sslmode=disable|prefer|require` and no
//! certificate files, and it leaves encryption to a connector. People who run PostgreSQL
//! write addresses for libpq (`psql`, every driver built on it), so shiftlog reads the same
//! parameters with the same meanings and defaults, and encrypts with rustls
//! (tokio-postgres-rustls, ring): no OpenSSL to install on the machine.
//!
//! | `sslmode` | encrypted | certificate checked | host name checked |
//! |---|---|---|---|
//! | `disable` | no | | |
//! | `prefer` (default) | when the server offers it | only when root certificates are found | no |
//! | `require` | yes, or no connection | only when root certificates are found | no |
//! | `verify-ca` | yes | against the roots (needed) | no |
//! | `verify-full` | yes | against the roots (needed) | yes |
//!
//! Root certificates come from `sslrootcert=FILE` (PEM), `sslrootcert=system` (the
//! machine's store), or `~/.postgresql/root.crt` when it exists; a client certificate from
//! `sslcert=FILE` and `sslkey=FILE` (PEM), or `~/.postgresql/postgresql.crt` and `.key`
//! when both exist. As in libpq, `prefer` and `require` without roots encrypt but do not
//! know who they talk to: a remote database should be reached with `verify-full`.
//!
//! An address without a password gets one as libpq would: `PGPASSWORD`, or the password
//! file (`passfile=`, `PGPASSFILE`, `~/.pgpass`).

use crate::error::StoreError;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_postgres::config::SslMode;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres_rustls::MakeRustlsConnect;

/// The connector every connection of a log uses.
pub(crate) type Tls = MakeRustlsConnect;

/// A database address, parsed: where, as whom, and how to secure the connection.
#[derive(Clone)]
pub(crate) struct Address {
    pub(crate) config: tokio_postgres::Config,
    pub(crate) tls: Tls,
    /// The `sslmode` as given (for messages: tokio-postgres knows fewer).
    pub(crate) mode: Mode,
}

/// libpq's `sslmode`s (`allow` is not offered: it prefers no encryption).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl Mode {
    fn parse(value: &str) -> Result<Mode, String> {
        Ok(match value {
            "disable" => Mode::Disable,
            "prefer" => Mode::Prefer,
            "require" => Mode::Require,
            "verify-ca" => Mode::VerifyCa,
            "verify-full" => Mode::VerifyFull,
            "allow" => {
                return Err("sslmode=allow is not supported (it tries without encryption first): use prefer, require, verify-ca or verify-full".into())
            }
            other => {
                return Err(format!(
                    "sslmode={other} is not one of disable, prefer, require, verify-ca, verify-full"
                ))
            }
        })
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Mode::Disable => "disable",
            Mode::Prefer => "prefer",
            Mode::Require => "require",
            Mode::VerifyCa => "verify-ca",
            Mode::VerifyFull => "verify-full",
        }
    }
}

/// The TLS parameters taken out of an address before tokio-postgres reads the rest.
#[derive(Default, Debug, PartialEq, Eq)]
pub(super) struct TlsParams {
    mode: Option<String>,
    root_cert: Option<String>,
    cert: Option<String>,
    key: Option<String>,
    /// libpq's `passfile`: where the password file is.
    passfile: Option<String>,
}

impl TlsParams {
    /// Takes `key=value` if it is one of ours; false when it is not.
    fn take(&mut self, key: &str, value: String) -> bool {
        let slot = match key {
            "sslmode" => &mut self.mode,
            "sslrootcert" => &mut self.root_cert,
            "sslcert" => &mut self.cert,
            "sslkey" => &mut self.key,
            "passfile" => &mut self.passfile,
            _ => return false,
        };
        *slot = Some(value);
        true
    }
}

impl Address {
    /// Parses `postgres://USER[:PASSWORD]@HOST[:PORT][,HOST2...]/DB?params` or a libpq
    /// key-value string (`host=... dbname=... sslmode=...`), reading certificate files.
    pub(crate) fn parse(url: &str) -> Result<Address, StoreError> {
        let bad = |why: String| StoreError::Unsupported(format!("{why} (in {})", super::redact_url(url)));
        let (rest, params) = split_tls_params(url).map_err(bad)?;
        let mut config: tokio_postgres::Config = rest.parse().map_err(|e| {
            StoreError::Unsupported(format!("not a PostgreSQL address ({e}): {}", super::redact_url(url)))
        })?;
        if config.get_password().is_none() {
            if let Some(password) = password(&config, params.passfile.as_deref()).map_err(bad)? {
                config.password(password);
            }
        }
        let mode = match params.mode.as_deref() {
            None => Mode::Prefer,
            Some(m) => Mode::parse(m).map_err(bad)?,
        };
        config.ssl_mode(match mode {
            Mode::Disable => SslMode::Disable,
            Mode::Prefer => SslMode::Prefer,
            Mode::Require | Mode::VerifyCa | Mode::VerifyFull => SslMode::Require,
        });
        let client = if mode == Mode::Disable {
            // Never used (tokio-postgres does not ask for TLS), but one type for every mode.
            let provider = provider();
            finish(provider.clone(), Arc::new(Unverified(provider)), None)
        } else {
            client_config(mode, &params)
        };
        let tls = MakeRustlsConnect::new(client.map_err(bad)?);
        Ok(Address { config, tls, mode })
    }
}

impl Address {
    /// One connection, with its driver to spawn.
    pub(crate) async fn connect(
        &self,
    ) -> Result<
        (
            tokio_postgres::Client,
            tokio_postgres::Connection<tokio_postgres::Socket, <Tls as MakeTlsConnect<tokio_postgres::Socket>>::Stream>,
        ),
        tokio_postgres::Error,
    > {
        self.config.connect(self.tls.clone()).await
    }
}

/// Splits the TLS parameters from the rest of an address, which is returned as given
/// otherwise (tokio-postgres rejects parameters it does not know).
pub(super) fn split_tls_params(url: &str) -> Result<(String, TlsParams), String> {
    let mut params = TlsParams::default();
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
        let Some((base, query)) = url.split_once('?') else {
            return Ok((url.to_string(), params));
        };
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            if !params.take(key, percent_decode(value)?) {
                kept.push(pair);
            }
        }
        let rest = if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        Ok((rest, params))
    } else {
        let mut kept = Vec::new();
        for (key, value, text) in key_values(url)? {
            if !params.take(&key, value) {
                kept.push(text);
            }
        }
        Ok((kept.join(" "), params))
    }
}

/// `%XX` escapes in a URL parameter's value.
fn percent_decode(value: &str) -> Result<String, String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = value
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("a bad %-escape in the parameter value {value:?}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("the parameter value {value:?} is not UTF-8"))
}

/// libpq's key-value form: `key = value` pairs separated by spaces, values bare or in
/// single quotes with `\'` and `\\` escapes. Each pair with its original text.
fn key_values(s: &str) -> Result<Vec<(String, String, &str)>, String> {
    let mut out = Vec::new();
    let mut rest = s.trim_start();
    while !rest.is_empty() {
        let start = rest;
        let key_end = rest.find(|c: char| c == '=' || c.is_whitespace()).unwrap_or(rest.len());
        let key = &rest[..key_end];
        rest = rest[key_end..].trim_start();
        rest = rest
            .strip_prefix('=')
            .ok_or_else(|| format!("expected '=' after {key:?} in the connection string"))?
            .trim_start();
        let mut value = String::new();
        if let Some(quoted) = rest.strip_prefix('\'') {
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => match chars.next() {
                        Some((_, e)) => value.push(e),
                        None => break,
                    },
                    '\'' => {
                        end = Some(i + 1);
                        break;
                    }
                    c => value.push(c),
                }
            }
            let end = end.ok_or_else(|| format!("the value of {key:?} has no closing quote"))?;
            rest = &quoted[end..];
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            value.push_str(&rest[..end]);
            rest = &rest[end..];
        }
        let text = start[..start.len() - rest.len()].trim_end();
        out.push((key.to_string(), value, text));
        rest = rest.trim_start();
    }
    Ok(out)
}

/// The password for an address that has none, as libpq finds it: `PGPASSWORD`, then the
/// password file (`passfile=`, `PGPASSFILE`, or `~/.pgpass`): lines of
/// `host:port:database:user:password`, `*` matching anything, `\:` and `\\` escaped, the
/// first line that matches the first host that has one. Like libpq, a file that others can
/// read is not used; unlike libpq, that is an error, not a warning on stderr that a server
/// would hide.
fn password(config: &tokio_postgres::Config, passfile: Option<&str>) -> Result<Option<String>, String> {
    if let Some(p) = std::env::var_os("PGPASSWORD") {
        return Ok(Some(p.to_string_lossy().into_owned()));
    }
    let (path, named) = match (passfile, std::env::var_os("PGPASSFILE")) {
        (Some(p), _) => (PathBuf::from(p), "passfile"),
        (None, Some(p)) => (PathBuf::from(p), "PGPASSFILE"),
        (None, None) => match std::env::var_os("HOME") {
            Some(home) => (PathBuf::from(home).join(".pgpass"), "~/.pgpass"),
            None => return Ok(None),
        },
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && named == "~/.pgpass" => return Ok(None),
        Err(e) => return Err(format!("{named} {}: cannot read: {e}", path.display())),
    };
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path)
        .map_err(|e| format!("{named} {}: {e}", path.display()))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(format!(
            "{named} {} can be read by other users (mode {:o}): make it yours alone (chmod 0600)",
            path.display(),
            mode & 0o777
        ));
    }
    let Some(user) = config.get_user() else { return Ok(None) };
    let db = config.get_dbname().unwrap_or(user);
    let ports = config.get_ports();
    for (i, host) in config.get_hosts().iter().enumerate() {
        let host = match host {
            tokio_postgres::config::Host::Tcp(h) => h.clone(),
            // libpq matches a socket connection as `localhost`.
            tokio_postgres::config::Host::Unix(_) => "localhost".to_string(),
        };
        let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432).to_string();
        if let Some(p) = pgpass_lookup(&text, [&host, &port, db, user]) {
            return Ok(Some(p));
        }
    }
    Ok(None)
}

/// The password of the first line of a password file whose four first fields match
/// `wanted` (host, port, database, user).
fn pgpass_lookup(text: &str, wanted: [&str; 4]) -> Option<String> {
    for line in text.lines() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = vec![String::new()];
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    if let Some(e) = chars.next() {
                        fields.last_mut().expect("one field").push(e);
                    }
                }
                ':' if fields.len() < 5 => fields.push(String::new()),
                c => fields.last_mut().expect("one field").push(c),
            }
        }
        if fields.len() == 5 && fields[..4].iter().zip(wanted).all(|(f, w)| f == "*" || f == w) {
            return fields.pop();
        }
    }
    None
}

/// A file in `~/.postgresql`, when it exists (libpq's defaults).
fn default_file(name: &str) -> Option<PathBuf> {
    let path = PathBuf::from(std::env::var_os("HOME")?).join(".postgresql").join(name);
    path.is_file().then_some(path)
}

fn provider() -> Arc<CryptoProvider> {
    // Chosen explicitly, not the process default: another crate in the same program may
    // enable a second provider, and then rustls cannot pick one on its own.
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certificates(param: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let read = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{param}={}: cannot read certificates: {e}", path.display()))?;
    if read.is_empty() {
        return Err(format!("{param}={}: no PEM certificate in the file", path.display()));
    }
    Ok(read)
}

/// Root certificates: given, the machine's, or libpq's default file; none when none.
fn roots(params: &TlsParams) -> Result<Option<RootCertStore>, String> {
    let mut store = RootCertStore::empty();
    match params.root_cert.as_deref() {
        Some("system") => {
            let found = rustls_native_certs::load_native_certs();
            if found.certs.is_empty() {
                return Err(format!(
                    "sslrootcert=system: no root certificates found on this machine ({} errors)",
                    found.errors.len()
                ));
            }
            store.add_parsable_certificates(found.certs);
        }
        Some(path) => add_roots(&mut store, "sslrootcert", Path::new(path))?,
        None => match default_file("root.crt") {
            Some(path) => add_roots(&mut store, "~/.postgresql/root.crt", &path)?,
            None => return Ok(None),
        },
    }
    Ok(Some(store))
}

fn add_roots(store: &mut RootCertStore, param: &str, path: &Path) -> Result<(), String> {
    for cert in certificates(param, path)? {
        store
            .add(cert)
            .map_err(|e| format!("{param}={}: not a usable root certificate: {e}", path.display()))?;
    }
    Ok(())
}

/// The client's certificate and key, when it has one.
fn identity(params: &TlsParams) -> Result<Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>, String> {
    let (cert, key) = match (params.cert.as_deref(), params.key.as_deref()) {
        (Some(c), Some(k)) => (PathBuf::from(c), PathBuf::from(k)),
        (Some(_), None) => return Err("sslcert is given without sslkey".into()),
        (None, Some(_)) => return Err("sslkey is given without sslcert".into()),
        (None, None) => match (default_file("postgresql.crt"), default_file("postgresql.key")) {
            (Some(c), Some(k)) => (c, k),
            _ => return Ok(None),
        },
    };
    let certs = certificates("sslcert", &cert)?;
    let key = PrivateKeyDer::from_pem_file(&key).map_err(|e| {
        format!(
            "sslkey={}: cannot read an unencrypted PEM private key: {e}",
            key.display()
        )
    })?;
    Ok(Some((certs, key)))
}

fn client_config(mode: Mode, params: &TlsParams) -> Result<ClientConfig, String> {
    let roots = roots(params)?;
    let identity = identity(params)?;
    let provider = provider();
    let verifier: Arc<dyn ServerCertVerifier> = match (mode, roots) {
        (Mode::VerifyCa | Mode::VerifyFull, None) => {
            return Err(format!(
                "sslmode={} needs root certificates to check the server's against: give \
                 sslrootcert=FILE (PEM) or sslrootcert=system, or put them in ~/.postgresql/root.crt",
                mode.name()
            ))
        }
        (Mode::Disable | Mode::Prefer | Mode::Require, None) => Arc::new(Unverified(provider.clone())),
        (_, Some(roots)) => {
            let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| format!("cannot use the root certificates: {e}"))?;
            if mode == Mode::VerifyFull {
                webpki
            } else {
                // libpq: with roots, require and prefer check the chain like verify-ca.
                Arc::new(ChainOnly(webpki))
            }
        }
    };
    finish(provider, verifier, identity)
}

fn finish(
    provider: Arc<CryptoProvider>,
    verifier: Arc<dyn ServerCertVerifier>,
    identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
) -> Result<ClientConfig, String> {
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot set up TLS: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    match identity {
        None => Ok(builder.with_no_client_auth()),
        Some((certs, key)) => builder
            .with_client_auth_cert(certs, key)
            .map_err(|e| format!("sslcert/sslkey: the certificate and key do not go together: {e}")),
    }
}

/// `prefer` and `require` without roots: encryption, with the handshake's signatures
/// checked, but any certificate accepted (libpq's behaviour; documented as unauthenticated).
#[derive(Debug)]
struct Unverified(Arc<CryptoProvider>);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the chain must lead to a root, whatever names the certificate carries.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_parameters_are_taken_out_of_urls_and_the_rest_is_left_as_given() {
        let (rest, p) = split_tls_params(
            "postgres://u:p@h:5/db?sslmode=verify-full&application_name=x&sslrootcert=%2Ftmp%2Fca.pem",
        )
        .unwrap();
        assert_eq!(rest, "postgres://u:p@h:5/db?application_name=x");
        assert_eq!(p.mode.as_deref(), Some("verify-full"));
        assert_eq!(p.root_cert.as_deref(), Some("/tmp/ca.pem"));
        let (rest, p) = split_tls_params("postgres://u@h/db?sslmode=require").unwrap();
        assert_eq!(rest, "postgres://u@h/db");
        assert_eq!(p.mode.as_deref(), Some("require"));
        assert_eq!(split_tls_params("postgres://u@h/db").unwrap().0, "postgres://u@h/db");
        assert!(split_tls_params("postgres://u@h/db?sslrootcert=%zz").is_err());
    }

    #[test]
    fn tls_parameters_are_taken_out_of_key_value_strings() {
        let (rest, p) =
            split_tls_params("host=h  port = 5 sslmode=verify-ca sslrootcert='/a b/c\\'s.pem' password='x y' dbname=d")
                .unwrap();
        assert_eq!(rest, "host=h port = 5 password='x y' dbname=d");
        assert_eq!(p.mode.as_deref(), Some("verify-ca"));
        assert_eq!(p.root_cert.as_deref(), Some("/a b/c's.pem"));
        let config: tokio_postgres::Config = rest.parse().unwrap();
        assert_eq!(config.get_password(), Some(&b"x y"[..]));
        assert!(split_tls_params("host=h sslmode").is_err());
        assert!(split_tls_params("host='h").is_err());
    }

    #[test]
    fn password_file_lines_match_as_libpq_matches_them() {
        let file = "# comment\n\
                    db.example:5432:shiftlog:alice:first\n\
                    *:*:other:*:second\n\
                    h\\:x:*:*:bob:a\\:b\\\\c:d\n\
                    *:*:*:*:fallback\n";
        assert_eq!(
            pgpass_lookup(file, ["db.example", "5432", "shiftlog", "alice"]).as_deref(),
            Some("first")
        );
        assert_eq!(
            pgpass_lookup(file, ["db.example", "5433", "shiftlog", "alice"]).as_deref(),
            Some("fallback")
        );
        assert_eq!(
            pgpass_lookup(file, ["x", "1", "other", "carol"]).as_deref(),
            Some("second")
        );
        assert_eq!(
            pgpass_lookup(file, ["h:x", "9", "d", "bob"]).as_deref(),
            Some("a:b\\c:d")
        );
        assert_eq!(pgpass_lookup("a:b:c:d\n", ["a", "b", "c", "d"]), None);
    }

    #[test]
    fn a_password_file_others_can_read_is_refused_and_one_that_is_not_is_used() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pass");
        std::fs::write(&file, "127.0.0.1:5999:db:me:s3cret\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let url = format!("postgres://me@127.0.0.1:5999/db?passfile={}", file.display());
        let e = Address::parse(&url).err().expect("refused").to_string();
        assert!(e.contains("can be read by other users (mode 644)"), "{e}");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let a = Address::parse(&url).unwrap();
        assert_eq!(a.config.get_password(), Some(&b"s3cret"[..]));
        // A password in the address wins.
        let a = Address::parse(&format!(
            "postgres://me:given@127.0.0.1:5999/db?passfile={}",
            file.display()
        ))
        .unwrap();
        assert_eq!(a.config.get_password(), Some(&b"given"[..]));
        let e = Address::parse("postgres://me@h/db?passfile=/nowhere/pass")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("passfile /nowhere/pass: cannot read"), "{e}");
    }

    #[test]
    fn bad_tls_parameters_are_named() {
        let err = |url: &str| Address::parse(url).err().expect("refused").to_string();
        assert!(err("postgres://u@h/db?sslmode=verify").contains("sslmode=verify is not one of"));
        assert!(err("postgres://u@h/db?sslmode=allow").contains("sslmode=allow is not supported"));
        let e = err("postgres://u@h/db?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem");
        assert!(e.contains("sslrootcert=/nonexistent/ca.pem: cannot read"), "{e}");
        assert!(err("postgres://u@h/db?sslcert=/x.pem").contains("sslcert is given without sslkey"));
        let e = err("postgres://u:secret@h/db?sslmode=nope");
        assert!(!e.contains("secret"), "{e}");
    }

    #[test]
    fn modes_map_to_what_tokio_postgres_enforces() {
        let mode = |url: &str| Address::parse(url).unwrap().config.get_ssl_mode();
        assert_eq!(mode("postgres://u@h/db"), SslMode::Prefer);
        assert_eq!(mode("postgres://u@h/db?sslmode=disable"), SslMode::Disable);
        assert_eq!(mode("postgres://u@h/db?sslmode=require"), SslMode::Require);
    }

    fn quote(v: &str) -> String {
        format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"))
    }

    proptest::proptest! {
        /// Any input: an answer or an error, never a panic.
        #[test]
        fn splitting_never_panics(s in "\\PC{0,80}") {
            let _ = split_tls_params(&s);
            let _ = split_tls_params(&format!("postgres://u@h/db?{s}"));
        }

        /// A key-value string's TLS values come out as written, and tokio-postgres reads
        /// the rest as it would have read it whole.
        #[test]
        fn key_value_strings_split_without_changing_the_rest(
            password in "[ -~]{0,12}",
            app in "[ -~]{0,12}",
            root in "[ -~]{1,12}",
            tls_first in proptest::bool::ANY,
        ) {
            let ours = format!("sslmode=verify-ca sslrootcert={}", quote(&root));
            let theirs = format!("host=h dbname=d password={} application_name={}", quote(&password), quote(&app));
            let whole = if tls_first { format!("{ours}  {theirs}") } else { format!("{theirs} {ours}") };
            let (rest, p) = split_tls_params(&whole).unwrap();
            proptest::prop_assert_eq!(p.mode.as_deref(), Some("verify-ca"));
            proptest::prop_assert_eq!(p.root_cert.as_deref(), Some(root.as_str()));
            let config: tokio_postgres::Config = rest.parse().unwrap();
            let expected: tokio_postgres::Config = theirs.parse().unwrap();
            proptest::prop_assert_eq!(config.get_password(), expected.get_password());
            proptest::prop_assert_eq!(config.get_application_name(), expected.get_application_name());
        }

        /// A password file is text someone wrote: any content gives an answer, never a panic.
        #[test]
        fn password_files_never_panic(text in "\\PC{0,120}", host in "[ -~]{0,6}") {
            let _ = pgpass_lookup(&text, [&host, "5432", "db", "me"]);
        }

        /// A line written with libpq's escapes (`\:` and `\\`) gives back its password as
        /// written, after lines that do not match.
        #[test]
        fn escaped_password_file_lines_read_back(
            fields in proptest::array::uniform4("[a-z:\\\\]{1,6}"),
            password in "[ -~]{0,16}",
        ) {
            let escape = |f: &str| f.replace('\\', "\\\\").replace(':', "\\:");
            let line = fields.iter().map(|f| escape(f)).collect::<Vec<_>>().join(":");
            let text = format!("other:1:x:y:no\n{line}:{}\n*:*:*:*:later\n", escape(&password));
            let wanted = [fields[0].as_str(), fields[1].as_str(), fields[2].as_str(), fields[3].as_str()];
            // The first line never matches: its port `1` is not in the fields' alphabet.
            proptest::prop_assert_eq!(pgpass_lookup(&text, wanted), Some(password));
        }
    }
}
