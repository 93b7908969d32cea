//! The documents C callers hold (`ndsr_snapshot_t`), each under a number made of a slot and a
//! generation, so that a number released already (or never issued) is recognised and refused
//! instead of touching freed memory.
//!
//! Lock-free, so that a `fork()` can never leave it locked: slots live in chunks that are never
//! freed, and free slots form a stack whose head carries a tag against ABA. A reader checks the
//! slot's generation with one atomic load; taking and releasing cost a few atomic operations.
//! Each thread keeps a few released slots of its own (a "magazine", as slab allocators do), so
//! that a reader taking and releasing snapshots in a loop does not touch the shared free stack.

use std::cell::Cell;
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use crate::document::Document;
use crate::reader;

/// Slots per chunk, and chunks at most: about four million snapshots held at once.
const CHUNK: usize = 4096;
const CHUNKS: usize = 1024;
/// Bits of a number for the slot (index + 1); the rest carry the generation.
const SLOT_BITS: u32 = 23;
const GEN_BITS: u32 = usize::BITS - SLOT_BITS;

struct Slot {
    /// Odd while held. Bumped at each take and each release.
    generation: AtomicUsize,
    /// The held document (`Arc::into_raw`), or NULL.
    doc: AtomicPtr<Document>,
    /// The next free slot (index + 1; 0: none), while this one is free.
    next_free: AtomicU32,
}

struct Held {
    chunks: [AtomicPtr<Slot>; CHUNKS],
    /// Slots handed out so far (each one taken at least once).
    used: AtomicU32,
    /// The free stack: tag << 32 | (index + 1).
    free: AtomicU64,
}

/// Released slots a thread keeps for its next snapshots, at most.
const SPARE: usize = 32;

/// A thread's released slots (indexes), kept for its next snapshots (see `reader`) and given
/// back to the free stack when the thread ends. Cells in a fixed array: taking and giving back
/// cost a few plain loads and stores.
pub struct Spares {
    slots: [Cell<u32>; SPARE],
    len: Cell<usize>,
}

impl Spares {
    pub const fn new() -> Spares {
        Spares {
            slots: [const { Cell::new(0) }; SPARE],
            len: Cell::new(0),
        }
    }

    /// A slot this thread released, if it kept one.
    #[inline(always)]
    fn take(&self) -> Option<usize> {
        let len = self.len.get().checked_sub(1)?;
        self.len.set(len);
        Some(self.slots[len].get() as usize)
    }

    /// Keeps `index`; false when full.
    #[inline(always)]
    fn keep(&self, index: usize) -> bool {
        let len = self.len.get();
        let room = len < SPARE;
        if room {
            self.slots[len].set(index as u32);
            self.len.set(len + 1);
        }
        room
    }
}

impl Drop for Spares {
    fn drop(&mut self) {
        for slot in &self.slots[..self.len.get()] {
            HELD.push(slot.get() as usize);
        }
    }
}

/// Keeps `index` for this thread's next snapshot, or gives it back to the free stack.
#[inline(always)]
fn give_back(index: usize) {
    if reader::with(|r| r.spares.keep(index)) != Some(true) {
        HELD.push(index);
    }
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
    let spare = reader::with(|r| r.spares.take()).flatten();
    hold_in(spare, doc)
}

/// Holds the document this thread read last for `path` of the C handle `handle` (see `memo`)
/// if it is still current: the hot path of `ndsr_snapshot_get`, one lookup of the thread's
/// state for both. None: not remembered, or every slot taken.
#[inline(always)]
pub fn hold_recalled(handle: usize, path: &[u8]) -> Option<usize> {
    reader::with(|r| {
        let doc = r.memos.recall(handle, path)?;
        hold_in(r.spares.take(), doc)
    })
    .flatten()
}

/// Holds `doc` in `spare` (a slot this thread released), else in a free or new slot.
#[inline(always)]
fn hold_in(spare: Option<usize>, doc: Arc<Document>) -> Option<usize> {
    let index = spare.or_else(|| HELD.pop()).or_else(|| HELD.fresh())?;
    let slot = HELD.slot(index)?;
    slot.doc
        .store(Arc::into_raw(doc).cast_mut(), Ordering::Relaxed);
    // The slot is ours (free, taken off the stack): a plain store publishes it.
    let generation = slot.generation.load(Ordering::Relaxed).wrapping_add(1);
    slot.generation.store(generation, Ordering::Release);
    Some((index + 1) << GEN_BITS | (generation & gen_mask()))
}

/// Releases what `number` holds; false when it holds nothing (released already, or not a
/// number [`hold`] gave).
#[inline(always)]
pub fn release(number: usize) -> bool {
    let Some((index, slot, generation)) = HELD.lookup(number) else {
        return false;
    };
    let next = generation.wrapping_add(1);
    if slot
        .generation
        .compare_exchange(generation, next, Ordering::AcqRel, Ordering::Relaxed)
        .is_err()
    {
        return false;
    }
    // The slot is ours until pushed back (the generation is even: nobody holds or takes it).
    let doc = slot.doc.load(Ordering::Acquire);
    if !doc.is_null() {
        // SAFETY: stored by `hold` from `Arc::into_raw`, and released once (the exchange).
        drop(unsafe { Arc::from_raw(doc) });
    }
    give_back(index);
    true
}

/// Runs `f` on the document `number` holds; None when it holds nothing. The caller must not
/// release `number` meanwhile (the C contract: a snapshot is used until its release).
#[inline]
pub fn with<T>(number: usize, f: impl FnOnce(&Document) -> T) -> Option<T> {
    let (_, slot, _) = HELD.lookup(number)?;
    let doc = slot.doc.load(Ordering::Acquire);
    // SAFETY: held (the generation matched), so `doc` is a live `Arc::into_raw` pointer until
    // the release the caller does not make meanwhile.
    unsafe { doc.as_ref() }.map(f)
}

fn gen_mask() -> usize {
    (1usize << GEN_BITS) - 1
}

impl Held {
    /// The slot at `index`, if its chunk exists.
    #[inline]
    fn slot(&self, index: usize) -> Option<&Slot> {
        let chunk = self.chunks.get(index / CHUNK)?.load(Ordering::Acquire);
        // SAFETY: a published chunk is CHUNK slots, never freed.
        (!chunk.is_null()).then(|| unsafe { &*chunk.add(index % CHUNK) })
    }

    /// The slot of a held `number`, with its index and full generation.
    #[inline]
    fn lookup(&self, number: usize) -> Option<(usize, &Slot, usize)> {
        let index = (number >> GEN_BITS).checked_sub(1)?;
        let slot = self.slot(index)?;
        let generation = slot.generation.load(Ordering::Acquire);
        let held = generation % 2 == 1 && generation & gen_mask() == number & gen_mask();
        held.then_some((index, slot, generation))
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
                    generation: AtomicUsize::new(0),
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
        assert_eq!(Arc::strong_count(&d), 1);
        assert!(!release(n), "a second release is refused");
        assert!(with(n, |_| ()).is_none(), "a released number reads nothing");
        // The slot comes back under a new number; the old one stays dead.
        let m = hold(doc("2")).unwrap();
        assert!(!release(n));
        assert_eq!(with(m, |d| d.data_json().to_string()).as_deref(), Some("2"));
        assert!(release(m));
        assert!(!release(0) && !release(usize::MAX) && !release(12345));
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
}
