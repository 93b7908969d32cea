//! [`Registry`]: a handle as callers hold it. Its methods are the Rust API; each finds this
//! process's [`Core`] first, rebuilding it in a forked child (an explicit, fallible step: a
//! failed rebuild is an error of the call, not a panic).

use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use once_cell::sync::Lazy;

use super::table::{self, HeldTable, Table};
use crate::core::{Carried, Core};
use crate::discovery::{self, Picker, PickerOptions};
use crate::document::Document;
use crate::events::subscription::Callback;
use crate::lock::Lease;
use crate::memo;
use crate::options::Options;
use crate::runtime;
use crate::session::State;
use crate::status::Applied;
use crate::status::{Error, Result, Status};

/// Every open handle. cbindgen:ignore
static HANDLES: Lazy<Table<Registry>> = Lazy::new(Table::new);

thread_local! {
    static HELD: HeldTable<Registry> = const { HeldTable::new() };
}

/// A registry handle: one ZooKeeper session (renewed after expiry) with its registrations,
/// watch cache, callbacks and locks. Thread-safe: any method may be called from many threads
/// at once, and from the handle's own callbacks.
///
/// In a forked child the first call builds the child's own core: a new session with the same
/// watches and subscriptions; registrations and locks stay the parent's.
pub struct Registry {
    /// Its number in the handle table.
    id: usize,
    /// Always a live core: replaced only in a forked child (the parent's is leaked there), freed
    /// only by drop.
    core: AtomicPtr<Core>,
    /// What a child takes over, recorded just before each fork.
    carried: Mutex<Option<Carried>>,
}

impl Registry {
    /// Opens a handle on `server` (a connect string `host:port[,host:port…][/chroot]`; None =
    /// `localhost:2181`). Waits up to the timeout for the first session; without one, fails with
    /// `NDSR_E_NO_CONNECTION`, saying what the last attempt met. A `lazy` handle returns at
    /// once and connects in the background.
    pub fn open(server: Option<&str>, options: Options) -> Result<Arc<Registry>> {
        crate::logging::install();
        install();
        let core = Core::open(server, options)?;
        let registry = Arc::new(Registry {
            id: HANDLES.new_id(),
            core: AtomicPtr::new(Box::into_raw(core)),
            carried: Mutex::new(None),
        });
        HANDLES.enter(registry.id, &registry);
        Ok(registry)
    }

    /// The core as it is, whichever process built it.
    fn current(&self) -> &Core {
        // SAFETY: see the field.
        unsafe { &*self.core.load(Ordering::Acquire) }
    }

    fn carried_slot(&self) -> MutexGuard<'_, Option<Carried>> {
        self.carried.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// This process's core: in a forked child, built first.
    fn core(&self) -> Result<&Core> {
        let core = self.current();
        if core.fork_generation == runtime::fork_generation() {
            Ok(core)
        } else {
            self.rebuild_after_fork()
        }
    }

    #[cold]
    fn rebuild_after_fork(&self) -> Result<&Core> {
        // The table locked: concurrent first calls in the child rebuild once.
        let _table = HANDLES.write();
        let old = self.current();
        // Closed before the fork: stays closed, and touches nothing.
        if old.fork_generation == runtime::fork_generation() || old.is_closed() {
            return Ok(old);
        }
        let carried = self.carried_slot().take().unwrap_or_default();
        match Core::for_child(old, &carried) {
            Ok(new) => {
                log::info!(
                    "fork detected (pid {}): new session for {} watched paths; registrations and locks stay the parent's",
                    std::process::id(),
                    carried.watched()
                );
                // The parent's subscriptions must never be dropped here (their userdata is the
                // parent's to free; the child's copies free the child's).
                std::mem::forget(carried);
                let new = Box::into_raw(new);
                self.core.store(new, Ordering::Release);
                // SAFETY: just stored; see the field.
                Ok(unsafe { &*new })
            }
            Err(e) => {
                *self.carried_slot() = Some(carried);
                Err(Error::new(
                    Status::Internal,
                    format!("cannot rebuild the handle after fork(): {}", e.message),
                ))
            }
        }
    }

    /// In a forked child, builds the child's own session (as any call on the handle would);
    /// anywhere else, nothing. Then waits up to the timeout for a session: `Done` if there is
    /// one, `Queued` if not yet (it keeps trying).
    pub fn rebuild(&self) -> Result<Applied> {
        let core = self.core()?;
        if core.pid != std::process::id() {
            return Err(Error::new(
                Status::Internal,
                "this process was forked without running the pthread_atfork handlers (a raw clone?): the handle cannot be rebuilt; open a new one",
            ));
        }
        core.wait_connected()
    }

    /// Closes the handle: its session ends (ZooKeeper removes its ephemeral nodes at once), its
    /// callbacks stop (each subscription released after its last call). Calls racing the close
    /// get `NDSR_E_CLOSED`. Safe from inside a callback. In a forked child this closes the
    /// child's own session, never the parent's.
    pub fn close(&self) {
        if let Ok(core) = self.core() {
            core.close();
        }
    }

    /// Registers `path` as an ephemeral node holding `json` (a JSON object, a string, or ""/
    /// "null" for no user data), kept for as long as the handle lives.
    pub fn set_node(&self, path: &str, json: &str) -> Result<Applied> {
        self.core()?.set_node(path, json)
    }

    /// Stores `json` in the persistent node `path`.
    pub fn set_data(&self, path: &str, json: &str) -> Result<Applied> {
        self.core()?.set_data(path, json)
    }

    /// Stores `json` in the persistent node `path` as it is, without the `pid` and `created`
    /// that `set_data` adds (as the original does).
    pub fn set_data_raw(&self, path: &str, json: &str) -> Result<Applied> {
        self.core()?.set_data_raw(path, json)
    }

    /// Deletes the node `path` and forgets any registration of it.
    pub fn unset(&self, path: &str) -> Result<Applied> {
        self.core()?.unset(path)
    }

    /// Where this handle's registration of `path` stands: `NDSR_OK`, `NDSR_QUEUED`,
    /// `NDSR_E_CONFLICT`, or the error ZooKeeper refused it with. Never waits.
    pub fn registration_status(&self, path: &str) -> Result<Status> {
        self.core()?.registration_status(path)
    }

    /// The document of `path` as JSON, from the cache once it is known.
    pub fn get_json(&self, path: &str) -> Result<String> {
        self.core()?.get_json(path)
    }

    /// Whether the document of `path` is live, and since when (Unix ms). Never waits.
    pub fn freshness(&self, path: &str) -> Result<(bool, i64)> {
        self.core()?.freshness(path)
    }

    /// Calls `callback` with the document of `path` now and after every change; returns the
    /// subscription id, and whether the first call is on its way (`Done`) or comes with the
    /// first read (`Queued`).
    pub fn on_change(&self, path: &str, callback: Callback) -> Result<(u64, Applied)> {
        self.core()?.on_change(path, callback)
    }

    /// Calls `callback` with what changed in `path` ([`Event::Diff`](crate::Event::Diff)): first
    /// with every current child added, then after every change. Same rules as
    /// [`Registry::on_change`]; applying the diffs in order gives every document.
    pub fn on_diff(&self, path: &str, callback: Callback) -> Result<(u64, Applied)> {
        self.core()?.on_diff(path, callback)
    }

    /// The document of `path`, shared and immutable: no copy, valid for as long as it is held.
    pub fn snapshot(&self, path: &str) -> Result<Arc<Document>> {
        self.core()?.snapshot(path)
    }

    /// Waits up to `timeout` until `path` has at least `min` instances its data lets be picked
    /// (see [`crate::discovery`]): `NDSR_E_TIMEOUT` when the time runs out first.
    pub fn wait_for(&self, path: &str, min: usize, timeout: Duration) -> Result<()> {
        self.core()?
            .wait_for(path, timeout, |doc| discovery::usable_count(doc) >= min)
    }

    /// Drains this handle's ephemeral registration of `path`: its data gets `state: draining`
    /// (pickers stop choosing it), and after `grace` it is removed and forgotten (never
    /// re-created, not even after a session expiry). Returns at once; the rest happens on a
    /// thread of its own. A new `set_node` of the path meanwhile cancels the removal.
    /// `NDSR_E_NOT_FOUND` when `path` is not an ephemeral registration of this handle.
    pub fn drain(self: &Arc<Self>, path: &str, grace: Duration) -> Result<()> {
        let (draining, _) = self.core()?.draining_data(path)?;
        let r = self.clone();
        let path = path.to_string();
        std::thread::Builder::new()
            .name("ndsr-drain".into())
            .spawn(move || r.drain_then_remove(&path, &draining, grace))
            .map_err(|e| Error::new(Status::Internal, format!("no thread for the drain: {e}")))?;
        Ok(())
    }

    /// The drain's own thread: mark, wait out the grace, remove unless changed meanwhile.
    fn drain_then_remove(&self, path: &str, draining: &str, grace: Duration) {
        if let Err(e) = self.set_node(path, draining) {
            log::warn!("{path}: drain: could not mark it draining: {}", e.message);
            return;
        }
        let Ok(core) = self.core() else { return };
        let version = core.registration_version(path);
        if version.is_none() || !core.pause(grace) {
            return;
        }
        if core.registration_version(path) != version {
            log::info!("{path}: drain cancelled: registered again meanwhile");
            return;
        }
        match self.unset(path) {
            Ok(_) => log::info!("{path}: drained and removed after {} ms", grace.as_millis()),
            Err(e) => log::warn!("{path}: drain: removal: {}", e.message),
        }
    }

    /// A picker of the instances of `path` (see [`Picker`]).
    pub fn picker(self: &Arc<Self>, path: &str, options: PickerOptions) -> Result<Picker> {
        Picker::new(self.clone(), path, options)
    }

    /// Delivers at most one callback of the document (or diff) subscription `id` per
    /// `interval`: always the latest state, the last one never lost.
    pub fn set_debounce(&self, id: u64, interval: Duration) -> Result<()> {
        self.core()?.set_debounce(id, interval)
    }

    /// Whether a shrink of the list of `path` is being held back now (the option
    /// `keep_last_good_ms`): the document is the last good list.
    pub fn is_held(&self, path: &str) -> Result<bool> {
        Ok(self.core()?.is_held(path))
    }

    /// The handle's stats as JSON (see `ndsr_stats_json` for the layout). Never touches the
    /// network.
    pub fn stats_json(&self) -> Result<String> {
        Ok(crate::stats::to_json(&self.core()?.stats()).to_string())
    }

    /// The same stats in Prometheus' text format (see `ndsr_stats_prometheus`).
    pub fn stats_prometheus(&self) -> Result<String> {
        let core = self.core()?;
        Ok(crate::stats::to_prometheus(&core.stats(), &core.tag()))
    }

    /// How many updates keep-last-good has held back on this handle so far.
    pub fn held_updates(&self) -> Result<u64> {
        Ok(self.core()?.held_updates())
    }

    /// Calls `callback` with the connection state now and after every change.
    pub fn on_state(&self, callback: Callback) -> Result<u64> {
        self.core()?.on_state(callback)
    }

    /// Calls `callback` with the handle's stats ([`Event::Stats`](crate::Event::Stats), as
    /// [`Registry::stats_json`] gives them) every `interval`, on the callback thread, until
    /// [`Registry::off`] or close. A callback that falls behind skips ticks. A forked child's
    /// handle does not carry it over.
    pub fn on_stats(
        self: &Arc<Self>,
        interval: std::time::Duration,
        callback: Callback,
    ) -> Result<u64> {
        if interval.is_zero() {
            return Err(Error::invalid("the stats interval must be above zero"));
        }
        // A weak reference: the subscription must not keep the handle open.
        let me = Arc::downgrade(self);
        let source = Arc::new(move || me.upgrade().and_then(|r| r.stats_json().ok()));
        self.core()?.on_stats(interval, callback, source)
    }

    /// Ends a subscription.
    pub fn off(&self, id: u64) -> Result<()> {
        self.core()?.off(id)
    }

    /// Authenticates with new digest credentials (at once, and on every later session).
    pub fn set_credentials(&self, username: &str, password: &str) -> Result<()> {
        self.core()?.set_credentials(username, password)
    }

    /// The connection state (`Closed` for a closed handle).
    pub fn state(&self) -> State {
        self.core().map_or(State::Closed, Core::state)
    }

    /// The current session's id (0 when there is none).
    pub fn session_id(&self) -> i64 {
        self.core().map_or(0, Core::session_id)
    }

    /// Acquires the lock `path` (up to `simultaneous` holders at once) under the holder name
    /// `name`, waiting up to `wait` for a holder to let go.
    pub fn lock(&self, path: &str, name: &str, simultaneous: u32, wait: Duration) -> Result<Lease> {
        self.core()?.lock(path, name, simultaneous, wait)
    }

    /// Releases a lease taken with [`Registry::lock`].
    pub fn unlock(&self, lease: &Lease) -> Result<()> {
        self.core()?.unlock(lease)
    }

    /// Whether a lease is still held: `NDSR_OK`, `NDSR_E_LOCK_LOST`, `NDSR_E_NO_CONNECTION`.
    pub fn lock_status(&self, lease: &Lease) -> Status {
        self.core()
            .map_or(Status::LockLost, |c| c.lock_status(lease))
    }

    /// The path-keyed form of [`Registry::lock`] (the original's `acquire_lock`).
    pub fn acquire_lock(
        &self,
        path: &str,
        name: &str,
        simultaneous: u32,
        wait: Duration,
    ) -> Result<()> {
        self.core()?.acquire_lock(path, name, simultaneous, wait)
    }

    /// Releases a lock taken with [`Registry::acquire_lock`].
    pub fn release_lock(&self, path: &str) -> Result<()> {
        self.core()?.release_lock(path)
    }

    /// This process's core, for the testing hooks.
    pub(crate) fn core_for_testing(&self) -> Result<&Core> {
        self.core()
    }

    /// The C API's number for this handle: the table keeps the handle until [`Registry::release`].
    pub(crate) fn keep_for_c(self: Arc<Registry>) -> usize {
        let id = self.id;
        HANDLES.own(id, self);
        id
    }

    /// The handle a C caller holds under `id`.
    pub(crate) fn for_c(id: usize) -> Option<Arc<Registry>> {
        HANDLES.get(id)
    }

    /// The document of `path` on the C handle `id` if it is cached now: no waiting, no handle
    /// reference taken (the hot path of `ndsr_snapshot_get`). None: ask [`Registry::snapshot`].
    /// What this thread read last is remembered (see `memo`, and [`Registry::recalled_for_c`]).
    pub(crate) fn cached_for_c(id: usize, path: &str) -> Option<Arc<Document>> {
        let epoch = memo::epoch();
        let doc = HANDLES
            .with(id, |r| {
                let core = r.current();
                // In a forked child before its rebuild: the slow path rebuilds.
                (core.fork_generation == runtime::fork_generation())
                    .then(|| core.cached(path))
                    .flatten()
            })
            .flatten()?;
        memo::remember(id, path, epoch, &doc);
        Some(doc)
    }

    /// The document of `path` on the C handle `id` this thread read last through
    /// [`Registry::cached_for_c`], if it is still the current one and the handle still open:
    /// no lock taken.
    pub(crate) fn recalled_for_c(id: usize, path: &[u8]) -> Option<Arc<Document>> {
        memo::recall(id, path)
    }

    /// Takes back the handle a C caller held under `id`.
    pub(crate) fn release(id: usize) -> Option<Arc<Registry>> {
        HANDLES.disown(id)
    }
}

impl discovery::picker::Documents for Registry {
    fn current(&self, path: &str) -> Result<Arc<Document>> {
        self.snapshot(path)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        HANDLES.leave(self.id);
        // SAFETY: the core was made by Box::into_raw and is freed only here.
        let core = unsafe { Box::from_raw(*self.core.get_mut()) };
        if core.fork_generation != runtime::fork_generation() {
            // The parent's, inherited through fork(): never closed or freed here.
            std::mem::forget(core);
            std::mem::forget(self.carried_slot().take());
        }
    }
}

/// Before a fork: record what a child would take over from each handle, and keep handles from
/// opening, closing or rebuilding until the fork is done.
pub(crate) fn before_fork() {
    let table = HANDLES.write();
    table::each(&table, |r| {
        let core = r.current();
        // A core of an ancestor process keeps what it carries already.
        if core.fork_generation == runtime::fork_generation() {
            *r.carried_slot() = core.carry();
        }
    });
    HELD.with(|h| h.keep(table));
}

/// After a fork. The parent drops what it recorded (on the callback threads: the last reference
/// to a subscription must go there); the child keeps it for the rebuild.
pub(crate) fn after_fork(child: bool) {
    HELD.with(|h| {
        if !child {
            h.peek(|table| {
                table::each(table, |r| {
                    let core = r.current();
                    if core.fork_generation == runtime::fork_generation() {
                        let carried = r.carried_slot().take();
                        core.shared().dispatcher.submit(move || drop(carried));
                    }
                })
            });
        }
        h.release();
    });
}

/// Registers the fork handlers (once per process; a child inherits them).
fn install() {
    static ONCE: std::sync::Once = std::sync::Once::new();
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
    // Lock order: the handle table (handles record what a child carries, which may log), then
    // the log sink.
    quietly(before_fork);
    quietly(crate::logging::before_fork);
}

extern "C" fn parent() {
    quietly(crate::logging::after_fork);
    quietly(|| after_fork(false));
}

extern "C" fn child() {
    runtime::note_fork();
    quietly(crate::logging::after_fork);
    quietly(|| after_fork(true));
}
