//! Callback subscriptions and their delivery through the dispatcher.
//!
//! A subscriber that falls behind gets the latest state, never a backlog: each subscription keeps
//! at most one pending document (replaced by a newer one) and a few pending connection states,
//! and has at most one delivery job queued on the dispatcher. Deliveries run in the order the
//! documents were made, skip a document equal to the one delivered last, and the callback is
//! called outside any `catch_unwind` (see `dispatcher`): the Rust parts of a delivery guard
//! themselves. Dropping the last reference to a subscription drops its callback, which is how
//! `userdata_free` runs exactly once, after the last call.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::dispatcher::{Dispatcher, Submitter};
use crate::document::{self, Document};
use crate::runtime;
use crate::session::State;

/// The most connection states kept for a subscriber that falls behind (the oldest go first).
const PENDING_STATES: usize = 8;

/// What a callback is told.
pub enum Event<'a> {
    /// The document of a watched path.
    Document {
        /// The watched path.
        path: &'a str,
        /// The document as JSON.
        json: &'a str,
    },
    /// What changed in a watched path since the last call (see `document::diff`).
    Diff {
        /// The watched path.
        path: &'a str,
        /// The diff as JSON.
        json: &'a str,
    },
    /// The connection state.
    State(State),
    /// The handle's stats as JSON (see `ndsr_on_stats`).
    Stats {
        /// The stats, as `ndsr_stats_json` gives them.
        json: &'a str,
    },
}

/// What a document subscription is given: the whole document, or what changed in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// The document.
    Document,
    /// The diff from the document given last.
    Diff,
}

/// A user callback, with what a forked child needs to take it over.
pub trait Handler: Send + Sync + 'static {
    /// Called with each event.
    fn call(&self, event: Event<'_>);
    /// The child's own copy after a `fork()`. Called only in the child, which must never drop
    /// the parent's copy (it would release the parent's resources a second time).
    fn for_child(&self) -> Callback;
}

/// A boxed user callback.
pub type Callback = Box<dyn Handler>;

/// Makes the stats a stats subscription is given (None: the handle is gone).
pub type StatsSource = Arc<dyn Fn() -> Option<String> + Send + Sync>;

impl<F> Handler for F
where
    F: Fn(Event<'_>) + Clone + Send + Sync + 'static,
{
    fn call(&self, event: Event<'_>) {
        // A Rust callback's panic stops at this call (a C callback is called unguarded).
        if catch_unwind(AssertUnwindSafe(|| self(event))).is_err() {
            log::error!("a callback panicked; the callback thread carries on");
        }
    }

    fn for_child(&self) -> Callback {
        Box::new(self.clone())
    }
}

/// Boxes a closure as a callback (a plain `Box::new` cannot infer the closure's argument type).
pub fn callback<F>(f: F) -> Callback
where
    F: Fn(Event<'_>) + Clone + Send + Sync + 'static,
{
    Box::new(f)
}

/// A subscription's last delivery, carried across a fork.
#[derive(Clone)]
pub struct Delivered(Last);

#[derive(Clone)]
enum Last {
    Nothing,
    Document(Arc<Document>),
    State(State),
}

/// One registered callback.
pub struct Subscription {
    /// The id handed to the caller.
    pub id: u64,
    form: Form,
    cancelled: AtomicBool,
    last: Mutex<Last>,
    pending: Mutex<Pending>,
    callback: Callback,
    /// At most one document per this many ms (0: no limit).
    debounce_ms: AtomicU64,
}

/// What waits to be delivered, and whether a delivery job is queued for it.
#[derive(Default)]
struct Pending {
    doc: Option<(Arc<str>, Arc<Document>)>,
    states: VecDeque<State>,
    queued: bool,
    /// When a document was last delivered (for the debounce).
    delivered_at: Option<Instant>,
}

/// Runs `f`, a delivery's Rust part: a panic there is logged and the delivery skipped.
fn guarded<T>(f: impl FnOnce() -> Option<T>) -> Option<T> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| {
        log::error!("internal error (panic) while delivering a callback; skipped");
        None
    })
}

impl Subscription {
    /// A new, active subscription, given documents in `form` (or states).
    pub fn new(id: u64, form: Form, callback: Callback) -> Arc<Subscription> {
        Subscription::with_last(id, form, callback, Last::Nothing)
    }

    fn with_last(id: u64, form: Form, callback: Callback, last: Last) -> Arc<Subscription> {
        Arc::new(Subscription {
            id,
            form,
            cancelled: AtomicBool::new(false),
            last: Mutex::new(last),
            pending: Mutex::new(Pending::default()),
            callback,
            debounce_ms: AtomicU64::new(0),
        })
    }

    /// What was delivered last, for a forked child's copy (see [`Subscription::for_child`]).
    pub fn last_delivered(&self) -> Delivered {
        Delivered(self.last.lock().clone())
    }

    /// A forked child's own subscription with the same id, callback and last delivery (so the
    /// child is not called again with what the parent was given already). Only in the child:
    /// it touches no lock of the parent's.
    pub fn for_child(&self, last: Delivered) -> Arc<Subscription> {
        Subscription::with_last(self.id, self.form, self.callback.for_child(), last.0)
    }

    /// Delivers at most one document per `interval` (zero: every one).
    pub fn set_debounce(&self, interval: Duration) {
        let ms = u64::try_from(interval.as_millis()).unwrap_or(u64::MAX);
        self.debounce_ms.store(ms, Ordering::SeqCst);
    }

    /// How long a document now pending must wait for the debounce (None: not at all).
    fn debounce_wait(&self, pending: &Pending) -> Option<Duration> {
        let ms = self.debounce_ms.load(Ordering::SeqCst);
        let due = pending.delivered_at? + Duration::from_millis(ms);
        (ms > 0 && pending.doc.is_some())
            .then(|| due.saturating_duration_since(Instant::now()))
            .filter(|wait| !wait.is_zero())
    }

    /// Stops further calls; those already queued are skipped.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
    }

    /// Makes `doc` the document to deliver next (replacing one not delivered yet).
    pub fn deliver_document(
        self: &Arc<Self>,
        dispatcher: &Dispatcher,
        path: &Arc<str>,
        doc: &Arc<Document>,
    ) {
        let mut pending = self.pending.lock();
        pending.doc = Some((path.clone(), doc.clone()));
        self.queue(dispatcher, pending);
    }

    /// Adds a connection state to deliver (the oldest pending ones go when too many wait).
    pub fn deliver_state(self: &Arc<Self>, dispatcher: &Dispatcher, state: State) {
        let mut pending = self.pending.lock();
        if pending.states.back() != Some(&state) {
            if pending.states.len() == PENDING_STATES {
                pending.states.pop_front();
            }
            pending.states.push_back(state);
        }
        self.queue(dispatcher, pending);
    }

    /// Queues a delivery job unless one is queued already (it will take what is pending).
    fn queue(
        self: &Arc<Self>,
        dispatcher: &Dispatcher,
        mut pending: parking_lot::MutexGuard<'_, Pending>,
    ) {
        if std::mem::replace(&mut pending.queued, true) {
            return;
        }
        let wait = self.debounce_wait(&pending);
        drop(pending);
        let sub = self.clone();
        match (wait, dispatcher.submitter()) {
            // Debounced: queued when the interval is over, with whatever is pending then.
            (Some(wait), Some(later)) => {
                runtime::spawn(async move {
                    tokio::time::sleep(wait).await;
                    later.submit(move || sub.deliver_pending());
                });
            }
            _ => {
                dispatcher.submit(move || sub.deliver_pending());
            }
        }
    }

    /// On the dispatcher: delivers what is pending, each event unless equal to the last one.
    fn deliver_pending(&self) {
        let Some((doc, states)) = guarded(|| {
            let mut pending = self.pending.lock();
            pending.queued = false;
            let doc = pending.doc.take();
            if doc.is_some() {
                pending.delivered_at = Some(Instant::now());
            }
            let states: Vec<State> = pending.states.drain(..).collect();
            Some((doc, states))
        }) else {
            return;
        };
        for state in states {
            if self.take_if_new(Last::State(state)) {
                self.callback.call(Event::State(state));
            }
        }
        if let Some((path, doc)) = doc {
            let Some(before) = self.take_document(&doc) else {
                return;
            };
            match self.form {
                Form::Document => self.callback.call(Event::Document {
                    path: &path,
                    json: doc.json(),
                }),
                Form::Diff => {
                    let Some(diff) = guarded(|| Some(document::diff(before.as_deref(), &doc)))
                    else {
                        return;
                    };
                    self.callback.call(Event::Diff {
                        path: &path,
                        json: &diff,
                    })
                }
            }
        }
    }

    /// Records `doc` as delivered and returns the document delivered before it (None: none),
    /// unless the subscription is cancelled or `doc` equals the last one (then None at all).
    fn take_document(&self, doc: &Arc<Document>) -> Option<Option<Arc<Document>>> {
        guarded(|| {
            if self.cancelled.load(Ordering::SeqCst) {
                return None;
            }
            let mut last = self.last.lock();
            let before = match &*last {
                Last::Document(d) if Arc::ptr_eq(d, doc) || d.json() == doc.json() => return None,
                Last::Document(d) => Some(d.clone()),
                _ => None,
            };
            *last = Last::Document(doc.clone());
            Some(before)
        })
    }

    /// Records `event` as delivered, unless the subscription is cancelled or `event` equals
    /// the last delivery; true when it is to be delivered.
    fn take_if_new(&self, event: Last) -> bool {
        guarded(|| {
            if self.cancelled.load(Ordering::SeqCst) {
                return None;
            }
            let mut last = self.last.lock();
            let same = match (&*last, &event) {
                (Last::Document(a), Last::Document(b)) => Arc::ptr_eq(a, b) || a.json() == b.json(),
                (Last::State(a), Last::State(b)) => a == b,
                _ => false,
            };
            if same {
                return None;
            }
            *last = event;
            Some(())
        })
        .is_some()
    }

    /// Queues a call with the stats `make` gives on the callback thread, unless a call is
    /// queued already: a callback that falls behind skips ticks instead of piling them up.
    pub fn deliver_stats(self: &Arc<Self>, later: &Submitter, make: StatsSource) {
        if std::mem::replace(&mut self.pending.lock().queued, true) {
            return;
        }
        let sub = self.clone();
        later.submit(move || {
            sub.pending.lock().queued = false;
            if sub.is_cancelled() {
                return;
            }
            if let Some(json) = guarded(|| make()) {
                sub.callback.call(Event::Stats { json: &json });
            }
        });
    }

    /// Whether the subscription has ended.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    /// Cancels and queues the release of this reference behind every queued call, so the
    /// callback (and its userdata) is dropped on the dispatcher after the last call. If the
    /// dispatcher is gone, it is dropped here.
    pub fn retire(self: Arc<Self>, dispatcher: &Dispatcher) {
        self.cancel();
        // When submit fails, the closure (and with it this reference) is dropped right there.
        dispatcher.submit(move || drop(self));
    }
}
