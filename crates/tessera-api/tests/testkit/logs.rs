//! Log capture: one global `tracing` subscriber at TRACE level, writing plain text (no ANSI)
//! into a shared in-memory buffer that tests can search.
//!
//! A global subscriber is the only kind that sees the server's events: the server runs on the
//! runtime's worker threads, where a thread-local default would not apply. Every test server
//! installs it (the first one wins), so the buffer holds the logs of every test in the binary;
//! a test that looks for a leaked secret therefore searches everything ever logged.

use std::io;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use tracing_subscriber::filter::LevelFilter;

static BUFFER: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

/// A writer appending to the shared buffer.
struct Sink(Arc<Mutex<Vec<u8>>>);

impl io::Write for Sink {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Installs the capturing subscriber (once per process).
pub(crate) fn init() {
    BUFFER.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = Arc::clone(&buffer);
        let installed = tracing_subscriber::fmt()
            .with_max_level(LevelFilter::TRACE)
            .with_ansi(false)
            .with_writer(move || Sink(Arc::clone(&writer)))
            .try_init();
        assert!(
            installed.is_ok(),
            "another global subscriber was installed first"
        );
        buffer
    });
}

/// Everything captured so far.
pub(crate) fn captured() -> String {
    init();
    let buffer = BUFFER
        .get()
        .map(|b| b.lock().unwrap_or_else(PoisonError::into_inner).clone());
    String::from_utf8_lossy(&buffer.unwrap_or_default()).into_owned()
}
