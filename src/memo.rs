//! A per-thread memo of the documents this thread's C callers read last, so that a reader on a
//! hot path (`ndsr_snapshot_get`, `ndsr_get_json`) takes one reference count instead of the
//! handle table's lock, the cache's and the entry's.
//!
//! A memo is trusted only while (a) no handle was closed, made unusable (rejected
//! authentication) or forked since it was made: one process-wide counter, [`invalidate`],
//! read before the slow lookup that made the memo; and (b) its document is still the
//! current one of its path: the cache marks a replaced document superseded. A memo holds a weak
//! reference: it never keeps a replaced document's contents alive.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use crate::document::{same_bytes, Document};
use crate::reader;

/// Memos a thread keeps (the paths it read last).
const MEMOS: usize = 8;

static EPOCH: AtomicU64 = AtomicU64::new(0);

struct Memo {
    handle: usize,
    path: Box<str>,
    epoch: u64,
    doc: Weak<Document>,
}

/// A thread's memos (kept in its `reader` state).
pub struct Memos {
    memos: RefCell<Vec<Memo>>,
    /// The next memo to replace when all are taken.
    next: Cell<usize>,
}

/// Forgets every thread's memos: a handle was closed, its session became unusable, or the
/// process forked. Async-signal-safe.
pub fn invalidate() {
    EPOCH.fetch_add(1, Ordering::AcqRel);
}

/// The current epoch: read it before the lookup whose result is remembered.
pub fn epoch() -> u64 {
    EPOCH.load(Ordering::Acquire)
}

/// The document this thread remembered for `path` of `handle`, if it is still current.
#[inline(always)]
pub fn recall(handle: usize, path: &[u8]) -> Option<Arc<Document>> {
    reader::with(|r| r.memos.recall(handle, path)).flatten()
}

/// Remembers `doc` as the document of `path` of `handle`, found by a lookup that began at
/// `epoch`.
pub fn remember(handle: usize, path: &str, epoch: u64, doc: &Arc<Document>) {
    reader::with(|r| r.memos.remember(handle, path, epoch, doc));
}

/// The document of a memo's weak reference, if it is alive and still current.
#[inline(always)]
pub fn current(memo: &Weak<Document>) -> Option<Arc<Document>> {
    memo.upgrade().filter(|doc| !doc.is_superseded())
}

impl Memos {
    pub const fn new() -> Memos {
        Memos {
            memos: RefCell::new(Vec::new()),
            next: Cell::new(0),
        }
    }

    /// The document remembered for `path` of `handle`, if it is still current.
    #[inline(always)]
    pub fn recall(&self, handle: usize, path: &[u8]) -> Option<Arc<Document>> {
        self.with_memo(handle, path, current)
    }

    /// `f` on the weak reference of the memo of `path` of `handle`, if made in this epoch:
    /// for a caller that may not need a reference of its own (see `held::hold_recalled`).
    #[inline(always)]
    pub fn with_memo<T>(
        &self,
        handle: usize,
        path: &[u8],
        f: impl FnOnce(&Weak<Document>) -> Option<T>,
    ) -> Option<T> {
        let memos = self.memos.borrow();
        let memo = memos
            .iter()
            .find(|m| m.handle == handle && same_bytes(m.path.as_bytes(), path))?;
        (memo.epoch == epoch()).then(|| f(&memo.doc)).flatten()
    }

    fn remember(&self, handle: usize, path: &str, epoch: u64, doc: &Arc<Document>) {
        let mut memos = self.memos.borrow_mut();
        let memo = Memo {
            handle,
            path: path.into(),
            epoch,
            doc: Arc::downgrade(doc),
        };
        if let Some(i) = memos
            .iter()
            .position(|m| m.handle == handle && *m.path == *path)
        {
            memos[i] = memo;
        } else if memos.len() < MEMOS {
            memos.push(memo);
        } else {
            let i = self.next.get();
            memos[i] = memo;
            self.next.set((i + 1) % MEMOS);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::Builder;

    fn doc(data: &str) -> Arc<Document> {
        Arc::new(Builder::new("/t", None, data, 0, 0).finish())
    }

    /// The epoch is process-wide: these tests run one at a time.
    static ONE_AT_A_TIME: parking_lot::Mutex<()> = parking_lot::Mutex::new(());

    #[test]
    fn a_memo_lasts_while_its_document_is_current() {
        let _one = ONE_AT_A_TIME.lock();
        let d = doc("1");
        remember(16, "/t", epoch(), &d);
        assert!(Arc::ptr_eq(&recall(16, b"/t").unwrap(), &d));
        assert!(recall(32, b"/t").is_none(), "another handle");
        assert!(recall(16, b"/u").is_none(), "another path");
        d.supersede();
        assert!(recall(16, b"/t").is_none(), "a newer document replaced it");
    }

    #[test]
    fn a_memo_ends_with_the_epoch_and_never_keeps_a_document() {
        let _one = ONE_AT_A_TIME.lock();
        let d = doc("1");
        remember(48, "/t", epoch(), &d);
        invalidate();
        assert!(recall(48, b"/t").is_none());
        let e = doc("2");
        remember(48, "/t", epoch(), &e);
        drop(e);
        assert!(recall(48, b"/t").is_none(), "dropped by the cache");
        let stale = epoch();
        invalidate();
        remember(48, "/t", stale, &d);
        assert!(recall(48, b"/t").is_none(), "made before a close");
    }

    #[test]
    fn a_thread_keeps_a_few_memos() {
        let _one = ONE_AT_A_TIME.lock();
        let docs: Vec<_> = (0..MEMOS + 2).map(|i| doc(&i.to_string())).collect();
        for (i, d) in docs.iter().enumerate() {
            remember(64, &format!("/p{i}"), epoch(), d);
        }
        let kept = (0..docs.len())
            .filter(|i| recall(64, format!("/p{i}").as_bytes()).is_some())
            .count();
        assert_eq!(kept, MEMOS);
    }
}
