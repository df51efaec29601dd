//! TLS to PostgreSQL as libpq does it (`sslmode`, `sslrootcert`, `sslcert`, `sslkey`),
//! against a cluster that takes TCP connections only over TLS and only from holders of a
//! client certificate. The whole conformance suite also runs over `verify-full`
//! (backends.rs).

mod common;

use common::*;
use serde_json::json;
use shiftlog_store::throwaway::{rows, Cluster};
use shiftlog_store::{AppendRequest, Detail, EventLog, PgLog, Position};

async fn connect(url: &str) -> Result<PgLog, String> {
    PgLog::connect(url).await.map_err(|e| e.to_string())
}

/// Appends and reads back one event: the connection works for real, not just the handshake.
async fn round_trip(log: &PgLog) {
    let e = event(
        &json!({"type":"place_registered","id":"p1","occurred_at":"2023-01-01","place":"northbrook","name":"Northbrook"}),
    );
    log.append(AppendRequest::new(vec![e])).await.unwrap();
    let read = log.read_with(Position(0), usize::MAX, Detail::Full).await.unwrap();
    assert_eq!(read.len(), 1);
}

/// Every TCP connection to the database is encrypted (looked at through the Unix socket).
async fn all_encrypted(tls: &TlsCluster, db: &str) {
    let seen = rows(
        &tls.cluster.socket_url(db),
        &format!(
            "SELECT s.ssl, count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.datname = '{db}' AND a.client_addr IS NOT NULL GROUP BY s.ssl"
        ),
    )
    .await;
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0][0].as_deref(), Some("t"), "{seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_full_with_a_client_certificate_connects_and_encrypts() {
    let Some(tls) = TlsCluster::start() else { return };
    let db = tls.database().await;
    let url = tls.url(
        &db,
        "localhost",
        &format!(
            "&hostaddr=127.0.0.1&sslmode=verify-full&sslrootcert={}",
            tls.file("ca.pem")
        ),
    );
    let log = connect(&url).await.unwrap();
    round_trip(&log).await;
    all_encrypted(&tls, &db).await;
    assert_eq!(
        log.target(),
        format!(
            "postgres://shiftlog@localhost:{}/{db}?sslmode=verify-full",
            tls.cluster.port()
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_sslmode_checks_what_libpq_checks() {
    let Some(tls) = TlsCluster::start() else { return };
    let db = tls.database().await;
    let ca = tls.file("ca.pem");
    let other = tls.file("other-ca.pem");

    // The certificate names localhost, not 127.0.0.1: verify-full refuses the address,
    // verify-ca (chain only) accepts it.
    let e = connect(&tls.url(&db, "127.0.0.1", &format!("&sslmode=verify-full&sslrootcert={ca}")))
        .await
        .unwrap_err();
    assert!(e.contains("certificate not valid for name \"127.0.0.1\""), "{e}");
    let log = connect(&tls.url(&db, "127.0.0.1", &format!("&sslmode=verify-ca&sslrootcert={ca}")))
        .await
        .unwrap();
    round_trip(&log).await;
    drop(log);

    // Signed by an authority the client does not trust: refused whatever the name.
    for mode in ["verify-full", "verify-ca", "require", "prefer"] {
        let e = connect(&tls.url(
            &db,
            "localhost",
            &format!("&hostaddr=127.0.0.1&sslmode={mode}&sslrootcert={other}"),
        ))
        .await
        .unwrap_err();
        assert!(e.contains("invalid peer certificate: UnknownIssuer"), "{mode}: {e}");
    }

    // Without roots, require and prefer encrypt without checking (libpq's meaning).
    for mode in ["require", "prefer"] {
        let fresh = tls.database().await;
        let log = connect(&tls.url(&fresh, "127.0.0.1", &format!("&sslmode={mode}")))
            .await
            .unwrap();
        round_trip(&log).await;
        all_encrypted(&tls, &fresh).await;
    }

    // verify-* without roots is a mistake in the address, said before connecting.
    let e = connect(&tls.url(&db, "127.0.0.1", "&sslmode=verify-full"))
        .await
        .unwrap_err();
    assert!(e.contains("sslmode=verify-full needs root certificates"), "{e}");

    // The server refuses what its pg_hba.conf refuses, and the message says why.
    let e = connect(&tls.url(&db, "127.0.0.1", "&sslmode=disable"))
        .await
        .unwrap_err();
    assert!(e.contains("no encryption"), "{e}");
    let e = connect(&format!(
        "postgres://shiftlog@127.0.0.1:{}/{db}?sslmode=verify-ca&sslrootcert={ca}",
        tls.cluster.port()
    ))
    .await
    .unwrap_err();
    assert!(e.contains("requires a valid client certificate"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_tls_is_refused_when_tls_is_required() {
    let Some(cluster) = Cluster::start() else { return };
    let url = cluster.database().await;
    let e = connect(&format!("{url}?sslmode=require")).await.unwrap_err();
    assert!(e.contains("server does not support TLS"), "{e}");
    // The default (prefer) falls back to a plain connection, as libpq's does.
    round_trip(&connect(&url).await.unwrap()).await;
}

/// A database that asks for a password (SCRAM) gets it from a password file, as libpq's
/// clients do, and an address without one is refused with the server's reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_comes_from_the_password_file_when_the_address_has_none() {
    use std::os::unix::fs::PermissionsExt;
    let hba = "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n";
    let Some(cluster) = Cluster::start_with_files(&["hba_file={dir}/hba.conf"], &[("hba.conf", hba.as_bytes())]) else {
        return;
    };
    let url = cluster.database().await;
    let db = url.rsplit('/').next().unwrap().to_string();
    rows(
        &cluster.socket_url("postgres"),
        "ALTER USER shiftlog PASSWORD 'correct horse'",
    )
    .await;
    let e = connect(&url).await.unwrap_err();
    assert!(e.contains("password missing"), "{e}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pgpass");
    std::fs::write(
        &file,
        format!(
            "# the other databases\n127.0.0.1:{}:{db}:shiftlog:correct horse\n*:*:*:*:wrong\n",
            cluster.port()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let log = connect(&format!("{url}?passfile={}", file.display())).await.unwrap();
    round_trip(&log).await;
    // The first matching line is used: for another database, the wrong password.
    let other = cluster.database().await;
    let e = connect(&format!("{other}?passfile={}", file.display()))
        .await
        .unwrap_err();
    assert!(e.contains("password authentication failed"), "{e}");
}
