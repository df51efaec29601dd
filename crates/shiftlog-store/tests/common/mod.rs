//! Helpers shared by the store's integration tests.
#![allow(dead_code)]

use serde_json::Value;
use shiftlog_model::{Event, Timestamp};
use shiftlog_store::{Clock, EventLog, MemoryLog, Position, RecordedEvent, SledLog, SledOptions};
use std::sync::Arc;

pub fn event(v: &Value) -> Event {
    Event::from_json(v).unwrap_or_else(|e| panic!("test event {v} does not parse: {e}"))
}

pub fn events(vs: &[Value]) -> Vec<Event> {
    vs.iter().map(event).collect()
}

pub fn conformance() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/data/conformance.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("tests/data/conformance.json")).unwrap()
}

/// A clock that always says the same time, so that two logs record identical events.
pub fn fixed_clock() -> Clock {
    Arc::new(|| "2025-01-01T00:00:00Z".parse::<Timestamp>().unwrap())
}

pub fn sled_log(dir: &std::path::Path) -> SledLog {
    SledLog::open_with(dir, SledOptions::default().clock(fixed_clock())).unwrap()
}

pub fn memory_log() -> MemoryLog {
    MemoryLog::with_clock(fixed_clock())
}

pub async fn read_all(log: &dyn EventLog) -> Vec<RecordedEvent> {
    let all = log.read(Position(1), usize::MAX).await.unwrap();
    for (i, e) in all.iter().enumerate() {
        assert_eq!(e.position, Position(i as u64 + 1), "positions are dense");
    }
    assert_eq!(all.len() as u64, log.head().0);
    all
}

/// A PostgreSQL cluster that takes TCP connections only over TLS, with a certificate for
/// `localhost` (not for 127.0.0.1) signed by a throwaway authority, and that asks every TCP
/// client for a certificate signed by it with the user's name (`cert` authentication).
pub struct TlsCluster {
    pub cluster: shiftlog_store::throwaway::Cluster,
    /// Where the PEM files the clients use are: `ca.pem`, `client.pem`, `client.key`, and
    /// `other-ca.pem` (an authority that signed nothing here).
    pub files: tempfile::TempDir,
}

impl TlsCluster {
    pub fn start() -> Option<TlsCluster> {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
        let authority = |name: &str| {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params.distinguished_name.push(DnType::CommonName, name);
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            let cert = params.self_signed(&key).unwrap();
            (params, cert, key)
        };
        let (ca_params, ca_cert, ca_key) = authority("shiftlog test authority");
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let leaf = |names: Vec<String>, common: &str| {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(names).unwrap();
            params.distinguished_name.push(DnType::CommonName, common);
            (params.signed_by(&key, &issuer).unwrap(), key)
        };
        let (server, server_key) = leaf(vec!["localhost".into()], "localhost");
        let (client, client_key) = leaf(Vec::new(), "shiftlog");
        let (_, other_ca, _) = authority("an authority the server never heard of");
        let hba = "local all all trust\n\
                   hostssl all all 127.0.0.1/32 cert\n\
                   hostnossl all all 127.0.0.1/32 reject\n";
        let cluster = shiftlog_store::throwaway::Cluster::start_with_files(
            &[
                "ssl=on",
                "ssl_cert_file={dir}/server.pem",
                "ssl_key_file={dir}/server.key",
                "ssl_ca_file={dir}/ca.pem",
                "hba_file={dir}/hba.conf",
            ],
            &[
                ("server.pem", server.pem().as_bytes()),
                ("server.key", server_key.serialize_pem().as_bytes()),
                ("ca.pem", ca_cert.pem().as_bytes()),
                ("hba.conf", hba.as_bytes()),
            ],
        )?;
        let files = tempfile::tempdir().unwrap();
        for (name, pem) in [
            ("ca.pem", ca_cert.pem()),
            ("client.pem", client.pem()),
            ("client.key", client_key.serialize_pem()),
            ("other-ca.pem", other_ca.pem()),
        ] {
            std::fs::write(files.path().join(name), pem).unwrap();
        }
        Some(TlsCluster { cluster, files })
    }

    pub fn file(&self, name: &str) -> String {
        self.files.path().join(name).display().to_string()
    }

    /// Database `db` by the certificate's name, with `params` after the client's own
    /// certificate and key.
    pub fn url(&self, db: &str, host: &str, params: &str) -> String {
        format!(
            "postgres://shiftlog@{host}:{}/{db}?sslcert={}&sslkey={}{params}",
            self.cluster.port(),
            self.file("client.pem"),
            self.file("client.key")
        )
    }

    /// A new database's name (created through the Unix socket).
    pub async fn database(&self) -> String {
        let url = self.cluster.database().await;
        url.rsplit('/').next().unwrap().to_string()
    }
}

/// A PostgreSQL log at `url` recording times from `clock`.
pub async fn pg_log(url: &str, clock: Clock) -> shiftlog_store::PgLog {
    let options = shiftlog_store::PgOptions {
        clock: Some(clock),
        ..shiftlog_store::PgOptions::default()
    };
    shiftlog_store::PgLog::connect_with(url, options).await.unwrap()
}
