//! Callback semantics on real ZooKeeper: ordering, no duplicates, re-entrant calls, off and close
//! from inside a callback, the callback's resources released exactly once after its last call,
//! and calls racing close.
mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Weak};
use std::time::Duration;

use common::*;
use ndsr::status::NDSR_E_CLOSED;
use ndsr::Event;
use ndsr::Options;
use ndsr::Registry;

fn open(zk: &Zk) -> Arc<Registry> {
    Registry::open(Some(&zk.connect), Options::default()).expect("open")
}

/// Counts its drops (and tells a channel) and fails loudly if dropped twice.
struct Tracked {
    drops: Arc<AtomicUsize>,
    dropped: Arc<AtomicBool>,
    tell: std::sync::Mutex<mpsc::Sender<()>>,
}

impl Tracked {
    fn new() -> (Tracked, Arc<AtomicUsize>, mpsc::Receiver<()>) {
        let drops = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = mpsc::channel();
        let t = Tracked {
            drops: drops.clone(),
            dropped: Arc::new(AtomicBool::new(false)),
            tell: std::sync::Mutex::new(tx),
        };
        (t, drops, rx)
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        assert!(!self.dropped.swap(true, SeqCst), "dropped twice");
        self.drops.fetch_add(1, SeqCst);
        let _ = self.tell.lock().unwrap().send(());
    }
}

#[test]
fn rapid_changes_arrive_in_order_without_duplicates() {
    let zk = Zk::standalone();
    let a = open(&zk);
    let b = open(&zk);
    b.set_data("/rapid", r#"{"v":0}"#).unwrap();
    let events = docs(&a, "/rapid");
    assert_eq!(json(&events.next())["data"]["v"], 0);
    for v in 1..=100 {
        b.set_data("/rapid", &format!("{{\"v\":{v}}}")).unwrap();
    }
    // One-shot watches coalesce changes that happen before the re-read, so not every value need
    // appear, but what appears is strictly increasing and ends with the last value.
    let mut last = 0;
    while last != 100 {
        let v = json(&events.next())["data"]["v"].as_i64().unwrap();
        assert!(v > last, "{v} after {last}");
        last = v;
    }
    assert_eq!(json(&a.get_json("/rapid").unwrap())["data"]["v"], 100);
}

#[test]
fn callbacks_may_call_the_handle_and_end_their_own_subscription() {
    let zk = Zk::standalone();
    let r = open(&zk);
    let (tracked, drops, dropped_rx) = Tracked::new();
    let tracked = Arc::new(tracked);
    let calls = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::channel::<String>();
    let weak: Weak<Registry> = Arc::downgrade(&r);
    let my_id = Arc::new(AtomicUsize::new(0));
    let (c2, id2) = (calls.clone(), my_id.clone());
    let (id, _) = r
        .on_change(
            "/reent",
            ndsr::callback(move |e| {
                let _keep = &tracked;
                let Event::Document { json, .. } = e else {
                    return;
                };
                let n = c2.fetch_add(1, SeqCst) + 1;
                let r = weak.upgrade().unwrap();
                // Re-entrant calls on the same handle from the callback thread.
                assert_eq!(r.get_json("/reent").unwrap(), json);
                r.set_data("/reent-echo", &format!("{{\"n\":{n}}}"))
                    .unwrap();
                if n == 2 {
                    r.off(id2.load(SeqCst) as u64).unwrap();
                }
                let _ = tx.send(json.to_string());
            }),
        )
        .unwrap();
    my_id.store(id as usize, SeqCst);
    let events = Events { rx };
    events.next(); // the first call, at once
    r.set_data("/reent", r#"{"x":1}"#).unwrap();
    events.next(); // the second, which ends the subscription
                   // The userdata is released once, on the callback thread, after the last call.
    dropped_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("released");
    assert_eq!(drops.load(SeqCst), 1);
    r.set_data("/reent", r#"{"x":2}"#).unwrap();
    // A later change to a watched path still reaches other subscribers, but not this one.
    let (tx3, rx3) = mpsc::channel();
    r.on_change(
        "/reent",
        ndsr::callback(move |e| {
            if let Event::Document { json, .. } = e {
                let _ = tx3.send(json.to_string());
            }
        }),
    )
    .unwrap();
    let events3 = Events { rx: rx3 };
    while json(&events3.next())["data"]["x"] != 2 {}
    assert_eq!(calls.load(SeqCst), 2);
    assert_eq!(json(&r.get_json("/reent-echo").unwrap())["data"]["n"], 2);
}

#[test]
fn close_from_a_callback_with_deliveries_pending() {
    let zk = Zk::standalone();
    let r = open(&zk);
    let b = open(&zk);
    let (tracked, drops, dropped_rx) = Tracked::new();
    let tracked = Arc::new(tracked);
    let weak = Arc::downgrade(&r);
    let calls = Arc::new(AtomicUsize::new(0));
    let c2 = calls.clone();
    let (tx, rx) = mpsc::channel::<()>();
    r.on_change(
        "/closing",
        ndsr::callback(move |e| {
            let _keep = &tracked;
            if let Event::Document { .. } = e {
                let n = c2.fetch_add(1, SeqCst) + 1;
                if n == 3 {
                    // Let more deliveries queue up behind this call, then close from here.
                    std::thread::sleep(Duration::from_millis(200));
                    weak.upgrade().unwrap().close();
                    let _ = tx.send(());
                }
            }
        }),
    )
    .unwrap();
    for v in 1..=10 {
        b.set_data("/closing", &format!("{{\"v\":{v}}}")).unwrap();
        if calls.load(SeqCst) >= 3 {
            break;
        }
        std::thread::sleep(Duration::from_millis(30));
    }
    for v in 11..=15 {
        b.set_data("/closing", &format!("{{\"v\":{v}}}")).unwrap();
    }
    rx.recv_timeout(Duration::from_secs(15))
        .expect("closed from the callback");
    assert_eq!(r.set_data("/x", "null").unwrap_err().code, NDSR_E_CLOSED);
    dropped_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("released");
    assert_eq!(drops.load(SeqCst), 1, "released exactly once");
    assert_eq!(calls.load(SeqCst), 3, "no call after close");
}

#[test]
fn many_threads_and_a_racing_close() {
    let zk = Zk::standalone();
    let r = open(&zk);
    r.set_data("/mt", "{}").unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let mut threads = Vec::new();
    for t in 0..6 {
        let (r, stop, ok) = (r.clone(), stop.clone(), ok.clone());
        threads.push(std::thread::spawn(move || {
            let mut i = 0;
            while !stop.load(SeqCst) {
                i += 1;
                let path = format!("/mt/t{t}-{}", i % 5);
                let results = [
                    r.set_node(&path, &format!("{{\"i\":{i}}}")).map(|_| ()),
                    r.get_json("/mt").map(|_| ()),
                    r.unset(&path).map(|_| ()),
                ];
                for res in results {
                    match res {
                        Ok(()) => {
                            ok.fetch_add(1, SeqCst);
                        }
                        Err(e) => assert_eq!(e.code, NDSR_E_CLOSED, "{e}"),
                    }
                }
            }
        }));
    }
    while ok.load(SeqCst) < 600 {
        std::thread::sleep(Duration::from_millis(10));
    }
    r.close();
    stop.store(true, SeqCst);
    for t in threads {
        t.join().expect("no panic in callers");
    }
    assert!(ok.load(SeqCst) >= 600);
}

#[test]
fn a_debounced_subscription_gets_at_most_one_call_per_interval_and_always_the_last() {
    let zk = Zk::standalone();
    let r = Registry::open(Some(&zk.connect), ndsr::Options::default()).unwrap();
    r.set_data("/deb/node", r#"{"v":-1}"#).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let (id, _) = r
        .on_change(
            "/deb/node",
            ndsr::callback(move |e| {
                if let ndsr::Event::Document { json, .. } = e {
                    let _ = tx.send((std::time::Instant::now(), json.to_string()));
                }
            }),
        )
        .unwrap();
    let interval = std::time::Duration::from_millis(300);
    r.set_debounce(id, interval).unwrap();
    assert_eq!(
        r.set_debounce(id + 1000, interval).unwrap_err().code,
        ndsr::Status::NotFound
    );
    let (first_at, first) = rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
    assert_eq!(json(&first)["data"]["v"], -1);
    for v in 0..10 {
        r.set_data("/deb/node", &format!(r#"{{"v":{v}}}"#)).unwrap();
    }
    // The writes are done; the calls that follow: spaced by the interval, ending with v = 9.
    let mut calls = vec![first_at];
    loop {
        let (at, doc) = rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
        calls.push(at);
        if json(&doc)["data"]["v"] == 9 {
            break;
        }
    }
    for pair in calls.windows(2) {
        assert!(
            pair[1] - pair[0] >= interval - std::time::Duration::from_millis(5),
            "{:?} apart",
            pair[1] - pair[0]
        );
    }
    assert!(calls.len() <= 3, "{} calls for 10 changes", calls.len());
    assert!(
        rx.recv_timeout(interval * 2).is_err(),
        "nothing after the last state"
    );
}
