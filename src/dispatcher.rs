//! One thread per handle that runs user callbacks, one at a time, in the order they were queued.
//! Callbacks never run on a runtime worker or under an internal lock, so a callback may call any
//! function on the same handle, including close.
//!
//! The thread is a plain POSIX thread whose start routine may be unwound: a callback that ends
//! its thread (`pthread_exit`, or a cancellation; Python does this at interpreter exit) unwinds
//! through it as the platform intends, instead of being caught and turned into an abort. Jobs
//! therefore guard their own Rust code against panics (see `subscription`); the callback itself
//! is called outside any `catch_unwind`. A thread ended that way takes no more jobs: later ones
//! are dropped where they are queued.

use std::ffi::c_void;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::thread::ThreadId;
use std::time::Instant;

type Job = Box<dyn FnOnce() + Send>;

/// What the callback thread has done, for the handle's stats.
#[derive(Default)]
pub struct DispatchStats {
    queued: AtomicU64,
    done: AtomicU64,
    wait_us: AtomicU64,
    wait_us_max: AtomicU64,
    run_us_max: AtomicU64,
}

/// [`DispatchStats`] at one moment.
#[derive(Clone, Copy, Debug, Default)]
pub struct DispatchNow {
    /// Jobs (callback deliveries) run, and waiting now.
    pub delivered: u64,
    pub queued: u64,
    /// Their time in the queue: mean and longest; the longest run.
    pub wait_us_mean: u64,
    pub wait_us_max: u64,
    pub run_us_max: u64,
}

impl DispatchStats {
    /// Queues `job` on `tx`, counted: its wait and its run measured when it runs.
    fn send(self: &Arc<Self>, tx: &mpsc::Sender<Job>, job: impl FnOnce() + Send + 'static) -> bool {
        let sent = tx.send(self.wrap(job)).is_ok();
        if sent {
            self.queued.fetch_add(1, Ordering::Relaxed);
        }
        sent
    }

    fn wrap(self: &Arc<Self>, job: impl FnOnce() + Send + 'static) -> Job {
        let (stats, queued_at) = (self.clone(), Instant::now());
        Box::new(move || {
            let started = Instant::now();
            let waited = (started - queued_at).as_micros() as u64;
            stats.wait_us.fetch_add(waited, Ordering::Relaxed);
            stats.wait_us_max.fetch_max(waited, Ordering::Relaxed);
            job();
            let ran = started.elapsed().as_micros() as u64;
            stats.run_us_max.fetch_max(ran, Ordering::Relaxed);
            stats.done.fetch_add(1, Ordering::Relaxed);
        })
    }

    /// The counts now.
    pub fn now(&self) -> DispatchNow {
        let done = self.done.load(Ordering::Relaxed);
        DispatchNow {
            delivered: done,
            queued: self.queued.load(Ordering::Relaxed).saturating_sub(done),
            wait_us_mean: self.wait_us.load(Ordering::Relaxed) / done.max(1),
            wait_us_max: self.wait_us_max.load(Ordering::Relaxed),
            run_us_max: self.run_us_max.load(Ordering::Relaxed),
        }
    }
}

/// Queues jobs on a dispatcher from elsewhere (see [`Dispatcher::submitter`]).
pub struct Submitter(mpsc::Sender<Job>, Arc<DispatchStats>);

impl Submitter {
    /// Queues a job; false once the dispatcher's thread is gone (the job is dropped here).
    pub fn submit(&self, job: impl FnOnce() + Send + 'static) -> bool {
        self.1.send(&self.0, job)
    }
}

/// Whether the thread has ended (returned or been unwound), and when it is joined.
#[derive(Default)]
struct Ended {
    ended: Mutex<bool>,
    signal: Condvar,
}

/// Marks the thread ended when dropped: at its return, or while it is unwound.
struct EndGuard(Arc<Ended>);

impl Drop for EndGuard {
    fn drop(&mut self) {
        *self.0.ended.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.0.signal.notify_all();
    }
}

/// What the thread starts with.
struct Start {
    rx: mpsc::Receiver<Job>,
    ended: Arc<Ended>,
    id: mpsc::Sender<ThreadId>,
}

extern "C-unwind" fn run(arg: *mut c_void) -> *mut c_void {
    // SAFETY: `arg` is the `Start` boxed by `Dispatcher::start`, given to this thread only.
    let start = unsafe { Box::from_raw(arg.cast::<Start>()) };
    let Start { rx, ended, id } = *start;
    let _end = EndGuard(ended);
    let _ = id.send(std::thread::current().id());
    for job in rx {
        job();
    }
    std::ptr::null_mut()
}

/// A FIFO of jobs served by one dedicated thread.
pub struct Dispatcher {
    tx: parking_lot::Mutex<Option<mpsc::Sender<Job>>>,
    /// The thread, until it is joined or detached.
    thread: parking_lot::Mutex<Option<libc::pthread_t>>,
    thread_id: ThreadId,
    ended: Arc<Ended>,
    stats: Arc<DispatchStats>,
}

impl Dispatcher {
    /// Starts the dispatcher thread, named `name` (at most 15 bytes are kept).
    pub fn start(name: &str) -> std::io::Result<Dispatcher> {
        let (tx, rx) = mpsc::channel::<Job>();
        let (id_tx, id_rx) = mpsc::channel();
        let ended = Arc::new(Ended::default());
        let start = Box::into_raw(Box::new(Start {
            rx,
            ended: ended.clone(),
            id: id_tx,
        }));
        // An unwinding start routine, as a pthread start routine: the same calling convention.
        let entry: extern "C-unwind" fn(*mut c_void) -> *mut c_void = run;
        // SAFETY: the two function pointer types differ only in whether unwinding may leave
        // them, which pthread_create's caller (glibc's thread start) allows for forced unwinds.
        let entry: extern "C" fn(*mut c_void) -> *mut c_void =
            unsafe { std::mem::transmute(entry) };
        let mut thread: libc::pthread_t = 0;
        // SAFETY: a valid start routine and argument; default attributes.
        let rc =
            unsafe { libc::pthread_create(&mut thread, std::ptr::null(), entry, start.cast()) };
        if rc != 0 {
            // SAFETY: the thread was not made, so the argument is still ours.
            drop(unsafe { Box::from_raw(start) });
            return Err(std::io::Error::from_raw_os_error(rc));
        }
        let name: Vec<u8> = name
            .bytes()
            .filter(|b| *b != 0)
            .take(15)
            .chain([0])
            .collect();
        // SAFETY: a live thread and a NUL-terminated name of at most 16 bytes.
        unsafe { libc::pthread_setname_np(thread, name.as_ptr().cast()) };
        let thread_id = id_rx
            .recv()
            .map_err(|_| std::io::Error::other("the callback thread ended at once"))?;
        Ok(Dispatcher {
            tx: parking_lot::Mutex::new(Some(tx)),
            thread: parking_lot::Mutex::new(Some(thread)),
            thread_id,
            ended,
            stats: Arc::default(),
        })
    }

    /// Queues a job; false once the dispatcher is shut down or its thread has ended (the job is
    /// dropped here).
    pub fn submit(&self, job: impl FnOnce() + Send + 'static) -> bool {
        match &*self.tx.lock() {
            Some(tx) => self.stats.send(tx, job),
            None => false,
        }
    }

    /// A handle to queue jobs later, from anywhere (a timer): None once shut down.
    pub fn submitter(&self) -> Option<Submitter> {
        let stats = self.stats.clone();
        self.tx.lock().clone().map(|tx| Submitter(tx, stats))
    }

    /// What the thread has done so far.
    pub fn stats(&self) -> DispatchNow {
        self.stats.now()
    }

    /// True when called from the dispatcher thread (that is, from inside a callback).
    pub fn is_current(&self) -> bool {
        std::thread::current().id() == self.thread_id
    }

    /// Stops accepting jobs and lets the queued ones run. Waits until `deadline` for the thread
    /// to finish them (never from the dispatcher thread itself); a thread still busy then (a
    /// callback that does not return) finishes on its own.
    pub fn shutdown(&self, deadline: Instant) {
        drop(self.tx.lock().take());
        let Some(thread) = self.thread.lock().take() else {
            return;
        };
        let finished = !self.is_current() && self.wait_ended(deadline);
        // SAFETY: a thread of ours, joined or detached exactly once (taken above).
        unsafe {
            if finished {
                libc::pthread_join(thread, std::ptr::null_mut());
            } else {
                libc::pthread_detach(thread);
            }
        }
    }

    /// Waits until the thread has ended, or `deadline`; true if it has.
    fn wait_ended(&self, deadline: Instant) -> bool {
        let mut ended = self.ended.ended.lock().unwrap_or_else(|e| e.into_inner());
        while !*ended {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            ended = match self.ended.signal.wait_timeout(ended, left) {
                Ok((guard, _)) => guard,
                Err(e) => e.into_inner().0,
            };
        }
        true
    }
}

impl Drop for Dispatcher {
    fn drop(&mut self) {
        // Everything queued runs first; a callback that never returns does not hang the drop.
        self.shutdown(Instant::now() + std::time::Duration::from_secs(2));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn runs_jobs_in_order() {
        let d = Dispatcher::start("t").unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        for i in 0..100 {
            let seen = seen.clone();
            d.submit(move || seen.lock().unwrap().push(i));
        }
        d.shutdown(Instant::now() + Duration::from_secs(5));
        let expected: Vec<i32> = (0..100).collect();
        assert_eq!(*seen.lock().unwrap(), expected);
        assert!(!d.submit(|| {}));
    }

    #[test]
    fn a_job_that_does_not_return_does_not_hold_up_shutdown() {
        let d = Dispatcher::start("t").unwrap();
        let (release, wait) = mpsc::channel::<()>();
        d.submit(move || {
            let _ = wait.recv();
        });
        let t = Instant::now();
        d.shutdown(Instant::now() + Duration::from_millis(200));
        assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
        drop(release);
    }
}
