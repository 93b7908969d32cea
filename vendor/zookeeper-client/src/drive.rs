//! libndsr patch: the session's future can be driven by the thread that makes a request.
//!
//! Upstream hands every request to the session task through a channel, which wakes the task's
//! worker thread; the worker writes the request. A thread that blocks for the answer (libndsr's
//! C callers) so pays two thread hand-offs per request: to the worker and back. Here the thread
//! that queues a request polls the session future itself when nobody else is polling it, so the
//! request goes out in the caller's own `writev` and only the answer comes back through the
//! worker. The session stays a spawned task: the worker polls it for everything else (answers,
//! pings, reconnection), and any wake-up during an inline poll is either taken by that poll or
//! passed on to the task, so none is lost.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, TryLockError};
use std::task::{Context, Poll, Wake, Waker};

use futures::task::AtomicWaker;

type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A future shared by its task and the threads that make requests.
pub struct Drive {
    /// `None` once finished.
    future: Mutex<Option<BoxFuture>>,
    /// Wakes the task, unless a thread is polling inline (see `DriveWaker::wake_by_ref`).
    waker: Arc<DriveWaker>,
    /// `waker` as a `Waker`, made once: every poll of the future is given it.
    as_waker: Waker,
}

impl std::fmt::Debug for Drive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Drive").finish_non_exhaustive()
    }
}

struct DriveWaker {
    /// The task's own waker.
    task: AtomicWaker,
    /// A thread other than the task's holds the future and polls it.
    inline: AtomicBool,
    /// Woken while polled inline: poll again.
    again: AtomicBool,
}

impl Wake for DriveWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.inline.load(Ordering::SeqCst) {
            self.again.store(true, Ordering::SeqCst);
            // The inline poll may have ended before it saw `again`: then the task takes it.
            if self.inline.load(Ordering::SeqCst) {
                return;
            }
        }
        self.task.wake();
    }
}

impl Drive {
    /// Shares `future`; returns the drive and the task to spawn, which polls it until done.
    pub fn new(future: impl Future<Output = ()> + Send + 'static) -> (Arc<Drive>, impl Future<Output = ()> + Send) {
        let waker =
            Arc::new(DriveWaker { task: AtomicWaker::new(), inline: AtomicBool::new(false), again: AtomicBool::new(false) });
        let drive = Arc::new(Drive {
            future: Mutex::new(Some(Box::pin(future))),
            as_waker: Waker::from(waker.clone()),
            waker,
        });
        let shared = drive.clone();
        let task = std::future::poll_fn(move |cx| {
            shared.waker.task.register(cx.waker());
            loop {
                match shared.future.try_lock() {
                    Ok(mut future) => return shared.poll_locked(&mut future),
                    // The future panicked while a caller polled it (the caller got the panic):
                    // it cannot go on, as a task that panicked would not.
                    Err(TryLockError::Poisoned(poisoned)) => {
                        poisoned.into_inner().take();
                        return Poll::Ready(());
                    },
                    Err(TryLockError::WouldBlock) => {},
                }
                // A thread is polling inline: it polls again, or wakes this task, once it sees
                // `again` (it looks before it lets go of the lock, and after). The worker
                // never blocks on a caller thread that may have been descheduled.
                shared.waker.again.store(true, Ordering::SeqCst);
                if matches!(shared.future.try_lock(), Err(TryLockError::WouldBlock)) {
                    return Poll::Pending;
                }
            }
        });
        (drive, task)
    }

    /// Polls the future (held locked by the caller) with the drive's waker.
    fn poll_locked(&self, future: &mut Option<BoxFuture>) -> Poll<()> {
        let Some(f) = future.as_mut() else {
            return Poll::Ready(());
        };
        if f.as_mut().poll(&mut Context::from_waker(&self.as_waker)).is_ready() {
            *future = None;
            return Poll::Ready(());
        }
        Poll::Pending
    }

    /// Runs `queue` (which queues a request and would wake the task), then polls the future
    /// on this thread if nobody else is polling it, so the request is written from here.
    /// Inside a tokio task, or with no runtime entered, it only queues.
    pub fn queue_and_poll(&self, queue: impl FnOnce()) {
        let outside_tasks = tokio::task::try_id().is_none() && tokio::runtime::Handle::try_current().is_ok();
        let guard = if outside_tasks { self.future.try_lock().ok() } else { None };
        let Some(mut future) = guard else {
            queue();
            return;
        };
        let waker = &self.waker;
        waker.inline.store(true, Ordering::SeqCst);
        queue();
        // At least once: a task that found the lock taken set `again` and went to sleep.
        let done = loop {
            waker.again.store(false, Ordering::SeqCst);
            if self.poll_locked(&mut future).is_ready() {
                break true;
            }
            if !waker.again.load(Ordering::SeqCst) {
                break false;
            }
        };
        waker.inline.store(false, Ordering::SeqCst);
        drop(future);
        // A wake-up after the last poll, or the future's end: the task takes it from here.
        if waker.again.swap(false, Ordering::SeqCst) || done {
            waker.task.wake();
        }
    }
}
