//! One watched path's entry: its current document, its subscribers, and what is known of its
//! freshness. Shared between the path's watch task (which publishes), readers and subscribers.

use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::watch;

use crate::dispatcher::Dispatcher;
use crate::document::Document;
use crate::events::subscription::Subscription;
use crate::status::Error;

/// The cached state of one watched path, shared between its task, readers and subscribers.
pub struct Entry {
    /// The watched path.
    pub path: Arc<str>,
    /// The session generation on which the path was last read in full (and is watched since),
    /// and when (Unix ms).
    synced: Mutex<Option<(u64, i64)>>,
    /// When the document came from the cache file: when it was saved there (Unix ms).
    cached_since: Mutex<Option<i64>>,
    /// Why the path cannot be read now (its ACL, say), while it cannot.
    failure: Mutex<Option<Error>>,
    state: Mutex<EntryState>,
    ready: watch::Sender<bool>,
    /// A live document held back (see `hold`), with its hold's number.
    held: Mutex<Option<(Arc<Document>, u64)>>,
    /// What shrinks are measured against (see `hold`), and since when.
    baseline: Mutex<Option<(Arc<Document>, std::time::Instant)>>,
    holds_made: std::sync::atomic::AtomicU64,
}

struct EntryState {
    doc: Option<Arc<Document>>,
    subs: Vec<Arc<Subscription>>,
}

impl Entry {
    /// A new entry with no document yet.
    pub fn new(path: &str) -> Arc<Entry> {
        Arc::new(Entry {
            path: path.into(),
            synced: Mutex::new(None),
            cached_since: Mutex::new(None),
            failure: Mutex::new(None),
            state: Mutex::new(EntryState {
                doc: None,
                subs: Vec::new(),
            }),
            ready: watch::channel(false).0,
            held: Mutex::new(None),
            baseline: Mutex::new(None),
            holds_made: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// The current document, if the first read has completed.
    pub fn current(&self) -> Option<Arc<Document>> {
        self.state.lock().doc.clone()
    }

    /// Starts the entry with a document from the cache file, saved at `saved_ms`.
    pub fn preload(&self, doc_json: String, saved_ms: i64) {
        *self.cached_since.lock() = Some(saved_ms);
        let mut shared = self.state.lock();
        if shared.doc.is_none() {
            shared.doc = Document::from_json(&doc_json).map(Arc::new);
            drop(shared);
            self.ready.send_replace(true);
        }
    }

    /// Starts the entry with a document inherited from the parent process (fork), known as of
    /// `since`; like a cache file's, it is last-known until the first read of this process.
    pub fn inherit(&self, doc: Arc<Document>, since: i64) {
        *self.cached_since.lock() = Some(since);
        if let Some(old) = self.state.lock().doc.replace(doc) {
            old.supersede();
        }
        self.ready.send_replace(true);
    }

    /// The subscribers now.
    pub fn subscribers(&self) -> Vec<Arc<Subscription>> {
        self.state.lock().subs.clone()
    }

    /// When the document came from the cache file, when it was saved there.
    pub fn cached_since(&self) -> Option<i64> {
        *self.cached_since.lock()
    }

    /// The generation and time of the last full read, if any.
    pub fn synced(&self) -> Option<(u64, i64)> {
        *self.synced.lock()
    }

    /// Why the path cannot be read now, if it cannot.
    pub fn failure(&self) -> Option<Error> {
        self.failure.lock().clone()
    }

    /// The path was read in full on the session of generation `gen`, and is watched since: its
    /// document is live.
    pub(super) fn mark_synced(&self, gen: u64) {
        *self.failure.lock() = None;
        *self.synced.lock() = Some((gen, crate::session::now_ms()));
    }

    /// The path cannot be read: its document (if any) is last-known until it can be again.
    pub(super) fn fail(&self, e: Error) {
        *self.synced.lock() = None;
        *self.failure.lock() = Some(e);
        self.ready.send_replace(true);
    }

    /// Waits until the document satisfies `ready` (each new document is looked at), or the
    /// path is found unreadable.
    pub async fn wait_until(&self, ready: impl Fn(&Document) -> bool) -> Result<(), Error> {
        let mut rx = self.ready.subscribe();
        loop {
            rx.borrow_and_update();
            if self.current().is_some_and(|d| ready(&d)) {
                return Ok(());
            }
            if let Some(e) = self.failure() {
                return Err(e);
            }
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// Waits until the first document exists, or the path is found unreadable.
    pub async fn wait_ready(&self) -> Result<Arc<Document>, Error> {
        let mut rx = self.ready.subscribe();
        loop {
            if let Some(doc) = self.current() {
                return Ok(doc);
            }
            if let Some(e) = self.failure() {
                return Err(e);
            }
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// Holds `doc` back instead of publishing it: the number of a new hold, or None when one is
    /// on already (`doc` replaces its document).
    pub(super) fn hold(&self, doc: Arc<Document>) -> Option<u64> {
        let mut held = self.held.lock();
        if let Some((d, _)) = held.as_mut() {
            *d = doc;
            return None;
        }
        let n = self
            .holds_made
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        *held = Some((doc, n));
        Some(n)
    }

    /// The document held by hold `n`, if that hold is still on (it ends here).
    pub(super) fn take_held(&self, n: u64) -> Option<Arc<Document>> {
        let mut held = self.held.lock();
        match held.as_ref() {
            Some((_, m)) if *m == n => held.take().map(|(d, _)| d),
            _ => None,
        }
    }

    /// The document shrinks are measured against: the one published when the current window
    /// of `lasting` began (a window begins with a removal from the published list).
    pub(super) fn baseline(
        &self,
        new: &Document,
        lasting: std::time::Duration,
    ) -> Option<Arc<Document>> {
        let current = self.current()?;
        let mut baseline = self.baseline.lock();
        let now = std::time::Instant::now();
        let open = baseline
            .as_ref()
            .is_some_and(|(_, since)| now.duration_since(*since) < lasting);
        if !open {
            let removes = (0..current.count())
                .any(|i| current.name_str(i).is_some_and(|n| new.find(n).is_none()));
            *baseline = removes.then(|| (current.clone(), now));
        }
        Some(baseline.as_ref().map_or(current, |(d, _)| d.clone()))
    }

    /// Ends a hold, if one is on.
    pub(super) fn end_hold(&self) -> bool {
        self.held.lock().take().is_some()
    }

    /// Whether a shrink of the list is being held back.
    pub fn is_held(&self) -> bool {
        self.held.lock().is_some()
    }

    /// Replaces the document and queues it for every subscriber, unless it is unchanged.
    pub(super) fn publish(&self, doc: Arc<Document>, dispatcher: &Dispatcher) {
        let mut shared = self.state.lock();
        if matches!(&shared.doc, Some(old) if old.json() == doc.json()) {
            return;
        }
        if let Some(old) = shared.doc.replace(doc.clone()) {
            old.supersede();
        }
        for sub in &shared.subs {
            sub.deliver_document(dispatcher, &self.path, &doc);
        }
        drop(shared);
        self.ready.send_replace(true);
    }

    /// Adds a subscriber and queues the current document for it, if there is one.
    pub fn subscribe(&self, sub: Arc<Subscription>, dispatcher: &Dispatcher) {
        let mut shared = self.state.lock();
        if let Some(doc) = &shared.doc {
            sub.deliver_document(dispatcher, &self.path, doc);
        }
        shared.subs.push(sub);
    }

    /// Removes a subscriber.
    pub fn unsubscribe(&self, id: u64) -> Option<Arc<Subscription>> {
        let mut shared = self.state.lock();
        let i = shared.subs.iter().position(|s| s.id == id)?;
        Some(shared.subs.remove(i))
    }

    /// The subscriber `id`, if it is one of this entry's.
    pub fn subscriber(&self, id: u64) -> Option<Arc<Subscription>> {
        self.state.lock().subs.iter().find(|s| s.id == id).cloned()
    }

    /// Removes every subscriber (on close).
    pub fn take_subscribers(&self) -> Vec<Arc<Subscription>> {
        std::mem::take(&mut self.state.lock().subs)
    }
}
