//! Access tokens: who may do what.
//!
//! Tokens live in `tokens.json` in the data directory, beside the store but outside its
//! lock, so that `shiftlog token create` works while a server runs (the server notices
//! the file change). Only a token's SHA-256 is kept: a token is 32 random bytes, so a
//! fast hash is enough, and the file never holds anything that would let a reader act.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use shiftlog::{PlaceId, Timestamp};
use std::collections::BTreeSet;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
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
}

fn hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A file's modified time and length: when either moves, it is read again.
type FileStamp = (SystemTime, u64);

/// The tokens of one data directory.
#[derive(Debug)]
pub struct TokenStore {
    path: PathBuf,
    /// The file's last seen (modified time, length), and its tokens.
    cache: RwLock<(Option<FileStamp>, Vec<TokenRecord>)>,
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
    pub fn create(&self, role: Role, places: Vec<PlaceId>) -> Result<(String, TokenRecord), TokenError> {
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
        let r = record.clone();
        self.update(move |file| {
            file.tokens.push(r);
            Ok(())
        })?;
        Ok((token, record))
    }

    /// Every token's record.
    pub fn list(&self) -> Result<Vec<TokenRecord>, TokenError> {
        Ok(self.read()?.tokens)
    }

    /// Removes the token with this id; requests carrying it are refused from then on.
    pub fn revoke(&self, id: &str) -> Result<TokenRecord, TokenError> {
        self.update(|file| {
            let i = file
                .tokens
                .iter()
                .position(|t| t.id == id)
                .ok_or_else(|| TokenError::NotFound(id.to_string()))?;
            Ok(file.tokens.remove(i))
        })
    }

    /// Who holds `token`, if anyone. Rereads the file when it has changed.
    pub fn authenticate(&self, token: &str) -> Result<Option<Principal>, TokenError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_authenticate_until_revoked_and_are_stored_hashed() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::new(dir.path());
        let leeds = PlaceId::new("leeds").unwrap();
        let (token, record) = store.create(Role::Recorder, vec![leeds.clone()]).unwrap();
        let p = store.authenticate(&token).unwrap().unwrap();
        assert_eq!((p.role, p.reads_place(&leeds)), (Role::Recorder, true));
        assert!(!p.reads_place(&PlaceId::new("york").unwrap()));
        assert_eq!(store.authenticate("shl_wrong").unwrap(), None);
        let file = std::fs::read_to_string(dir.path().join(TOKENS_FILE)).unwrap();
        assert!(!file.contains(&token), "the token itself is never stored");
        // Another store on the same directory (another process) sees new tokens.
        let other = TokenStore::new(dir.path());
        let (admin, _) = other.create(Role::Admin, vec![]).unwrap();
        assert_eq!(store.authenticate(&admin).unwrap().unwrap().role, Role::Admin);
        other.revoke(&record.id).unwrap();
        assert_eq!(store.authenticate(&token).unwrap(), None);
        assert!(matches!(store.revoke("nope"), Err(TokenError::NotFound(_))));
        assert!(matches!(
            store.create(Role::Recorder, vec![]),
            Err(TokenError::Invalid(_))
        ));
        assert!(matches!(
            store.create(Role::Funder, vec![leeds]),
            Err(TokenError::Invalid(_))
        ));
    }
}
