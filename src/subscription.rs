//! Callback subscriptions and their delivery through the dispatcher.
//!
//! Deliveries for one subscription are queued in the order the documents were made (always under
//! the lock of the thing that made them), run on the dispatcher thread, and skip a document equal
//! to the one delivered last. Dropping the last reference to a subscription drops its callback,
//! which is how `userdata_free` runs exactly once, after the last call.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::dispatcher::Dispatcher;
use crate::document::Document;
use crate::session::State;

/// What a callback is told.
pub enum Event<'a> {
    /// The document of a watched path.
    Document {
        /// The watched path.
        path: &'a str,
        /// The document as JSON.
        json: &'a str,
    },
    /// The connection state.
    State(State),
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

impl<F> Handler for F
where
    F: Fn(Event<'_>) + Clone + Send + Sync + 'static,
{
    fn call(&self, event: Event<'_>) {
        self(event)
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
    cancelled: AtomicBool,
    last: Mutex<Last>,
    callback: Callback,
}

impl Subscription {
    /// A new, active subscription.
    pub fn new(id: u64, callback: Callback) -> Arc<Subscription> {
        Arc::new(Subscription {
            id,
            cancelled: AtomicBool::new(false),
            last: Mutex::new(Last::Nothing),
            callback,
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
        Arc::new(Subscription {
            id: self.id,
            cancelled: AtomicBool::new(false),
            last: Mutex::new(last.0),
            callback: self.callback.for_child(),
        })
    }

    /// Stops further calls; those already queued are skipped.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
    }

    /// Queues a call with a document (skipped if equal to the last one delivered).
    pub fn deliver_document(
        self: &Arc<Self>,
        dispatcher: &Dispatcher,
        path: &Arc<str>,
        doc: &Arc<Document>,
    ) {
        let (sub, path, doc) = (self.clone(), path.clone(), doc.clone());
        dispatcher.submit(move || {
            if sub.cancelled.load(Ordering::SeqCst) {
                return;
            }
            {
                let mut last = sub.last.lock();
                if matches!(&*last, Last::Document(d) if Arc::ptr_eq(d, &doc) || d.json == doc.json)
                {
                    return;
                }
                *last = Last::Document(doc.clone());
            }
            sub.callback.call(Event::Document {
                path: &path,
                json: &doc.json,
            });
        });
    }

    /// Queues a call with a state (skipped if equal to the last one delivered).
    pub fn deliver_state(self: &Arc<Self>, dispatcher: &Dispatcher, state: State) {
        let sub = self.clone();
        dispatcher.submit(move || {
            if sub.cancelled.load(Ordering::SeqCst) {
                return;
            }
            {
                let mut last = sub.last.lock();
                if matches!(&*last, Last::State(s) if *s == state) {
                    return;
                }
                *last = Last::State(state);
            }
            sub.callback.call(Event::State(state));
        });
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
