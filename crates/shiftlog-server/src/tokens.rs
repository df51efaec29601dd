//! Access tokens: who may do what.
//!
//! With a data directory, tokens live in `tokens.json` there, beside the store but outside
//! its lock, so that `shiftlog token create` works while a server runs (the server notices
//! the file change). With a PostgreSQL store they live in its `shiftlog_tokens` table, so
//! that every server sharing the database sees a new token or a revocation on its next
//! request. Only a token's SHA-256 is kept: a token is 32 random bytes, so a fast hash is
//! enough, and neither place holds anything that would let a reader act.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use shiftlog::PgLog;
use shiftlog::{PlaceId, Timestamp};
use std::collections::BTreeSet;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

/// The file holding the tokens, in the data directory.
pub const TOKENS_FILE: &str = "tokens.json";

/// What a token lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Appends to and reads the places it is given.
    Recorder,
    /// Reads the projections of every place (snapshots, diffs, evolution, comparisons,
    /// anomalies, exports), never free text.
    Funder,
    /// Everything.
    Admin,
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "recorder" => Ok(Role::Recorder),
            "funder" => Ok(Role::Funder),
            "admin" => Ok(Role::Admin),
            other => Err(format!("unknown role `{other}` (expected recorder, funder or admin)")),
        }
    }
}

/// Who is asking: a token's role and places.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's role.
    pub role: Role,
    /// For recorders, the places they may write and read.
    pub places: BTreeSet<PlaceId>,
    /// The token's id (`None` when serving `--open`): what per-token limits count by.
    pub token_id: Option<String>,
}

impl Principal {
    /// Full access: a server started with `--open`.
    pub fn open() -> Principal {
        Principal {
            role: Role::Admin,
            places: BTreeSet::new(),
            token_id: None,
        }
    }

    /// Whether it may read raw events and projections of `place`.
    pub fn reads_place(&self, place: &PlaceId) -> bool {
        match self.role {
            Role::Admin | Role::Funder => true,
            Role::Recorder => self.places.contains(place),
        }
    }

    /// Whether free text must be withheld from what it reads.
    pub fn withholds_text(&self) -> bool {
        self.role == Role::Funder
    }

    /// Whether people (`kind: person` actors) are shown to it by stable pseudonyms, never
    /// by name: funders need organisations' names, not residents'.
    pub fn sees_pseudonyms(&self) -> bool {
        self.role == Role::Funder
    }
}

/// One stored token (never the token itself).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// A short public name for the token (the start of its hash), for listing and revoking.
    pub id: String,
    /// Its role.
    pub role: Role,
    /// For recorders, its places.
    #[serde(default)]
    pub places: Vec<PlaceId>,
    /// When it was created.
    pub created_at: Timestamp,
    /// SHA-256 of the token, in hex.
    pub sha256: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct TokenFile {
    format: u32,
    tokens: Vec<TokenRecord>,
}

/// Why tokens could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Reading or writing the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The file is not a token file this build understands.
    #[error("{path}: not a shiftlog token file ({reason})")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A recorder needs at least one place; other roles take none.
    #[error("{0}")]
    Invalid(String),
    /// No token has this id.
    #[error("no token with id `{0}`")]
    NotFound(String),
    /// The database holding the tokens failed.
    #[error("the tokens in the database: {0}")]
    Database(#[from] shiftlog::StoreError),
    /// A token's description in the database does not parse.
    #[error("a token in the database is not understood: {0}")]
    MalformedRow(String),
}

fn hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A file's modified time and length: when either moves, it is read again.
type FileStamp = (SystemTime, u64);

/// The tokens of one store: a file in its data directory, or a table in its database.
#[derive(Debug)]
pub struct TokenStore {
    path: PathBuf,
    /// The file's last seen (modified time, length), and its tokens.
    cache: RwLock<(Option<FileStamp>, Vec<TokenRecord>)>,
    /// When set, the tokens are in this database and `path` is unused.
    database: Option<Arc<PgLog>>,
}

/// The data directory may be made by `token create` before any store: its owner's alone,
/// as the store makes it.
fn private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

impl TokenStore {
    /// The tokens of data directory `dir` (none yet if it has no token file).
    pub fn new(dir: impl AsRef<Path>) -> TokenStore {
        TokenStore {
            path: dir.as_ref().join(TOKENS_FILE),
            cache: RwLock::new((None, Vec::new())),
            database: None,
        }
    }

    /// The tokens kept in the database of a PostgreSQL store.
    pub fn in_database(log: Arc<PgLog>) -> TokenStore {
        TokenStore {
            path: PathBuf::new(),
            cache: RwLock::new((None, Vec::new())),
            database: Some(log),
        }
    }

    /// Where the tokens are, for messages.
    pub fn describe(&self) -> String {
        match &self.database {
            Some(db) => format!("the table shiftlog_tokens of {}", db.target()),
            None => self.path.display().to_string(),
        }
    }

    fn io(&self, source: std::io::Error) -> TokenError {
        TokenError::Io {
            path: self.path.clone(),
            source,
        }
    }

    fn read(&self) -> Result<TokenFile, TokenError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => {
                let file: TokenFile = serde_json::from_slice(&bytes).map_err(|e| TokenError::Malformed {
                    path: self.path.clone(),
                    reason: e.to_string(),
                })?;
                if file.format != 1 {
                    return Err(TokenError::Malformed {
                        path: self.path.clone(),
                        reason: format!("format {} is not 1", file.format),
                    });
                }
                Ok(file)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(TokenFile {
                format: 1,
                tokens: Vec::new(),
            }),
            Err(e) => Err(self.io(e)),
        }
    }

    /// Replaces the file whole (write aside, sync, rename), so a reader never sees half.
    fn write(&self, file: &TokenFile) -> Result<(), TokenError> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        private_dir(dir).map_err(|e| self.io(e))?;
        let tmp = self.path.with_extension("json.tmp");
        let mut f = std::fs::File::create(&tmp).map_err(|e| self.io(e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            f.set_permissions(std::fs::Permissions::from_mode(0o600))
                .map_err(|e| self.io(e))?;
        }
        f.write_all(&serde_json::to_vec_pretty(file).expect("token files serialize"))
            .and_then(|_| f.sync_all())
            .map_err(|e| self.io(e))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| self.io(e))?;
        Ok(())
    }

    /// Runs `f` on the file under an exclusive lock, so two creators never lose a token.
    fn update<T>(&self, f: impl FnOnce(&mut TokenFile) -> Result<T, TokenError>) -> Result<T, TokenError> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        private_dir(dir).map_err(|e| self.io(e))?;
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(self.path.with_extension("lock"))
            .map_err(|e| self.io(e))?;
        lock.lock().map_err(|e| self.io(e))?;
        let mut file = self.read()?;
        let out = f(&mut file)?;
        self.write(&file)?;
        Ok(out)
    }

    /// Creates a token; returns the token (shown once, never stored) and its record.
    pub async fn create(&self, role: Role, places: Vec<PlaceId>) -> Result<(String, TokenRecord), TokenError> {
        match role {
            Role::Recorder if places.is_empty() => {
                return Err(TokenError::Invalid(
                    "a recorder token needs at least one --place".into(),
                ))
            }
            Role::Funder | Role::Admin if !places.is_empty() => {
                return Err(TokenError::Invalid(
                    "only recorder tokens take places (funders and admins see every place)".into(),
                ))
            }
            _ => {}
        }
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| self.io(std::io::Error::other(e.to_string())))?;
        let token = format!("shl_{}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>());
        let sha256 = hash(&token);
        let record = TokenRecord {
            id: sha256[..12].to_string(),
            role,
            places,
            created_at: Timestamp::now(),
            sha256,
        };
        if let Some(db) = &self.database {
            let json = serde_json::to_string(&record).expect("token records serialize");
            db.token_insert(&record.id, &record.sha256, &json).await?;
            return Ok((token, record));
        }
        let r = record.clone();
        self.update(move |file| {
            file.tokens.push(r);
            Ok(())
        })?;
        Ok((token, record))
    }

    /// Every token's record.
    pub async fn list(&self) -> Result<Vec<TokenRecord>, TokenError> {
        if let Some(db) = &self.database {
            return db.token_list().await?.iter().map(|j| parse_row(j)).collect();
        }
        Ok(self.read()?.tokens)
    }

    /// Removes the token with this id; requests carrying it are refused from then on.
    pub async fn revoke(&self, id: &str) -> Result<TokenRecord, TokenError> {
        if let Some(db) = &self.database {
            return match db.token_remove(id).await? {
                Some(j) => parse_row(&j),
                None => Err(TokenError::NotFound(id.to_string())),
            };
        }
        self.update(|file| {
            let i = file
                .tokens
                .iter()
                .position(|t| t.id == id)
                .ok_or_else(|| TokenError::NotFound(id.to_string()))?;
            Ok(file.tokens.remove(i))
        })
    }

    /// Who holds `token`, if anyone. Rereads the file when it has changed; asks the
    /// database every time.
    pub async fn authenticate(&self, token: &str) -> Result<Option<Principal>, TokenError> {
        if let Some(db) = &self.database {
            return match db.token_find(&hash(token)).await? {
                Some(j) => {
                    let t = parse_row(&j)?;
                    Ok(Some(Principal {
                        role: t.role,
                        places: t.places.iter().cloned().collect(),
                        token_id: Some(t.id),
                    }))
                }
                None => Ok(None),
            };
        }
        let stamp = std::fs::metadata(&self.path)
            .ok()
            .map(|m| (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len()));
        let fresh = self.cache.read().unwrap_or_else(|e| e.into_inner()).0 == stamp && stamp.is_some();
        if !fresh {
            let tokens = self.read()?.tokens;
            *self.cache.write().unwrap_or_else(|e| e.into_inner()) = (stamp, tokens);
        }
        let wanted = hash(token);
        let cache = self.cache.read().unwrap_or_else(|e| e.into_inner());
        Ok(cache.1.iter().find(|t| t.sha256 == wanted).map(|t| Principal {
            role: t.role,
            places: t.places.iter().cloned().collect(),
            token_id: Some(t.id.clone()),
        }))
    }
}

fn parse_row(json: &str) -> Result<TokenRecord, TokenError> {
    serde_json::from_str(json).map_err(|e| TokenError::MalformedRow(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `store` and `other` are two handles on the same tokens (two processes, two servers).
    async fn tokens_authenticate_until_revoked(store: &TokenStore, other: &TokenStore) -> String {
        let leeds = PlaceId::new("leeds").unwrap();
        let (token, record) = store.create(Role::Recorder, vec![leeds.clone()]).await.unwrap();
        let p = store.authenticate(&token).await.unwrap().unwrap();
        assert_eq!((p.role, p.reads_place(&leeds)), (Role::Recorder, true));
        assert!(!p.reads_place(&PlaceId::new("york").unwrap()));
        assert_eq!(store.authenticate("shl_wrong").await.unwrap(), None);
        // The other handle sees new tokens and its revocations are seen here.
        let (admin, _) = other.create(Role::Admin, vec![]).await.unwrap();
        assert_eq!(store.authenticate(&admin).await.unwrap().unwrap().role, Role::Admin);
        assert_eq!(store.list().await.unwrap().len(), 2);
        other.revoke(&record.id).await.unwrap();
        assert_eq!(store.authenticate(&token).await.unwrap(), None);
        assert!(matches!(store.revoke("nope").await, Err(TokenError::NotFound(_))));
        assert!(matches!(
            store.create(Role::Recorder, vec![]).await,
            Err(TokenError::Invalid(_))
        ));
        assert!(matches!(
            store.create(Role::Funder, vec![leeds]).await,
            Err(TokenError::Invalid(_))
        ));
        token
    }

    #[tokio::test]
    async fn tokens_in_a_file_authenticate_until_revoked_and_are_stored_hashed() {
        let dir = tempfile::tempdir().unwrap();
        let token = tokens_authenticate_until_revoked(&TokenStore::new(dir.path()), &TokenStore::new(dir.path())).await;
        let file = std::fs::read_to_string(dir.path().join(TOKENS_FILE)).unwrap();
        assert!(!file.contains(&token), "the token itself is never stored");
    }

    #[tokio::test]
    async fn tokens_in_the_database_are_shared_by_every_server() {
        let Some(cluster) = shiftlog::store::throwaway::Cluster::start() else {
            return;
        };
        let url = cluster.database().await;
        let one = Arc::new(PgLog::connect(&url).await.unwrap());
        let two = Arc::new(PgLog::connect(&url).await.unwrap());
        let token =
            tokens_authenticate_until_revoked(&TokenStore::in_database(one.clone()), &TokenStore::in_database(two))
                .await;
        let rows = shiftlog::store::throwaway::rows(&url, "SELECT id, sha256, record FROM shiftlog_tokens").await;
        assert_eq!(rows.len(), 1, "the revoked token is gone");
        for cell in rows.iter().flatten() {
            assert!(
                !cell.as_deref().unwrap_or("").contains(&token),
                "the token itself is never stored"
            );
        }
    }
}
