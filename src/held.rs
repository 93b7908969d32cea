//! The documents C callers hold (`ndsr_snapshot_t`), each under a number made of a slot and a
//! count, so that a number released already (or never issued) is recognised and refused
//! instead of touching freed memory.
//!
//! Lock-free, so that a `fork()` can never leave it locked: slots live in chunks that are never
//! freed. Each thread owns a few slots (see `reader`): it takes them with plain stores, and a
//! release, from any thread, is one compare-and-swap, with no lookup of the releasing thread's
//! storage. A released owned slot keeps its document's reference (RETAINED) for its owner's
//! next snapshot of the same document, so a reader taking and releasing snapshots of a path
//! in a loop touches no reference count at all (a shared cache line, with many readers): one
//! compare-and-swap per snapshot, on a slot of its own. So a thread keeps alive at most OWNED
//! documents it no longer holds, each until it takes that slot for another document (a
//! replaced one is let go at the thread's next snapshot of a newer document) or ends.
//!
//! The other slots are pooled: free ones form a stack whose head carries a tag against ABA.
//! When a thread ends, its slots join the pool: at once if free, at their release if held.

use std::cell::Cell;
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use crate::document::Document;
use crate::memo;
use crate::reader;

/// Slots per chunk, and chunks at most: about four million snapshots held at once.
const CHUNK: usize = 4096;
const CHUNKS: usize = 1024;
/// Bits of a number for the slot (index + 1); the rest carry the slot's count.
const SLOT_BITS: u32 = 23;
const COUNT_BITS: u32 = usize::BITS - SLOT_BITS;

/// A slot's state: HELD while it holds a document; POOLED while it belongs to the pool (no
/// live thread owns it); RETAINED while free but still keeping its last document's reference
/// for its owner (only an owned slot; only its owner takes the reference back or drops it);
/// above them, a count bumped at each release, so that each hold of a slot has a number of its
/// own.
const HELD_BIT: usize = 1;
const POOLED: usize = 2;
const RETAINED: usize = 4;
const COUNT_ONE: usize = 8;

struct Slot {
    state: AtomicUsize,
    /// The held document (`Arc::into_raw`); written only by the slot's taker while it is free.
    doc: AtomicPtr<Document>,
    /// The next free slot (index + 1; 0: none), while this one is free in the pool.
    next_free: AtomicU32,
}

struct Held {
    chunks: [AtomicPtr<Slot>; CHUNKS],
    /// Slots handed out so far (each one taken at least once).
    used: AtomicU32,
    /// The pool's free stack: tag << 32 | (index + 1).
    free: AtomicU64,
}

/// Slots a thread owns, at most.
const OWNED: usize = 8;

/// The slots a thread owns (kept in its `reader` state): it alone takes them, so taking one is
/// a load and two stores. They join the pool when the thread ends.
pub struct Owned {
    slots: [Cell<*const Slot>; OWNED],
    indexes: [Cell<u32>; OWNED],
    len: Cell<usize>,
}

impl Owned {
    pub const fn new() -> Owned {
        Owned {
            slots: [const { Cell::new(std::ptr::null()) }; OWNED],
            indexes: [const { Cell::new(0) }; OWNED],
            len: Cell::new(0),
        }
    }

    /// Slot `k` of this thread's, with its state.
    #[inline(always)]
    fn slot(&self, k: usize) -> (&Slot, usize) {
        // SAFETY: slots live in chunks that are never freed.
        let slot = unsafe { &*self.slots[k].get() };
        (slot, slot.state.load(Ordering::Acquire))
    }

    /// Holds the document at `doc` again if a free slot of this thread's retains it and it is
    /// still current: no reference count touched. None: no slot retains it, or it was replaced.
    /// Equal addresses are the same document: `doc` is a memo's weak reference's address, which
    /// keeps its allocation, and a retained document is alive, so neither address is reused.
    #[inline(always)]
    fn hold_again(&self, doc: *const Document) -> Option<usize> {
        for k in 0..self.len.get() {
            let (slot, state) = self.slot(k);
            if state & (HELD_BIT | RETAINED) == RETAINED
                && slot.doc.load(Ordering::Relaxed).cast_const() == doc
            {
                // SAFETY: retained by this slot, so alive until this thread lets it go.
                if unsafe { &*doc }.is_superseded() {
                    return None;
                }
                // Nobody else writes a free slot's state: a plain store holds it.
                slot.state
                    .store(state & !RETAINED | HELD_BIT, Ordering::Release);
                return Some(number(self.indexes[k].get() as usize, state));
            }
        }
        None
    }

    /// Holds `doc` in a free slot of this thread's, else in a slot it takes from the pool
    /// (kept if it owns fewer than OWNED, else pooled again at its release). On the way, lets
    /// go of what free slots retain that is replaced or `doc` itself, and prefers a slot that
    /// retains nothing to one that retains another current document.
    fn hold(&self, doc: Arc<Document>) -> Option<usize> {
        let mut chosen: Option<(&Slot, usize, usize)> = None;
        for k in 0..self.len.get() {
            let (slot, mut state) = self.slot(k);
            if state & HELD_BIT != 0 {
                continue;
            }
            if state & RETAINED != 0 {
                let retained = slot.doc.load(Ordering::Relaxed).cast_const();
                // SAFETY: retained by this slot, so alive until this thread lets it go.
                if retained == Arc::as_ptr(&doc) || unsafe { &*retained }.is_superseded() {
                    state = let_go(slot, state);
                }
            }
            let better = chosen.is_none_or(|(_, _, s)| s & RETAINED != 0 && state & RETAINED == 0);
            if better {
                chosen = Some((slot, k, state));
            }
        }
        let Some((slot, k, state)) = chosen else {
            return self.hold_in_another_slot(doc);
        };
        let state = if state & RETAINED != 0 {
            let_go(slot, state)
        } else {
            state
        };
        Some(take(slot, self.indexes[k].get() as usize, state, doc))
    }

    /// Holds `doc` in a slot from the pool, which becomes this thread's if it has room.
    #[cold]
    fn hold_in_another_slot(&self, doc: Arc<Document>) -> Option<usize> {
        let len = self.len.get();
        hold_from_pool(doc, |slot, index| {
            if len == OWNED {
                return false;
            }
            self.slots[len].set(slot);
            self.indexes[len].set(index as u32);
            self.len.set(len + 1);
            true
        })
    }
}

/// Holds `doc` in a slot from the pool; `own(slot, index)` says whether a thread takes the
/// slot as its own (else it goes back to the pool at its release).
fn hold_from_pool(doc: Arc<Document>, own: impl FnOnce(&Slot, usize) -> bool) -> Option<usize> {
    let index = HELD.pop().or_else(|| HELD.fresh())?;
    let slot = HELD.slot(index)?;
    // Ours alone until held: off the stack (or new), and no thread owns it.
    let state = slot.state.load(Ordering::Acquire) & !(POOLED | RETAINED);
    let state = if own(slot, index) {
        state
    } else {
        state | POOLED
    };
    Some(take(slot, index, state, doc))
}

impl Drop for Owned {
    fn drop(&mut self) {
        for k in 0..self.len.get() {
            // SAFETY: slots live in chunks that are never freed.
            let slot = unsafe { &*self.slots[k].get() };
            let was = slot.state.fetch_or(POOLED, Ordering::AcqRel);
            // A free slot joins the pool now; a held one at its release (which sees POOLED).
            if was & HELD_BIT == 0 {
                if was & RETAINED != 0 {
                    // SAFETY: the slot's retained reference, let go once (the pool ignores
                    // RETAINED).
                    drop(unsafe { Arc::from_raw(slot.doc.load(Ordering::Relaxed)) });
                }
                HELD.push(self.indexes[k].get() as usize);
            }
        }
    }
}

/// Drops the reference `slot` (free, this thread's, in `state` with RETAINED) retains; the
/// state without RETAINED.
fn let_go(slot: &Slot, state: usize) -> usize {
    let state = state & !RETAINED;
    // Nobody else writes a free slot's state.
    slot.state.store(state, Ordering::Relaxed);
    // SAFETY: the slot's retained reference (`Arc::into_raw` by `take`), let go once: the
    // flag is gone.
    drop(unsafe { Arc::from_raw(slot.doc.load(Ordering::Relaxed)) });
    state
}

/// Makes `slot` (free, retaining nothing, whose state is `state`, and nobody else's to take)
/// hold `doc`.
#[inline(always)]
fn take(slot: &Slot, index: usize, state: usize, doc: Arc<Document>) -> usize {
    slot.doc
        .store(Arc::into_raw(doc).cast_mut(), Ordering::Relaxed);
    // Nobody else writes a free slot's state: a plain store publishes the document.
    slot.state.store(state | HELD_BIT, Ordering::Release);
    number(index, state)
}

fn number(index: usize, state: usize) -> usize {
    (index + 1) << COUNT_BITS | (state / COUNT_ONE) & count_mask()
}

#[allow(clippy::declare_interior_mutable_const)]
const NO_CHUNK: AtomicPtr<Slot> = AtomicPtr::new(std::ptr::null_mut());

static HELD: Held = Held {
    chunks: [NO_CHUNK; CHUNKS],
    used: AtomicU32::new(0),
    free: AtomicU64::new(0),
};

/// Holds `doc` for a C caller; None when every slot is taken.
pub fn hold(doc: Arc<Document>) -> Option<usize> {
    let mut doc = Some(doc);
    if let Some(number) = reader::with(|r| doc.take().and_then(|d| r.owned.hold(d))) {
        return number;
    }
    // The thread is ending (its state gone): a slot from the pool.
    hold_from_pool(doc?, |_, _| false)
}

/// Holds the document this thread read last for `path` of the C handle `handle` (see `memo`)
/// if it is still current: the hot path of `ndsr_snapshot_get`, one lookup of the thread's
/// state for both. None: not remembered, or every slot taken.
#[inline(always)]
pub fn hold_recalled(handle: usize, path: &[u8]) -> Option<usize> {
    reader::with(|r| {
        r.memos.with_memo(handle, path, |memo| {
            r.owned
                .hold_again(memo.as_ptr())
                .or_else(|| r.owned.hold(memo::current(memo)?))
        })
    })
    .flatten()
}

/// Releases what `number` holds; false when it holds nothing (released already, or not a
/// number [`hold`] gave).
#[inline(always)]
pub fn release(number: usize) -> bool {
    let Some((index, slot, mut state)) = HELD.lookup(number) else {
        return false;
    };
    // Read while held: once free, the slot's owner may take it again at once.
    let doc = slot.doc.load(Ordering::Acquire);
    loop {
        // An owned slot retains the reference for its owner (who alone lets it go); a pooled
        // one has no owner to give it to.
        let keep = if state & POOLED == 0 { RETAINED } else { 0 };
        let next = ((state & !HELD_BIT) + COUNT_ONE) | keep;
        match slot
            .state
            .compare_exchange(state, next, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => break,
            // Released by another thread meanwhile (false), or pooled by its owner's end.
            Err(now) if holds(now, number) => state = now,
            Err(_) => return false,
        }
    }
    if state & POOLED != 0 {
        // SAFETY: stored by `take` from `Arc::into_raw`, and released once (the exchange).
        unsafe { give_back(index, doc) };
    }
    true
}

/// Drops the reference a pooled slot held and returns the slot to the pool: out of line, so
/// that a release to an owned slot stays short.
///
/// # Safety
/// `doc` is the slot's reference (`Arc::into_raw`), released once.
#[cold]
#[inline(never)]
unsafe fn give_back(index: usize, doc: *const Document) {
    // SAFETY: per the contract.
    drop(unsafe { Arc::from_raw(doc) });
    HELD.push(index);
}

/// Runs `f` on the document `number` holds; None when it holds nothing. The caller must not
/// release `number` meanwhile (the C contract: a snapshot is used until its release).
#[inline]
pub fn with<T>(number: usize, f: impl FnOnce(&Document) -> T) -> Option<T> {
    let (_, slot, _) = HELD.lookup(number)?;
    let doc = slot.doc.load(Ordering::Acquire);
    // SAFETY: held (the state matched), so `doc` is a live `Arc::into_raw` pointer until the
    // release the caller does not make meanwhile.
    unsafe { doc.as_ref() }.map(f)
}

/// Whether a slot in `state` holds `number`'s hold.
#[inline(always)]
fn holds(state: usize, number: usize) -> bool {
    state & HELD_BIT != 0 && (state / COUNT_ONE) & count_mask() == number & count_mask()
}

fn count_mask() -> usize {
    (1usize << COUNT_BITS) - 1
}

impl Held {
    /// The slot at `index`, if its chunk exists.
    #[inline]
    fn slot(&self, index: usize) -> Option<&Slot> {
        let chunk = self.chunks.get(index / CHUNK)?.load(Ordering::Acquire);
        // SAFETY: a published chunk is CHUNK slots, never freed.
        (!chunk.is_null()).then(|| unsafe { &*chunk.add(index % CHUNK) })
    }

    /// The slot of a held `number`, with its index and state.
    #[inline]
    fn lookup(&self, number: usize) -> Option<(usize, &Slot, usize)> {
        let index = (number >> COUNT_BITS).checked_sub(1)?;
        let slot = self.slot(index)?;
        let state = slot.state.load(Ordering::Acquire);
        holds(state, number).then_some((index, slot, state))
    }

    /// A slot never used before (its chunk made if need be).
    fn fresh(&self) -> Option<usize> {
        let index = self.used.fetch_add(1, Ordering::Relaxed) as usize;
        if index >= CHUNK * CHUNKS {
            self.used.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        let cell = &self.chunks[index / CHUNK];
        if cell.load(Ordering::Acquire).is_null() {
            let chunk: Box<[Slot]> = (0..CHUNK)
                .map(|_| Slot {
                    state: AtomicUsize::new(0),
                    doc: AtomicPtr::new(std::ptr::null_mut()),
                    next_free: AtomicU32::new(0),
                })
                .collect();
            let ptr = Box::into_raw(chunk).cast::<Slot>();
            let null = std::ptr::null_mut();
            if cell
                .compare_exchange(null, ptr, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                // Another thread published this chunk first.
                // SAFETY: ours, made just above and never shared.
                drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr, CHUNK)) });
            }
        }
        Some(index)
    }

    /// Takes a free slot.
    fn pop(&self) -> Option<usize> {
        let mut head = self.free.load(Ordering::Acquire);
        loop {
            let index = (head as u32).checked_sub(1)? as usize;
            let next = self.slot(index)?.next_free.load(Ordering::Acquire);
            let new = (head >> 32).wrapping_add(1) << 32 | u64::from(next);
            match self
                .free
                .compare_exchange_weak(head, new, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Some(index),
                Err(now) => head = now,
            }
        }
    }

    /// Returns a slot to the free stack.
    fn push(&self, index: usize) {
        let Some(slot) = self.slot(index) else { return };
        let mut head = self.free.load(Ordering::Acquire);
        loop {
            slot.next_free.store(head as u32, Ordering::Release);
            let new = (head >> 32).wrapping_add(1) << 32 | (index as u64 + 1);
            match self
                .free
                .compare_exchange_weak(head, new, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return,
                Err(now) => head = now,
            }
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

    #[test]
    fn hold_read_release_once() {
        let d = doc("1");
        let n = hold(d.clone()).unwrap();
        assert_ne!(n, 0);
        assert_eq!(with(n, |d| d.data_json().to_string()).as_deref(), Some("1"));
        assert_eq!(Arc::strong_count(&d), 2);
        assert!(release(n));
        assert_eq!(Arc::strong_count(&d), 2, "retained for this thread");
        assert!(!release(n), "a second release is refused");
        assert!(with(n, |_| ()).is_none(), "a released number reads nothing");
        // The slot comes back under a new number; the old one stays dead.
        let m = hold(doc("2")).unwrap();
        assert!(!release(n));
        assert_eq!(with(m, |d| d.data_json().to_string()).as_deref(), Some("2"));
        assert!(release(m));
        assert!(!release(0) && !release(usize::MAX) && !release(12345));
    }

    /// Holds again, for this thread, the document at `doc` if a slot retains it.
    fn hold_again(doc: &Arc<Document>) -> Option<usize> {
        reader::with(|r| r.owned.hold_again(Arc::as_ptr(doc))).flatten()
    }

    #[test]
    fn a_released_snapshot_is_held_again_without_a_reference_count_until_replaced() {
        let (d, e) = (doc("6"), doc("7"));
        let counts = |d: &Arc<Document>| Arc::strong_count(d);
        std::thread::spawn(move || {
            assert_eq!(hold_again(&d), None, "nothing retained yet");
            let n = hold(d.clone()).unwrap();
            assert!(release(n));
            assert_eq!(counts(&d), 2, "retained");
            let m = hold_again(&d).expect("held again");
            assert_ne!(m, n, "a number of its own");
            assert!(!release(n), "the first number stays dead");
            assert_eq!(counts(&d), 2, "no reference taken");
            assert_eq!(with(m, |x| x.data_json().to_string()).as_deref(), Some("6"));
            // Released by another thread: retained for this one all the same.
            std::thread::spawn(move || assert!(release(m)))
                .join()
                .unwrap();
            let m = hold_again(&d).expect("held again after a release elsewhere");
            assert!(release(m));
            // Holding the same document anew keeps one reference, not two.
            let k = hold(d.clone()).unwrap();
            assert!(release(k));
            assert_eq!(counts(&d), 2);
            // Replaced: not held again, and let go at the next snapshot taken.
            d.supersede();
            assert_eq!(hold_again(&d), None);
            assert_eq!(counts(&d), 2);
            let k = hold(e.clone()).unwrap();
            assert_eq!(counts(&d), 1, "the replaced document let go");
            assert!(release(k));
            assert_eq!(counts(&e), 2);
            (d, e)
        })
        .join()
        .map(|(d, e)| {
            assert_eq!(
                (counts(&d), counts(&e)),
                (1, 1),
                "let go when the thread ended"
            );
        })
        .unwrap();
    }

    #[test]
    fn a_thread_retains_at_most_its_owned_slots() {
        let docs: Vec<_> = (0..3 * OWNED).map(|i| doc(&i.to_string())).collect();
        let docs = std::thread::spawn(move || {
            // All held at once (the thread owns OWNED slots, the others come from the pool),
            // then released: only the owned slots retain theirs.
            let numbers: Vec<usize> = docs.iter().map(|d| hold(d.clone()).unwrap()).collect();
            assert!(numbers.into_iter().all(release));
            let retained = docs.iter().filter(|d| Arc::strong_count(d) > 1).count();
            assert_eq!(retained, OWNED, "one per owned slot");
            // Taken and released one at a time, they all go through one slot.
            for d in &docs {
                assert!(release(hold(d.clone()).unwrap()));
            }
            let retained = docs.iter().filter(|d| Arc::strong_count(d) > 1).count();
            assert_eq!(retained, OWNED, "still one per owned slot");
            docs
        })
        .join()
        .unwrap();
        assert!(docs.iter().all(|d| Arc::strong_count(d) == 1));
    }

    #[test]
    fn many_threads() {
        let d = doc("3");
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let d = d.clone();
                std::thread::spawn(move || {
                    for _ in 0..20_000 {
                        let n = hold(d.clone()).unwrap();
                        assert!(with(n, |x| x.data_json() == "3").unwrap());
                        assert!(release(n));
                        assert!(!release(n));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(Arc::strong_count(&d), 1);
    }

    #[test]
    fn a_snapshot_released_twice_at_once_is_released_once() {
        use std::sync::atomic::AtomicUsize;
        // Two threads spin until a round begins and release the same number at once.
        let d = doc("5");
        let (number, round, done) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
        );
        let rounds = 50_000;
        let releasers: Vec<_> = (0..2)
            .map(|_| {
                let (number, round, done) = (number.clone(), round.clone(), done.clone());
                std::thread::spawn(move || {
                    let mut released = 0;
                    for r in 1..=rounds {
                        // Spin (to start together), yielding now and then (two cores).
                        let mut spins = 0u32;
                        while round.load(Ordering::Acquire) != r {
                            spins += 1;
                            match spins % 256 {
                                0 => std::thread::yield_now(),
                                _ => std::hint::spin_loop(),
                            }
                        }
                        released += usize::from(release(number.load(Ordering::Acquire)));
                        done.fetch_add(1, Ordering::AcqRel);
                    }
                    released
                })
            })
            .collect();
        for r in 1..=rounds {
            number.store(hold(d.clone()).unwrap(), Ordering::Release);
            round.store(r, Ordering::Release);
            while done.load(Ordering::Acquire) != 2 * r {
                std::thread::yield_now();
            }
            // The test's own reference and the one its slot retains (let go at the next
            // round's hold of the same document): a release twice would drop one too many.
            assert_eq!(Arc::strong_count(&d), 2, "released exactly once");
        }
        let released: usize = releasers.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(released, rounds);
    }

    /// Free slots in the pool now (walked without taking them: a count, exact when nothing
    /// else takes or gives back meanwhile).
    fn pooled_free() -> usize {
        let mut count = 0;
        let mut next = HELD.free.load(Ordering::Acquire) as u32;
        while let Some(index) = next.checked_sub(1) {
            count += 1;
            next = HELD
                .slot(index as usize)
                .unwrap()
                .next_free
                .load(Ordering::Acquire);
        }
        count
    }

    #[test]
    fn snapshots_released_on_other_threads_and_after_their_owners_end() {
        let d = doc("4");
        // Held on one thread, released on another, while the first keeps taking.
        let (tx, rx) = std::sync::mpsc::channel::<usize>();
        let releaser = std::thread::spawn(move || rx.iter().filter(|&n| release(n)).count());
        let taker = {
            let d = d.clone();
            std::thread::spawn(move || {
                for _ in 0..20_000 {
                    tx.send(hold(d.clone()).unwrap()).unwrap();
                }
            })
        };
        taker.join().unwrap();
        assert_eq!(releaser.join().unwrap(), 20_000);
        assert_eq!(Arc::strong_count(&d), 1);
        // Threads that end with their slots free, and with one still held: every slot goes
        // back to the pool (at the thread's end, or at the held one's release), so a hundred
        // threads use about as many slots as one (other tests take a few meanwhile).
        let (used, pooled) = (HELD.used.load(Ordering::Relaxed), pooled_free());
        for _ in 0..100 {
            let d = d.clone();
            let kept = std::thread::spawn(move || {
                let numbers: Vec<usize> = (0..3).map(|_| hold(d.clone()).unwrap()).collect();
                assert!(release(numbers[0]) && release(numbers[1]));
                numbers[2]
            })
            .join()
            .unwrap();
            assert!(
                with(kept, |x| x.data_json() == "4").unwrap(),
                "held past its thread"
            );
            assert!(release(kept));
            assert!(!release(kept));
        }
        let fresh = (HELD.used.load(Ordering::Relaxed) - used) as usize;
        let lost = fresh + pooled.saturating_sub(pooled_free());
        assert!(lost < 50, "{lost} slots lost to 100 threads of 3 snapshots");
        assert_eq!(Arc::strong_count(&d), 1);
    }
}
