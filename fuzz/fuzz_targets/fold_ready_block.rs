//! The fold-ready block decoder (`shiftlog_projection::fold_ready`) on any bytes: a
//! damaged block is an error, never a panic or an absurd allocation; and whatever decodes
//! re-encodes to a block that decodes and re-encodes to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shiftlog::projection::fold_ready::{decode_block, encode_block};

fuzz_target!(|data: &[u8]| {
    let mut entries = Vec::new();
    if decode_block(data, &mut entries).is_err() {
        return;
    }
    let once = encode_block(&entries);
    let mut decoded = Vec::new();
    decode_block(&once, &mut decoded).expect("a re-encoded block decodes");
    // Bytes, not events: a NaN read from damaged bytes is not equal to itself.
    assert_eq!(encode_block(&decoded), once);
});
