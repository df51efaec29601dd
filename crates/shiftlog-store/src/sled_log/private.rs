//! A data directory is readable by its owner alone: it holds the keys that open people's
//! names. Directories are made `0700` and files `0600`, whatever the umask, and a store
//! made by an older build is tightened when it is opened.

use crate::error::StoreError;
use std::fs::{DirBuilder, File, OpenOptions, Permissions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

const DIR_MODE: u32 = 0o700;
const FILE_MODE: u32 = 0o600;

/// Creates `dir` (and missing parents) for its owner alone, and tightens it if it exists.
pub(crate) fn private_dir(dir: &Path) -> Result<(), StoreError> {
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
        .map_err(|e| StoreError::io(dir, e))?;
    std::fs::set_permissions(dir, Permissions::from_mode(DIR_MODE)).map_err(|e| StoreError::io(dir, e))
}

/// Opens `path` for reading and writing, creating it `0600` (an existing file is tightened
/// and kept as it is).
pub(crate) fn private_file(path: &Path) -> std::io::Result<File> {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(FILE_MODE)
        .open(path)?;
    f.set_permissions(Permissions::from_mode(FILE_MODE))?;
    Ok(f)
}

/// Creates `path` anew (it must not exist), `0600`.
pub(crate) fn new_private_file(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(path)
}

/// Tightens everything under `path` (sled creates its files with the umask's modes).
pub(crate) fn make_private(path: &Path) -> Result<(), StoreError> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| StoreError::io(path, e))?;
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    let mode = if meta.is_dir() { DIR_MODE } else { FILE_MODE };
    if meta.permissions().mode() & 0o777 != mode {
        std::fs::set_permissions(path, Permissions::from_mode(mode)).map_err(|e| StoreError::io(path, e))?;
    }
    if meta.is_dir() {
        for entry in std::fs::read_dir(path).map_err(|e| StoreError::io(path, e))? {
            let entry = entry.map_err(|e| StoreError::io(path, e))?;
            make_private(&entry.path())?;
        }
    }
    Ok(())
}
