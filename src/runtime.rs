//! The library's private tokio runtime. Callers never see async: the C functions block on
//! futures here with a bounded time, and background work (session supervision, watches) runs
//! on the runtime's single worker.
//!
//! There is one runtime per process: a forked child, whose copy of the parent's runtime has no
//! threads, starts its own on first use (see `fork`). The fork generation counter lives here
//! too, with [`Held`]: what the process-wide parts below the fork module need to know of forks.

use std::future::Future;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

static GENERATION: AtomicU64 = AtomicU64::new(0);

/// How many forks separate this process from the one that loaded the library (0 there, 1 in a
/// child, …). Anything built in an earlier generation belongs to an ancestor process.
pub fn fork_generation() -> u64 {
    GENERATION.load(Ordering::Acquire)
}

/// Called in a forked child, first thing (async-signal-safe).
pub(crate) fn note_fork() {
    GENERATION.fetch_add(1, Ordering::AcqRel);
    crate::memo::invalidate();
}

/// Holds a lock across a fork: taken before it, released after it, in parent and child, on the
/// same thread (the forking one, which is the child's only thread).
pub(crate) struct Held<G: 'static>(std::cell::RefCell<Option<G>>);

impl<G: 'static> Held<G> {
    pub(crate) const fn new() -> Self {
        Held(std::cell::RefCell::new(None))
    }

    pub(crate) fn keep(&self, guard: G) {
        *self.0.borrow_mut() = Some(guard);
    }

    /// Runs `f` with the held guard, if any.
    pub(crate) fn peek<R>(&self, f: impl FnOnce(&G) -> R) -> Option<R> {
        self.0.borrow().as_ref().map(f)
    }

    pub(crate) fn release(&self) {
        drop(self.0.borrow_mut().take());
    }
}

use tokio::runtime::Runtime;

thread_local! {
    static ON_WORKER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

struct Rt {
    /// The fork generation (see `fork::generation`) of the process that started it.
    generation: u64,
    rt: Runtime,
}

static CURRENT: AtomicPtr<Rt> = AtomicPtr::new(std::ptr::null_mut());

/// The runtime of this process.
fn rt() -> &'static Runtime {
    let generation = fork_generation();
    let p = CURRENT.load(Ordering::Acquire);
    // SAFETY: a published runtime is never freed (see `start`).
    match unsafe { p.as_ref() } {
        Some(r) if r.generation == generation => &r.rt,
        _ => start(generation, p),
    }
}

#[cold]
fn start(generation: u64, seen: *mut Rt) -> &'static Runtime {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("ndsr-zk")
        .on_thread_start(|| ON_WORKER.with(|w| w.set(true)))
        .enable_all()
        .build()
        .expect("ndsr: cannot start the tokio runtime");
    let new = Box::into_raw(Box::new(Rt {
        generation,
        rt: runtime,
    }));
    match CURRENT.compare_exchange(seen, new, Ordering::AcqRel, Ordering::Acquire) {
        // The one it replaces (an ancestor's, inherited through fork) is leaked on purpose:
        // dropping it would wait for threads that do not exist here and deregister sockets
        // from an epoll instance the parent still uses.
        // SAFETY: just published, never freed.
        Ok(_) => unsafe { &(*new).rt },
        Err(_) => {
            // Another thread started one first: use that (this one has done nothing yet).
            // SAFETY: `new` was never published.
            let ours = unsafe { Box::from_raw(new) };
            ours.rt.shutdown_background();
            rt()
        }
    }
}

/// Runs `fut` to completion on the calling thread. When the caller is itself inside a tokio
/// runtime (a Rust program using the rlib from async code), `block_on` would panic, so the
/// future is driven from a scoped helper thread instead.
pub fn block_on<F>(fut: F) -> F::Output
where
    F: Future + Send,
    F::Output: Send,
{
    if tokio::runtime::Handle::try_current().is_ok() {
        std::thread::scope(|s| {
            s.spawn(|| rt().block_on(fut))
                .join()
                .expect("ndsr: helper thread panicked")
        })
    } else {
        rt().block_on(fut)
    }
}

/// True on one of the library runtime's own threads.
pub fn on_worker() -> bool {
    ON_WORKER.with(|w| w.get())
}

/// Spawns a background task on the library's runtime.
pub fn spawn<F>(fut: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    rt().spawn(fut)
}

/// The background tasks of one handle, stopped together when it closes. Once closed, nothing
/// more is started: a task spawned by a call (or by another task) racing the close would
/// otherwise outlive the handle.
pub struct Tasks {
    /// `None` once closed.
    running: parking_lot::Mutex<Option<Running>>,
}

/// The tasks started, and the count at which finished ones are next dropped from the list (so
/// a handle whose tasks come and go keeps no memory for the finished ones).
struct Running {
    handles: Vec<tokio::task::JoinHandle<()>>,
    prune_at: usize,
}

impl Default for Tasks {
    /// An open set with no tasks.
    fn default() -> Tasks {
        Tasks {
            running: parking_lot::Mutex::new(Some(Running {
                handles: Vec::new(),
                prune_at: 64,
            })),
        }
    }
}

impl Tasks {
    /// Starts `fut` as one of the set's tasks, unless the set is closed.
    pub fn spawn(&self, fut: impl Future<Output = ()> + Send + 'static) {
        if let Some(running) = self.running.lock().as_mut() {
            if running.handles.len() >= running.prune_at {
                running.handles.retain(|h| !h.is_finished());
                running.prune_at = (running.handles.len() * 2).max(64);
            }
            running.handles.push(spawn(fut));
        }
    }

    /// Closes the set and returns its tasks, to be aborted.
    pub fn close(&self) -> Vec<tokio::task::JoinHandle<()>> {
        self.running
            .lock()
            .take()
            .map(|r| r.handles)
            .unwrap_or_default()
    }
}
