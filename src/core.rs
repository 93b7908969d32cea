//! What a handle does in one process: a small coordinator over the parts that own their state
//! and rules (registrations, the watch cache, events, locks), all sharing one [`Shared`] bundle
//! (session, counters, callback thread, tasks, close signal). Every call checks the handle and
//! its arguments here, then goes to the one part that owns it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::acl::{AclSource, Credentials};
use crate::cache::file::CacheFile;
use crate::cache::{CarriedEntry, WatchCache};
use crate::codec;
use crate::dispatcher::Dispatcher;
use crate::document::Document;
use crate::ensemble::Ensemble;
use crate::events::subscription::{Callback, Delivered, Form, Subscription};
use crate::events::Events;
use crate::limits;
use crate::lock::{Lease, Locks};
use crate::options::Options;
use crate::path;
use crate::registration::{Desired, Kind, Registrations};
use crate::runtime;
use crate::session::{now_ms, Session, SessionConfig, State};
use crate::shared::Shared;
use crate::status::Applied;
use crate::status::{Error, Result, Status};
use crate::zk::Counters;

/// The longest `close` waits: for the session's close to go through, then for a callback that
/// is running.
const CLOSE_BUDGET: Duration = Duration::from_secs(2);

/// A handle's parts in one process. A `Registry` owns one, and replaces it in a forked child.
pub struct Core {
    options: Options,
    /// The servers and chroot of the connect string.
    ensemble: Ensemble,
    /// The fork generation and pid of the process that built this core.
    pub(crate) fork_generation: u64,
    pub(crate) pid: u32,
    shared: Arc<Shared>,
    /// The ACL for created nodes (the credentials in use are in it).
    acl: Arc<AclSource>,
    registrations: Registrations,
    cache: WatchCache,
    events: Events,
    locks: Locks,
}

/// What a forked child takes over from a core: recorded in the parent before the fork (when
/// every thread is still there to release the locks involved).
#[derive(Default)]
pub(crate) struct Carried {
    credentials: Option<Credentials>,
    next_id: u64,
    watches: Vec<CarriedEntry>,
    state_subs: Vec<(Arc<Subscription>, Delivered)>,
}

impl Carried {
    /// How many watched paths a child takes over.
    pub fn watched(&self) -> usize {
        self.watches.len()
    }
}

impl Core {
    /// Opens a handle on `server` (a connect string; None = `localhost:2181`). Waits up to the
    /// timeout for the first session; without one, fails with `NDSR_E_NO_CONNECTION`; a `lazy`
    /// handle returns at once and connects in the background.
    pub fn open(server: Option<&str>, options: Options) -> Result<Box<Core>> {
        let ensemble = Ensemble::parse(server.unwrap_or("localhost:2181"))?;
        let credentials = options.credentials();
        if let Some(c) = &credentials {
            limits::check_auth(c.auth_bytes().len())?;
        }
        options.rate_limiter()?;
        let session = new_session(&ensemble.connect, &options, &credentials)?;
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
        let internal = |what: &str, e: std::io::Error| {
            Error::new(Status::Internal, format!("cannot start {what}: {e}"))
        };
        let dispatcher =
            Dispatcher::start("ndsr-callbacks").map_err(|e| internal("the callback thread", e))?;
        let file = match &options.cachefile {
            Some(p) => Some(Arc::new(
                CacheFile::open(p.clone(), ensemble.key())
                    .map_err(|e| internal("the cache file writer", e))?,
            )),
            None => None,
        };
        let counters = Arc::new(Counters::new(options.rate_limiter()?));
        let shared = Arc::new(Shared::new(
            session.clone(),
            counters,
            Arc::new(dispatcher),
            options.timeout,
        ));
        let acl = Arc::new(AclSource::new(options.acl.clone(), credentials));
        let (registrations, arming) = Registrations::new(shared.clone(), acl.clone());
        let (events, forwarding) = Events::new(shared.clone(), next_id);
        let cache = WatchCache::new(
            shared.clone(),
            file,
            options.persistent_watches,
            options.hold_policy(),
        );
        let core = Box::new(Core {
            options,
            ensemble,
            fork_generation: runtime::fork_generation(),
            pid: std::process::id(),
            cache,
            locks: Locks::new(shared.clone(), acl.clone()),
            shared: shared.clone(),
            acl,
            registrations,
            events,
        });
        shared.tasks.spawn(session.run(first));
        shared.tasks.spawn(arming);
        shared.tasks.spawn(forwarding);
        Ok(core)
    }

    /// After ZooKeeper rejected our authentication no session will come: say so at once.
    fn check_auth(&self) -> Result<()> {
        if self.shared.session.state() == State::AuthFailed {
            return Err(Error::new(
                Status::AuthFailed,
                "ZooKeeper rejected the authentication; no session",
            ));
        }
        Ok(())
    }

    /// Checks a path that will be read, and returns it as the server sees it.
    fn read_check<'a>(&self, p: &'a str) -> Result<std::borrow::Cow<'a, str>> {
        self.shared.check_open()?;
        path::validate(p)?;
        let full = self.ensemble.server_path(p);
        limits::check_read(&full)?;
        Ok(full)
    }

    /// Checks a path that will be written, and returns it as the server sees it.
    fn write_check<'a>(&self, p: &'a str) -> Result<std::borrow::Cow<'a, str>> {
        self.shared.check_open()?;
        self.check_auth()?;
        path::validate_for_write(p)?;
        let full = self.ensemble.server_path(p);
        if *full != *p && path::validate_for_write(&full).is_err() {
            return Err(Error::invalid(format!(
                "invalid path {p:?}: under the chroot {} it is {full:?}, and /zookeeper is reserved",
                self.ensemble.chroot
            )));
        }
        limits::check_read(&full)?;
        if self.options.readonly {
            return Err(Error::new(
                Status::ReadOnly,
                "the handle is read-only: no writes allowed",
            ));
        }
        Ok(full)
    }

    /// Authenticates with new digest credentials: at once on the current session and on every
    /// later one; nodes created from now on get the ACL of these credentials (unless the `acl`
    /// option is set). The session keeps the identities it had too (ZooKeeper cannot drop them).
    pub fn set_credentials(&self, username: &str, password: &str) -> Result<()> {
        self.shared.check_open()?;
        let mut probe = Options::default();
        probe.set("username", username)?;
        probe.set("password", password)?;
        let creds = probe.credentials().expect("both set");
        let bytes = creds.auth_bytes();
        limits::check_auth(bytes.len())?;
        self.acl.set_credentials(creds);
        self.shared
            .bounded(self.shared.session.authenticate(bytes), || {
                Err(Error::new(Status::Timeout, "authentication timed out"))
            })
    }

    /// Registers `p` as an ephemeral node with `json` data (object, string or null).
    pub fn set_node(&self, p: &str, json: &str) -> Result<Applied> {
        self.set(p, json, Kind::Ephemeral)
    }

    /// Stores `json` in the persistent node `p`.
    pub fn set_data(&self, p: &str, json: &str) -> Result<Applied> {
        self.set(p, json, Kind::Persistent)
    }

    /// Stores `json` in the persistent node `p` as it is: without the `pid` and `created` the
    /// original (and `set_data`) add.
    pub fn set_data_raw(&self, p: &str, json: &str) -> Result<Applied> {
        self.set_encoded(p, json, Kind::Persistent, true)
    }

    fn set(&self, p: &str, json: &str, kind: Kind) -> Result<Applied> {
        self.set_encoded(p, json, kind, false)
    }

    fn set_encoded(&self, p: &str, json: &str, kind: Kind, raw: bool) -> Result<Applied> {
        let full = self.write_check(p)?;
        let user = codec::parse_user_data(json)?;
        let encoded = match raw {
            true => codec::encode_raw(&user)?,
            false => codec::encode(&user, self.pid, &codec::now_created())?,
        };
        self.acl
            .with_current(|acls| limits::check_create(&full, encoded.len(), acls))?;
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

    /// The data `p`'s ephemeral registration gets while it drains (its own with `state:
    /// draining`), and the registration's version. `NDSR_E_NOT_FOUND` when `p` is not an
    /// ephemeral registration of this handle. Never waits.
    pub fn draining_data(&self, p: &str) -> Result<(String, u64)> {
        self.shared.check_open()?;
        path::validate(p)?;
        let (user, version) = self.registrations.ephemeral(p)?;
        let mut object = match user {
            Value::Object(map) => map,
            Value::Null => serde_json::Map::new(),
            other => serde_json::Map::from_iter([("string_value".to_string(), other)]),
        };
        object.insert("state".into(), Value::from("draining"));
        Ok((Value::Object(object).to_string(), version))
    }

    /// The version of the registration of `p`, if there is one.
    pub fn registration_version(&self, p: &str) -> Option<u64> {
        self.registrations.version(p)
    }

    /// Waits `d`; false if the handle is closed first.
    pub fn pause(&self, d: std::time::Duration) -> bool {
        crate::runtime::block_on(async {
            tokio::select! {
                _ = tokio::time::sleep(d) => true,
                _ = self.shared.closing() => false,
            }
        })
    }

    /// Where the registration of `p` stands (see [`Registrations::status`]). Never waits.
    pub fn registration_status(&self, p: &str) -> Result<Status> {
        self.shared.check_open()?;
        path::validate(p)?;
        self.registrations.status(p)
    }

    /// The document of `p` as JSON (see [`WatchCache::document`]).
    pub fn get_json(&self, p: &str) -> Result<String> {
        self.snapshot(p).map(|doc| doc.json().to_string())
    }

    /// The document of `p` if the cache has it now and the handle may give it (open, not
    /// refused by ZooKeeper's authentication). Never waits.
    pub fn cached(&self, p: &str) -> Option<Arc<Document>> {
        if self.shared.is_closed() || self.shared.session.state() == State::AuthFailed {
            return None;
        }
        // A path with an entry passed the checks when the entry was made.
        self.cache.cached(p)
    }

    /// The document of `p`, shared (see [`WatchCache::document`]).
    pub fn snapshot(&self, p: &str) -> Result<Arc<Document>> {
        if let Some(doc) = self.cached(p) {
            return Ok(doc);
        }
        self.read_check(p)?;
        self.check_auth()?;
        self.cache.document(p)
    }

    /// Waits up to `timeout` until the document of `p` satisfies `ready` (see
    /// [`WatchCache::wait_for`]).
    pub fn wait_for(
        &self,
        p: &str,
        timeout: std::time::Duration,
        ready: impl Fn(&Document) -> bool + Send,
    ) -> Result<()> {
        self.read_check(p)?;
        self.check_auth()?;
        self.cache.wait_for(p, timeout, ready)
    }

    /// Whether a shrink of the list of `p` is held back now (keep last good).
    pub fn is_held(&self, p: &str) -> bool {
        self.cache.is_held(p)
    }

    /// How many updates keep-last-good has held back so far.
    pub fn held_updates(&self) -> u64 {
        self.cache.held_updates()
    }

    /// Whether the document of `p` is live, and since when (see [`WatchCache::freshness`]).
    pub fn freshness(&self, p: &str) -> Result<(bool, i64)> {
        self.shared.check_open()?;
        path::validate(p)?;
        self.cache.freshness(p)
    }

    /// Calls `callback` with the document of `p` now and after every change. Returns the
    /// subscription id, and whether the first call is on its way (`Done`) or comes with the
    /// first read, no session having provided it in time (`Queued`).
    pub fn on_change(&self, p: &str, callback: Callback) -> Result<(u64, Applied)> {
        self.subscribe(p, Form::Document, callback)
    }

    /// As [`Core::on_change`], with diffs: the first call has every child in `added`.
    pub fn on_diff(&self, p: &str, callback: Callback) -> Result<(u64, Applied)> {
        self.subscribe(p, Form::Diff, callback)
    }

    fn subscribe(&self, p: &str, form: Form, callback: Callback) -> Result<(u64, Applied)> {
        self.read_check(p)?;
        let sub = self.events.subscription(form, callback);
        let id = sub.id;
        Ok((id, self.cache.subscribe(p, sub)?))
    }

    /// Calls `callback` with the connection state now and after every change.
    pub fn on_state(&self, callback: Callback) -> Result<u64> {
        self.shared.check_open()?;
        self.events.on_state(callback)
    }

    /// Calls `callback` with the stats `source` makes every `interval` (see `ndsr_on_stats`).
    pub fn on_stats(
        &self,
        interval: std::time::Duration,
        callback: Callback,
        source: crate::events::subscription::StatsSource,
    ) -> Result<u64> {
        self.shared.check_open()?;
        self.events.on_stats(interval, callback, source)
    }

    /// Removes a subscription; its callback is not called again once this returns (unless this
    /// is called from that callback, which finishes first), and its resources are released on
    /// the dispatcher thread after its last call.
    pub fn off(&self, id: u64) -> Result<()> {
        self.shared.check_open()?;
        let sub = self
            .events
            .off_own(id)
            .or_else(|| self.cache.unsubscribe(id))
            .ok_or_else(|| Error::new(Status::NotFound, format!("no subscription {id}")))?;
        self.events.retire(sub);
        Ok(())
    }

    /// Delivers at most one document (or diff) of subscription `id` per `interval`, always the
    /// latest, the last one never lost (zero: every change, the default).
    pub fn set_debounce(&self, id: u64, interval: std::time::Duration) -> Result<()> {
        self.shared.check_open()?;
        let sub = self.cache.subscriber(id).ok_or_else(|| {
            Error::new(Status::NotFound, format!("no document subscription {id}"))
        })?;
        sub.set_debounce(interval);
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

    /// The current session's id (0 when there is none).
    /// The handle's stats (see `crate::stats`). Never touches the network.
    pub(crate) fn stats(&self) -> crate::stats::Parts {
        let session = &self.shared.session;
        let now = crate::session::now_ms();
        let (paths, nodes, oldest_last_known_ms) = self.cache.summary(now);
        crate::stats::Parts {
            state: self.state(),
            session_id: self.session_id(),
            server: session.server(),
            requests: self.shared.counters.snapshot(),
            activity: self.shared.counters.activity(),
            tally: session.tally.now(now),
            registrations: self.registrations.count(),
            paths,
            nodes,
            oldest_last_known_ms,
            held_updates: self.cache.held_updates(),
            callbacks: self.shared.dispatcher.stats(),
        }
    }

    /// The tag that names the handle in log lines (`[connect string 0x<session>]`).
    pub fn tag(&self) -> String {
        self.shared.session.tag()
    }

    pub fn session_id(&self) -> i64 {
        self.shared
            .session
            .current()
            .map_or(0, |g| g.client.session_id().0)
    }

    /// Acquires the lock `p` (up to `simultaneous` holders at once), waiting up to `wait` for a
    /// holder to let go. `NDSR_E_TIMEOUT` when not acquired in time.
    pub fn lock(&self, p: &str, name: &str, simultaneous: u32, wait: Duration) -> Result<Lease> {
        self.lock_check(p, name)?;
        self.locks.lock(p, name, simultaneous, wait)
    }

    /// Checks a lock's path and holder name.
    fn lock_check(&self, p: &str, name: &str) -> Result<()> {
        let full = self.write_check(p)?;
        // The longest request of the recipe: a contender's node with the holder's name.
        let contender = format!("{full}-__lock__/{}__lock__0000000000", "0".repeat(32));
        self.acl
            .with_current(|acls| limits::check_create(&contender, name.len(), acls))
    }

    /// Releases a lease taken with [`Core::lock`].
    pub fn unlock(&self, lease: &Lease) -> Result<()> {
        self.locks.unlock(lease)
    }

    /// Whether a lease is still held (see [`Locks::status`]).
    pub fn lock_status(&self, lease: &Lease) -> Status {
        self.locks.status(lease)
    }

    /// The path-keyed form of [`Core::lock`], as the original's `acquire_lock`.
    pub fn acquire_lock(
        &self,
        p: &str,
        name: &str,
        simultaneous: u32,
        wait: Duration,
    ) -> Result<()> {
        self.lock_check(p, name)?;
        self.locks.acquire(p, name, simultaneous, wait)
    }

    /// Releases a lock taken with [`Core::acquire_lock`]; a path not held is fine.
    pub fn release_lock(&self, p: &str) -> Result<()> {
        self.shared.check_open()?;
        path::validate(p)?;
        self.locks.release(p)
    }

    /// Waits until a connected session exists: `Done`, or `Queued` if none came in time.
    pub fn wait_connected(&self) -> Result<Applied> {
        self.shared.check_open()?;
        self.shared.bounded(
            async {
                match self.shared.session.wait_connected().await {
                    Some(_) => Ok(Applied::Done),
                    None => Err(Error::closed()),
                }
            },
            || Ok(Applied::Queued),
        )
    }

    /// The shared parts (for the testing hooks).
    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }

    /// Waits until the cache file holds every document published so far.
    pub(crate) fn flush_cache(&self) {
        self.cache.flush();
    }

    /// True once closed.
    pub(crate) fn is_closed(&self) -> bool {
        self.shared.is_closed()
    }

    /// Closes the handle: stops every task, closes the session (ZooKeeper removes this handle's
    /// ephemeral nodes at once), releases every subscription after its last call, and stops the
    /// dispatcher. Calls racing the close get `NDSR_E_CLOSED`. Safe from inside a callback.
    pub fn close(&self) {
        if !self.shared.close() {
            return;
        }
        let tasks = self.shared.tasks.close();
        let mut subs = self.events.take_own();
        subs.extend(self.cache.take_subscribers());
        let (shared, file) = (self.shared.clone(), self.cache.file());
        let tag = shared.session.tag();
        let finish = move || {
            let deadline = Instant::now() + CLOSE_BUDGET;
            runtime::block_on(async {
                for t in &tasks {
                    t.abort();
                }
                // Awaited together: the worker cancels them all in one go, instead of handing
                // back to this thread after each.
                futures_util::future::join_all(tasks).await;
                shared.session.close(deadline).await;
            });
            for sub in subs {
                sub.retire(&shared.dispatcher);
            }
            // A callback that is still running is waited for within the budget (and a little
            // more, should the session's close have spent it); then it finishes on its own.
            let floor = Instant::now() + Duration::from_millis(200);
            shared.dispatcher.shutdown(deadline.max(floor));
            if let Some(f) = file {
                f.close();
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

    /// What a forked child would take over (None once closed).
    pub(crate) fn carry(&self) -> Option<Carried> {
        if self.shared.is_closed() {
            return None;
        }
        let session = &self.shared.session;
        let since = match session.state().is_connected() {
            true => now_ms(),
            false => session.state_since(),
        };
        Some(Carried {
            credentials: self.acl.credentials(),
            next_id: self.events.next_id(),
            watches: self.cache.carry(since),
            state_subs: self.events.carry(),
        })
    }

    /// A forked child's core: a session of its own (made in the background), the parent's
    /// watches (their documents last-known until read again) and subscriptions.
    pub(crate) fn for_child(parent: &Core, carried: &Carried) -> Result<Box<Core>> {
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
        core.cache.inherit(&carried.watches);
        core.events.inherit(&carried.state_subs);
        Ok(core)
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        self.close();
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
