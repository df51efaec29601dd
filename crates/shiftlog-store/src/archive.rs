//! The backup file: one format for every backend, so that a backup of a data directory
//! restores into PostgreSQL and back, and `migrate` is a backup read into another store.
//!
//! ```text
//! "shiftlog backup\n"   16 bytes
//! version               u32 LE (1)
//! head                  u64 LE: the file holds positions 1 to head
//! key count             u64 LE
//! keys                  32 bytes each, by slot; all zeros once destroyed (redaction)
//! pages                 [len u32 LE][page] for every page up to the head's
//! crc32                 u32 LE of everything before it
//! ```
//!
//! A page is records of [`PAGE_EVENTS`] consecutive positions, each `[len u32 LE][record]`
//! in the store's record format ([`crate::codec`]): personal data stays sealed under the
//! key in the slot the record names. Slots are given in the order actors first join, by
//! every backend, so the records' slots mean the same in every store.

use crate::codec::ActorKey;
use crate::error::StoreError;
use crate::types::Position;
use std::io::{BufReader, BufWriter, Read, Take, Write};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 16] = b"shiftlog backup\n";
const VERSION: u32 = 1;

/// Events per page (in the backup file, and in the sled store's records).
pub(crate) const PAGE_EVENTS: u64 = 16;

pub(crate) fn page_of(position: u64) -> u64 {
    // Position 0 is never stored; saturating keeps a damaged head from overflowing.
    position.saturating_sub(1) / PAGE_EVENTS
}

pub(crate) fn first_position(page: u64) -> u64 {
    // Saturating: a damaged page key may name any number.
    page.saturating_mul(PAGE_EVENTS).saturating_add(1)
}

pub(crate) fn push(page: &mut Vec<u8>, record: &[u8]) {
    page.extend_from_slice(&(record.len() as u32).to_le_bytes());
    page.extend_from_slice(record);
}

/// A page's records with their positions; a broken length is damage at that position.
pub(crate) fn split(page: u64, bytes: &[u8]) -> Result<Vec<(u64, &[u8])>, StoreError> {
    let mut out = Vec::with_capacity(PAGE_EVENTS as usize);
    let mut rest = bytes;
    let mut position = first_position(page);
    while !rest.is_empty() {
        let damaged = |reason: &str| StoreError::Damaged {
            position: Position(position),
            reason: reason.into(),
        };
        if rest.len() < 4 || out.len() as u64 == PAGE_EVENTS {
            return Err(damaged("the page holding it is malformed"));
        }
        let len = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes")) as usize;
        if rest.len() - 4 < len {
            return Err(damaged("its length runs past the end of its page"));
        }
        out.push((position, &rest[4..4 + len]));
        rest = &rest[4 + len..];
        position = position.saturating_add(1);
    }
    Ok(out)
}

/// What a backup holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct BackupSummary {
    /// The log position it was taken at: it holds events 1 to `head`.
    pub head: u64,
    /// Keys in its keys section.
    pub keys: u64,
    /// Its size in bytes.
    pub bytes: u64,
}

/// Writes a backup file: into `<out>.partial`, renamed to `out` once whole and on disk.
pub(crate) struct ArchiveWriter {
    w: CrcWriter<BufWriter<std::fs::File>>,
    tmp: PathBuf,
    out: PathBuf,
    head: u64,
    keys: u64,
    /// The next position to push, and the page it fills.
    next: u64,
    page: Vec<u8>,
}

impl ArchiveWriter {
    /// Starts a backup of positions 1 to `head` with `keys` (by slot, zeros once destroyed).
    pub(crate) fn create(out: &Path, head: u64, keys: &[ActorKey]) -> Result<ArchiveWriter, StoreError> {
        let tmp = out.with_extension("partial");
        let io = |e| StoreError::io(&tmp, e);
        // A backup holds the keys that open people's names: readable by its owner alone.
        let _ = std::fs::remove_file(&tmp);
        let file = crate::sled_log::new_private_file(&tmp).map_err(io)?;
        let mut w = CrcWriter::new(BufWriter::with_capacity(1 << 20, file));
        w.write_all(MAGIC).map_err(io)?;
        w.write_all(&VERSION.to_le_bytes()).map_err(io)?;
        w.write_all(&head.to_le_bytes()).map_err(io)?;
        w.write_all(&(keys.len() as u64).to_le_bytes()).map_err(io)?;
        for k in keys {
            w.write_all(k).map_err(io)?;
        }
        Ok(ArchiveWriter {
            w,
            out: out.to_path_buf(),
            tmp,
            head,
            keys: keys.len() as u64,
            next: 1,
            page: Vec::new(),
        })
    }

    /// Adds the record at `position`, which must be the next one.
    pub(crate) fn push(&mut self, position: u64, record: &[u8]) -> Result<(), StoreError> {
        if position != self.next || position > self.head {
            return Err(StoreError::Corrupt(format!(
                "backing up: position {position} came where {} was expected",
                self.next
            )));
        }
        push(&mut self.page, record);
        self.next += 1;
        if position.is_multiple_of(PAGE_EVENTS) || position == self.head {
            self.flush_page()?;
        }
        Ok(())
    }

    /// Adds a whole page of records as a store keeps it (positions checked).
    pub(crate) fn push_page(&mut self, page: u64, bytes: &[u8]) -> Result<(), StoreError> {
        for (p, rec) in split(page, bytes)? {
            if p <= self.head {
                self.push(p, rec)?;
            }
        }
        Ok(())
    }

    fn flush_page(&mut self) -> Result<(), StoreError> {
        let io = |e| StoreError::io(&self.tmp, e);
        self.w.write_all(&(self.page.len() as u32).to_le_bytes()).map_err(io)?;
        self.w.write_all(&self.page).map_err(io)?;
        self.page.clear();
        Ok(())
    }

    /// Writes the checksum, syncs and renames the file into place.
    pub(crate) fn finish(self) -> Result<BackupSummary, StoreError> {
        if self.next != self.head + 1 {
            return Err(StoreError::Corrupt(format!(
                "backing up: the log ended at position {} before its head {}",
                self.next - 1,
                self.head
            )));
        }
        let io = |e| StoreError::io(&self.tmp, e);
        let crc = self.w.crc.clone().finalize();
        let mut inner = self.w.inner;
        inner.write_all(&crc.to_le_bytes()).map_err(io)?;
        let file = inner.into_inner().map_err(|e| io(e.into_error()))?;
        file.sync_all().map_err(io)?;
        let bytes = file.metadata().map_err(io)?.len();
        std::fs::rename(&self.tmp, &self.out).map_err(|e| StoreError::io(&self.out, e))?;
        if let Some(dir) = self.out.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::sled_log::sync_dir(dir)?;
        }
        Ok(BackupSummary {
            head: self.head,
            keys: self.keys,
            bytes,
        })
    }
}

/// Reads a backup file, checksum first (so nothing is made from a damaged file), then
/// its contents page by page: memory stays at one page whatever the backup's size.
pub(crate) struct ArchiveReader {
    r: Take<BufReader<std::fs::File>>,
    path: PathBuf,
    /// The file holds positions 1 to `head`.
    pub(crate) head: u64,
    /// Keys by slot; all zeros once destroyed.
    pub(crate) keys: Vec<ActorKey>,
    /// The file's size in bytes.
    pub(crate) size: u64,
    next_page: u64,
}

impl ArchiveReader {
    pub(crate) fn open(path: &Path) -> Result<ArchiveReader, StoreError> {
        let io = |e| StoreError::io(path, e);
        let bad = bad(path);
        let size = std::fs::metadata(path).map_err(io)?.len();
        if size < (MAGIC.len() + 4 + 8 + 8 + 4) as u64 {
            return Err(bad("it does not start like a shiftlog backup"));
        }
        let body_len = size - 4;
        let open = || std::fs::File::open(path).map(|f| BufReader::with_capacity(1 << 20, f));
        {
            let mut r = open().map_err(io)?;
            let mut crc = crc32fast::Hasher::new();
            let mut buf = vec![0u8; 1 << 20];
            let mut left = body_len;
            while left > 0 {
                let n = r.read(&mut buf[..left.min(1 << 20) as usize]).map_err(io)?;
                if n == 0 {
                    return Err(bad("it ends early"));
                }
                crc.update(&buf[..n]);
                left -= n as u64;
            }
            let mut stored = [0u8; 4];
            r.read_exact(&mut stored).map_err(io)?;
            if crc.finalize().to_le_bytes() != stored {
                return Err(bad("its checksum does not match (truncated or damaged)"));
            }
        }
        let mut r = open().map_err(io)?.take(body_len);
        let mut magic = [0u8; 16];
        r.read_exact(&mut magic).map_err(io)?;
        if &magic != MAGIC {
            return Err(bad("it does not start like a shiftlog backup"));
        }
        let mut b4 = [0u8; 4];
        let mut b8 = [0u8; 8];
        exact(path, &mut r, &mut b4)?;
        let version = u32::from_le_bytes(b4);
        if version != VERSION {
            return Err(bad(&format!("backup format {version} is not known to this shiftlog")));
        }
        exact(path, &mut r, &mut b8)?;
        let head = u64::from_le_bytes(b8);
        exact(path, &mut r, &mut b8)?;
        let nkeys = u64::from_le_bytes(b8);
        if nkeys > r.limit() / 32 {
            return Err(bad("it ends early"));
        }
        let mut keys: Vec<ActorKey> = vec![[0u8; 32]; nkeys as usize];
        for k in &mut keys {
            exact(path, &mut r, k)?;
        }
        Ok(ArchiveReader {
            r,
            path: path.to_path_buf(),
            head,
            keys,
            size,
            next_page: 0,
        })
    }

    /// The next page `(number, bytes)` (its records checked for framing), or `None` after
    /// the head's page; then the file must end.
    pub(crate) fn next_page(&mut self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        let pages = if self.head == 0 { 0 } else { page_of(self.head) + 1 };
        let bad = bad(&self.path);
        if self.next_page == pages {
            if self.r.limit() != 0 {
                return Err(bad("it has bytes after its last page"));
            }
            return Ok(None);
        }
        let mut b4 = [0u8; 4];
        exact(&self.path, &mut self.r, &mut b4)?;
        let len = u32::from_le_bytes(b4) as u64;
        if self.r.limit() < len {
            return Err(bad("it ends early"));
        }
        let mut bytes = vec![0u8; len as usize];
        exact(&self.path, &mut self.r, &mut bytes)?;
        let page = self.next_page;
        let records = split(page, &bytes)?;
        let want = (self.head - first_position(page) + 1).min(PAGE_EVENTS);
        if records.len() as u64 != want {
            return Err(bad(&format!("page {page} holds {} records, not {want}", records.len())));
        }
        self.next_page += 1;
        Ok(Some((page, bytes)))
    }
}

fn bad(path: &Path) -> impl Fn(&str) -> StoreError + '_ {
    move |why: &str| StoreError::Corrupt(format!("{} is not a usable backup: {why}", path.display()))
}

fn exact(path: &Path, r: &mut dyn Read, buf: &mut [u8]) -> Result<(), StoreError> {
    r.read_exact(buf).map_err(|_| bad(path)("it ends early"))
}

/// Counts a CRC of everything written through it.
struct CrcWriter<W> {
    inner: W,
    crc: crc32fast::Hasher,
}

impl<W: Write> CrcWriter<W> {
    fn new(inner: W) -> Self {
        CrcWriter {
            inner,
            crc: crc32fast::Hasher::new(),
        }
    }
}

impl<W: Write> Write for CrcWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
