//! A registry handle: one ZooKeeper session (renewed on expiry), its registrations, its watch
//! cache, and the dispatcher thread that runs its callbacks.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::Value;

use crate::acl::{AclSource, Credentials};
use crate::codec;
use crate::dispatcher::Dispatcher;
use crate::ensemble::Ensemble;
use crate::limits;
use crate::lock::{self, Lease, LockSpec};
use crate::options::Options;
use crate::path;
use crate::registration::{Desired, Kind, Registrations};
use crate::runtime;
use crate::session::{now_ms, Session, SessionConfig, State};
use crate::shared::Shared;
use crate::status::*;
use crate::subscription::{Callback, Delivered, Subscription};
use crate::watch::{run as watch_path, Entry};
use crate::zk::{Counters, RequestCounts};

pub use crate::registration::Applied;

/// What a handle does in one process: its session, registrations, watch cache and callback
/// thread. A [`Registry`] owns one, and replaces it in a forked child.
pub struct Core {
    options: Options,
    /// The servers and chroot of the connect string.
    ensemble: Ensemble,
    /// The fork generation and pid of the process that built this core.
    fork_generation: u64,
    pid: u32,
    /// The session, counters, callback thread, tasks and close signal every part shares.
    shared: Arc<Shared>,
    /// The ACL for created nodes (the credentials in use are in it).
    acl: Arc<AclSource>,
    watches: Mutex<HashMap<String, Arc<Entry>>>,
    registrations: Registrations,
    /// Subscription id -> the entry it watches (None for a state subscription).
    subscriptions: Mutex<HashMap<u64, Option<Arc<Entry>>>>,

    /// State subscriptions, each with the sequence number of the state it was first given.
    state_subs: Arc<StateSubs>,
    /// The cache file, if the `cachefile` option is set.
    cache: Option<Arc<crate::cachefile::CacheFile>>,
    /// Locks taken with the path-keyed calls.
    locks: Mutex<HashMap<String, Lease>>,
    next_id: AtomicU64,
}

impl Core {
    /// Opens a handle on `server` (a connect string; None = `localhost:2181`). Waits up to the
    /// timeout for the first session; without one, fails with `NDSR_E_NO_CONNECTION` unless
    /// `lazy`.
    fn open(server: Option<&str>, options: Options) -> Result<Box<Core>> {
        let ensemble = Ensemble::parse(server.unwrap_or("localhost:2181"))?;
        let credentials = options.credentials();
        if let Some(c) = &credentials {
            limits::check_auth(c.auth_bytes().len())?;
        }
        options.rate_limiter()?;
        let session = new_session(&ensemble.connect, &options, &credentials)?;
        // A lazy handle connects in the background: its open never waits.
        let first = match options.lazy {
            true => None,
            false => Some(runtime::block_on(session.first_connect())?),
        };
        if let Some(client) = &first {
            session.adopt(client);
        }
        Core::assemble(options, ensemble, session, credentials, first, 1)
    }

    /// The core with its tasks started; `first` is a client already adopted by `session`.
    fn assemble(
        options: Options,
        ensemble: Ensemble,
        session: Arc<Session>,
        credentials: Option<Credentials>,
        first: Option<zookeeper_client::Client>,
        next_id: u64,
    ) -> Result<Box<Core>> {
        let dispatcher = Arc::new(Dispatcher::start("ndsr-callbacks").map_err(|e| {
            Error::new(
                NDSR_E_INTERNAL,
                format!("cannot start the callback thread: {e}"),
            )
        })?);
        let rate_limiter = options.rate_limiter()?;
        let cache = match &options.cachefile {
            Some(p) => Some(Arc::new(
                crate::cachefile::CacheFile::open(p.clone(), ensemble.key()).map_err(|e| {
                    Error::new(
                        NDSR_E_INTERNAL,
                        format!("cannot start the cache file writer: {e}"),
                    )
                })?,
            )),
            None => None,
        };
        let counters = Arc::new(Counters::new(rate_limiter));
        let shared = Arc::new(Shared::new(
            session.clone(),
            counters,
            dispatcher,
            options.timeout,
        ));
        let acl = Arc::new(AclSource::new(options.acl.clone(), credentials));
        let (registrations, arming) = Registrations::new(shared.clone(), acl.clone());
        let core = Box::new(Core {
            options,
            ensemble,
            fork_generation: crate::fork::generation(),
            pid: std::process::id(),
            shared: shared.clone(),
            acl,
            watches: Mutex::new(HashMap::new()),
            registrations,
            subscriptions: Mutex::new(HashMap::new()),
            state_subs: Arc::new(Mutex::new(Vec::new())),
            locks: Mutex::new(HashMap::new()),
            cache,
            next_id: AtomicU64::new(next_id),
        });
        shared.tasks.spawn(session.clone().run(first));
        shared.tasks.spawn(arming);
        shared.tasks.spawn(forward_states(
            core.state_subs.clone(),
            shared.clone(),
            session.subscribe_transitions(),
        ));
        Ok(core)
    }

    fn check_open(&self) -> Result<()> {
        self.shared.check_open()
    }

    /// Runs `fut` on the calling thread, bounded by the timeout and by close.
    fn bounded<T: Send>(
        &self,
        fut: impl Future<Output = Result<T>> + Send,
        on_timeout: impl FnOnce() -> Result<T> + Send,
    ) -> Result<T> {
        self.shared.bounded(fut, on_timeout)
    }

    /// The ACL for nodes created now: the `acl` option, else the original's default pair for the
    /// current credentials, else open.
    pub fn acl(&self) -> Vec<zookeeper_client::Acl> {
        self.acl.current()
    }

    /// Authenticates with new digest credentials: at once on the current session and on every
    /// later one; nodes created from now on get the ACL of these credentials (unless the `acl`
    /// option is set). The session keeps the identities it had too (ZooKeeper cannot drop them).
    pub fn set_credentials(&self, username: &str, password: &str) -> Result<()> {
        self.check_open()?;
        let mut probe = Options::default();
        probe.set("username", username)?;
        probe.set("password", password)?;
        let creds = probe.credentials().expect("both set");
        let bytes = creds.auth_bytes();
        limits::check_auth(bytes.len())?;
        self.acl.set_credentials(creds);
        self.bounded(self.shared.session.authenticate(bytes), || {
            Err(Error::new(NDSR_E_TIMEOUT, "authentication timed out"))
        })
    }

    /// After ZooKeeper rejected our authentication no session will come: say so at once.
    fn check_auth(&self) -> Result<()> {
        if self.shared.session.state() == State::AuthFailed {
            return Err(Error::new(
                NDSR_E_AUTH_FAILED,
                "ZooKeeper rejected the authentication; no session",
            ));
        }
        Ok(())
    }

    /// Checks a path that will be read, and returns it as the server sees it.
    fn read_check(&self, p: &str) -> Result<String> {
        self.check_open()?;
        path::validate(p)?;
        let full = self.ensemble.server_path(p);
        limits::check_read(&full)?;
        Ok(full)
    }

    /// Checks a path that will be written, and returns it as the server sees it.
    fn write_check(&self, p: &str) -> Result<String> {
        self.check_open()?;
        self.check_auth()?;
        path::validate_for_write(p)?;
        let full = self.ensemble.server_path(p);
        if full != p && path::validate_for_write(&full).is_err() {
            return Err(Error::invalid(format!(
                "invalid path {p:?}: under the chroot {} it is {full:?}, and /zookeeper is reserved",
                self.ensemble.chroot
            )));
        }
        limits::check_read(&full)?;
        if self.options.readonly {
            return Err(Error::new(
                NDSR_E_READ_ONLY,
                "the handle is read-only: no writes allowed",
            ));
        }
        Ok(full)
    }

    /// Registers `p` as an ephemeral node with `json` data (object, string or null).
    pub fn set_node(&self, p: &str, json: &str) -> Result<Applied> {
        self.set(p, json, Kind::Ephemeral)
    }

    /// Stores `json` in the persistent node `p`.
    pub fn set_data(&self, p: &str, json: &str) -> Result<Applied> {
        self.set(p, json, Kind::Persistent)
    }

    fn set(&self, p: &str, json: &str, kind: Kind) -> Result<Applied> {
        let full = self.write_check(p)?;
        let user = codec::parse_user_data(json)?;
        let encoded = codec::encode(&user, self.pid, &codec::now_created())?;
        limits::check_create(&full, encoded.len(), &self.acl())?;
        let desired = Desired {
            kind,
            present: true,
            user,
            encoded,
        };
        self.registrations.change(p, desired, |cur, new| {
            cur.kind == new.kind && cur.present && cur.user == new.user
        })
    }

    /// Removes `p` (and forgets the registration, so it is not re-created). A missing node is
    /// not an error.
    pub fn unset(&self, p: &str) -> Result<Applied> {
        self.write_check(p)?;
        let desired = Desired {
            kind: Kind::Persistent,
            present: false,
            user: Value::Null,
            encoded: Vec::new(),
        };
        self.registrations.change(p, desired, |_, _| false)
    }

    /// Where the registration of `p` stands: `NDSR_OK` (in place on the current session),
    /// `NDSR_QUEUED` (waiting for a session), `NDSR_E_CONFLICT` (another live session holds the
    /// path; applied when its node goes away), `NDSR_E_NOT_FOUND` (no registration of `p`), or the
    /// error ZooKeeper refused it with. Never waits.
    pub fn registration_status(&self, p: &str) -> Result<Status> {
        self.check_open()?;
        path::validate(p)?;
        self.registrations.status(p)
    }

    fn entry(&self, p: &str) -> Arc<Entry> {
        let mut watches = self.watches.lock();
        if let Some(e) = watches.get(p) {
            return e.clone();
        }
        let entry = Entry::new(p);
        // No connection now: start from the cache file's last known document, if it has one.
        if let Some(cache) = &self.cache {
            if !self.shared.session.state().is_connected() {
                if let Some(cached) = cache.lookup(p) {
                    log::info!(
                        "{p}: no connection; serving the cache file's document of {} ms ago",
                        now_ms() - cached.saved_ms
                    );
                    entry.preload(cached.json, cached.saved_ms);
                }
            }
        }
        watches.insert(p.to_string(), entry.clone());
        drop(watches);
        self.start_watch(&entry);
        entry
    }

    /// Starts the task that keeps `entry` current.
    fn start_watch(&self, entry: &Arc<Entry>) {
        self.shared.tasks.spawn(watch_path(
            entry.clone(),
            self.shared.clone(),
            self.cache.clone(),
        ));
    }

    fn no_document(&self) -> Error {
        if let Err(e) = self.check_auth() {
            return e;
        }
        if self.shared.session.state().is_connected() {
            Error::new(NDSR_E_TIMEOUT, "timed out reading from ZooKeeper")
        } else {
            Error::new(
                NDSR_E_NO_CONNECTION,
                "no connection to ZooKeeper and nothing cached for this path",
            )
        }
    }

    /// The document of `p` as JSON. The first call reads it and starts watching it; later calls
    /// are answered from the cache without a network round-trip.
    pub fn get_json(&self, p: &str) -> Result<String> {
        self.read_check(p)?;
        let entry = self.entry(p);
        if let Some(doc) = entry.current() {
            return Ok(doc.json.clone());
        }
        // Nothing known and the path cannot be read, or no session can come: no waiting.
        if let Some(e) = entry.failure() {
            return Err(e);
        }
        self.check_auth()?;
        self.bounded(
            async { entry.wait_ready().await.map(|doc| doc.json.clone()) },
            || Err(self.no_document()),
        )
    }

    /// Whether the cached document of `p` is live (the session is connected and the path is
    /// read and watched on it) or last-known, and since when (Unix ms). `NDSR_E_NOT_FOUND` when
    /// nothing is known about `p` yet. Never touches the network.
    pub fn freshness(&self, p: &str) -> Result<(bool, i64)> {
        self.check_open()?;
        path::validate(p)?;
        let entry = self.watches.lock().get(p).cloned();
        let known = entry.as_ref().filter(|e| e.current().is_some());
        let Some(entry) = known else {
            return Err(Error::new(
                NDSR_E_NOT_FOUND,
                format!("{p}: nothing known (never read)"),
            ));
        };
        let synced = entry.synced();
        let connected = self.shared.session.state().is_connected();
        let gen = self.shared.session.current().map(|g| g.id);
        Ok(match synced {
            Some((g, at)) if connected && Some(g) == gen => {
                (true, at.max(self.shared.session.state_since()))
            }
            // Never read live: the cache file's document, as of when it was saved.
            None if entry.cached_since().is_some() => (false, entry.cached_since().unwrap_or(0)),
            // Disconnected: last-known since the connection dropped.
            _ if !connected => (false, self.shared.session.state_since()),
            // A new session whose first read of the path is still on its way.
            _ => (false, self.shared.session.generation_since()),
        })
    }

    fn new_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::SeqCst)
    }

    /// Calls `callback` with the document of `p` now and after every change. Returns the
    /// subscription id, and whether the first call is queued (true) or waits for the first
    /// read because no session could provide it in time (false).
    pub fn on_change(&self, p: &str, callback: Callback) -> Result<(u64, Applied)> {
        self.read_check(p)?;
        let entry = self.entry(p);
        let id = self.new_id();
        let sub = Subscription::new(id, callback);
        self.subscriptions.lock().insert(id, Some(entry.clone()));
        entry.subscribe(sub, &self.shared.dispatcher);
        if self.shared.is_closed() {
            // Close may have collected the subscribers before this one was added.
            if let Some(sub) = entry.unsubscribe(id) {
                sub.retire(&self.shared.dispatcher);
            }
            return Err(Error::closed());
        }
        if entry.current().is_none() {
            // The subscription stands from here on, whatever the wait gives (the callback may
            // even have closed the handle already).
            let _ = self.bounded(async { entry.wait_ready().await }, || {
                Err(self.no_document())
            });
        }
        Ok((
            id,
            if entry.current().is_some() {
                Applied::Done
            } else {
                Applied::Queued
            },
        ))
    }

    /// Calls `callback` with the connection state now and after every change.
    pub fn on_state(&self, callback: Callback) -> Result<u64> {
        self.check_open()?;
        let id = self.new_id();
        let sub = Subscription::new(id, callback);
        self.subscriptions.lock().insert(id, None);
        let mut subs = self.state_subs.lock();
        if self.shared.is_closed() {
            // Close collects the state subscribers under this lock after setting the flag.
            self.subscriptions.lock().remove(&id);
            drop(subs);
            sub.retire(&self.shared.dispatcher);
            return Err(Error::closed());
        }
        let (seq, state) = self.shared.session.state_with_seq();
        sub.deliver_state(&self.shared.dispatcher, state);
        subs.push((sub, seq));
        Ok(id)
    }

    /// Removes a subscription; its callback is not called again once this returns (unless this
    /// is called from that callback, which finishes first), and its resources are released on
    /// the dispatcher thread after its last call.
    pub fn off(&self, id: u64) -> Result<()> {
        self.check_open()?;
        let target = self.subscriptions.lock().remove(&id);
        let sub = match target {
            None => {
                return Err(Error::new(
                    NDSR_E_NOT_FOUND,
                    format!("no subscription {id}"),
                ))
            }
            Some(Some(entry)) => entry.unsubscribe(id),
            Some(None) => {
                let mut subs = self.state_subs.lock();
                subs.iter()
                    .position(|(s, _)| s.id == id)
                    .map(|i| subs.remove(i).0)
            }
        };
        if let Some(sub) = sub {
            sub.retire(&self.shared.dispatcher);
        }
        Ok(())
    }

    /// The connection state.
    pub fn state(&self) -> State {
        if self.shared.is_closed() {
            State::Closed
        } else {
            self.shared.session.state()
        }
    }

    /// Waits until the cache file holds every document published so far (for tests and for
    /// callers about to exit).
    pub fn flush_cache(&self) {
        if let Some(c) = &self.cache {
            c.flush();
        }
    }

    /// ZooKeeper requests this handle has issued, by kind.
    pub fn request_counts(&self) -> RequestCounts {
        self.shared.counters.snapshot()
    }

    /// The current session's id (0 when there is none).
    pub fn session_id(&self) -> i64 {
        self.shared
            .session
            .current()
            .map_or(0, |g| g.client.session_id().0)
    }

    /// Acquires the lock `p` (up to `simultaneous` holders at once), waiting up to `wait` for a
    /// holder to let go. `NDSR_E_TIMEOUT` when not acquired in time.
    pub fn lock(
        &self,
        p: &str,
        name: &str,
        simultaneous: u32,
        wait: std::time::Duration,
    ) -> Result<Lease> {
        let full = self.write_check(p)?;
        // The longest request of the recipe: a contender's node with the holder's name.
        let contender = format!("{full}-__lock__/{}__lock__0000000000", "0".repeat(32));
        limits::check_create(&contender, name.len(), &self.acl())?;
        let spec = LockSpec {
            path: p.to_string(),
            name: name.to_string(),
            simultaneous,
        };
        let deadline = tokio::time::Instant::now() + wait;
        let acls = self.acl();
        runtime::block_on(async {
            tokio::select! {
                r = lock::acquire(&self.shared.session, &self.shared.counters, &spec, deadline, &acls) => r,
                _ = self.shared.closing() => Err(Error::closed()),
            }
        })
    }

    /// Releases a lease taken with [`Core::lock`].
    pub fn unlock(&self, lease: &Lease) -> Result<()> {
        self.check_open()?;
        self.bounded(
            lock::release(&self.shared.session, &self.shared.counters, lease),
            || Err(Error::new(NDSR_E_TIMEOUT, "timed out releasing the lock")),
        )
    }

    /// Whether a lease is still held: `NDSR_OK`; `NDSR_E_LOCK_LOST` once its session is gone;
    /// `NDSR_E_NO_CONNECTION` while disconnected (the session may yet survive, but until it is
    /// known to, do not act as the holder).
    pub fn lock_status(&self, lease: &Lease) -> Status {
        if self.shared.is_closed() {
            return NDSR_E_LOCK_LOST;
        }
        match self.shared.session.current() {
            Some(g) if g.id == lease.generation => {
                if self.shared.session.state().is_connected() {
                    NDSR_OK
                } else {
                    NDSR_E_NO_CONNECTION
                }
            }
            // The session carrying the lease is gone (expired or replaced).
            _ => NDSR_E_LOCK_LOST,
        }
    }

    /// The path-keyed form of [`Core::lock`], as the original's `acquire_lock`: the lease is
    /// kept by the handle. Acquiring a path this handle holds already succeeds at once.
    pub fn acquire_lock(
        &self,
        p: &str,
        name: &str,
        simultaneous: u32,
        wait: std::time::Duration,
    ) -> Result<()> {
        if let Some(lease) = self.locks.lock().get(p).cloned() {
            if self.lock_status(&lease) == NDSR_OK {
                return Ok(());
            }
        }
        let lease = self.lock(p, name, simultaneous, wait)?;
        self.locks.lock().insert(p.to_string(), lease);
        Ok(())
    }

    /// Releases a lock taken with [`Core::acquire_lock`]; a path not held is fine.
    pub fn release_lock(&self, p: &str) -> Result<()> {
        self.check_open()?;
        path::validate(p)?;
        let lease = self.locks.lock().remove(p);
        match lease {
            Some(lease) => self.unlock(&lease),
            None => Ok(()),
        }
    }

    /// The current session's id and password, for tests that force a server-side expiry (the
    /// password is a bearer secret: never log it).
    #[doc(hidden)]
    pub fn session_info(&self) -> Option<zookeeper_client::SessionInfo> {
        self.shared
            .session
            .current()
            .map(|g| g.client.session().clone())
    }

    /// Closes the handle: stops every task, closes the session (ZooKeeper removes this handle's
    /// ephemeral nodes at once), releases every subscription after its last call, and stops the
    /// dispatcher. Calls racing the close get `NDSR_E_CLOSED`. Safe from inside a callback.
    pub fn close(&self) {
        if !self.shared.close() {
            return;
        }
        let tasks = self.shared.tasks.close();
        let session = self.shared.session.clone();
        let mut subs: Vec<Arc<Subscription>> = std::mem::take(&mut *self.state_subs.lock())
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        for entry in self.watches.lock().values() {
            subs.extend(entry.take_subscribers());
        }
        self.subscriptions.lock().clear();
        let dispatcher = self.shared.dispatcher.clone();
        let cache = self.cache.clone();
        let tag = self.shared.session.tag();
        let finish = move || {
            let deadline = std::time::Instant::now() + CLOSE_BUDGET;
            runtime::block_on(async move {
                for t in &tasks {
                    t.abort();
                }
                // Awaited together: the worker cancels them all in one go, instead of handing
                // back to this thread after each.
                futures_util::future::join_all(tasks).await;
                session.close(deadline).await;
            });
            for sub in subs {
                sub.retire(&dispatcher);
            }
            // A callback that is still running is waited for within the budget (and a little
            // more, should the session's close have spent it); then it finishes on its own.
            let floor = std::time::Instant::now() + std::time::Duration::from_millis(200);
            dispatcher.shutdown(deadline.max(floor));
            if let Some(c) = cache {
                c.close();
            }
            log::info!("{tag} closed");
        };
        if runtime::on_worker() {
            // Never block the runtime's worker (everything, timers included, runs on it): finish
            // on a thread of its own. Only a Rust caller dropping a handle inside our runtime
            // gets here; the C API never does.
            let _ = std::thread::Builder::new()
                .name("ndsr-close".into())
                .spawn(finish);
        } else {
            finish();
        }
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        self.close();
    }
}

/// The longest `close` waits: for the session's close to go through, then for a callback that
/// is running.
const CLOSE_BUDGET: std::time::Duration = std::time::Duration::from_secs(2);

/// A registry handle. It dereferences to the [`Core`] of the current process; in a forked child
/// the first use builds the child's own (see [`crate::fork`]): a new session with the same
/// watches and subscriptions. Registrations and locks stay the parent's.
pub struct Registry {
    /// Always a live core: replaced only in a forked child (the parent's is leaked there), freed
    /// only by drop.
    core: AtomicPtr<Core>,
    /// What a child takes over, recorded just before each fork.
    carried: std::sync::Mutex<Option<Carried>>,
}

/// What a forked child takes over from a handle: recorded in the parent before the fork (when
/// every thread is still there to release the locks involved), so the child reads none of the
/// parent's locks.
#[derive(Default)]
struct Carried {
    credentials: Option<Credentials>,
    next_id: u64,
    watches: Vec<CarriedWatch>,
    state_subs: Vec<(Arc<Subscription>, Delivered)>,
}

struct CarriedWatch {
    path: String,
    doc: Option<Arc<crate::document::Document>>,
    since: i64,
    subs: Vec<(Arc<Subscription>, Delivered)>,
}

/// The open handles (addresses of `Registry`), for the fork handlers; also serialises the
/// rebuilds. A std lock (not parking_lot): it is held across fork().
static LIVE: std::sync::Mutex<Vec<usize>> = std::sync::Mutex::new(Vec::new());

fn live() -> std::sync::MutexGuard<'static, Vec<usize>> {
    LIVE.lock().unwrap_or_else(|e| e.into_inner())
}

thread_local! {
    static HELD: crate::fork::Held<std::sync::MutexGuard<'static, Vec<usize>>> =
        const { crate::fork::Held::new() };
}

/// Before a fork: record what a child would take over from each handle, and keep handles from
/// opening, closing or rebuilding until the fork is done.
pub(crate) fn before_fork() {
    let live = live();
    for &p in live.iter() {
        // SAFETY: listed handles are alive (drop unlists them under this lock first).
        let r = unsafe { &*(p as *const Registry) };
        let core = r.current();
        // A core of an ancestor process keeps what it carries already.
        if core.fork_generation == crate::fork::generation() {
            *r.carried_slot() = core.carry();
        }
    }
    HELD.with(|h| h.keep(live));
}

/// After a fork. The parent drops what it recorded (on the callback threads: the last reference
/// to a subscription must go there); the child keeps it for the rebuild.
pub(crate) fn after_fork(child: bool) {
    HELD.with(|h| {
        if !child {
            h.peek(|live| {
                for &p in live.iter() {
                    // SAFETY: as in before_fork.
                    let r = unsafe { &*(p as *const Registry) };
                    let core = r.current();
                    if core.fork_generation == crate::fork::generation() {
                        let carried = r.carried_slot().take();
                        core.shared.dispatcher.submit(move || drop(carried));
                    }
                }
            });
        }
        h.release();
    });
}

impl Registry {
    /// Opens a handle on `server` (a connect string; None = `localhost:2181`). Waits up to the
    /// timeout for the first session; without one, fails with `NDSR_E_NO_CONNECTION` unless
    /// `lazy`.
    pub fn open(server: Option<&str>, options: Options) -> Result<Arc<Registry>> {
        crate::logging::install();
        crate::fork::install();
        let core = Core::open(server, options)?;
        let registry = Arc::new(Registry {
            core: AtomicPtr::new(Box::into_raw(core)),
            carried: std::sync::Mutex::new(None),
        });
        live().push(Arc::as_ptr(&registry) as usize);
        Ok(registry)
    }

    /// The core as it is, whichever process built it.
    fn current(&self) -> &Core {
        // SAFETY: see the field.
        unsafe { &*self.core.load(Ordering::Acquire) }
    }

    fn carried_slot(&self) -> std::sync::MutexGuard<'_, Option<Carried>> {
        self.carried.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// This process's core, built first if this is a forked child.
    fn core(&self) -> &Core {
        let core = self.current();
        if core.fork_generation == crate::fork::generation() {
            core
        } else {
            self.rebuild_after_fork()
        }
    }

    #[cold]
    fn rebuild_after_fork(&self) -> &Core {
        let _live = live();
        let old = self.current();
        // Closed before the fork: stays closed, and touches nothing.
        if old.fork_generation == crate::fork::generation() || old.shared.is_closed() {
            return old;
        }
        let carried = self.carried_slot().take().unwrap_or_default();
        match Core::for_child(old, &carried) {
            Ok(new) => {
                log::info!(
                    "fork detected (pid {}): new session for {} watched paths; registrations and locks stay the parent's",
                    std::process::id(),
                    carried.watches.len()
                );
                // The parent's subscriptions must never be dropped here (their userdata is the
                // parent's to free; the child's copies free the child's).
                std::mem::forget(carried);
                let new = Box::into_raw(new);
                self.core.store(new, Ordering::Release);
                // SAFETY: just stored; see the field.
                unsafe { &*new }
            }
            Err(e) => {
                *self.carried_slot() = Some(carried);
                panic!("cannot rebuild the handle after fork(): {}", e.message);
            }
        }
    }

    /// In a forked child, builds the child's own session (as any call on the handle would);
    /// anywhere else, nothing. Then waits up to the timeout for a session: `Done` if there is
    /// one, `Queued` if not yet (it keeps trying).
    pub fn rebuild(&self) -> Result<Applied> {
        let core = self.core();
        core.check_open()?;
        if core.pid != std::process::id() {
            return Err(Error::new(
                NDSR_E_INTERNAL,
                "this process was forked without running the pthread_atfork handlers (a raw clone?): the handle cannot be rebuilt; open a new one",
            ));
        }
        core.bounded(
            async {
                match core.shared.session.wait_connected().await {
                    Some(_) => Ok(Applied::Done),
                    None => Err(Error::closed()),
                }
            },
            || Ok(Applied::Queued),
        )
    }

    /// Closes the handle (see [`Core::close`]). In a forked child this closes the child's own
    /// session, never the parent's.
    pub fn close(&self) {
        self.core().close();
    }
}

impl std::ops::Deref for Registry {
    type Target = Core;

    /// Every use of a handle goes through here, so a forked child never touches its parent's
    /// connection.
    fn deref(&self) -> &Core {
        self.core()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let me = self as *const Registry as usize;
        live().retain(|&p| p != me);
        // SAFETY: the core was made by Box::into_raw and is freed only here.
        let core = unsafe { Box::from_raw(*self.core.get_mut()) };
        if core.fork_generation != crate::fork::generation() {
            // The parent's, inherited through fork(): never closed or freed here.
            std::mem::forget(core);
            std::mem::forget(self.carried_slot().take());
        }
    }
}

impl Core {
    /// What a forked child would take over (None once closed).
    fn carry(&self) -> Option<Carried> {
        if self.shared.is_closed() {
            return None;
        }
        let since = if self.shared.session.state().is_connected() {
            now_ms()
        } else {
            self.shared.session.state_since()
        };
        let with_last = |subs: Vec<Arc<Subscription>>| {
            subs.into_iter()
                .map(|s| {
                    let last = s.last_delivered();
                    (s, last)
                })
                .collect()
        };
        let watches = self
            .watches
            .lock()
            .iter()
            .map(|(path, e)| CarriedWatch {
                path: path.clone(),
                doc: e.current(),
                since,
                subs: with_last(e.subscribers()),
            })
            .collect();
        let state_subs = with_last(
            self.state_subs
                .lock()
                .iter()
                .map(|(s, _)| s.clone())
                .collect(),
        );
        Some(Carried {
            credentials: self.acl.credentials(),
            next_id: self.next_id.load(Ordering::SeqCst),
            watches,
            state_subs,
        })
    }

    /// A forked child's core: a session of its own (made in the background), the parent's
    /// watches (their documents last-known until read again) and subscriptions.
    fn for_child(parent: &Core, carried: &Carried) -> Result<Box<Core>> {
        let (options, ensemble) = (parent.options.clone(), parent.ensemble.clone());
        let credentials = carried.credentials.clone();
        let session = new_session(&ensemble.connect, &options, &credentials)?;
        let core = Core::assemble(
            options,
            ensemble,
            session,
            credentials,
            None,
            carried.next_id,
        )?;
        for w in &carried.watches {
            let entry = Entry::new(&w.path);
            if let Some(doc) = &w.doc {
                entry.inherit(doc.clone(), w.since);
            }
            core.watches.lock().insert(w.path.clone(), entry.clone());
            core.start_watch(&entry);
            for (sub, last) in &w.subs {
                let sub = sub.for_child(last.clone());
                core.subscriptions
                    .lock()
                    .insert(sub.id, Some(entry.clone()));
                entry.subscribe(sub, &core.shared.dispatcher);
            }
        }
        for (sub, last) in &carried.state_subs {
            let sub = sub.for_child(last.clone());
            core.subscriptions.lock().insert(sub.id, None);
            let (seq, state) = core.shared.session.state_with_seq();
            sub.deliver_state(&core.shared.dispatcher, state);
            core.state_subs.lock().push((sub, seq));
        }
        Ok(core)
    }
}

/// The session supervisor for a handle (not started).
fn new_session(
    connect: &str,
    options: &Options,
    credentials: &Option<Credentials>,
) -> Result<Arc<Session>> {
    Ok(Session::new(
        SessionConfig {
            connect: connect.to_string(),
            timeout: options.timeout,
            readonly: options.readonly,
            tls: options.tls()?,
        },
        credentials.as_ref().map(|c| c.auth_bytes()),
    ))
}

/// State subscriptions, each with the sequence number of the state it was first given.
type StateSubs = Mutex<Vec<(Arc<Subscription>, u64)>>;

/// Delivers every state transition to the state subscribers. It holds what it needs, never the
/// registry, so that the registry is never dropped (and closed) on a runtime thread.
async fn forward_states(
    subs: Arc<StateSubs>,
    shared: Arc<Shared>,
    mut states: tokio::sync::broadcast::Receiver<(u64, State)>,
) {
    let (session, dispatcher) = (&shared.session, &shared.dispatcher);
    use tokio::sync::broadcast::error::RecvError;
    loop {
        let (seq, state) = match states.recv().await {
            Ok(t) => t,
            // Fell behind by hundreds of transitions: report where things stand now.
            Err(RecvError::Lagged(_)) => session.state_with_seq(),
            Err(RecvError::Closed) => return,
        };
        let subs = subs.lock();
        // A subscriber that joined after this transition was given the state then already.
        for (sub, _) in subs.iter().filter(|(_, since)| seq > *since) {
            sub.deliver_state(dispatcher, state);
        }
    }
}
