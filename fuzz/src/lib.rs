//! What the fuzz targets and the seed writer share.

use shiftlog_model::ActorId;
use shiftlog_store::codec::{ActorKey, Keys};
use std::collections::HashMap;
use std::sync::Mutex;

/// Keys that are the same in every run, so that seeds sealed by the seed writer open in
/// the fuzzer and mutations get past the AEAD: slot `n` holds `[n; 32]` for the first 64
/// slots, and later slots read as destroyed.
#[derive(Debug, Default)]
pub struct FixedKeys(Mutex<HashMap<ActorId, u32>>);

impl Keys for FixedKeys {
    fn seal_key(&self, actor: &ActorId) -> Option<(u32, ActorKey)> {
        let mut slots = self.0.lock().unwrap();
        let next = slots.len() as u32;
        let slot = *slots.entry(actor.clone()).or_insert(next);
        self.open_key(slot).map(|k| (slot, k))
    }
    fn open_key(&self, slot: u32) -> Option<ActorKey> {
        (slot < 64).then_some([slot as u8; 32])
    }
}
