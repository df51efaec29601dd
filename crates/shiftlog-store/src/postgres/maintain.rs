//! Looking after a PostgreSQL log: backups in the shared backup format (so they restore
//! into a data directory as well), restores into an empty database, integrity checks and
//! rebuilding the tables that summarise the events.

use super::{connect_plain, migrate, pg, stream_key, PgLog};
use crate::archive::{self, ArchiveReader, ArchiveWriter, BackupSummary};
use crate::codec::{self, ActorKey, NoKeys};
use crate::error::StoreError;
use crate::store::Problem;
use crate::types::{Position, RecordedEvent};
use shiftlog_model::{ActorId, EventBody};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

/// Rows read or written per statement.
const BATCH: usize = 10_000;

fn problem(what: impl Into<String>, detail: impl Into<String>) -> Problem {
    Problem {
        what: what.into(),
        detail: detail.into(),
    }
}

/// What the summary tables should hold, from the records alone.
#[derive(Default)]
struct Expected {
    versions: BTreeMap<String, i64>,
    places: BTreeSet<String>,
    /// Actors in the order they first joined: slot `i` is the `i`-th.
    actors: Vec<ActorId>,
    known: HashMap<ActorId, u32>,
    redacted: BTreeSet<ActorId>,
}

impl Expected {
    fn add(&mut self, r: &RecordedEvent) {
        *self.versions.entry(stream_key(&r.stream).to_string()).or_default() += 1;
        match &r.event.body {
            EventBody::PlaceRegistered { .. } => {
                if let Some(p) = &r.event.place {
                    self.places.insert(p.as_str().to_string());
                }
            }
            EventBody::ActorJoined { actor, .. } if !self.known.contains_key(actor) => {
                self.known.insert(actor.clone(), self.actors.len() as u32);
                self.actors.push(actor.clone());
            }
            EventBody::ActorRedacted { actor, .. } => {
                self.redacted.insert(actor.clone());
            }
            _ => {}
        }
    }
}

/// One row of `shiftlog_events`, as a record says it should be.
struct Row {
    position: i64,
    id: String,
    stream: String,
    event_type: String,
    slots: Vec<u8>,
    record: Vec<u8>,
}

fn row_of(position: u64, record: &[u8]) -> Result<(Row, RecordedEvent), StoreError> {
    let rec = codec::decode_at(Position(position), record, &NoKeys)?;
    let slots = codec::sealed_slots(record).map_err(|e| StoreError::Damaged {
        position: Position(position),
        reason: e.to_string(),
    })?;
    let row = Row {
        position: position as i64,
        id: rec.id().as_str().to_string(),
        stream: stream_key(&rec.stream).to_string(),
        event_type: rec.event.event_type().as_str().to_string(),
        slots: slots.iter().flat_map(|s| s.to_le_bytes()).collect(),
        record: record.to_vec(),
    };
    Ok((row, rec))
}

impl PgLog {
    /// Writes a consistent copy of the log, as it is at its head, to `out` in the backup
    /// format every backend shares, while appends go on (one repeatable-read transaction).
    pub async fn backup(&self, out: &Path) -> Result<BackupSummary, StoreError> {
        let mut client = self.client().await?;
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(pg)?;
        let head = tx
            .query_one("SELECT position FROM shiftlog_head", &[])
            .await
            .map_err(pg)?
            .get::<_, i64>(0) as u64;
        let rows = tx
            .query("SELECT slot, key FROM shiftlog_keys ORDER BY slot", &[])
            .await
            .map_err(pg)?;
        let mut keys: Vec<ActorKey> = Vec::with_capacity(rows.len());
        for r in &rows {
            let slot: i32 = r.get(0);
            if slot as usize != keys.len() {
                return Err(StoreError::Corrupt(format!(
                    "shiftlog_keys has slot {slot} where {} was expected",
                    keys.len()
                )));
            }
            keys.push(match r.get::<_, Option<&[u8]>>(1) {
                None => [0; 32],
                Some(k) => k
                    .try_into()
                    .map_err(|_| StoreError::Corrupt(format!("the key in slot {slot} is not 32 bytes")))?,
            });
        }
        let mut w = ArchiveWriter::create(out, head, &keys)?;
        let mut next = 1i64;
        while (next as u64) <= head {
            let rows = tx
                .query(
                    "SELECT position, record FROM shiftlog_events \
                     WHERE position >= $1 AND position <= $2 ORDER BY position LIMIT $3",
                    &[&next, &(head as i64), &(BATCH as i64)],
                )
                .await
                .map_err(pg)?;
            if rows.is_empty() {
                break;
            }
            for r in &rows {
                w.push(r.get::<_, i64>(0) as u64, r.get::<_, &[u8]>(1))?;
            }
            next = rows.last().expect("not empty").get::<_, i64>(0) + 1;
        }
        tx.commit().await.map_err(pg)?;
        w.finish()
    }

    /// Restores a backup into the database at `url`, which must hold no shiftlog events,
    /// in one transaction (all of it or nothing), and checks the result.
    pub async fn restore(backup: &Path, url: &str) -> Result<BackupSummary, StoreError> {
        let mut archive = ArchiveReader::open(backup)?;
        let (mut client, target, driver) = connect_plain(url).await?;
        migrate(&mut client).await?;
        let tx = client.transaction().await.map_err(pg)?;
        let held: i64 = tx
            .query_one(
                "SELECT position + (SELECT count(*) FROM shiftlog_keys) FROM shiftlog_head FOR UPDATE",
                &[],
            )
            .await
            .map_err(pg)?
            .get(0);
        if held != 0 {
            return Err(StoreError::Corrupt(format!(
                "{target} already holds a shiftlog log: restore into an empty database"
            )));
        }
        let mut exp = Expected::default();
        let mut rows = Vec::with_capacity(BATCH);
        let mut last = None;
        while let Some((page, bytes)) = archive.next_page()? {
            for (position, record) in archive::split(page, &bytes)? {
                let (row, rec) = row_of(position, record)?;
                exp.add(&rec);
                last = Some(rec.recorded_at);
                rows.push(row);
            }
            if rows.len() >= BATCH {
                insert_events(&tx, &std::mem::take(&mut rows)).await?;
            }
        }
        insert_events(&tx, &rows).await?;
        // Keys: slot i belongs to the i-th actor to join; keys past the last actor were
        // made for a group that never committed and belong to no one.
        if archive.keys.len() < exp.actors.len() {
            return Err(StoreError::Corrupt(format!(
                "{} holds {} keys for {} actors",
                backup.display(),
                archive.keys.len(),
                exp.actors.len()
            )));
        }
        for (chunk, start) in exp.actors.chunks(BATCH).zip((0..).step_by(BATCH)) {
            let slots: Vec<i32> = (0..chunk.len()).map(|i| (start + i) as i32).collect();
            let actors: Vec<&str> = chunk.iter().map(|a| a.as_str()).collect();
            let keys: Vec<Option<Vec<u8>>> = slots
                .iter()
                .map(|&s| {
                    let k = archive.keys[s as usize];
                    (k != [0; 32]).then(|| k.to_vec())
                })
                .collect();
            tx.execute(
                "INSERT INTO shiftlog_keys (slot, actor, key) \
                 SELECT * FROM UNNEST($1::INTEGER[], $2::TEXT[], $3::BYTEA[])",
                &[&slots, &actors, &keys],
            )
            .await
            .map_err(pg)?;
        }
        write_summaries(&tx, &exp).await?;
        let last = last.unwrap_or_else(|| shiftlog_model::Timestamp::from_unix(0, 0).expect("the epoch"));
        tx.execute(
            "UPDATE shiftlog_head SET position = $1, recorded_unix = $2, recorded_nanos = $3",
            &[
                &(archive.head as i64),
                &last.unix_seconds(),
                &(last.subsec_nanos() as i32),
            ],
        )
        .await
        .map_err(pg)?;
        tx.execute("SELECT pg_notify('shiftlog_head', $1)", &[&archive.head.to_string()])
            .await
            .map_err(pg)?;
        tx.commit().await.map_err(pg)?;
        drop(client);
        driver.abort();
        let log = PgLog::connect(url).await?;
        let problems = log.verify().await?;
        if let Some(p) = problems.first() {
            return Err(StoreError::Corrupt(format!(
                "the restored log does not verify ({} problems; first: {p})",
                problems.len()
            )));
        }
        Ok(BackupSummary {
            head: archive.head,
            keys: archive.keys.len() as u64,
            bytes: archive.size,
        })
    }

    /// Checks every record (checksum, position, its columns, its personal data opens or
    /// its actor was redacted), that positions are dense up to the head, the per-place
    /// versions, places, actors and keys against the records. Empty means all is well.
    pub async fn verify(&self) -> Result<Vec<Problem>, StoreError> {
        let mut client = self.client().await?;
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(pg)?;
        let mut out = Vec::new();
        let head = tx
            .query_one("SELECT position FROM shiftlog_head", &[])
            .await
            .map_err(pg)?
            .get::<_, i64>(0);
        let (count, max): (i64, Option<i64>) = {
            let r = tx
                .query_one("SELECT count(*), max(position) FROM shiftlog_events", &[])
                .await
                .map_err(pg)?;
            (r.get(0), r.get(1))
        };
        if max.unwrap_or(0) > head {
            out.push(problem("log", format!("records lie past the head ({head})")));
        }
        if count != max.unwrap_or(0) {
            out.push(problem(
                "log",
                format!("{count} events for positions 1 to {}", max.unwrap_or(0)),
            ));
        }
        let key_rows = tx
            .query("SELECT slot, actor, key FROM shiftlog_keys ORDER BY slot", &[])
            .await
            .map_err(pg)?;
        let mut keys: HashMap<u32, ActorKey> = HashMap::new();
        let mut key_actors: BTreeMap<u32, String> = BTreeMap::new();
        for r in &key_rows {
            let slot = r.get::<_, i32>(0) as u32;
            key_actors.insert(slot, r.get::<_, &str>(1).to_string());
            if let Some(k) = r.get::<_, Option<&[u8]>>(2) {
                match ActorKey::try_from(k) {
                    Ok(k) => {
                        keys.insert(slot, k);
                    }
                    Err(_) => out.push(problem("keys", format!("the key in slot {slot} is not 32 bytes"))),
                }
            }
        }
        let opener = Opener(keys);
        let mut exp = Expected::default();
        let mut expected_position = 1i64;
        loop {
            let rows = tx
                .query(
                    "SELECT position, id, stream, event_type, slots, record FROM shiftlog_events \
                     WHERE position >= $1 ORDER BY position LIMIT $2",
                    &[&expected_position, &(BATCH as i64)],
                )
                .await
                .map_err(pg)?;
            let Some(last) = rows.last() else { break };
            let last = last.get::<_, i64>(0);
            for r in &rows {
                let p: i64 = r.get(0);
                if p != expected_position {
                    out.push(problem(
                        "log",
                        format!("positions {expected_position} to {} are missing", p - 1),
                    ));
                }
                expected_position = p + 1;
                let record: &[u8] = r.get(5);
                let (want, rec) = match row_of(p as u64, record) {
                    Ok(x) => x,
                    Err(e) => {
                        out.push(problem(format!("record {p}"), e.to_string()));
                        continue;
                    }
                };
                if let Err(e) = codec::decode_at(Position(p as u64), record, &opener) {
                    out.push(problem(format!("record {p}"), e.to_string()));
                }
                let columns = [
                    ("id", r.get::<_, &str>(1) == want.id),
                    ("stream", r.get::<_, &str>(2) == want.stream),
                    ("event_type", r.get::<_, &str>(3) == want.event_type),
                    ("slots", r.get::<_, &[u8]>(4) == want.slots.as_slice()),
                ];
                for (column, ok) in columns {
                    if !ok {
                        out.push(problem(
                            format!("record {p}"),
                            format!("its {column} column disagrees with it"),
                        ));
                    }
                }
                exp.add(&rec);
            }
            if last < expected_position - 1 || rows.len() < BATCH {
                break;
            }
        }
        if expected_position - 1 < head {
            out.push(problem(
                "log",
                format!("positions {expected_position} to {head} are missing"),
            ));
        }
        // Summaries.
        let versions: BTreeMap<String, i64> = tx
            .query("SELECT stream, version FROM shiftlog_streams", &[])
            .await
            .map_err(pg)?
            .iter()
            .map(|r| (r.get::<_, &str>(0).to_string(), r.get::<_, i64>(1)))
            .collect();
        if versions != exp.versions {
            out.push(problem("shiftlog_streams", "the versions disagree with the events"));
        }
        let places: BTreeSet<String> = tx
            .query("SELECT place FROM shiftlog_places", &[])
            .await
            .map_err(pg)?
            .iter()
            .map(|r| r.get::<_, &str>(0).to_string())
            .collect();
        if places != exp.places {
            out.push(problem("shiftlog_places", "the places disagree with the events"));
        }
        let actors: BTreeSet<String> = tx
            .query("SELECT actor FROM shiftlog_actors", &[])
            .await
            .map_err(pg)?
            .iter()
            .map(|r| r.get::<_, &str>(0).to_string())
            .collect();
        let joined: BTreeSet<String> = exp.actors.iter().map(|a| a.as_str().to_string()).collect();
        if actors != joined {
            out.push(problem("shiftlog_actors", "the actors disagree with the events"));
        }
        for (slot, actor) in exp.actors.iter().enumerate() {
            match key_actors.get(&(slot as u32)) {
                Some(a) if a == actor.as_str() => {}
                Some(a) => out.push(problem(
                    "keys",
                    format!("slot {slot} belongs to `{a}`, but `{actor}` joined in that order"),
                )),
                None => out.push(problem("keys", format!("`{actor}` has no key slot"))),
            }
        }
        for actor in &exp.redacted {
            if let Some(&slot) = exp.known.get(actor) {
                if opener.0.contains_key(&slot) {
                    out.push(problem("keys", format!("redacted actor `{actor}` still has its key")));
                }
            }
        }
        tx.commit().await.map_err(pg)?;
        Ok(out)
    }

    /// Rewrites the per-place versions, places and actors from the events, in one
    /// transaction under the head lock. Derived data lives in each server's memory and is
    /// cleared. Returns the head.
    pub async fn repair_indexes(&self) -> Result<u64, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg)?;
        let head = tx
            .query_one("SELECT position FROM shiftlog_head FOR UPDATE", &[])
            .await
            .map_err(pg)?
            .get::<_, i64>(0);
        let mut exp = Expected::default();
        let mut next = 1i64;
        loop {
            let rows = tx
                .query(
                    "SELECT position, record FROM shiftlog_events WHERE position >= $1 AND position <= $2 \
                     ORDER BY position LIMIT $3",
                    &[&next, &head, &(BATCH as i64)],
                )
                .await
                .map_err(pg)?;
            let Some(last) = rows.last() else { break };
            next = last.get::<_, i64>(0) + 1;
            for r in &rows {
                let p = r.get::<_, i64>(0) as u64;
                let rec = codec::decode_at(Position(p), r.get::<_, &[u8]>(1), &NoKeys).map_err(|e| {
                    StoreError::Corrupt(format!(
                        "cannot rebuild from a damaged log ({e}); restore it from a backup"
                    ))
                })?;
                exp.add(&rec);
            }
        }
        tx.batch_execute("DELETE FROM shiftlog_streams; DELETE FROM shiftlog_places; DELETE FROM shiftlog_actors")
            .await
            .map_err(pg)?;
        write_summaries(&tx, &exp).await?;
        tx.commit().await.map_err(pg)?;
        crate::DerivedStore::clear(&*self.derived)?;
        Ok(head as u64)
    }
}

/// Keys for reading back every record during a check.
struct Opener(HashMap<u32, ActorKey>);

impl codec::Keys for Opener {
    fn seal_key(&self, _: &ActorId) -> Option<(u32, ActorKey)> {
        None
    }
    fn open_key(&self, slot: u32) -> Option<ActorKey> {
        self.0.get(&slot).copied()
    }
}

async fn insert_events(tx: &tokio_postgres::Transaction<'_>, rows: &[Row]) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let positions: Vec<i64> = rows.iter().map(|r| r.position).collect();
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let streams: Vec<&str> = rows.iter().map(|r| r.stream.as_str()).collect();
    let types: Vec<&str> = rows.iter().map(|r| r.event_type.as_str()).collect();
    let slots: Vec<&[u8]> = rows.iter().map(|r| r.slots.as_slice()).collect();
    let records: Vec<&[u8]> = rows.iter().map(|r| r.record.as_slice()).collect();
    tx.execute(
        "INSERT INTO shiftlog_events (position, id, stream, event_type, slots, record) \
         SELECT * FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::BYTEA[], $6::BYTEA[])",
        &[&positions, &ids, &streams, &types, &slots, &records],
    )
    .await
    .map_err(pg)?;
    Ok(())
}

async fn write_summaries(tx: &tokio_postgres::Transaction<'_>, exp: &Expected) -> Result<(), StoreError> {
    let (streams, versions): (Vec<&str>, Vec<i64>) = exp.versions.iter().map(|(s, v)| (s.as_str(), *v)).unzip();
    tx.execute(
        "INSERT INTO shiftlog_streams (stream, version) SELECT * FROM UNNEST($1::TEXT[], $2::BIGINT[])",
        &[&streams, &versions],
    )
    .await
    .map_err(pg)?;
    let places: Vec<&str> = exp.places.iter().map(|p| p.as_str()).collect();
    tx.execute(
        "INSERT INTO shiftlog_places (place) SELECT * FROM UNNEST($1::TEXT[])",
        &[&places],
    )
    .await
    .map_err(pg)?;
    let actors: Vec<&str> = exp.actors.iter().map(|a| a.as_str()).collect();
    tx.execute(
        "INSERT INTO shiftlog_actors (actor) SELECT * FROM UNNEST($1::TEXT[])",
        &[&actors],
    )
    .await
    .map_err(pg)?;
    Ok(())
}
