//! Helpers shared by the CLI's integration tests.

use std::process::{Child, Command, Output};
use std::time::Duration;

/// Longer than this is a hang.
pub const PATIENCE: Duration = Duration::from_secs(120);

/// Runs to completion, failing the test if it takes longer than [`PATIENCE`]. Its output
/// is read as it comes (a full pipe would stall it).
pub fn finish(child: Child, what: &str) -> Output {
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(PATIENCE) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            panic!("{what}: still running after {PATIENCE:?}");
        }
    }
}
