//! A table of open handles, by number. A C caller's `ndsr_t *` is such a number: a call with a
//! closed handle (or racing its close) finds nothing and gets `NDSR_E_CLOSED`, never freed
//! memory. The fork hooks walk the same table to reach every handle, C or Rust.

use rustc_hash::FxHashMap as HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::runtime::Held;

/// One open handle.
pub(crate) struct Slot<T> {
    /// The handle's address: valid while the slot exists (its drop removes the slot first).
    addr: usize,
    /// Set when a C caller holds it (the table owns it until [`Table::disown`]).
    owned: Option<Arc<T>>,
}

/// The locked map, as held across a fork.
pub(crate) type Locked<T> = RwLockWriteGuard<'static, HashMap<usize, Slot<T>>>;

/// The table. A std lock (not parking_lot): it is held across fork() (see `before_fork`).
pub(crate) struct Table<T: 'static> {
    map: RwLock<HashMap<usize, Slot<T>>>,
    next: AtomicUsize,
}

impl<T: 'static> Table<T> {
    /// An empty table.
    pub(crate) fn new() -> Table<T> {
        Table {
            map: RwLock::new(HashMap::default()),
            next: AtomicUsize::new(1),
        }
    }

    fn read(&'static self) -> RwLockReadGuard<'static, HashMap<usize, Slot<T>>> {
        self.map.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The map, locked for writing (no handle is listed or unlisted meanwhile).
    pub(crate) fn write(&'static self) -> Locked<T> {
        self.map.write().unwrap_or_else(|e| e.into_inner())
    }

    /// A new handle number: never reused, and shaped like an aligned pointer.
    pub(crate) fn new_id(&self) -> usize {
        self.next.fetch_add(1, Ordering::SeqCst) << 4
    }

    /// Lists `handle` under `id`.
    pub(crate) fn enter(&'static self, id: usize, handle: &Arc<T>) {
        let addr = Arc::as_ptr(handle) as usize;
        self.write().insert(id, Slot { addr, owned: None });
    }

    /// Unlists `id` (its handle is being dropped).
    pub(crate) fn leave(&'static self, id: usize) {
        self.write().remove(&id);
    }

    /// The table keeps `handle` (listed under `id`) for a C caller, until [`Table::disown`].
    pub(crate) fn own(&'static self, id: usize, handle: Arc<T>) {
        if let Some(slot) = self.write().get_mut(&id) {
            slot.owned = Some(handle);
        }
    }

    /// The handle a C caller holds under `id`, if it is open.
    pub(crate) fn get(&'static self, id: usize) -> Option<Arc<T>> {
        self.read().get(&id).and_then(|s| s.owned.clone())
    }

    /// Runs `f` on the handle a C caller holds under `id`, if it is open, with the table locked
    /// for reading meanwhile (for short lookups: `f` must not block, nor open or close a
    /// handle).
    pub(crate) fn with<R>(&'static self, id: usize, f: impl FnOnce(&T) -> R) -> Option<R> {
        self.read().get(&id)?.owned.as_deref().map(f)
    }

    /// Takes back the handle a C caller held under `id`.
    pub(crate) fn disown(&'static self, id: usize) -> Option<Arc<T>> {
        self.write().get_mut(&id).and_then(|s| s.owned.take())
    }
}

/// Runs `f` on every handle of a locked table: none is listed or unlisted meanwhile.
pub(crate) fn each<T>(map: &HashMap<usize, Slot<T>>, mut f: impl FnMut(&T)) {
    for slot in map.values() {
        // SAFETY: a listed handle is alive (its drop unlists it under this lock first).
        f(unsafe { &*(slot.addr as *const T) });
    }
}

/// Keeps a locked table across a fork (see [`Held`]).
pub(crate) type HeldTable<T> = Held<Locked<T>>;
