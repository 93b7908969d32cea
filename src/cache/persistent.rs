//! The persistent engine: one persistent recursive watch per watched path (ZooKeeper 3.6+), no
//! watch per child.
//!
//! Cost of a change: a child added or its data changed -> one getData of the child; a child
//! removed -> nothing; the node's own data changed -> one getData. Nothing to re-arm. The node's
//! stat follows its children without a read: numChildren and cversion exactly, pzxid from the
//! created child's czxid or the removal event's zxid (ZooKeeper 3.9+; before 3.9 a removal
//! event has no zxid, and pzxid stays as last read until the list is read again).
//!
//! After a reconnect of the same session ZooKeeper re-adds the recursive watch without telling
//! what changed meanwhile (ZOOKEEPER-4698). The resync asks it exactly, in one SetWatches2 probe
//! per handle (see `resync`) relative to the zxid the connection resumed from: an event for each
//! known child changed or deleted since, for the node's data, for its list (then one
//! getChildren); then one read per child that changed.
//! After a session expiry everything is read again, in pipelined batches, and published once.
//!
//! On 3.6-3.8 a connection keeps one watch mode per path (ZOOKEEPER-4466): no one-shot watch is
//! ever set on the watched path itself here (reads are plain), or the recursive watch would be
//! downgraded.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use compact_str::CompactString;
use futures_util::FutureExt;
use zookeeper_client::{EventType, PersistentWatcher, SessionState, Stat, WatchedEvent};

use super::children::{decoded_json, render, ChildJson};
use super::entry::Entry;
use super::resync::{Ask, Enrolled, Resyncs};
use crate::backoff::Backoff;
use crate::document::Document;
use crate::path;
use crate::session::Generation;
use crate::status::{is_connection_error, is_throttled};
use crate::zk::Zk;

type ZkResult<T> = Result<T, zookeeper_client::Error>;
type Error = zookeeper_client::Error;

/// How many child reads are in flight at once.
const CHILD_READ_BATCH: usize = 1000;
/// How many children's data one multi-read request asks for: a fleet's resync after an expiry
/// costs the ensemble a request per this many instances, not one per instance. (Instance data
/// is small; a multi-read answer is not bounded by the packet limit on the client's side.)
const CHILDREN_PER_MULTI_READ: usize = 250;
/// How long changes are gathered before they are read, for a while after an expiry (see
/// `follow`).
const GATHER_WINDOW: Duration = Duration::from_millis(100);
/// The most bursts of events handled in a row before a document is published anyway.
const BURSTS_PER_PUBLISH: usize = 8;

/// Whether a handle follows paths with persistent watches: unless the `persistent_watches`
/// option turns them off, until a server refuses one (3.5, or a server whose watch manager has
/// none, such as `WatchManagerOptimized`); one-shot watches from then on.
pub(crate) struct Persistence {
    on: AtomicBool,
    /// The resyncs after a reconnect, made together.
    resyncs: Resyncs,
}

impl Persistence {
    pub fn new(on: bool) -> Persistence {
        Persistence {
            on: AtomicBool::new(on),
            resyncs: Resyncs::default(),
        }
    }

    pub fn is_on(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }

    /// Whether `e`, the answer to an addWatch, is a refusal: then one-shot watches from now on
    /// (said once).
    pub fn refused(&self, e: &Error, tag: &str) -> bool {
        let refusal = matches!(
            e,
            Error::MarshallingError | Error::Unimplemented | Error::UnexpectedErrorCode(_)
        );
        if refusal && self.on.swap(false, Ordering::Relaxed) {
            log::warn!(
                "{tag} the server refuses persistent watches (addWatch: {e}); watching with one-shot watches"
            );
        }
        refusal
    }
}

/// What is known of the path.
#[derive(Default)]
struct Tree {
    /// The last document made, which children's values point into.
    doc: Option<Arc<Document>>,
    /// None: the node does not exist.
    stat: Option<Stat>,
    data: String,
    children: BTreeMap<CompactString, ChildJson>,
    /// False once a child was removed without the zxid of its removal (ZooKeeper before 3.9):
    /// the stat's pzxid is then older than the server's until the list is read again.
    pzxid_exact: bool,
}

impl Tree {
    fn render(&mut self, path: &str) -> Arc<Document> {
        let prev = self.doc.take();
        let children = self.children.iter_mut().collect();
        let doc = render(
            path,
            prev.as_deref(),
            self.stat.as_ref(),
            &self.data,
            children,
        );
        self.doc = Some(doc.clone());
        doc
    }

    fn set_missing(&mut self) {
        self.stat = None;
        self.data = "null".into();
        self.children.clear();
        self.pzxid_exact = true;
    }

    /// The node's stat as a getChildren2 answer gives it, with the list it goes with: exact.
    fn listed(&mut self, stat: Stat) {
        self.stat = Some(stat);
        self.pzxid_exact = true;
    }

    /// The node's stat as a getData answer gives it: its data's fields are taken; those of its
    /// children stay as the events made them (the answer may count children whose events are
    /// still to be handled).
    fn node_read(&mut self, mut stat: Stat) {
        if let Some(known) = &self.stat {
            stat.cversion = known.cversion;
            stat.pzxid = known.pzxid;
            stat.num_children = known.num_children;
        }
        self.stat = Some(stat);
    }

    /// A child read anew; `created` is its czxid, for the node's stat when the child is new.
    fn child_read(&mut self, name: CompactString, json: ChildJson, created: Option<i64>) {
        let new = self.children.insert(name, json).is_none();
        let Some(stat) = self.stat.as_mut() else {
            return;
        };
        // A creation newer than the node's stat: the stat as the server now has it.
        if let Some(czxid) = created.filter(|z| new && *z > stat.pzxid) {
            stat.pzxid = czxid;
            stat.cversion += 1;
        }
        stat.num_children = self.children.len() as i32;
    }

    /// A child removed, at `zxid` if the server said (3.9+); no read: the stat follows.
    fn child_removed(&mut self, name: &str, zxid: i64) {
        if self.children.remove(name).is_none() {
            return;
        }
        let Some(stat) = self.stat.as_mut() else {
            return;
        };
        stat.cversion += 1;
        stat.num_children = self.children.len() as i32;
        if zxid > stat.pzxid {
            stat.pzxid = zxid;
        } else {
            self.pzxid_exact = false;
        }
    }
}

/// What a burst of events asks for.
#[derive(Default)]
struct Work {
    /// The node was created: read it all.
    full: bool,
    /// The node's data changed.
    node: bool,
    /// The node's children changed while the client was away: read the list.
    list: bool,
    /// Children to read (new, or their data changed).
    reads: BTreeSet<CompactString>,
}

impl Work {
    fn is_empty(&self) -> bool {
        !self.full && !self.node && !self.list && self.reads.is_empty()
    }
}

/// A path followed with a recursive watch on one session.
pub(super) struct Follower<'a> {
    zk: Zk<'a>,
    path: &'a str,
    /// The session's generation, and the handle's resyncs (counting this follower).
    generation: u64,
    resyncs: &'a Resyncs,
    _enrolled: Enrolled<'a>,
    tree: Tree,
    watcher: PersistentWatcher,
    /// Set after a reconnect until the resync is done: the zxid to ask changes since.
    resync_since: Option<i64>,
    /// Set from a resync's probe until the events it brought are taken: a `NodeChildrenChanged`
    /// of the path is then the probe's answer (at other times it is a leftover one-shot watch
    /// of a probe, fired by a change the recursive watch reports too).
    probed: bool,
    disconnected: bool,
    work: Work,
}

impl<'a> Follower<'a> {
    /// Sets the recursive watch on `path` (before any read, so that no change falls between).
    pub async fn watch(
        zk: Zk<'a>,
        path: &'a str,
        generation: u64,
        persistence: &'a Persistence,
    ) -> ZkResult<Follower<'a>> {
        let watcher = zk.watch_recursively(path).await?;
        let resyncs = &persistence.resyncs;
        Ok(Follower {
            zk,
            path,
            generation,
            resyncs,
            _enrolled: resyncs.enroll(),
            tree: Tree::default(),
            watcher,
            resync_since: None,
            probed: false,
            disconnected: false,
            work: Work::default(),
        })
    }

    /// Reads the node, its children list and every child's data (no watch: the recursive one
    /// covers them).
    async fn full_read(&mut self) -> ZkResult<()> {
        self.tree = Tree {
            doc: self.tree.doc.take(),
            ..Tree::default()
        };
        let node = self.zk.get_data(self.path);
        let list = self.zk.get_children_and_stat(self.path);
        match tokio::join!(node, list) {
            (Ok((raw, _)), Ok((names, stat))) => {
                // The list's answer came second: its stat is the newer one.
                self.tree.listed(stat);
                self.tree.data = decoded_json(&raw);
                let read = self
                    .read_children(names.into_iter().map(Into::into))
                    .await?;
                // Built in one go (sorted, nodes filled), not inserted one by one: a tree grown
                // by inserts keeps its nodes about two thirds full (M1 in bench/).
                self.tree.children = read.into_iter().map(|(n, j, _)| (n, j)).collect();
                if let Some(stat) = self.tree.stat.as_mut() {
                    stat.num_children = self.tree.children.len() as i32;
                }
                Ok(())
            }
            // Missing: its creation comes as an event of the recursive watch.
            (Err(Error::NoNode), _) | (_, Err(Error::NoNode)) => {
                self.tree.set_missing();
                Ok(())
            }
            (Err(e), _) | (_, Err(e)) => Err(e),
        }
    }

    /// Reads `names` in multi-read requests (persistent watches mean ZooKeeper 3.6+, which has
    /// them), pipelined in batches: each child's value and czxid (0 when unreadable); a child
    /// gone since is left out.
    async fn read_children(
        &self,
        names: impl Iterator<Item = CompactString>,
    ) -> ZkResult<Vec<(CompactString, ChildJson, i64)>> {
        let names: Vec<CompactString> = names.collect();
        let mut read = Vec::with_capacity(names.len());
        for batch in names.chunks(CHILD_READ_BATCH) {
            let paths: Vec<String> = batch.iter().map(|n| path::join(self.path, n)).collect();
            let requests = paths
                .chunks(CHILDREN_PER_MULTI_READ)
                .map(|some| self.zk.get_data_of_many(some));
            let answers = futures_util::future::join_all(requests).await;
            let mut results = Vec::with_capacity(batch.len());
            for answer in answers {
                results.extend(answer?);
            }
            for (name, result) in batch.iter().zip(results) {
                match result {
                    Ok((raw, stat)) => read.push((name.clone(), ChildJson::read(&raw), stat.czxid)),
                    // Deleted since it was listed: its event comes.
                    Err(Error::NoNode) => {}
                    Err(Error::NoAuth) => read.push((name.clone(), ChildJson::Unreadable, 0)),
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(read)
    }

    /// Notes what an event asks for; a removal is applied at once (it needs no read).
    fn note(&mut self, event: &WatchedEvent) {
        self.zk.counters.note_event();
        let own = event.path == self.path;
        let child = !own && event.path != "/" && path::parent(&event.path) == self.path;
        match (event.event_type, own, child) {
            (EventType::NodeCreated, true, _) => self.work.full = true,
            (EventType::NodeDataChanged, true, _) => self.work.node = true,
            (EventType::NodeChildrenChanged, true, _) if self.probed => self.work.list = true,
            (EventType::NodeDeleted, true, _) => {
                self.tree.set_missing();
                self.work = Work::default();
            }
            (EventType::NodeCreated | EventType::NodeDataChanged, _, true) => {
                self.work.reads.insert(path::name(&event.path).into());
            }
            (EventType::NodeDeleted, _, true) => {
                let name = path::name(&event.path);
                self.work.reads.remove(name);
                self.tree.child_removed(name, event.zxid);
            }
            // Deeper paths, and a leftover child watch.
            _ => {}
        }
    }

    /// Notes a session event: a reconnect (same session) calls for a resync from the zxid the
    /// connection resumed from (the oldest, if reconnects follow one another before it is
    /// done). False when the session is over.
    fn note_session(&mut self, event: &WatchedEvent) -> bool {
        match event.session_state {
            SessionState::Disconnected => self.disconnected = true,
            SessionState::SyncConnected | SessionState::ConnectedReadOnly if self.disconnected => {
                self.disconnected = false;
                let since = self.resync_since.map_or(event.zxid, |s| s.min(event.zxid));
                self.resync_since = Some(since);
            }
            s if s.is_terminated() => return false,
            _ => {}
        }
        true
    }

    /// Takes every event that has arrived. False when the session is over.
    fn drain(&mut self, first: Option<WatchedEvent>) -> bool {
        let mut next = first;
        while let Some(event) = next.take() {
            if event.event_type == EventType::Session {
                if !self.note_session(&event) {
                    return false;
                }
            } else {
                self.note(&event);
            }
            next = self.watcher.changed().now_or_never();
        }
        self.probed = false;
        true
    }
}

impl Follower<'_> {
    fn has_work(&self) -> bool {
        !self.work.is_empty() || self.resync_since.is_some()
    }

    /// The next step: a resync after a reconnect, else what the events asked for.
    async fn step(&mut self) -> ZkResult<()> {
        if let Some(since) = self.resync_since {
            self.resync(since).await?;
            self.resync_since = None;
            return Ok(());
        }
        let work = std::mem::take(&mut self.work);
        let result = self.do_work(&work).await;
        if result.is_err() {
            // Kept for after the reconnect.
            self.work.full |= work.full;
            self.work.node |= work.node;
            self.work.list |= work.list;
            self.work.reads.extend(work.reads);
        }
        result
    }

    /// Reads what `work` asks for: the list if it changed while away, then the children new or
    /// changed, and the node's data if it changed.
    async fn do_work(&mut self, work: &Work) -> ZkResult<()> {
        if work.full {
            return self.full_read().await;
        }
        let mut reads = work.reads.clone();
        if work.list {
            match self.zk.get_children_and_stat(self.path).await {
                Ok((names, stat)) => reads.extend(self.relist(names, stat)),
                // Deleted: its event comes (or came).
                Err(Error::NoNode) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        let children = self.read_children(reads.iter().cloned());
        let (zk, path) = (self.zk, self.path);
        let node = async {
            match work.node {
                true => Some(zk.get_data(path).await),
                false => None,
            }
        };
        let (children, node) = tokio::join!(children, node);
        let read = children?;
        let gone = reads
            .iter()
            .filter(|n| !read.iter().any(|(r, _, _)| r == *n));
        for name in gone.cloned().collect::<Vec<_>>() {
            // Deleted since its event: its removal event comes (or came).
            self.tree.children.remove(&name);
        }
        for (name, json, czxid) in read {
            self.tree.child_read(name, json, Some(czxid));
        }
        match node {
            None => {}
            // Deleted and created again while away: read it all.
            Some(Ok((_, stat))) if self.tree.stat.is_some_and(|s| s.czxid != stat.czxid) => {
                self.work.full = true;
            }
            Some(Ok((raw, stat))) => {
                self.tree.data = decoded_json(&raw);
                self.tree.node_read(stat);
            }
            // Deleted: its event comes (or came).
            Some(Err(Error::NoNode)) => self.tree.set_missing(),
            Some(Err(e)) => return Err(e),
        }
        Ok(())
    }

    /// The list as the server has it: children no longer listed are dropped; the new names are
    /// returned, to be read.
    fn relist(&mut self, names: Vec<String>, stat: Stat) -> Vec<CompactString> {
        self.tree.listed(stat);
        let listed: BTreeSet<CompactString> = names.into_iter().map(Into::into).collect();
        self.tree.children.retain(|name, _| listed.contains(name));
        let new = listed
            .into_iter()
            .filter(|n| !self.tree.children.contains_key(n));
        new.collect()
    }

    /// After a reconnect of the same session: the probe, made with every other path's (see
    /// `resync`). The events it brings are taken next, and ask for the reads.
    async fn resync(&mut self, since: i64) -> ZkResult<()> {
        let ask = Ask {
            root: self.path.to_string(),
            exists: self.tree.stat.is_some(),
            children: self
                .tree
                .children
                .keys()
                .map(|n| path::join(self.path, n))
                .collect(),
        };
        self.resyncs
            .resync(self.zk, self.generation, since, ask)
            .await?;
        self.probed = true;
        Ok(())
    }
}

/// Reads the path in full and follows its changes with `f`'s recursive watch until the session
/// ends (`Ok`) or a read fails for another reason than the connection. A lost connection is
/// waited out and followed by a resync, not by a full read.
pub(super) async fn follow(
    mut f: Follower<'_>,
    entry: &Entry,
    generation: &Generation,
    publish: &impl Fn(Arc<Document>),
    gather: Option<Instant>,
) -> ZkResult<()> {
    f.full_read().await?;
    // Marked before publishing: whoever sees the document sees it as live.
    entry.mark_synced(generation.id);
    publish(f.tree.render(&entry.path));
    // Bursts handled since the last document; whether an event came since the first one.
    let (mut bursts, mut changed) = (0, false);
    let mut throttled = Backoff::default();
    loop {
        if !f.has_work() || f.disconnected {
            // One document per burst of changes, made once what it asked for is read.
            if changed && !f.disconnected {
                publish(f.tree.render(&entry.path));
                bursts = 0;
            }
            let event = f.watcher.changed().await;
            if !f.drain(Some(event)) {
                return Ok(());
            }
            changed = true;
            continue;
        }
        // After an expiry the fleet registers again all at once: the events of a short
        // window make one read (a multi-read), not one read each.
        if gather.is_some_and(|until| Instant::now() < until) {
            tokio::time::sleep(GATHER_WINDOW).await;
            let next = f.watcher.changed().now_or_never();
            if next.is_some() && !f.drain(next) {
                return Ok(());
            }
        }
        match f.step().await {
            Ok(()) => {
                bursts += 1;
                throttled.reset();
            }
            // The work is kept: done after a pause, or sooner if an event adds to it.
            Err(e) if is_throttled(&e) => {
                throttled.pause().await;
                continue;
            }
            Err(e) if is_connection_error(&e) => {
                // Resumed (resync included) at the reconnect.
                f.disconnected = true;
                continue;
            }
            Err(e) => return Err(e),
        }
        let next = f.watcher.changed().now_or_never();
        if !f.drain(next) {
            return Ok(());
        }
        if bursts >= BURSTS_PER_PUBLISH {
            publish(f.tree.render(&entry.path));
            bursts = 0;
        }
    }
}
