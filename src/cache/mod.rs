//! The watch cache: one entry per path a handle reads or subscribes to, each kept current by a
//! task of its own (`watcher`) and served without touching the network; the cache file of last
//! known documents (`file`); the JSON document (`document`).
//!
//! Reads are wait-free with respect to network activity: a read of a known path is a copy of
//! the current pre-serialised document. The first read of a path waits (within the timeout)
//! for the path's first full read.

mod children;
mod entry;
pub(crate) mod file;
pub mod hold;
mod persistent;
mod resync;
mod watcher;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use rustc_hash::FxHashMap;

pub(crate) use self::entry::Entry;
use self::file::CacheFile;
use self::hold::{HoldPolicy, Holds};
use self::persistent::Persistence;
pub(crate) use crate::document::Document;
use crate::events::subscription::Subscription;
use crate::session::{now_ms, State};
use crate::shared::Shared;
use crate::status::Applied;
use crate::status::{Error, Result, Status};

/// The watched paths of a handle.
pub struct WatchCache {
    shared: Arc<Shared>,
    /// The cache file, if the `cachefile` option is set.
    file: Option<Arc<CacheFile>>,
    /// By path; a fast hash, since the keys come from the caller, not the network.
    entries: Mutex<FxHashMap<String, Arc<Entry>>>,
    /// Whether paths are followed with persistent watches.
    persistence: Arc<Persistence>,
    holds: Arc<Holds>,
    /// How many paths are watched (what the re-read after an expiry is spread over).
    watched_paths: Arc<AtomicUsize>,
}

/// A watched path as a forked child takes it over: its last document and since when it was
/// known, and its subscriptions with what each was given last.
pub(crate) struct CarriedEntry {
    pub path: String,
    pub doc: Option<Arc<Document>>,
    pub since: i64,
    pub subs: Vec<(Arc<Subscription>, crate::events::subscription::Delivered)>,
}

impl WatchCache {
    /// An empty cache, with a cache file if there is one, following paths with persistent
    /// watches if `persistent` (and the server has them).
    pub fn new(
        shared: Arc<Shared>,
        file: Option<Arc<CacheFile>>,
        persistent: bool,
        hold: Option<HoldPolicy>,
    ) -> WatchCache {
        WatchCache {
            shared,
            file,
            entries: Mutex::default(),
            persistence: Arc::new(Persistence::new(persistent)),
            holds: Arc::new(Holds::new(hold)),
            watched_paths: Arc::default(),
        }
    }

    /// The watched paths, the children in their documents, and the age (ms at `now`) of the
    /// oldest last-known document (0 when every one is live). Never touches the network.
    pub fn summary(&self, now: i64) -> (usize, usize, i64) {
        let entries: Vec<Arc<Entry>> = self.entries.lock().values().cloned().collect();
        let nodes = entries
            .iter()
            .filter_map(|e| e.current())
            .map(|d| d.count())
            .sum();
        let oldest = entries
            .iter()
            .filter_map(|e| self.freshness_of(e))
            .filter(|(live, _)| !live)
            .map(|(_, since)| (now - since).max(0))
            .max()
            .unwrap_or(0);
        (entries.len(), nodes, oldest)
    }

    /// How many times an update was held back (see `hold`).
    pub fn held_updates(&self) -> u64 {
        self.holds.held()
    }

    /// Whether a shrink of the list of `p` is being held back now.
    pub fn is_held(&self, p: &str) -> bool {
        let entry = self.entries.lock().get(p).cloned();
        entry.is_some_and(|e| e.is_held())
    }

    /// The entry of `p`, made (and its task started) at its first use. Without a connection it
    /// starts from the cache file's document, if the file has one.
    fn entry(&self, p: &str) -> Arc<Entry> {
        let mut entries = self.entries.lock();
        if let Some(e) = entries.get(p) {
            return e.clone();
        }
        let entry = Entry::new(p);
        if let Some(file) = self.file.as_ref().filter(|_| !self.connected()) {
            if let Some(cached) = file.lookup(p) {
                log::info!(
                    "{} {p}: no connection; serving the cache file's document of {} ms ago",
                    self.shared.session.tag(),
                    now_ms() - cached.saved_ms
                );
                entry.preload(cached.json, cached.saved_ms);
            }
        }
        entries.insert(p.to_string(), entry.clone());
        self.watched_paths.store(entries.len(), Ordering::Relaxed);
        drop(entries);
        self.start(&entry);
        entry
    }

    /// Starts the task that keeps `entry` current.
    fn start(&self, entry: &Arc<Entry>) {
        let task = watcher::run(
            entry.clone(),
            self.shared.clone(),
            self.file.clone(),
            self.persistence.clone(),
            self.holds.clone(),
            self.watched_paths.clone(),
        );
        self.shared.tasks.spawn(task);
    }

    fn connected(&self) -> bool {
        self.shared.session.state().is_connected()
    }

    /// Why there is no document to give.
    fn no_document(&self) -> Error {
        if self.shared.session.state() == State::AuthFailed {
            return Error::new(
                Status::AuthFailed,
                "ZooKeeper rejected the authentication; no session",
            );
        }
        if self.connected() {
            Error::new(Status::Timeout, "timed out reading from ZooKeeper")
        } else {
            Error::new(
                Status::NoConnection,
                "no connection to ZooKeeper and nothing cached for this path",
            )
        }
    }

    /// The document of `p` if the cache has it now (for readers on a hot path: no entry made,
    /// nothing waited for).
    pub fn cached(&self, p: &str) -> Option<Arc<Document>> {
        self.entries.lock().get(p)?.current()
    }

    /// The document of `p`: from the cache at once when it is known, else after its first read
    /// (within the timeout). Nothing known and the path unreadable, or no session to come
    /// (rejected authentication): the error at once.
    pub fn document(&self, p: &str) -> Result<Arc<Document>> {
        let entry = self.entry(p);
        if let Some(doc) = entry.current() {
            return Ok(doc);
        }
        if let Some(e) = entry.failure() {
            return Err(e);
        }
        if self.shared.session.state() == State::AuthFailed {
            return Err(self.no_document());
        }
        self.shared
            .bounded(entry.wait_ready(), || Err(self.no_document()))
    }

    /// Waits up to `timeout` until the document of `p` satisfies `ready`, reading and watching
    /// `p` first if need be. `NDSR_E_TIMEOUT` when the time runs out first.
    pub fn wait_for(
        &self,
        p: &str,
        timeout: std::time::Duration,
        ready: impl Fn(&Document) -> bool + Send,
    ) -> Result<()> {
        let entry = self.entry(p);
        crate::runtime::block_on(async {
            tokio::select! {
                r = tokio::time::timeout(timeout, entry.wait_until(ready)) => r.unwrap_or_else(|_| {
                    Err(Error::new(
                        Status::Timeout,
                        format!("{p}: not ready within {} ms", timeout.as_millis()),
                    ))
                }),
                _ = self.shared.closing() => Err(Error::closed()),
            }
        })
    }

    /// Whether the cached document of `p` is live (the session is connected and the path is
    /// read and watched on it) or last-known, and since when (Unix ms). `NDSR_E_NOT_FOUND` when
    /// nothing is known about `p` yet. Never touches the network.
    pub fn freshness(&self, p: &str) -> Result<(bool, i64)> {
        let entry = self.entries.lock().get(p).cloned();
        entry
            .and_then(|e| self.freshness_of(&e))
            .ok_or_else(|| Error::new(Status::NotFound, format!("{p}: nothing known (never read)")))
    }

    /// [`WatchCache::freshness`] of an entry; None when it has no document yet.
    fn freshness_of(&self, entry: &Entry) -> Option<(bool, i64)> {
        entry.current()?;
        let session = &self.shared.session;
        let connected = self.connected();
        let gen = session.current().map(|g| g.id);
        Some(match entry.synced() {
            Some((g, at)) if connected && Some(g) == gen => (true, at.max(session.state_since())),
            // Never read live: the cache file's document, as of when it was saved.
            None if entry.cached_since().is_some() => (false, entry.cached_since().unwrap_or(0)),
            // Disconnected: last-known since the connection dropped.
            _ if !connected => (false, session.state_since()),
            // A new session whose first read of the path is still on its way.
            _ => (false, session.generation_since()),
        })
    }

    /// Adds `sub` to the subscribers of `p` (it is given the current document, if there is
    /// one, then every change). Waits (within the timeout) for the first document if none is
    /// known: `Done` when the first call is on its way, `Queued` when it comes with the first
    /// read. The subscription stands either way.
    pub fn subscribe(&self, p: &str, sub: Arc<Subscription>) -> Result<Applied> {
        let entry = self.entry(p);
        let id = sub.id;
        entry.subscribe(sub, &self.shared.dispatcher);
        if self.shared.is_closed() {
            // Close may have collected the subscribers before this one was added.
            if let Some(sub) = entry.unsubscribe(id) {
                sub.retire(&self.shared.dispatcher);
            }
            return Err(Error::closed());
        }
        if entry.current().is_none() {
            // Whatever the wait gives (the callback may even have closed the handle already).
            let _ = self.shared.bounded(async { entry.wait_ready().await }, || {
                Err(self.no_document())
            });
        }
        Ok(match entry.current() {
            Some(_) => Applied::Done,
            None => Applied::Queued,
        })
    }

    /// Removes the document subscription `id`, if it is one of this cache's.
    pub fn unsubscribe(&self, id: u64) -> Option<Arc<Subscription>> {
        let entries: Vec<Arc<Entry>> = self.entries.lock().values().cloned().collect();
        entries.iter().find_map(|e| e.unsubscribe(id))
    }

    /// The document subscription `id`, if there is one.
    pub fn subscriber(&self, id: u64) -> Option<Arc<Subscription>> {
        let entries: Vec<Arc<Entry>> = self.entries.lock().values().cloned().collect();
        entries.iter().find_map(|e| e.subscriber(id))
    }

    /// Removes every subscriber (on close).
    pub fn take_subscribers(&self) -> Vec<Arc<Subscription>> {
        let entries = self.entries.lock();
        entries
            .values()
            .flat_map(|e| e.take_subscribers())
            .collect()
    }

    /// Waits until the cache file holds every document published so far.
    pub fn flush(&self) {
        if let Some(f) = &self.file {
            f.flush();
        }
    }

    /// The cache file, if there is one.
    pub fn file(&self) -> Option<Arc<CacheFile>> {
        self.file.clone()
    }

    /// What a forked child takes over: every entry's document, known `since`, and its
    /// subscriptions.
    pub(crate) fn carry(&self, since: i64) -> Vec<CarriedEntry> {
        let entries = self.entries.lock();
        entries
            .iter()
            .map(|(path, e)| CarriedEntry {
                path: path.clone(),
                doc: e.current(),
                since,
                subs: e
                    .subscribers()
                    .into_iter()
                    .map(|s| {
                        let last = s.last_delivered();
                        (s, last)
                    })
                    .collect(),
            })
            .collect()
    }

    /// In a forked child: takes over the parent's entries (their documents last-known until read
    /// again) and subscriptions (the child's own copies).
    pub(crate) fn inherit(&self, carried: &[CarriedEntry]) {
        for c in carried {
            let entry = Entry::new(&c.path);
            if let Some(doc) = &c.doc {
                entry.inherit(doc.clone(), c.since);
            }
            self.entries.lock().insert(c.path.clone(), entry.clone());
            self.start(&entry);
            for (sub, last) in &c.subs {
                entry.subscribe(sub.for_child(last.clone()), &self.shared.dispatcher);
            }
        }
    }
}
