//! fork() detection. A child process must never use its parent's connection: the socket is
//! shared with the parent (a close from the child would end the parent's session), and the
//! threads that served it do not exist in the child.
//!
//! `pthread_atfork` handlers do three things:
//! - before the fork, with every thread still running, each open handle records what a child
//!   would take over (its watches, subscriptions and credentials: see `registry::before_fork`),
//!   and the few global locks a child needs are taken, so that no thread holds them at the fork;
//! - in the parent afterwards, the locks are released and the records dropped;
//! - in the child, the locks are released and the fork generation goes up. That is all: a child
//!   of a threaded process may only do async-signal-safe work here. Each handle then rebuilds
//!   itself on the child's first call to it (or `ndsr_rebuild`), with its own runtime, session
//!   and callback thread.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;

static GENERATION: AtomicU64 = AtomicU64::new(0);

/// How many forks separate this process from the one that loaded the library (0 there, 1 in a
/// child, …). Anything built in an earlier generation belongs to an ancestor process.
pub fn generation() -> u64 {
    GENERATION.load(Ordering::Acquire)
}

/// Registers the fork handlers (once per process; a child inherits them).
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: three `extern "C"` functions without arguments, valid for the life of the
        // library (glibc drops the registration if the library is unloaded).
        let rc = unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) };
        if rc != 0 {
            log::error!("pthread_atfork failed ({rc}): fork() will not be detected; call ndsr_rebuild in a child");
        }
    });
}

/// A panic must not unwind into libc.
fn quietly(f: impl FnOnce()) {
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
}

extern "C" fn prepare() {
    // Lock order: handles' records (which may log), the C handle table, then the log sink.
    quietly(crate::registry::before_fork);
    quietly(crate::ffi::handle::before_fork);
    quietly(crate::logging::before_fork);
}

extern "C" fn parent() {
    quietly(crate::logging::after_fork);
    quietly(crate::ffi::handle::after_fork);
    quietly(|| crate::registry::after_fork(false));
}

extern "C" fn child() {
    GENERATION.fetch_add(1, Ordering::AcqRel);
    quietly(crate::logging::after_fork);
    quietly(crate::ffi::handle::after_fork);
    quietly(|| crate::registry::after_fork(true));
}

/// Holds a lock across a fork: taken in `prepare`, released in `parent`/`child` on the same
/// thread (the forking one, which is the child's only thread).
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
