//! A progress bar on stderr for large inputs; hidden for small ones and when stderr is
//! not a terminal (indicatif's stderr target draws nothing then).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Inputs with more events than this get a progress bar.
const SHOW_AFTER_EVENTS: u64 = 5_000;

pub(crate) struct Progress {
    bar: ProgressBar,
    shown: bool,
    bytes: Arc<AtomicU64>,
}

impl Progress {
    /// `total` is the input's size in bytes when known (a file), `None` for stdin.
    pub(crate) fn new(total: Option<u64>) -> Self {
        let bar = match total {
            Some(n) => ProgressBar::with_draw_target(Some(n), ProgressDrawTarget::hidden()).with_style(
                ProgressStyle::with_template("{msg:>10} [{bar:40}] {bytes}/{total_bytes} ({eta})")
                    .expect("valid template")
                    .progress_chars("=> "),
            ),
            None => ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden())
                .with_style(ProgressStyle::with_template("{spinner} {msg:>10} {bytes} read").expect("valid template")),
        };
        bar.set_message("reading");
        Progress {
            bar,
            shown: false,
            bytes: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Wraps a reader so that the bar follows the bytes read from it.
    pub(crate) fn reader<R: Read>(&self, inner: R) -> CountingReader<R> {
        CountingReader {
            inner,
            count: self.bytes.clone(),
        }
    }

    /// Called as events are read.
    pub(crate) fn events_read(&mut self, events: u64) {
        if !self.shown && events > SHOW_AFTER_EVENTS {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
            self.shown = true;
        }
        self.bar.set_position(self.bytes.load(Ordering::Relaxed));
    }

    pub(crate) fn message(&self, msg: &'static str) {
        self.bar.set_message(msg);
        self.bar.tick();
    }

    pub(crate) fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

pub(crate) struct CountingReader<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Brings every place's derived data (index and checkpoints) up to the log's head, with a
/// bar when more than a handful of places are behind: after an append or import, so that
/// the first query after it waits for nothing, and before a query on a store last written
/// by an older build (once: it stays current after).
pub(crate) async fn prepare(engine: &shiftlog::Engine) -> anyhow::Result<()> {
    const HANDFUL: usize = 8;
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden()).with_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} places ({eta})")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_message("preparing places for queries");
    let prepared = engine
        .prepare(|done, total| {
            if done == 0 && total > HANDFUL {
                bar.set_length(total as u64);
                bar.set_draw_target(ProgressDrawTarget::stderr());
            }
            bar.set_position(done as u64);
        })
        .await;
    bar.finish_and_clear();
    let prepared = prepared.map_err(|e| anyhow::anyhow!("preparing places for queries: {e}"))?;
    tracing::debug!(?prepared, "derived data prepared");
    Ok(())
}
