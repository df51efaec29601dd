//! The `fold_ready_block` fuzz target's corpus and regressions (under `fuzz/`), replayed on
//! the stable compiler in every test run with the target's own checks: decoding any of
//! them never panics, and whatever decodes re-encodes to a block that decodes and
//! re-encodes to the same bytes.

use shiftlog_projection::fold_ready::{decode_block, encode_block};
use std::path::Path;

#[test]
fn the_fold_ready_corpus_decodes_without_panicking() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let (mut files, mut decoded) = (0, 0);
    for dir in ["corpus/fold_ready_block", "regressions/fold_ready_block"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue; // git keeps no empty directory
        };
        for path in entries.map(|e| e.unwrap().path()) {
            files += 1;
            let bytes = std::fs::read(&path).unwrap();
            let mut entries = Vec::new();
            if decode_block(&bytes, &mut entries).is_err() {
                continue;
            }
            decoded += 1;
            let once = encode_block(&entries);
            let mut again = Vec::new();
            decode_block(&once, &mut again).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(encode_block(&again), once, "{}", path.display());
        }
    }
    assert!(files > 100, "the corpus is there ({files} files)");
    assert!(decoded > 0, "some of it decodes");
}
