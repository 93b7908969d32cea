//! Test helpers: a real ZooKeeper started by `tests/harness/zk.sh`, removed on drop, and a raw
//! ZooKeeper client for playing "someone else".
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

/// A running ZooKeeper (standalone or a 3-node ensemble); stopped and deleted on drop.
pub struct Zk {
    pub base: PathBuf,
    pub connect: String,
    /// With ZK_TLS: the TLS ports' connect string and the certificates' directory.
    pub secure: Option<(String, PathBuf)>,
}

fn script() -> PathBuf {
    // The library's own tests, or the CLI package's (a member of the same workspace).
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let root = match dir.join("tests/harness/zk.sh").exists() {
        true => dir,
        false => dir.parent().expect("the workspace root").to_path_buf(),
    };
    root.join("tests/harness/zk.sh")
}

impl Zk {
    pub fn start(kind: &str) -> Zk {
        Zk::start_with(kind, &[])
    }

    /// Starts with harness settings such as ("ZK_TLS", "1") or ("ZK_READONLY", "1").
    pub fn start_with(kind: &str, env: &[(&str, &str)]) -> Zk {
        let out = Command::new("bash")
            .arg(script())
            .args(["start", kind])
            .envs(env.iter().copied())
            .output()
            .expect("run zk.sh");
        assert!(
            out.status.success(),
            "zk.sh start failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let field = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(k))
                .expect(k)
                .to_string()
        };
        let secure = text
            .lines()
            .find_map(|l| l.strip_prefix("SECURE="))
            .map(|s| (s.to_string(), PathBuf::from(field("TLSDIR="))));
        Zk {
            base: PathBuf::from(field("BASE=")),
            connect: field("CONNECT="),
            secure,
        }
    }

    pub fn standalone() -> Zk {
        Zk::start("standalone")
    }

    pub fn ensemble() -> Zk {
        Zk::start("ensemble")
    }

    pub fn cmd(&self, args: &[&str]) -> String {
        let out = Command::new("bash")
            .arg(script())
            .arg(&self.base)
            .args(args)
            .output()
            .expect("run zk.sh");
        assert!(
            out.status.success(),
            "zk.sh {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

impl Drop for Zk {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(script())
            .arg(&self.base)
            .arg("clean")
            .status();
    }
}

/// A plain zookeeper-client session on its own runtime, standing for another process.
pub struct Raw {
    pub rt: tokio::runtime::Runtime,
    pub client: zookeeper_client::Client,
}

impl Raw {
    pub fn connect(connect: &str) -> Raw {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let client = rt
            .block_on(
                zookeeper_client::Client::connector()
                    .with_session_timeout(Duration::from_secs(10))
                    .connect(connect),
            )
            .expect("raw connect");
        Raw { rt, client }
    }

    /// Runs `op` until it gets an answer that is not a connection loss (the test's own client
    /// may be on a server the test just killed), for at most 20 s. Also tells whether a
    /// connection was lost on the way.
    fn retry<T>(
        &self,
        what: &str,
        op: impl Fn() -> Result<T, zookeeper_client::Error>,
    ) -> (Result<T, zookeeper_client::Error>, bool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let mut lost = false;
        loop {
            match op() {
                Err(e)
                    if ndsr::testing::is_connection_error(&e)
                        && std::time::Instant::now() < deadline =>
                {
                    eprintln!("{what}: {e}; retrying");
                    lost = true;
                    std::thread::sleep(Duration::from_millis(100));
                }
                r => return (r, lost),
            }
        }
    }

    fn retried_write(&self, what: &str, op: impl Fn() -> Result<(), zookeeper_client::Error>) {
        match self.retry(what, op) {
            (Ok(()), _) => {}
            // A write retried after a lost reply may find its own result.
            (Err(zookeeper_client::Error::NodeExists | zookeeper_client::Error::NoNode), true) => {}
            (Err(e), _) => panic!("{what}: {e}"),
        }
    }

    pub fn create(&self, path: &str, data: &[u8]) {
        let opts = zookeeper_client::CreateMode::Persistent
            .with_acls(zookeeper_client::Acls::anyone_all());
        self.retried_write(&format!("create {path}"), || {
            self.rt
                .block_on(self.client.create(path, data, &opts))
                .map(|_| ())
        });
    }

    pub fn create_ephemeral(&self, path: &str, data: &[u8]) {
        let opts =
            zookeeper_client::CreateMode::Ephemeral.with_acls(zookeeper_client::Acls::anyone_all());
        self.retried_write(&format!("create {path}"), || {
            self.rt
                .block_on(self.client.create(path, data, &opts))
                .map(|_| ())
        });
    }

    pub fn set(&self, path: &str, data: &[u8]) {
        self.retried_write(&format!("set {path}"), || {
            self.rt
                .block_on(self.client.set_data(path, data, None))
                .map(|_| ())
        });
    }

    pub fn delete(&self, path: &str) {
        self.retried_write(&format!("delete {path}"), || {
            self.rt.block_on(self.client.delete(path, None))
        });
    }

    pub fn get(&self, path: &str) -> Option<(Vec<u8>, zookeeper_client::Stat)> {
        match self
            .retry("get", || self.rt.block_on(self.client.get_data(path)))
            .0
        {
            Ok(r) => Some(r),
            Err(zookeeper_client::Error::NoNode) => None,
            Err(e) => panic!("get {path}: {e}"),
        }
    }

    /// The names of `path`'s children (none when it does not exist).
    #[allow(dead_code)]
    pub fn children(&self, path: &str) -> Vec<String> {
        match self.rt.block_on(self.client.list_children(path)) {
            Ok(names) => names,
            Err(zookeeper_client::Error::NoNode) => Vec::new(),
            Err(e) => panic!("list {path}: {e}"),
        }
    }

    /// Waits (polling: no event of the handle under test tells) until `path` exists or not, as
    /// `present` says; fails after `within`.
    #[allow(dead_code)]
    pub fn wait_exists(&self, path: &str, present: bool, within: Duration) {
        let deadline = std::time::Instant::now() + within;
        while self.exists(path) != present {
            assert!(
                std::time::Instant::now() < deadline,
                "{path}: still {}",
                if present { "missing" } else { "there" }
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn exists(&self, path: &str) -> bool {
        self.rt
            .block_on(self.client.check_stat(path))
            .unwrap()
            .is_some()
    }
}

/// Receives callback documents with a deadline, so a missing event fails the test instead of
/// hanging it.
pub struct Events<T> {
    pub rx: mpsc::Receiver<T>,
}

impl<T: std::fmt::Debug> Events<T> {
    pub fn next(&self) -> T {
        self.rx
            .recv_timeout(Duration::from_secs(15))
            .expect("no event within 15 s")
    }

    /// Asserts nothing else arrives within `d` (used only to check for *extra* events after the
    /// expected ones have been awaited).
    pub fn assert_quiet(&self, d: Duration) {
        if let Ok(e) = self.rx.recv_timeout(d) {
            panic!("unexpected extra event: {e:?}");
        }
    }
}

pub fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("bad JSON {s}: {e}"))
}

/// A loopback TCP proxy to one ZooKeeper server that can cut traffic (drop every connection and
/// refuse new ones) and restore it: a partition of the client only.
pub struct Proxy {
    pub addr: String,
    state: Arc<ProxyState>,
}

struct ProxyState {
    cut: std::sync::atomic::AtomicBool,
    /// Server-to-client bytes are read and thrown away (requests still reach the server).
    mute: std::sync::atomic::AtomicBool,
    /// Mute as soon as a request containing these bytes goes by.
    mute_after: std::sync::Mutex<Option<Vec<u8>>>,
    /// The next this many connections are accepted and never answered nor closed.
    swallow: std::sync::atomic::AtomicUsize,
    /// How many swallowed connections have sent a request.
    swallowed: std::sync::atomic::AtomicUsize,
    stop: std::sync::atomic::AtomicBool,
    conns: std::sync::Mutex<Vec<std::net::TcpStream>>,
    /// Connections refused while cut (each a client's connection attempt).
    refused: std::sync::atomic::AtomicUsize,
    /// Every reply to a request becomes ZooKeeper's "throttled" (-127) answer.
    throttle: std::sync::atomic::AtomicBool,
    /// How many replies were turned into "throttled".
    throttled: std::sync::atomic::AtomicUsize,
    /// Bytes passed on to the server, and to the client.
    to_server: std::sync::atomic::AtomicUsize,
    to_client: std::sync::atomic::AtomicUsize,
}

use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;

impl Proxy {
    pub fn start(target: &str) -> Proxy {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let state = Arc::new(ProxyState {
            cut: false.into(),
            mute: false.into(),
            mute_after: std::sync::Mutex::new(None),
            swallow: 0.into(),
            swallowed: 0.into(),
            stop: false.into(),
            conns: std::sync::Mutex::new(Vec::new()),
            refused: 0.into(),
            throttle: false.into(),
            throttled: 0.into(),
            to_server: 0.into(),
            to_client: 0.into(),
        });
        let (st, target) = (state.clone(), target.to_string());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if st.stop.load(SeqCst) {
                    return;
                }
                let Ok(client) = client else { continue };
                if st.cut.load(SeqCst) {
                    st.refused.fetch_add(1, SeqCst);
                    drop(client);
                    continue;
                }
                if st
                    .swallow
                    .fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1))
                    .is_ok()
                {
                    st.conns.lock().unwrap().push(client.try_clone().unwrap());
                    let st = st.clone();
                    std::thread::spawn(move || {
                        use std::io::Read;
                        let mut client = client;
                        let mut buf = [0u8; 16384];
                        if matches!(client.read(&mut buf), Ok(n) if n > 0) {
                            st.swallowed.fetch_add(1, SeqCst);
                            while matches!(client.read(&mut buf), Ok(n) if n > 0) {}
                        }
                    });
                    continue;
                }
                let Ok(server) = std::net::TcpStream::connect(&target) else {
                    continue;
                };
                let mut conns = st.conns.lock().unwrap();
                conns.push(client.try_clone().unwrap());
                conns.push(server.try_clone().unwrap());
                for (mut from, mut to, replies) in [
                    (
                        client.try_clone().unwrap(),
                        server.try_clone().unwrap(),
                        false,
                    ),
                    (server, client, true),
                ] {
                    let st = st.clone();
                    std::thread::spawn(move || {
                        use std::io::{Read, Write};
                        let mut buf = [0u8; 16384];
                        let mut frames = Frames::default();
                        while let Ok(n) = from.read(&mut buf) {
                            if !replies {
                                let after = st.mute_after.lock().unwrap();
                                if let Some(pat) = after.as_deref() {
                                    if buf[..n].windows(pat.len()).any(|w| w == pat) {
                                        st.mute.store(true, SeqCst);
                                    }
                                }
                            }
                            if n == 0 {
                                break;
                            }
                            let out = if replies {
                                frames.pass(&buf[..n], &st)
                            } else {
                                buf[..n].to_vec()
                            };
                            if !(replies && st.mute.load(SeqCst)) {
                                if to.write_all(&out).is_err() {
                                    break;
                                }
                                let count = if replies {
                                    &st.to_client
                                } else {
                                    &st.to_server
                                };
                                count.fetch_add(out.len(), SeqCst);
                            }
                        }
                        let _ = to.shutdown(std::net::Shutdown::Both);
                        let _ = from.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        Proxy { addr, state }
    }

    /// Bytes passed on so far: (to the server, to the client).
    pub fn bytes(&self) -> (u64, u64) {
        let n = |c: &std::sync::atomic::AtomicUsize| c.load(SeqCst) as u64;
        (n(&self.state.to_server), n(&self.state.to_client))
    }

    /// How many connections were refused while cut (connection attempts during an outage).
    pub fn refused(&self) -> usize {
        self.state.refused.load(SeqCst)
    }

    /// Drops every proxied connection and refuses new ones until [`Proxy::restore`].
    pub fn cut(&self) {
        self.state.cut.store(true, SeqCst);
        for c in self.state.conns.lock().unwrap().drain(..) {
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
    }

    pub fn restore(&self) {
        self.state.cut.store(false, SeqCst);
        self.state.mute.store(false, SeqCst);
        *self.state.mute_after.lock().unwrap() = None;
    }

    /// Mutes replies (see [`Proxy::mute_replies`]) from the first request containing `bytes`
    /// on, that request's own reply included.
    pub fn mute_replies_after(&self, bytes: &[u8]) {
        *self.state.mute_after.lock().unwrap() = Some(bytes.to_vec());
    }

    /// The next `n` connections are accepted, their requests read and dropped, and they are
    /// never answered nor closed (until [`Proxy::cut`]): what a ZooKeeper 3.8.0 server that is
    /// still starting can do (ZOOKEEPER-5051).
    pub fn swallow_connections(&self, n: usize) {
        self.state.swallow.store(n, SeqCst);
    }

    /// How many swallowed connections have sent a request.
    pub fn swallowed(&self) -> usize {
        self.state.swallowed.load(SeqCst)
    }

    /// While on, every reply to a request is turned into ZooKeeper's "throttled" answer (-127);
    /// events and pings pass.
    pub fn throttle(&self, on: bool) {
        self.state.throttle.store(on, SeqCst);
    }

    /// How many replies were turned into "throttled" so far.
    #[allow(dead_code)]
    pub fn throttled(&self) -> usize {
        self.state.throttled.load(SeqCst)
    }

    /// From now on the server's replies are lost (requests still arrive and are carried out),
    /// until [`Proxy::cut`] and [`Proxy::restore`].
    pub fn mute_replies(&self) {
        self.state.mute.store(true, SeqCst);
    }
}

/// The server-to-client stream of one connection, cut into frames (a 4-byte length, then the
/// frame) so that replies can be rewritten; the first frame is the connect response.
#[derive(Default)]
struct Frames {
    pending: Vec<u8>,
    past_handshake: bool,
}

impl Frames {
    /// The bytes to pass on for `bytes` received: the complete frames among what is pending,
    /// replies turned into "throttled" while the proxy throttles.
    fn pass(&mut self, bytes: &[u8], st: &ProxyState) -> Vec<u8> {
        self.pending.extend_from_slice(bytes);
        let mut out = Vec::with_capacity(self.pending.len());
        let mut at = 0;
        while self.pending.len() - at >= 4 {
            let len = u32::from_be_bytes(self.pending[at..at + 4].try_into().unwrap()) as usize;
            if self.pending.len() - at - 4 < len {
                break;
            }
            let frame = &self.pending[at..at + 4 + len];
            at += 4 + len;
            // A reply header: xid (>= 0 for a request's reply; events and pings are negative),
            // zxid, error.
            let xid = (len >= 16).then(|| i32::from_be_bytes(frame[4..8].try_into().unwrap()));
            if self.past_handshake && st.throttle.load(SeqCst) && xid.is_some_and(|x| x >= 0) {
                st.throttled.fetch_add(1, SeqCst);
                out.extend_from_slice(&16u32.to_be_bytes());
                out.extend_from_slice(&frame[4..16]);
                out.extend_from_slice(&(-127i32).to_be_bytes());
            } else {
                out.extend_from_slice(frame);
            }
            self.past_handshake = true;
        }
        self.pending.drain(..at);
        out
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.state.stop.store(true, SeqCst);
        let _ = std::net::TcpStream::connect(&self.addr);
    }
}

/// The member (1..3) a session is connected to, from the servers' `cons` output.
#[allow(dead_code)]
pub fn connected_node(zk: &Zk, session: i64) -> String {
    let needle = format!("sid=0x{:x}", session);
    for n in ["1", "2", "3"] {
        if zk.cmd(&["4lw", n, "cons"]).contains(&needle) {
            return n.to_string();
        }
    }
    panic!("session {needle} not found on any server");
}

/// Subscribes to the documents of `path` on `r`, into a channel.
pub fn docs(r: &ndsr::Registry, path: &str) -> Events<String> {
    let (tx, rx) = mpsc::channel();
    r.on_change(
        path,
        ndsr::callback(move |e| {
            if let ndsr::Event::Document { json, .. } = e {
                let _ = tx.send(json.to_string());
            }
        }),
    )
    .expect("on_change");
    Events { rx }
}

/// Subscribes to the diffs of `path` on `r`, into a channel.
pub fn diffs(r: &ndsr::Registry, path: &str) -> Events<String> {
    let (tx, rx) = mpsc::channel();
    r.on_diff(
        path,
        ndsr::callback(move |e| {
            if let ndsr::Event::Diff { json, .. } = e {
                let _ = tx.send(json.to_string());
            }
        }),
    )
    .expect("on_diff");
    Events { rx }
}

/// Subscribes to the connection states of `r`, into a channel.
pub fn states(r: &ndsr::Registry) -> Events<ndsr::State> {
    let (tx, rx) = mpsc::channel();
    r.on_state(ndsr::callback(move |e| {
        if let ndsr::Event::State(s) = e {
            let _ = tx.send(s);
        }
    }))
    .expect("on_state");
    Events { rx }
}

/// Waits for a document satisfying `pred`, skipping others.
pub fn until(
    events: &Events<String>,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    loop {
        let d = json(&events.next());
        if pred(&d) {
            return d;
        }
    }
}

/// Waits until the registration of `path` on `r` is in place (NDSR_OK). Polled: a node shows
/// in ZooKeeper (and in documents) before the create's answer is taken in, and no event tells.
#[allow(dead_code)]
pub fn until_registered(r: &ndsr::Registry, path: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while r.registration_status(path) != Ok(ndsr::status::NDSR_OK) {
        assert!(
            std::time::Instant::now() < deadline,
            "{path}: {:?}",
            r.registration_status(path)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits until `cond` holds (polled; 15 s at most): for counters that no event announces.
#[allow(dead_code)]
pub fn until_true(cond: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "still false after 15 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits for the state `want`, skipping others.
pub fn until_state(events: &Events<ndsr::State>, want: ndsr::State) {
    while events.next() != want {}
}

/// A TCP listener on a free loopback port that accepts connections and never answers nor
/// closes them (a hung server); its address.
pub fn silent_server() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in listener.incoming() {
            held.push(c);
        }
    });
    addr
}
