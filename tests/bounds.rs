//! The bounds the discovery calls (and the stats) promise, checked where they would break: a
//! hung server (the connection stays up, replies are lost), a paused server (SIGSTOP) and a
//! callback that does not return. `pick`, the stats and `on_stats` never block, `wait_for`
//! returns within its timeout, `drain` returns at once, and the drain still takes effect once the server is
//! back. (The limits leave room for
//! a loaded machine; a call that waited on the server would take the handle's 3 s timeout.)
//! The C API's snapshots too, through its own functions (their hot path is C-only): a snapshot
//! of a path read already, its getters and its release never block, and the first read of a
//! path returns within the handle's `timeout_ms`.
mod c_snapshots;
mod common;

use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use c_snapshots::CReader;
use common::*;
use ndsr::discovery::{Picker, PickerOptions};
use ndsr::{Options, Registry, Status};

const SERVICE: &str = "/b/svc";
const MINE: &str = "/b/svc/me:1";

/// A handle (with a call timeout of 3 s) that has registered `me:1` and sees `a:1` and `b:1`
/// beside it (registered by the second handle returned), and a round-robin picker of the three.
fn registered(connect: &str, zk: &Zk) -> (Arc<Registry>, Picker, Arc<Registry>) {
    let mut o = Options::default();
    o.set("timeout_ms", "3000").unwrap();
    let r = Registry::open(Some(connect), o).expect("open");
    r.set_node(MINE, "{}").unwrap();
    let others = Registry::open(Some(&zk.connect), Options::default()).unwrap();
    others.set_node("/b/svc/a:1", "{}").unwrap();
    others.set_node("/b/svc/b:1", "{}").unwrap();
    r.wait_for(SERVICE, 3, Duration::from_secs(10)).unwrap();
    let p = r.picker(SERVICE, PickerOptions::default()).unwrap();
    (r, p, others)
}

/// The slowest of 1,000 picks, each of which must find an instance.
fn slowest_pick(p: &Picker) -> Duration {
    (0..1000)
        .map(|_| {
            let t = Instant::now();
            p.pick(None, |name| assert!(!name.to_bytes().is_empty()))
                .expect("an instance");
            t.elapsed()
        })
        .max()
        .unwrap()
}

/// `wait_for` that cannot be satisfied returns `NDSR_E_TIMEOUT` (or, for a path it cannot
/// read, a connection error) within its timeout of 500 ms, plus scheduling slack.
fn assert_wait_for_bounded(r: &Registry, path: &str, min: usize) {
    let t = Instant::now();
    let e = r
        .wait_for(path, min, Duration::from_millis(500))
        .expect_err("cannot be satisfied");
    let took = t.elapsed();
    assert!(
        matches!(e.code, Status::Timeout | Status::NoConnection),
        "{path}: {e:?}"
    );
    assert!(
        took < Duration::from_millis(1500),
        "{path}: wait_for(500 ms) took {took:?}"
    );
}

/// The three calls, while whatever the caller arranged (a fault, a stuck callback) goes on.
fn assert_calls_bounded(r: &Arc<Registry>, p: &Picker) {
    let slowest = slowest_pick(p);
    assert!(
        slowest < Duration::from_millis(200),
        "a pick took {slowest:?}"
    );
    // Satisfied by the cached (live or last-known) list: at once.
    let t = Instant::now();
    r.wait_for(SERVICE, 3, Duration::from_secs(5)).unwrap();
    assert!(
        t.elapsed() < Duration::from_millis(250),
        "{:?}",
        t.elapsed()
    );
    assert_wait_for_bounded(r, SERVICE, 4);
    assert_wait_for_bounded(r, "/b/never-read", 1);
    let t = Instant::now();
    r.drain(MINE, Duration::from_millis(200)).unwrap();
    assert!(
        t.elapsed() < Duration::from_millis(150),
        "drain took {:?}",
        t.elapsed()
    );
    let slowest = slowest_pick(p);
    assert!(
        slowest < Duration::from_millis(200),
        "a pick took {slowest:?} while draining"
    );
    // The stats never touch the network either.
    let t = Instant::now();
    assert!(r.stats_json().unwrap().contains("\"requests\""));
    r.stats_prometheus().unwrap();
    // Nor does subscribing to periodic stats and ending the subscription.
    let id = r
        .on_stats(Duration::from_secs(60), ndsr::callback(|_| {}))
        .unwrap();
    r.off(id).unwrap();
    assert!(
        t.elapsed() < Duration::from_millis(200),
        "stats took {:?}",
        t.elapsed()
    );
}

/// The drain took effect: the node is gone from ZooKeeper (within 30 s of the fault's end).
fn assert_drained(zk: &Zk) {
    Raw::connect(&zk.connect).wait_exists(MINE, false, Duration::from_secs(30));
}

#[test]
fn bounded_against_a_hung_server() {
    let zk = Zk::standalone();
    let proxy = Proxy::start(&zk.connect);
    let (r, p, _others) = registered(&proxy.addr, &zk);
    let c = CReader::open(&proxy.addr, SERVICE, 3);
    let session = r.session_id();
    proxy.mute_replies();
    assert_calls_bounded(&r, &p);
    let first_read = c.assert_bounded(SERVICE, "/b/never-read-c");
    assert_ne!(first_read, 0, "nobody can read a new path now");
    proxy.cut();
    proxy.restore();
    assert_drained(&zk);
    assert_eq!(r.session_id(), session, "the session survived the fault");
}

#[test]
fn bounded_against_a_paused_server() {
    let zk = Zk::standalone();
    let (r, p, _others) = registered(&zk.connect, &zk);
    let c = CReader::open(&zk.connect, SERVICE, 3);
    zk.cmd(&["pause", "1"]);
    assert_calls_bounded(&r, &p);
    let first_read = c.assert_bounded(SERVICE, "/b/never-read-c");
    assert_ne!(first_read, 0, "nobody can read a new path now");
    zk.cmd(&["resume", "1"]);
    assert_drained(&zk);
}

#[test]
fn bounded_while_a_callback_is_stuck() {
    let zk = Zk::standalone();
    let (r, p, others) = registered(&zk.connect, &zk);
    // A document callback of the service that blocks, from its first call, until released.
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Arc::new(Mutex::new(release_rx));
    let (entered_tx, entered) = mpsc::channel::<()>();
    r.on_change(
        SERVICE,
        ndsr::callback(move |_| {
            let _ = entered_tx.send(());
            let _ = release_rx.lock().unwrap().recv();
        }),
    )
    .unwrap();
    entered.recv_timeout(Duration::from_secs(10)).unwrap();
    // The same on a C handle whose own callback of the service is stuck.
    let c = CReader::open(&zk.connect, SERVICE, 3);
    let unstick = c.stick_a_callback(SERVICE);
    assert_calls_bounded(&r, &p);
    assert_eq!(c.assert_bounded(SERVICE, "/b/never-read-c"), 0);
    // The cache (so pickers and wait_for) moves on without the callback: the drained instance
    // leaves the picker, a new one joins it.
    others.set_node("/b/svc/c:1", "{}").unwrap();
    assert_drained(&zk);
    // Polled: the callbacks that would say so are the ones held up.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let doc = json(&r.get_json(SERVICE).unwrap());
        if doc["children"].get("me:1").is_none() && doc["children"].get("c:1").is_some() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the cache did not move on: {doc}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    let mut seen: Vec<String> = (0..6)
        .map(|_| p.pick(None, |n| n.to_str().unwrap().to_string()).unwrap())
        .collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen, ["a:1", "b:1", "c:1"]);
    // The C handle's snapshots moved on too, with its callback still stuck.
    c.wait_for_names(SERVICE, &["a:1", "b:1", "c:1"]);
    release_tx.send(()).unwrap();
    unstick.send(()).unwrap();
}
