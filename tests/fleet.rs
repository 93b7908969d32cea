//! A small fleet through an outage longer than the session timeout (bench/fleet's scenario 3,
//! in the suite): 30 handles each register an instance of one service and watch it; the link
//! to ZooKeeper is cut until the server has expired every session, then restored. Every
//! registration comes back, owned by its handle's new session; no instance is lost and none
//! left over; every handle sees exactly the fleet, live; and each handle's re-read is one round
//! (the watch, the node, its list, the children's data in one multi-read), not a read per
//! instance, made after the handle's own registration is back.
mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use ndsr::testing::Hooks;
use ndsr::{Options, Registry, State};

const FLEET: usize = 30;
const SERVICE: &str = "/fleet/svc";

fn name(i: usize) -> String {
    format!("c{i:02}:1")
}

fn expected() -> BTreeSet<String> {
    (0..FLEET).map(name).collect()
}

/// The names in `r`'s cached document of the service.
fn seen(r: &Registry) -> BTreeSet<String> {
    let doc = json(&r.get_json(SERVICE).unwrap());
    doc["children"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

/// Waits until the server lists exactly `want` under the service (polled: a raw client's view).
fn until_listed(raw: &Raw, want: &BTreeSet<String>) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now: BTreeSet<String> = raw.children(SERVICE).into_iter().collect();
        if &now == want {
            return;
        }
        assert!(Instant::now() < deadline, "the server lists {now:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_fleet_comes_back_whole_after_every_session_expired() {
    let zk = Zk::standalone();
    let proxy = Proxy::start(&zk.connect);
    let raw = Raw::connect(&zk.connect);
    let fleet: Vec<Arc<Registry>> = (0..FLEET)
        .map(|i| {
            let mut o = Options::default();
            o.set("timeout_ms", "2000").unwrap();
            let r = Registry::open(Some(&proxy.addr), o).unwrap();
            r.set_node(&format!("{SERVICE}/{}", name(i)), r#"{"weight":1}"#)
                .unwrap();
            r
        })
        .collect();
    for r in &fleet {
        r.wait_for(SERVICE, FLEET, Duration::from_secs(20)).unwrap();
    }
    let old_sessions: Vec<i64> = fleet.iter().map(|r| r.session_id()).collect();
    let states: Vec<_> = fleet.iter().map(|r| states(r)).collect();
    let documents: Vec<_> = fleet.iter().map(|r| docs(r, SERVICE)).collect();
    let before: Vec<_> = fleet.iter().map(|r| r.request_counts()).collect();

    proxy.cut();
    // The server expires every session: their nodes go.
    until_listed(&raw, &BTreeSet::new());
    for d in &documents {
        while d.rx.try_recv().is_ok() {}
    }
    proxy.restore();
    // Registrations before reads: each handle's first document on its new session has its own
    // node in it.
    for (i, d) in documents.iter().enumerate() {
        let first = json(&d.next());
        assert!(
            first["children"].get(name(i)).is_some(),
            "{} missing from its own first read: {first}",
            name(i)
        );
    }

    for (r, st) in fleet.iter().zip(&states) {
        until_state(st, State::Expired);
        until_state(st, State::Connected);
        r.wait_for(SERVICE, FLEET, Duration::from_secs(30)).unwrap();
    }
    until_listed(&raw, &expected());
    for (i, r) in fleet.iter().enumerate() {
        assert_ne!(r.session_id(), old_sessions[i], "a new session");
        let (_, stat) = raw.get(&format!("{SERVICE}/{}", name(i))).unwrap();
        assert_eq!(
            stat.ephemeral_owner,
            r.session_id(),
            "{} owned by its handle",
            name(i)
        );
    }
    // Live and exact in every handle: nothing lost, nothing left over.
    let deadline = Instant::now() + Duration::from_secs(30);
    for r in &fleet {
        while seen(r) != expected() || !r.freshness(SERVICE).unwrap().0 {
            assert!(Instant::now() < deadline, "a handle sees {:?}", seen(r));
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    for (r, before) in fleet.iter().zip(&before) {
        let cost = r.request_counts().since(before);
        // The watch, the node, its list, the children's data in one request; another or two
        // for the instances that came back after it (gathered). A read per instance is 33.
        assert_eq!(cost.add_watch, 1, "{cost:?}");
        assert!(cost.reads() <= 10, "a read per instance: {cost:?}");
    }
}

/// ZooKeeper's "throttled" answer (-127, its request throttle is full) is a reason to slow
/// down: a registration and a watched path's reads that get it are retried at a growing pace
/// (100 ms doubling), not at once nor at a fixed short interval, and both go through once the
/// throttle lets them. (The answers are made "throttled" by the test proxy: the Debian server's
/// throttle, `zookeeper.request_throttle_max_requests`, cannot be made to refuse on cue.)
#[test]
fn throttled_answers_are_retried_at_a_growing_pace() {
    let zk = Zk::standalone();
    let proxy = Proxy::start(&zk.connect);
    let raw = Raw::connect(&zk.connect);
    raw.create("/th", b"");
    raw.create("/th/svc", b"");
    let mut o = Options::default();
    o.set("timeout_ms", "10000").unwrap();
    let r = Registry::open(Some(&proxy.addr), o).unwrap();
    let events = docs(&r, "/th/svc");
    until(&events, |d| d["children"].as_object().is_some());
    let st = states(&r);
    assert_eq!(st.next(), State::Connected);

    proxy.throttle(true);
    let before = r.request_counts();
    let queued = r.set_node("/th/svc/me:1", "{}").unwrap();
    assert_eq!(queued, ndsr::status::Applied::Queued);
    raw.create("/th/svc/other:1", b"{}");
    // The window in which retries are counted.
    std::thread::sleep(Duration::from_secs(3));
    let cost = r.request_counts().since(&before);
    eprintln!(
        "while throttled for 3 s: {cost:?}, {} answers throttled",
        proxy.throttled()
    );
    // 100 ms doubling: about 5 retries in 3 s; at a fixed 100 ms it would be 30.
    assert!((2..=9).contains(&cost.create), "{cost:?}");
    let child_reads = cost.get_data + cost.multi_read;
    assert!((2..=9).contains(&child_reads), "{cost:?}");

    proxy.throttle(false);
    until(&events, |d| {
        d["children"].get("me:1").is_some() && d["children"].get("other:1").is_some()
    });
    until_registered(&r, "/th/svc/me:1");
    st.assert_quiet(Duration::from_millis(100)); // never disconnected
}
