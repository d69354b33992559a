//! How many messages are in progress: from their first accepted recipient to their end of
//! message (or abort, or the connection's end).
//!
//! End of message reads it to choose where the DKIM signatures are made. Alone, a message has
//! them made on a blocking thread beside its checks and ARC set, which shortens its own wait by
//! one RSA signature. When others are in progress that hand-off only adds work (a thread
//! wake-up and two context switches a message: in the bench, the milter's CPU per signed
//! forward over TCP fell from 1.32 to 1.27 ms without it), and the other core is busy with
//! Postfix anyway: the signatures are made in line.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

/// The number of messages in progress.
#[derive(Debug, Default)]
pub struct InProgress(Arc<AtomicUsize>);

/// One message in progress; dropping it ends it.
#[derive(Debug)]
pub struct Entered(Arc<AtomicUsize>);

impl InProgress {
    /// A message begins.
    pub fn enter(&self) -> Entered {
        self.0.fetch_add(1, Ordering::Relaxed);
        Entered(self.0.clone())
    }

    /// How many messages are in progress now.
    pub fn count(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

impl Drop for Entered {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_in_progress_count_until_each_entry_is_dropped() {
        let busy = InProgress::default();
        let first = busy.enter();
        let second = busy.enter();
        assert_eq!(busy.count(), 2);
        drop(first);
        assert_eq!(busy.count(), 1);
        drop(second);
        assert_eq!(busy.count(), 0);
    }
}
