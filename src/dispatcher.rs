//! One thread per handle that runs user callbacks, one at a time, in the order they were queued.
//! Callbacks never run on a runtime worker or under an internal lock, so a callback may call any
//! function on the same handle, including close.

use std::sync::mpsc;
use std::thread::{JoinHandle, ThreadId};

use parking_lot::Mutex;

type Job = Box<dyn FnOnce() + Send>;

/// A FIFO of jobs served by one dedicated thread.
pub struct Dispatcher {
    tx: Mutex<Option<mpsc::Sender<Job>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    thread_id: ThreadId,
}

impl Dispatcher {
    /// Starts the dispatcher thread.
    pub fn start(name: &str) -> std::io::Result<Dispatcher> {
        let (tx, rx) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                for job in rx {
                    // A panicking callback must not take the dispatcher (and every later callback)
                    // down with it.
                    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).is_err() {
                        log::error!("a callback panicked; the dispatcher carries on");
                    }
                }
            })?;
        let thread_id = thread.thread().id();
        Ok(Dispatcher {
            tx: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
            thread_id,
        })
    }

    /// Queues a job; false once the dispatcher is shut down (the job is dropped here).
    pub fn submit(&self, job: impl FnOnce() + Send + 'static) -> bool {
        match &*self.tx.lock() {
            Some(tx) => tx.send(Box::new(job)).is_ok(),
            None => false,
        }
    }

    /// True when called from the dispatcher thread (that is, from inside a callback).
    pub fn is_current(&self) -> bool {
        std::thread::current().id() == self.thread_id
    }

    /// Stops accepting jobs, lets the queued ones run, and waits for the thread to finish —
    /// unless called from the dispatcher thread itself, which then finishes on its own once the
    /// running callback returns.
    pub fn shutdown(&self) {
        drop(self.tx.lock().take());
        let handle = self.thread.lock().take();
        if let Some(handle) = handle {
            if !self.is_current() {
                let _ = handle.join();
            }
        }
    }
}

impl Drop for Dispatcher {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn runs_jobs_in_order_and_survives_panics() {
        let d = Dispatcher::start("t").unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        for i in 0..100 {
            let seen = seen.clone();
            d.submit(move || {
                if i == 50 {
                    panic!("boom");
                }
                seen.lock().push(i)
            });
        }
        d.shutdown();
        let expected: Vec<i32> = (0..100).filter(|i| *i != 50).collect();
        assert_eq!(*seen.lock(), expected);
        assert!(!d.submit(|| {}));
    }
}
