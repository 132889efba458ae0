//! `ovc`'s progress bar on stderr.
//!
//! The bar starts hidden and appears only when a conversion is still running after
//! [`SHOW_AFTER`], so quick conversions print nothing; it is never drawn when stderr is not a
//! terminal or with `--quiet`. It shows the stage (reading, optimizing, writing) and, while the
//! weights stream into the `.bin`, the bytes done out of the total.

use std::io::IsTerminal;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How long a conversion runs before the bar appears.
pub const SHOW_AFTER: Duration = Duration::from_secs(1);

/// The conversion's progress bar (a no-op when disabled).
pub struct Progress {
    bar: ProgressBar,
    /// Tells the timer thread the conversion is over (dropping it does the same).
    done: Option<mpsc::Sender<()>>,
    timer: Option<JoinHandle<()>>,
}

impl Progress {
    /// A bar that shows after [`SHOW_AFTER`] if `enabled` and stderr is a terminal.
    pub fn new(enabled: bool) -> Progress {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
        if !enabled || !std::io::stderr().is_terminal() {
            return Progress { bar, done: None, timer: None };
        }
        bar.set_style(spinner_style());
        let (tx, rx) = mpsc::channel::<()>();
        let shown = bar.clone();
        let timer = std::thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(SHOW_AFTER) {
                shown.set_draw_target(ProgressDrawTarget::stderr());
                shown.enable_steady_tick(Duration::from_millis(120));
            }
        });
        Progress { bar, done: Some(tx), timer: Some(timer) }
    }

    /// Names the current stage.
    pub fn stage(&self, message: &'static str) {
        self.bar.set_message(message);
    }

    /// Switches to a byte bar over `total` weight bytes.
    pub fn start_bytes(&self, message: &'static str, total: u64) {
        self.bar.set_length(total);
        self.bar.set_position(0);
        self.bar.set_style(bytes_style());
        self.bar.set_message(message);
    }

    /// Moves the byte bar.
    pub fn set_bytes(&self, done: u64) {
        self.bar.set_position(done);
    }

    /// Removes the bar (it leaves nothing on the terminal).
    pub fn finish(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        drop(self.done.take());
        if let Some(t) = self.timer.take() {
            let _ = t.join();
        }
        self.bar.finish_and_clear();
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop();
    }
}

fn spinner_style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} {msg} [{elapsed}]").unwrap_or_else(|_| ProgressStyle::default_spinner())
}

fn bytes_style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} {msg} [{elapsed}] [{wide_bar}] {bytes}/{total_bytes} ({bytes_per_sec})")
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
}
