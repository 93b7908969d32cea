//! Session supervisor: owns the ZooKeeper client, makes a new session when the old one expires,
//! and publishes the current client (with a generation number) and the connection state.
//!
//! Reconnection within a session (server restart, leader change) is done by the client crate,
//! which re-sends one-shot watches; this module only steps in when a session ends.

use std::sync::atomic::{AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use zookeeper_client::{Client, SessionState};

mod attempts;
mod restoring;
mod tally;

use self::attempts::Attempts;
pub use self::restoring::Restoring;
pub use self::tally::{Tally, TallyNow};
use crate::logging::Repeated;
use crate::status::{Error, Result, NDSR_E_INVALID_ARGUMENT, NDSR_E_NO_CONNECTION};

/// Connection state as reported to callers. Values are part of the ABI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum State {
    /// No connection (not yet connected, or lost and being re-established).
    Disconnected = 0,
    /// Connected to a read-write server.
    Connected = 1,
    /// Connected to a read-only server.
    ConnectedReadOnly = 2,
    /// The session expired; a new one is being made.
    Expired = 3,
    /// ZooKeeper rejected the credentials; no further attempts are made.
    AuthFailed = 4,
    /// The handle is closed.
    Closed = 5,
}

impl State {
    fn from_zk(s: SessionState) -> State {
        match s {
            SessionState::Disconnected => State::Disconnected,
            SessionState::SyncConnected => State::Connected,
            SessionState::ConnectedReadOnly => State::ConnectedReadOnly,
            SessionState::Expired => State::Expired,
            SessionState::AuthFailed => State::AuthFailed,
            SessionState::Closed => State::Closed,
        }
    }

    /// True in the two connected states.
    pub fn is_connected(self) -> bool {
        matches!(self, State::Connected | State::ConnectedReadOnly)
    }

    /// Every state, in the order of their values.
    pub const ALL: [State; 6] = [
        State::Disconnected,
        State::Connected,
        State::ConnectedReadOnly,
        State::Expired,
        State::AuthFailed,
        State::Closed,
    ];

    /// The C name (`NDSR_STATE_CONNECTED`). Exhaustive: a new state does not compile without.
    pub fn c_name(self) -> &'static str {
        match self {
            State::Disconnected => "NDSR_STATE_DISCONNECTED",
            State::Connected => "NDSR_STATE_CONNECTED",
            State::ConnectedReadOnly => "NDSR_STATE_CONNECTED_READ_ONLY",
            State::Expired => "NDSR_STATE_EXPIRED",
            State::AuthFailed => "NDSR_STATE_AUTH_FAILED",
            State::Closed => "NDSR_STATE_CLOSED",
        }
    }
}

/// One ZooKeeper session: the client and its generation (a new, larger number for each session).
#[derive(Clone)]
pub struct Generation {
    /// Increases with every new session.
    pub id: u64,
    /// The client of this session.
    pub client: Client,
}

/// Settings the supervisor needs.
#[derive(Clone)]
pub struct SessionConfig {
    /// ZooKeeper connect string.
    pub connect: String,
    /// Session timeout.
    pub timeout: Duration,
    /// Allow read-only servers.
    pub readonly: bool,
    /// TLS to every server of the connect string.
    pub tls: Option<zookeeper_client::TlsOptions>,
}

type AuthBytes = Option<Vec<u8>>;

/// Owns the session and publishes its state.
pub struct Session {
    config: SessionConfig,
    /// What the connection attempts met.
    attempts: Arc<Attempts>,
    /// Connection losses, logged once per window.
    losses: Repeated,
    /// Whether the last loss was logged (then so is its restoration).
    loss_logged: std::sync::atomic::AtomicBool,
    /// Digest `user:password` sent with every new session (the client re-sends it on reconnects).
    auth: parking_lot::RwLock<AuthBytes>,
    current: watch::Sender<Option<Generation>>,
    state: watch::Sender<State>,
    /// The state's index in `State::ALL`, for readers on a hot path (set with `state`).
    state_now: AtomicU8,
    /// Every transition with its sequence number, in order (the watch above keeps only the
    /// latest).
    transitions: tokio::sync::broadcast::Sender<(u64, State)>,
    transition_seq: parking_lot::Mutex<u64>,
    closed: watch::Sender<bool>,
    /// The ids of every session this handle has had.
    ids: parking_lot::Mutex<Vec<i64>>,
    /// Unix ms of the last state transition, and of the last new session.
    state_since: AtomicI64,
    generation_since: AtomicI64,
    /// Registrations still to be made again on the newest session.
    pub restoring: Restoring,
    /// Reconnects, expiries, time without a connection (for the stats).
    pub tally: Tally,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Generation ids, unique in the process and its forked children (a child's counter goes on
/// from the parent's), so that a lease or registration of one session never passes for one of
/// another handle's or the parent's.
static GENERATIONS: AtomicU64 = AtomicU64::new(0);

const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_millis(1000);

impl Session {
    /// Creates the supervisor; [`Session::run`] does the work.
    pub fn new(config: SessionConfig, auth: AuthBytes) -> Arc<Session> {
        Arc::new(Session {
            attempts: Attempts::new(&config.connect),
            losses: Repeated::default(),
            loss_logged: false.into(),
            config,
            auth: parking_lot::RwLock::new(auth),
            current: watch::channel(None).0,
            state: watch::channel(State::Disconnected).0,
            state_now: AtomicU8::new(0),
            transitions: tokio::sync::broadcast::channel(256).0,
            transition_seq: parking_lot::Mutex::new(0),
            closed: watch::channel(false).0,
            ids: parking_lot::Mutex::new(Vec::new()),
            state_since: AtomicI64::new(now_ms()),
            generation_since: AtomicI64::new(now_ms()),
            restoring: Restoring::default(),
            tally: Tally::default(),
        })
    }

    fn connector(&self) -> zookeeper_client::Connector {
        let attempts = self.attempts.clone();
        let c = Client::connector()
            .with_session_timeout(self.config.timeout)
            .with_readonly(self.config.readonly)
            .with_traffic(self.tally.traffic())
            .with_connect_observer(Arc::new(move |server, outcome| {
                attempts.observe(server, outcome)
            }));
        match &*self.auth.read() {
            Some(bytes) => c.with_auth("digest", bytes),
            None => c,
        }
    }

    /// Adds digest credentials: on the current session now (bounded by the timeout), and on
    /// every session made from now on.
    pub async fn authenticate(&self, bytes: Vec<u8>) -> Result<()> {
        *self.auth.write() = Some(bytes.clone());
        if let Some(g) = self.current() {
            match tokio::time::timeout(self.config.timeout, g.client.auth("digest", &bytes)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(Error::from_zk(&e, "authentication")),
                Err(_) => {
                    return Err(Error::new(
                        crate::status::NDSR_E_TIMEOUT,
                        "authentication timed out",
                    ))
                }
            }
        }
        Ok(())
    }

    /// Makes one connection attempt, bounded by about the session timeout.
    async fn connect_once(
        &self,
        outage_since: std::time::Instant,
    ) -> std::result::Result<Client, zookeeper_client::Error> {
        let connector = self.connector().with_outage_since(outage_since);
        let connect = &self.config.connect;
        let fut = async move {
            match &self.config.tls {
                Some(tls) => {
                    connector
                        .with_tls(tls.clone())
                        .secure_connect(connect)
                        .await
                }
                None => connector.connect(connect).await,
            }
        };
        // The crate bounds the attempt itself; this is a second fence.
        match tokio::time::timeout(self.config.timeout * 2, fut).await {
            Ok(r) => r,
            Err(_) => Err(zookeeper_client::Error::Timeout),
        }
    }

    /// `[connect string, session 0x…]`, naming the handle in log lines.
    pub fn tag(&self) -> String {
        self.attempts.tag()
    }

    /// The server the last session was established with (`host:port`; empty before the first).
    pub fn server(&self) -> String {
        self.attempts.server.lock().clone()
    }

    /// Publishes the first client at once, so that calls made right after `open` find it.
    pub fn adopt(&self, client: &Client) {
        let id = client.session_id().0;
        self.attempts.session_id.store(id, Ordering::Relaxed);
        self.ids.lock().push(id);
        self.generation_since.store(now_ms(), Ordering::SeqCst);
        let id = GENERATIONS.fetch_add(1, Ordering::SeqCst) + 1;
        self.restoring.begin();
        self.current.send_replace(Some(Generation {
            id,
            client: client.clone(),
        }));
        self.set_state(State::from_zk(client.state()));
    }

    /// Supervises sessions until closed: connect, publish, follow the state, and after a
    /// terminal state connect again (except after an authentication failure). `first` is a
    /// client already published with [`Session::adopt`].
    pub async fn run(self: Arc<Self>, first: Option<Client>) {
        let mut closed = self.closed.subscribe();
        let mut adopted = first.is_some();
        let mut pending_client = first;
        let mut backoff = BACKOFF_MIN;
        // When the attempts since the last session began: a new client's attempts go on with
        // the pacing of a long outage instead of starting with quick retries again.
        let mut outage: Option<std::time::Instant> = None;
        loop {
            if *closed.borrow() {
                return;
            }
            let client = match pending_client.take() {
                Some(c) => c,
                None => {
                    let since = *outage.get_or_insert_with(std::time::Instant::now);
                    let attempt = tokio::select! {
                        r = self.connect_once(since) => r,
                        _ = closed.wait_for(|c| *c) => return,
                    };
                    match attempt {
                        Ok(c) => c,
                        Err(e) => {
                            log::debug!("{} no session: {e}", self.tag());
                            if matches!(e, zookeeper_client::Error::AuthFailed) {
                                log::error!(
                                    "{} ZooKeeper rejected the authentication; no further attempts",
                                    self.tag()
                                );
                                self.set_state(State::AuthFailed);
                                return;
                            }
                            let jitter = Duration::from_millis(fastrand_ms(
                                backoff.as_millis() as u64 / 2 + 1,
                            ));
                            tokio::select! {
                                _ = tokio::time::sleep(backoff + jitter) => {},
                                _ = closed.wait_for(|c| *c) => return,
                            }
                            backoff = (backoff * 2).min(BACKOFF_MAX);
                            continue;
                        }
                    }
                }
            };
            backoff = BACKOFF_MIN;
            outage = None;
            let mut states = client.state_watcher();
            // The state now, which may have changed since the client was made (a connection
            // lost before this watcher existed): followed like any later change.
            let now = states.state();
            self.announce(&client, std::mem::take(&mut adopted));
            drop(client);
            let followed = self.follow(now, &mut states, &mut closed, &mut outage);
            let Some(last) = followed.await else {
                return;
            };
            // Drop the dead client so that nobody issues requests on it.
            self.current.send_replace(None);
            if last == State::AuthFailed || last == State::Closed {
                return;
            }
        }
    }

    /// Publishes a new session's client (unless `adopted` already) and says so in the log.
    fn announce(&self, client: &Client, adopted: bool) {
        let first_session = self.ids.lock().len() <= 1;
        if !adopted {
            self.adopt(client);
        }
        let established = format!(
            "{} session established on {}",
            self.tag(),
            self.attempts.server.lock()
        );
        if first_session {
            log::info!("{established}");
        } else {
            // As visible as the expiry it follows.
            log::warn!("{established}");
        }
    }

    /// Follows a session's states, from `now` on, until it ends (its last state), or the handle
    /// is closed (None). Notes in `outage` when the connection was lost, for the pacing of what
    /// follows.
    async fn follow(
        &self,
        now: zookeeper_client::SessionState,
        states: &mut zookeeper_client::StateWatcher,
        closed: &mut watch::Receiver<bool>,
        outage: &mut Option<std::time::Instant>,
    ) -> Option<State> {
        let mut next = Some(now);
        loop {
            let s = match next.take() {
                Some(s) => s,
                None => tokio::select! {
                    s = states.changed() => s,
                    _ = closed.wait_for(|c| *c) => return None,
                },
            };
            let st = State::from_zk(s);
            if st != self.state() {
                self.log_transition(st);
                self.set_state(st);
            }
            // The outage, if the session is lost, began with the connection.
            match st {
                State::Disconnected => *outage = outage.or(Some(std::time::Instant::now())),
                State::Connected | State::ConnectedReadOnly => *outage = None,
                _ => {}
            }
            if s.is_terminated() {
                return Some(st);
            }
        }
    }

    /// One line per transition that matters; the restored connection as visible as the lost one.
    /// A connection that keeps dropping is summarised: a loss within the repeat window of the
    /// last one logged is only counted, and so is the restoration that follows it.
    fn log_transition(&self, to: State) {
        let (tag, since) = (self.tag(), now_ms() - self.state_since());
        match (self.state(), to) {
            (State::Connected | State::ConnectedReadOnly, State::Disconnected) => {
                let more = self.losses.note();
                self.loss_logged.store(more.is_some(), Ordering::Relaxed);
                if let Some(more) = more {
                    log::warn!("{tag} connection lost; reconnecting{more}")
                }
            }
            (State::Disconnected, State::Connected | State::ConnectedReadOnly)
                if self.loss_logged.swap(false, Ordering::Relaxed) =>
            {
                let server = self.attempts.server.lock().clone();
                log::warn!("{tag} connection restored (to {server}, after {since} ms)")
            }
            (_, State::Expired) => log::warn!("{tag} session expired; opening a new session"),
            (_, State::AuthFailed) => {
                log::error!("{tag} ZooKeeper rejected the authentication; no further attempts")
            }
            _ => {}
        }
    }

    fn set_state(&self, s: State) {
        // The sequence lock makes (state, sequence) change together.
        let mut seq = self.transition_seq.lock();
        let changed = self.state.send_if_modified(|cur| {
            if *cur == s {
                false
            } else {
                *cur = s;
                let index = State::ALL.iter().position(|x| *x == s).unwrap_or(0);
                self.state_now.store(index as u8, Ordering::SeqCst);
                if matches!(s, State::AuthFailed | State::Closed) {
                    // Cached reads answer nothing from now on.
                    crate::memo::invalidate();
                }
                true
            }
        });
        if changed {
            self.tally.note(s, now_ms());
            self.state_since.store(now_ms(), Ordering::SeqCst);
            *seq += 1;
            let _ = self.transitions.send((*seq, s));
        }
    }

    /// Makes the first connection for `open`, waiting at most the timeout. Without a session
    /// by then, `NDSR_E_NO_CONNECTION` saying what the last attempt met.
    pub async fn first_connect(&self) -> Result<Client> {
        let timeout = self.config.timeout;
        let since = std::time::Instant::now();
        let cause = match tokio::time::timeout(timeout, self.connect_once(since)).await {
            Ok(Ok(c)) => return Ok(c),
            Ok(Err(zookeeper_client::Error::BadArguments(why))) => {
                let code = if **why == **zookeeper_client::TOO_LARGE {
                    crate::status::NDSR_E_TOO_LARGE
                } else {
                    NDSR_E_INVALID_ARGUMENT
                };
                return Err(Error::new(code, format!("cannot connect: {why}")));
            }
            Ok(Err(zookeeper_client::Error::AuthFailed)) => {
                return Err(Error::new(
                    crate::status::NDSR_E_AUTH_FAILED,
                    "ZooKeeper rejected the authentication",
                ))
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => "timed out".to_string(),
        };
        let last = self.attempts.last_failure().unwrap_or(cause);
        Err(Error::new(
            NDSR_E_NO_CONNECTION,
            format!(
                "could not connect to ZooKeeper at {} within {} ms; last attempt: {last}",
                self.config.connect,
                timeout.as_millis()
            ),
        ))
    }

    /// Unix ms of the last state transition.
    pub fn state_since(&self) -> i64 {
        self.state_since.load(Ordering::SeqCst)
    }

    /// Unix ms when the current session (generation) began.
    pub fn generation_since(&self) -> i64 {
        self.generation_since.load(Ordering::SeqCst)
    }

    /// True if `session_id` is one of this handle's sessions (the current one or an earlier one).
    pub fn was_ours(&self, session_id: i64) -> bool {
        self.ids.lock().contains(&session_id)
    }

    /// The current generation, if a session exists right now.
    pub fn current(&self) -> Option<Generation> {
        self.current.borrow().clone()
    }

    /// Waits until a session exists and is connected, or the session is closed (None).
    pub async fn wait_connected(&self) -> Option<Generation> {
        let mut cur = self.current.subscribe();
        let mut state = self.state.subscribe();
        let mut closed = self.closed.subscribe();
        loop {
            if *closed.borrow() {
                return None;
            }
            if state.borrow().is_connected() {
                if let Some(g) = cur.borrow().clone() {
                    return Some(g);
                }
            }
            tokio::select! {
                r = cur.changed() => if r.is_err() { return None },
                r = state.changed() => if r.is_err() { return None },
                _ = closed.wait_for(|c| *c) => return None,
            }
        }
    }

    /// Waits up to `timeout` for a connected session.
    pub async fn connected_within(&self, timeout: Duration) -> Result<Generation> {
        match tokio::time::timeout(timeout, self.wait_connected()).await {
            Ok(Some(g)) => Ok(g),
            Ok(None) => Err(Error::closed()),
            Err(_) => Err(Error::new(
                NDSR_E_NO_CONNECTION,
                "no connection to ZooKeeper",
            )),
        }
    }

    /// The connection state now.
    pub fn state(&self) -> State {
        State::ALL[usize::from(self.state_now.load(Ordering::SeqCst)) % State::ALL.len()]
    }

    /// Subscribes to every state transition (with its sequence number), in order.
    pub fn subscribe_transitions(&self) -> tokio::sync::broadcast::Receiver<(u64, State)> {
        self.transitions.subscribe()
    }

    /// The state now and the sequence number of the transition that made it.
    pub fn state_with_seq(&self) -> (u64, State) {
        let seq = self.transition_seq.lock();
        (*seq, *self.state.borrow())
    }

    /// Subscribes to session changes (a new generation, or none).
    pub fn subscribe_current(&self) -> watch::Receiver<Option<Generation>> {
        self.current.subscribe()
    }

    /// The configured session timeout.
    pub fn timeout(&self) -> Duration {
        self.config.timeout
    }

    /// Closes the session: the supervisor stops, the client is dropped (which sends
    /// CloseSession, so the server removes our ephemeral nodes at once), and we wait until
    /// `deadline` at most for the close to go through. Every other holder of a client must be gone first.
    pub async fn close(&self, deadline: std::time::Instant) {
        let current = self.current.send_replace(None);
        self.closed.send_replace(true);
        if let Some(g) = current {
            let mut states = g.client.state_watcher();
            drop(g);
            let _ = tokio::time::timeout_at(deadline.into(), async {
                while !states.state().is_terminated() {
                    states.changed().await;
                }
            })
            .await;
        }
        self.set_state(State::Closed);
    }
}

// A little jitter so that a fleet does not reconnect in lockstep; no need for a crate.
fn fastrand_ms(max: u64) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(max);
    h.finish() % max.max(1)
}
