//! Keep last good on real ZooKeeper: a mass removal is held back (readers and callbacks keep the
//! last good list, freshness says held, a counter counts it) until it has lasted, an update that
//! brings the list back ends the hold without the shrink ever showing, and a small scale-down
//! goes through at once.
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use ndsr::{Options, Registry};

const HOLD: Duration = Duration::from_millis(700);

fn open(zk: &Zk, percent: &str) -> Arc<Registry> {
    let mut o = Options::default();
    o.set("keep_last_good_ms", &HOLD.as_millis().to_string())
        .unwrap();
    o.set("keep_last_good_percent", percent).unwrap();
    Registry::open(Some(&zk.connect), o).expect("open")
}

fn children(d: &serde_json::Value) -> Vec<String> {
    d["children"].as_object().unwrap().keys().cloned().collect()
}

/// Makes `top/svc` with four children, a:1 to d:1.
fn four_children(raw: &Raw, top: &str) {
    raw.create(top, b"");
    raw.create(&format!("{top}/svc"), b"");
    for n in ["a", "b", "c", "d"] {
        raw.create(&format!("{top}/svc/{n}:1"), b"{}");
    }
}

/// Waits (polling: no event says a hold began) until `path` is held.
fn until_held(r: &Registry, path: &str) {
    let t0 = Instant::now();
    while !r.is_held(path).unwrap() {
        assert!(t0.elapsed() < Duration::from_secs(10), "never held");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_mass_removal_is_held_until_it_lasts() {
    let zk = Zk::standalone();
    let raw = Raw::connect(&zk.connect);
    four_children(&raw, "/k");
    let r = open(&zk, "50");
    let events = docs(&r, "/k/svc");
    until(&events, |d| children(d).len() == 4);

    // One of four (25%) goes at once.
    raw.delete("/k/svc/d:1");
    until(&events, |d| children(d).len() == 3);
    assert_eq!(r.held_updates().unwrap(), 0);
    // A new window (the measure is against the list as it was when a window's first removal
    // came).
    std::thread::sleep(HOLD);

    // Three of three: up to half goes, the rest is held.
    let t0 = Instant::now();
    for n in ["a", "b", "c"] {
        raw.delete(&format!("/k/svc/{n}:1"));
    }
    until_held(&r, "/k/svc");
    let doc = json(&r.get_json("/k/svc").unwrap());
    assert!(
        children(&doc).len() >= 2,
        "readers keep the last good list: {doc}"
    );
    let (live, _) = r.freshness("/k/svc").unwrap();
    assert!(live);
    assert_eq!(r.held_updates().unwrap(), 1);
    let d = until(&events, |d| children(d).is_empty());
    assert!(t0.elapsed() >= HOLD, "published only after {HOLD:?}");
    assert!(!r.is_held("/k/svc").unwrap());
    assert_eq!(d["stat"]["numChildren"], 0);
}

#[test]
fn a_list_that_comes_back_ends_the_hold_unseen() {
    let zk = Zk::standalone();
    let raw = Raw::connect(&zk.connect);
    four_children(&raw, "/k2");
    let r = open(&zk, "20");
    let events = docs(&r, "/k2/svc");
    until(&events, |d| children(d).len() == 4);
    for n in ["a", "b", "c"] {
        raw.delete(&format!("/k2/svc/{n}:1"));
    }
    until_held(&r, "/k2/svc");
    for n in ["a", "b", "c"] {
        raw.create(&format!("/k2/svc/{n}:1"), br#"{"back":1}"#);
    }
    let d = until(&events, |d| d["children"]["c:1"]["back"] == 1);
    assert_eq!(children(&d).len(), 4);
    assert!(!r.is_held("/k2/svc").unwrap());
    // Past the hold: the shrink never showed.
    std::thread::sleep(HOLD + Duration::from_millis(200));
    while let Ok(d) = events.rx.try_recv() {
        assert_eq!(children(&json(&d)).len(), 4, "{d}");
    }
    assert_eq!(children(&json(&r.get_json("/k2/svc").unwrap())).len(), 4);
}
