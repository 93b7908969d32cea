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

/// A user callback.
pub type Callback = Box<dyn Fn(Event<'_>) + Send + Sync>;

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
            (sub.callback)(Event::Document {
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
            (sub.callback)(Event::State(state));
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
