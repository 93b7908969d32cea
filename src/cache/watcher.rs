//! The watch cache: for each watched path, a task that keeps `{stat, data, children{name: data}}`
//! current with one-shot watches and publishes a new immutable document after each change.
//!
//! Cost of a change after the first read: the node's data changed -> one getData; the children
//! changed -> one getChildren plus one getData per child that is new; a child's data changed ->
//! one getData for that child; a child removed -> nothing beyond the getChildren. Each child in
//! the document has its own data watch.

use std::collections::BTreeMap;

use compact_str::CompactString;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

use futures_util::stream::{FuturesUnordered, StreamExt};
use zookeeper_client::{EventType, OneshotWatcher, Stat, WatchedEvent};

use super::children::{decoded_json, render, ChildJson};
use super::entry::Entry;
use super::persistent::{self, Persistence};
use crate::backoff::Backoff;
use crate::document::Document;
use crate::path;
use crate::session::Session;
use crate::shared::Shared;
use crate::status::{is_connection_error, Error, Status};
use crate::zk::Zk;

/// Which watch fired; each armed watch has a unique id so that events of superseded watches
/// (a node deleted and re-created, a session replaced) are recognised and ignored.
#[derive(Clone)]
enum Source {
    Node(u64),
    Children(u64),
    Child(CompactString, u64),
}

/// The path's own data or children watch, awaited in a `FuturesUnordered`. (Children's watches
/// are kept in the children themselves, see `Local::poll_children`.)
struct Armed {
    source: Source,
    watcher: OneshotWatcher,
}

impl Future for Armed {
    type Output = (Source, WatchedEvent);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let event = Pin::new(&mut self.watcher).poll(cx);
        event.map(|e| (self.source.clone(), e))
    }
}

type Pending = FuturesUnordered<Armed>;

struct Child {
    json: ChildJson,
    /// The id of the child's live data (or, unreadable, exists) watch; 0 when it has none
    /// (deleted, waiting for the list).
    watch: u64,
    /// The data watch itself, until it fires. Kept here rather than in a future of its own:
    /// a cache holds one per child, and a task per watch cost 300 bytes a child (M1 in bench/).
    watcher: Option<OneshotWatcher>,
}

#[derive(Default)]
struct Local {
    /// The last document made, which children's values point into.
    doc: Option<Arc<Document>>,
    stat: Option<Stat>,
    data: String,
    /// By name. A name of up to 24 bytes (most are) is kept inline, without an allocation.
    children: BTreeMap<CompactString, Child>,
    node_watch: u64,
    children_watch: u64,
    next_id: u64,
}

impl Local {
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Makes the document of the current state, and keeps it: children's values then point
    /// into it.
    fn render(&mut self, path: &str) -> Arc<Document> {
        let prev = self.doc.take();
        let children = self.children.iter_mut().map(|(k, c)| (k, &mut c.json));
        let doc = render(
            path,
            prev.as_deref(),
            self.stat.as_ref(),
            &self.data,
            children.collect(),
        );
        self.doc = Some(doc.clone());
        doc
    }

    /// Polls every child's data watch; the first that fired, if any. A scan per wake-up of the
    /// task: a few ns per child, and no allocation per child.
    fn poll_children(&mut self, cx: &mut Context<'_>) -> Poll<(Source, WatchedEvent)> {
        for (name, c) in self.children.iter_mut() {
            if let Some(w) = c.watcher.as_mut() {
                if let Poll::Ready(e) = Pin::new(w).poll(cx) {
                    c.watcher = None;
                    return Poll::Ready((Source::Child(name.clone(), c.watch), e));
                }
            }
        }
        Poll::Pending
    }

    fn set_missing(&mut self) {
        self.stat = None;
        self.data = "null".into();
        self.children.clear();
        self.children_watch = 0;
    }
}

fn arm(pending: &Pending, source: Source, watcher: OneshotWatcher) {
    pending.push(Armed { source, watcher });
}

type ZkResult<T> = Result<T, zookeeper_client::Error>;

// How many child reads are in flight at once during a full read.
const CHILD_READ_BATCH: usize = 1000;

struct Watcher<'a> {
    zk: Zk<'a>,
    path: &'a str,
    /// Names the handle in log lines.
    tag: String,
    local: Local,
    pending: Pending,
}

impl Watcher<'_> {
    /// Reads the node, its children list and every child's data, arming all watches. A missing
    /// node gets an exists watch instead.
    async fn full_read(&mut self) -> ZkResult<()> {
        self.pending = Pending::new();
        self.local = Local {
            next_id: self.local.next_id,
            ..Local::default()
        };
        loop {
            let data = self.zk.get_and_watch_data(self.path);
            let children = self.zk.get_and_watch_children(self.path);
            let (data, children) = tokio::join!(data, children);
            match (data, children) {
                (Ok((raw, stat, dw)), Ok((names, cstat, cw))) => {
                    // The children reply was issued second, so its stat is the newer one.
                    let _ = stat;
                    self.local.stat = Some(cstat);
                    self.local.data = decoded_json(&raw);
                    let id = self.local.id();
                    self.local.node_watch = id;
                    arm(&self.pending, Source::Node(id), dw);
                    let id = self.local.id();
                    self.local.children_watch = id;
                    arm(&self.pending, Source::Children(id), cw);
                    return self.read_children(names).await;
                }
                (Err(zookeeper_client::Error::NoNode), _)
                | (_, Err(zookeeper_client::Error::NoNode)) => {
                    if self.watch_missing().await? {
                        return Ok(());
                    }
                    // Created in between: read again.
                    self.pending = Pending::new();
                }
                (Err(e), _) | (_, Err(e)) => return Err(e),
            }
        }
    }

    /// The next watch event: of the path itself or of one of its children. None when nothing
    /// is watched any more.
    async fn next_event(&mut self) -> Option<(Source, WatchedEvent)> {
        std::future::poll_fn(|cx| {
            let own = match self.pending.poll_next_unpin(cx) {
                Poll::Ready(Some(e)) => return Poll::Ready(Some(e)),
                Poll::Ready(None) => false,
                Poll::Pending => true,
            };
            match self.local.poll_children(cx) {
                Poll::Ready(e) => Poll::Ready(Some(e)),
                Poll::Pending
                    if own || self.local.children.values().any(|c| c.watcher.is_some()) =>
                {
                    Poll::Pending
                }
                Poll::Pending => Poll::Ready(None),
            }
        })
        .await
    }

    /// Sets an exists watch on a missing node. False when the node exists after all.
    async fn watch_missing(&mut self) -> ZkResult<bool> {
        let (stat, watcher) = self.zk.check_and_watch_stat(self.path).await?;
        if stat.is_some() {
            return Ok(false);
        }
        self.local.set_missing();
        let id = self.local.id();
        self.local.node_watch = id;
        arm(&self.pending, Source::Node(id), watcher);
        Ok(true)
    }

    /// Reads (with a data watch) every listed child that has no live watch, drops the children
    /// that are no longer listed.
    async fn read_children(&mut self, names: Vec<String>) -> ZkResult<()> {
        let listed: std::collections::HashSet<&str> = names.iter().map(String::as_str).collect();
        self.local
            .children
            .retain(|name, _| listed.contains(name.as_str()));
        let to_read: Vec<String> = names
            .iter()
            .filter(|n| {
                self.local
                    .children
                    .get(n.as_str())
                    .is_none_or(|c| c.watch == 0)
            })
            .cloned()
            .collect();
        let mut read = Vec::with_capacity(to_read.len());
        let mut unreadable = Vec::new();
        for batch in to_read.chunks(CHILD_READ_BATCH) {
            let paths: Vec<String> = batch.iter().map(|n| path::join(self.path, n)).collect();
            let futures: Vec<_> = paths
                .iter()
                .map(|p| self.zk.get_and_watch_data(p))
                .collect();
            let results = futures_util::future::join_all(futures).await;
            for (name, result) in batch.iter().zip(results) {
                match result {
                    Ok((raw, _, w)) => {
                        let id = self.local.id();
                        let json = ChildJson::Own(decoded_json(&raw).into());
                        let watcher = Some(w);
                        let name = CompactString::from(name.as_str());
                        read.push((
                            name,
                            Child {
                                json,
                                watch: id,
                                watcher,
                            },
                        ));
                    }
                    // Deleted since the list was read; the children watch will report it.
                    Err(zookeeper_client::Error::NoNode) => {
                        self.local.children.remove(name.as_str());
                    }
                    Err(zookeeper_client::Error::NoAuth) => unreadable.push(name.clone()),
                    Err(e) => return Err(e),
                }
            }
        }
        // Built in one go (sorted, nodes filled), not inserted one by one: a tree grown by
        // inserts keeps its nodes about two thirds full, 45 bytes more per child (M1 in bench/).
        let mut read: BTreeMap<CompactString, Child> = read.into_iter().collect();
        self.local.children.append(&mut read);
        for name in unreadable {
            self.watch_unreadable(&name).await?;
        }
        Ok(())
    }

    /// A child this handle may not read (its ACL): left out of the document and logged, and
    /// watched with an exists watch (which needs no permission) to be read again when it
    /// changes. Keeps one bad child from stopping the rest of the list.
    async fn watch_unreadable(&mut self, name: &str) -> ZkResult<()> {
        let child_path = path::join(self.path, name);
        let was = self
            .local
            .children
            .get(name)
            .map(|c| matches!(c.json, ChildJson::Unreadable));
        match self.zk.check_and_watch_stat(&child_path).await {
            Ok((Some(_), w)) => {
                if was != Some(true) {
                    log::warn!(
                        "{} {child_path}: not readable by this handle (its ACL gives no READ); left out of {}'s document",
                        self.tag,
                        self.path
                    );
                }
                let id = self.local.id();
                let child = Child {
                    json: ChildJson::Unreadable,
                    watch: id,
                    watcher: Some(w),
                };
                self.local.children.insert(name.into(), child);
            }
            // Gone already: the list watch reports it.
            Ok((None, _)) => {
                self.local.children.remove(name);
            }
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// Handles one watch event; true when the document may have changed.
    async fn handle(&mut self, source: Source, event: WatchedEvent) -> ZkResult<bool> {
        self.zk.counters.note_event();
        let kind = event.event_type;
        match source {
            Source::Node(id) if id == self.local.node_watch => self.node_changed(kind).await,
            Source::Children(id) if id == self.local.children_watch => match kind {
                EventType::NodeChildrenChanged => self.children_changed().await,
                _ => Ok(false),
            },
            Source::Child(name, id)
                if self.local.children.get(&name).map(|c| c.watch) == Some(id) =>
            {
                match kind {
                    EventType::NodeDataChanged => self.child_changed(&name).await,
                    // The parent's children watch reports the removal.
                    _ => {
                        self.child_unwatched(&name);
                        Ok(false)
                    }
                }
            }
            // A superseded watch.
            _ => Ok(false),
        }
    }

    /// The path's own node changed, was deleted or created.
    async fn node_changed(&mut self, kind: EventType) -> ZkResult<bool> {
        match kind {
            EventType::NodeDataChanged => match self.zk.get_and_watch_data(self.path).await {
                Ok((raw, stat, w)) => {
                    self.local.data = decoded_json(&raw);
                    self.local.stat = Some(stat);
                    let id = self.local.id();
                    self.local.node_watch = id;
                    arm(&self.pending, Source::Node(id), w);
                    Ok(true)
                }
                Err(zookeeper_client::Error::NoNode) => self.node_deleted().await,
                Err(e) => Err(e),
            },
            EventType::NodeDeleted => self.node_deleted().await,
            EventType::NodeCreated => self.full_read().await.map(|_| true),
            _ => Ok(false),
        }
    }

    /// The list of children changed: read it, and the children that are new.
    async fn children_changed(&mut self) -> ZkResult<bool> {
        match self.zk.get_and_watch_children(self.path).await {
            Ok((names, stat, w)) => {
                self.local.stat = Some(stat);
                let id = self.local.id();
                self.local.children_watch = id;
                arm(&self.pending, Source::Children(id), w);
                self.read_children(names).await.map(|_| true)
            }
            // The node is gone; its data watch reports that.
            Err(zookeeper_client::Error::NoNode) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// A child's data changed: read it again (it may have become readable, or unreadable).
    async fn child_changed(&mut self, name: &CompactString) -> ZkResult<bool> {
        let child_path = path::join(self.path, name);
        match self.zk.get_and_watch_data(&child_path).await {
            Ok((raw, _, w)) => {
                let id = self.local.id();
                let child = Child {
                    json: ChildJson::Own(decoded_json(&raw).into()),
                    watch: id,
                    watcher: Some(w),
                };
                self.local.children.insert(name.clone(), child);
                Ok(true)
            }
            Err(zookeeper_client::Error::NoNode) => {
                self.child_unwatched(name);
                Ok(false)
            }
            Err(zookeeper_client::Error::NoAuth) => {
                let was_readable = self
                    .local
                    .children
                    .get(name)
                    .is_some_and(|c| !matches!(c.json, ChildJson::Unreadable));
                self.watch_unreadable(name).await?;
                Ok(was_readable)
            }
            Err(e) => Err(e),
        }
    }

    fn child_unwatched(&mut self, name: &str) {
        if let Some(c) = self.local.children.get_mut(name) {
            c.watch = 0;
            c.watcher = None;
        }
    }

    async fn node_deleted(&mut self) -> ZkResult<bool> {
        if self.watch_missing().await? {
            Ok(true)
        } else {
            self.full_read().await.map(|_| true)
        }
    }
}

/// Keeps `entry` current until the session is closed.
pub async fn run(
    entry: Arc<Entry>,
    shared: Arc<Shared>,
    cache: Option<Arc<super::file::CacheFile>>,
    persistence: Arc<Persistence>,
    holds: Arc<super::hold::Holds>,
    watched_paths: Arc<AtomicUsize>,
) {
    let session = &shared.session;
    // Every live document goes to the subscribers and, if there is one, to the cache file.
    let publish =
        |doc: Arc<Document>| super::hold::offer(&holds, &entry, doc, &shared, cache.as_ref());
    let mut next_id = 0;
    // Paces the re-reads after failures on one session (ZooKeeper throttling, an unreadable
    // path); a new session starts it over.
    let mut backoff = Backoff::default();
    let mut last_generation = 0;
    while let Some(generation) = session.wait_connected().await {
        if generation.id != last_generation {
            backoff.reset();
            last_generation = generation.id;
        }
        // Read before, on a session that expired: the whole fleet may be coming back at once.
        let after_expiry = entry.synced().is_some_and(|(gen, _)| gen != generation.id);
        if after_expiry {
            settle_after_expiry(&shared, watched_paths.load(Ordering::Relaxed)).await;
        }
        let mut w = Watcher {
            zk: Zk::new(&generation.client, &shared.counters),
            path: &entry.path,
            tag: session.tag(),
            local: Local {
                next_id,
                ..Local::default()
            },
            pending: Pending::new(),
        };
        let gather = after_expiry.then(|| Instant::now() + GATHER_AFTER_EXPIRY);
        let result =
            follow_either(&mut w, &entry, &generation, &publish, &persistence, gather).await;
        next_id = w.local.next_id;
        if let Err(e) = result {
            handle_failure(&w, &entry, session, e).await;
        }
        // A session that expired is replaced by the supervisor; wait_connected returns the new one.
        if generation_dead(session, generation.id) {
            continue;
        }
        // Same session, lost a read: wait for the state to settle, or the server's throttle to
        // empty, before re-reading (at a growing pace if it fails again).
        backoff.pause().await;
    }
}

/// After a session expiry, every handle of a fleet makes its registrations again and re-reads
/// what it watches at the same moment. The re-read waits until this handle's registrations are
/// made again (at most 1 s: it finds its own nodes in place), then a random part of a spread
/// that grows with the paths it watches (2 s, plus 5 ms a path, at most 3 s), so that the
/// fleet's registrations land before its reads: they are in the first read, not events that
/// each cost another.
async fn settle_after_expiry(shared: &Shared, paths: usize) {
    shared.session.restoring.wait(Duration::from_secs(1)).await;
    let spread = (Duration::from_millis(2000) + Duration::from_millis(5) * paths as u32)
        .min(Duration::from_secs(3));
    tokio::time::sleep(spread.mul_f64(fastrand::f64())).await;
}

/// How long after the re-read that follows an expiry changes are gathered (see
/// `persistent::follow`).
const GATHER_AFTER_EXPIRY: Duration = Duration::from_secs(10);

/// Follows the path with a persistent recursive watch if the handle uses them and the server
/// takes it, else with one-shot watches. Until `gather`, changes are read in gathered batches.
async fn follow_either(
    w: &mut Watcher<'_>,
    entry: &Entry,
    generation: &crate::session::Generation,
    publish: &impl Fn(Arc<Document>),
    persistence: &Persistence,
    gather: Option<Instant>,
) -> ZkResult<()> {
    if persistence.is_on() {
        match persistent::Follower::watch(w.zk, w.path, generation.id, persistence).await {
            Ok(f) => return persistent::follow(f, entry, generation, publish, gather).await,
            Err(e) if persistence.refused(&e, &w.tag) => {}
            Err(e) => return Err(e),
        }
    }
    follow(w, entry, generation, publish).await
}

/// Reads the path in full and follows its changes until the session ends (`Ok`) or a read
/// fails.
async fn follow(
    w: &mut Watcher<'_>,
    entry: &Entry,
    generation: &crate::session::Generation,
    publish: &impl Fn(Arc<Document>),
) -> ZkResult<()> {
    w.full_read().await?;
    // Marked before publishing: whoever sees the document sees it as live.
    entry.mark_synced(generation.id);
    publish(w.local.render(&entry.path));
    while let Some((source, event)) = w.next_event().await {
        if event.event_type == EventType::Session {
            if event.session_state.is_terminated() {
                break;
            }
            continue;
        }
        if w.handle(source, event).await? {
            publish(w.local.render(&entry.path));
        }
    }
    Ok(())
}

/// After a failed read: connection trouble is waited out by the caller; anything else makes
/// the document last-known (never a frozen document called live) and is reported. A path this
/// handle may not read is read again when it changes (an exists watch needs no permission);
/// other errors after the session timeout (not in a loop).
async fn handle_failure(
    w: &Watcher<'_>,
    entry: &Entry,
    session: &Session,
    e: zookeeper_client::Error,
) {
    let path = &entry.path;
    if is_connection_error(&e) {
        log::debug!("{} watch on {path}: {e}; re-reading once connected", w.tag);
        return;
    }
    let error = match e {
        zookeeper_client::Error::NoAuth => Error::new(
            Status::NoAuth,
            format!("{path}: not readable by this handle (its ACL gives no READ)"),
        ),
        e => Error::from_zk(&e, path),
    };
    if entry.failure().as_ref() != Some(&error) {
        log::warn!(
            "{} watch on {path}: {error}; read again when it changes",
            w.tag
        );
    }
    entry.fail(error);
    let mut generations = session.subscribe_current();
    let changed = async {
        match w.zk.check_and_watch_stat(path).await {
            Ok((_, watcher)) => {
                watcher.changed().await;
            }
            Err(_) => tokio::time::sleep(session.timeout()).await,
        }
    };
    tokio::select! {
        _ = changed => {}
        _ = generations.changed() => {}
    }
}

fn generation_dead(session: &Session, id: u64) -> bool {
    session.current().is_none_or(|g| g.id != id)
}
