//! Locks on real ZooKeeper: exclusion, a waiter wakes as soon as the holder lets go, semaphores,
//! the kazoo layout, loss with the session, and interop with the Python original's locks.
mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use ndsr::status::*;
use ndsr::Options;
use ndsr::Registry;

fn open(connect: &str) -> Arc<Registry> {
    Registry::open(Some(connect), Options::default()).expect("open")
}

const NO_WAIT: Duration = Duration::ZERO;

#[test]
fn exclusion_and_prompt_handover() {
    let zk = Zk::standalone();
    let (a, b) = (open(&zk.connect), open(&zk.connect));
    let held = a.lock("/locks/job", "a", 1, NO_WAIT).unwrap();
    assert_eq!(a.lock_status(&held), NDSR_OK);
    assert_eq!(
        b.lock("/locks/job", "b", 1, Duration::from_millis(300))
            .unwrap_err()
            .code,
        NDSR_E_TIMEOUT
    );
    assert_eq!(
        b.lock("/locks/job", "b", 1, NO_WAIT).unwrap_err().code,
        NDSR_E_TIMEOUT
    );

    // A waiter with a long wait gets the lock when the holder lets go, not at the end of its wait.
    let b2 = b.clone();
    let waiter = std::thread::spawn(move || {
        let lease = b2.lock("/locks/job", "b", 1, Duration::from_secs(30));
        (lease, Instant::now())
    });
    // Let the waiter queue up (its guard node appears), then release.
    let raw = Raw::connect(&zk.connect);
    while raw
        .rt
        .block_on(raw.client.list_children("/locks/job-__lock__"))
        .unwrap()
        .is_empty()
    {
        std::thread::yield_now();
    }
    let released_at = Instant::now();
    a.unlock(&held).unwrap();
    let (lease, got_at) = waiter.join().unwrap();
    let lease = lease.expect("waiter acquires");
    assert!(got_at >= released_at);
    assert!(
        got_at - released_at < Duration::from_secs(5),
        "took {:?}",
        got_at - released_at
    );
    assert_eq!(b.lock_status(&lease), NDSR_OK);
    assert_eq!(
        a.lock_status(&held),
        NDSR_OK,
        "a lease object does not know it was released"
    );
    b.unlock(&lease).unwrap();
}

#[test]
fn semaphore_layout_is_kazoos() {
    let zk = Zk::standalone();
    let raw = Raw::connect(&zk.connect);
    let (a, b, c) = (open(&zk.connect), open(&zk.connect), open(&zk.connect));
    let la = a.lock("/sem/pool", "worker-a", 2, NO_WAIT).unwrap();
    let lb = b.lock("/sem/pool", "worker-b", 2, NO_WAIT).unwrap();
    assert_eq!(
        c.lock("/sem/pool", "worker-c", 2, Duration::from_millis(200))
            .unwrap_err()
            .code,
        NDSR_E_TIMEOUT
    );
    let e = c.lock("/sem/pool", "x", 3, NO_WAIT).unwrap_err();
    assert_eq!(e.code, NDSR_E_INVALID_ARGUMENT);
    assert!(
        e.message.contains("inconsistent max leases"),
        "{}",
        e.message
    );

    // PATH holds "2"; each lease is PATH/<32 hex digits> holding the holder's name; the guard
    // directory PATH-__lock__ is empty once nobody is queueing.
    assert_eq!(raw.get("/sem/pool").unwrap().0, b"2");
    let mut kids = raw
        .rt
        .block_on(raw.client.list_children("/sem/pool"))
        .unwrap();
    kids.sort();
    assert_eq!(kids.len(), 2);
    let mut names = Vec::new();
    for k in &kids {
        assert!(
            k.len() == 32 && k.bytes().all(|b| b.is_ascii_hexdigit()),
            "{k}"
        );
        let (data, stat) = raw.get(&format!("/sem/pool/{k}")).unwrap();
        assert_ne!(stat.ephemeral_owner, 0);
        names.push(String::from_utf8(data).unwrap());
    }
    names.sort();
    assert_eq!(names, ["worker-a", "worker-b"]);
    assert!(raw
        .rt
        .block_on(raw.client.list_children("/sem/pool-__lock__"))
        .unwrap()
        .is_empty());
    a.unlock(&la).unwrap();
    let lc = c.lock("/sem/pool", "worker-c", 2, NO_WAIT).unwrap();
    b.unlock(&lb).unwrap();
    c.unlock(&lc).unwrap();
    assert!(raw
        .rt
        .block_on(raw.client.list_children("/sem/pool"))
        .unwrap()
        .is_empty());
}

#[test]
fn path_keyed_forms_and_read_only() {
    let zk = Zk::standalone();
    let (a, b) = (open(&zk.connect), open(&zk.connect));
    a.acquire_lock("/pk", "", 1, NO_WAIT).unwrap();
    a.acquire_lock("/pk", "", 1, NO_WAIT).unwrap(); // held already: fine
    assert_eq!(
        b.acquire_lock("/pk", "", 1, NO_WAIT).unwrap_err().code,
        NDSR_E_TIMEOUT
    );
    a.release_lock("/pk").unwrap();
    a.release_lock("/pk").unwrap(); // not held: fine
    b.acquire_lock("/pk", "", 1, NO_WAIT).unwrap();
    // Closing the holder frees the lock at once.
    b.close();
    a.acquire_lock("/pk", "", 1, Duration::from_secs(5))
        .unwrap();

    let mut o = Options::default();
    o.set("readonly", "true").unwrap();
    let ro = Registry::open(Some(&zk.connect), o).unwrap();
    assert_eq!(
        ro.lock("/pk2", "", 1, NO_WAIT).unwrap_err().code,
        NDSR_E_READ_ONLY
    );
    assert_eq!(
        a.lock("/pk3", "", 0, NO_WAIT).unwrap_err().code,
        NDSR_E_INVALID_ARGUMENT
    );
    assert_eq!(
        a.lock("bad", "", 1, NO_WAIT).unwrap_err().code,
        NDSR_E_INVALID_ARGUMENT
    );
}

#[test]
fn a_lock_is_lost_with_its_session() {
    let zk = Zk::standalone();
    let proxy = Proxy::start(&zk.connect);
    let mut o = Options::default();
    o.set("timeout_ms", "2000").unwrap();
    let a = Registry::open(Some(&proxy.addr), o).unwrap();
    let b = open(&zk.connect);
    let lease = a.lock("/lost", "a", 1, NO_WAIT).unwrap();
    proxy.cut();
    // Cut off: the holder must not act as the holder any more.
    let deadline = Instant::now() + Duration::from_secs(10);
    while a.lock_status(&lease) == NDSR_OK {
        assert!(
            Instant::now() < deadline,
            "still reported held while cut off"
        );
        std::thread::yield_now();
    }
    // The session expires server-side, the lock is free for others …
    b.lock("/lost", "b", 1, Duration::from_secs(15))
        .expect("b takes the lock once a's session expired");
    proxy.restore();
    // … and once a is back (on a new session), it is told the lock was lost.
    let deadline = Instant::now() + Duration::from_secs(15);
    while a.lock_status(&lease) != NDSR_E_LOCK_LOST {
        assert!(Instant::now() < deadline, "loss never reported");
        std::thread::sleep(Duration::from_millis(20));
    }
}

struct Peer {
    child: std::process::Child,
    out: BufReader<std::process::ChildStdout>,
}

impl Peer {
    fn start(connect: &str) -> Peer {
        let py = std::env::var("NDSR_PYTHON")
            .unwrap_or_else(|_| format!("{}/.venv/bin/python", env!("CARGO_MANIFEST_DIR")));
        let mut child = Command::new(&py)
            .arg(format!(
                "{}/tests/interop/lock_peer.py",
                env!("CARGO_MANIFEST_DIR")
            ))
            .arg(connect)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{py}: {e} (run scripts/install-deps.sh)"));
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready");
        Peer { child, out }
    }

    fn ask(&mut self, cmd: &str) -> String {
        writeln!(self.child.stdin.as_mut().unwrap(), "{cmd}").unwrap();
        let mut line = String::new();
        self.out.read_line(&mut line).unwrap();
        line.trim().to_string()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = writeln!(self.child.stdin.as_mut().unwrap(), "quit");
        let _ = self.child.wait();
    }
}

#[test]
fn python_original_and_libndsr_exclude_each_other() {
    let zk = Zk::standalone();
    let r = open(&zk.connect);
    let mut py = Peer::start(&zk.connect);
    // Python holds it: we cannot have it …
    assert_eq!(py.ask("acquire /interop/lock 1"), "True");
    assert_eq!(
        r.lock("/interop/lock", "rust", 1, Duration::from_millis(300))
            .unwrap_err()
            .code,
        NDSR_E_TIMEOUT
    );
    // … until Python lets go.
    assert_eq!(py.ask("release /interop/lock"), "True");
    let lease = r.lock("/interop/lock", "rust", 1, NO_WAIT).unwrap();
    // We hold it: Python cannot have it (the original waits the whole time, then gives up) …
    assert_eq!(py.ask("acquire /interop/lock 0.5"), "False");
    // … until we let go.
    r.unlock(&lease).unwrap();
    assert_eq!(py.ask("acquire /interop/lock 5"), "True");
}

/// Two contenders for a semaphore of two, both without waiting, at the same moment: both get a
/// lease. They queue for kazoo's guard one after the other, and the wait for the guard alone
/// (held only while the first takes its free lease) is not "the lock is taken".
#[test]
fn contention_for_the_guard_alone_is_not_a_refusal() {
    let zk = Zk::standalone();
    let (a, b) = (open(&zk.connect), open(&zk.connect));
    for round in 0..20 {
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
        let take = |r: &std::sync::Arc<ndsr::Registry>, name: &'static str| {
            let (r, barrier) = (r.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                r.lock("/sem/race", name, 2, NO_WAIT).map(|l| (r, l))
            })
        };
        let (ta, tb) = (take(&a, "a"), take(&b, "b"));
        for t in [ta, tb] {
            let (r, lease) = t
                .join()
                .unwrap()
                .unwrap_or_else(|e| panic!("round {round}: {e:?}"));
            r.unlock(&lease).unwrap();
        }
    }
}
