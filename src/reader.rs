//! What a thread that reads through the C API keeps for its next reads: the documents it read
//! last ([`memo::Memos`]) and the snapshot slots it owns ([`held::Owned`]). One
//! thread-local for both, so that `ndsr_snapshot_get`'s hot path finds the document and a slot
//! for it with one lookup of the thread's storage (a call into the dynamic loader, for a
//! shared library).

use crate::held::Owned;
use crate::memo::Memos;

/// A thread's reading state.
pub struct Reader {
    pub memos: Memos,
    pub owned: Owned,
}

thread_local! {
    static READER: Reader = const {
        Reader {
            memos: Memos::new(),
            owned: Owned::new(),
        }
    };
}

/// Runs `f` on this thread's reading state; None while the thread is ending (its state gone).
#[inline(always)]
pub fn with<T>(f: impl FnOnce(&Reader) -> T) -> Option<T> {
    READER.try_with(f).ok()
}
