//! The persistent watch engine across connection loss, on real ZooKeeper: after a partition, a
//! server restart or the loss of the ensemble member the session was on, every change made
//! while the client was away is reported once and nothing is missed, for a number of requests
//! bounded by the number of changed nodes (a full re-read of the 200 children would be over
//! 200). Also: the vendored client re-registers a persistent watch after a reconnect (patch 9),
//! and the fallback to one-shot watches on a server that refuses persistent ones.
mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use ndsr::testing::Hooks;
use ndsr::{Options, Registry, State};

const CHILDREN: usize = 200;

fn open(connect: &str, persistent: bool) -> Arc<Registry> {
    let mut o = Options::default();
    o.set("timeout_ms", "10000").unwrap();
    o.set("persistent_watches", &persistent.to_string())
        .unwrap();
    Registry::open(Some(connect), o).expect("open")
}

/// Creates `/rs/svc` with `CHILDREN` children, in pipelined batches.
fn populate(raw: &Raw) {
    raw.create("/rs", b"");
    raw.create("/rs/svc", br#"{"v":0}"#);
    let opts =
        zookeeper_client::CreateMode::Persistent.with_acls(zookeeper_client::Acls::anyone_all());
    raw.rt.block_on(async {
        let paths: Vec<String> = (0..CHILDREN).map(|i| format!("/rs/svc/c{i:03}")).collect();
        let futs = paths.iter().enumerate().map(|(i, p)| {
            let data = format!("{{\"i\":{i}}}").into_bytes();
            let opts = &opts;
            async move { raw.client.create(p, &data, opts).await }
        });
        for r in futures_util::future::join_all(futs).await {
            r.unwrap();
        }
    });
}

/// The changes made while the client is away: three children's data, two removals, two
/// additions and the node's own data; the names each concerns.
fn change_while_away(raw: &Raw) -> Vec<&'static str> {
    raw.set("/rs/svc/c005", br#"{"i":-5}"#);
    raw.set("/rs/svc/c050", br#"{"i":-50}"#);
    raw.set("/rs/svc/c199", br#"{"i":-199}"#);
    raw.delete("/rs/svc/c010");
    raw.delete("/rs/svc/c020");
    raw.create("/rs/svc/new1", br#"{"n":1}"#);
    raw.create("/rs/svc/new2", br#"{"n":2}"#);
    raw.set("/rs/svc", br#"{"v":1}"#);
    vec!["c005", "c050", "c199", "c010", "c020", "new1", "new2"]
}

/// Runs one scenario: `away` takes the client away from the server (it is then disconnected),
/// `back` lets it reconnect. Checks that the document ends up exactly as the server's, that each
/// change was reported in exactly one diff, and that the resync cost at most one request per
/// changed node plus five.
fn resync_after(
    zk: &Zk,
    connect: &str,
    away: impl FnOnce(&Registry),
    back: impl FnOnce(&Registry),
) {
    let raw = Raw::connect(&zk.connect);
    populate(&raw);
    let r = open(connect, true);
    let diffs = diffs(&r, "/rs/svc");
    let first = json(&diffs.next());
    assert_eq!(first["added"].as_object().unwrap().len(), CHILDREN);
    let st = states(&r);
    assert_eq!(st.next(), State::Connected);
    let session = r.session_id();

    away(&r);
    until_state(&st, State::Disconnected);
    let changed = change_while_away(&raw);
    let before = r.request_counts();
    back(&r);
    until_state(&st, State::Connected);
    assert_eq!(r.session_id(), session, "the same session");

    // Every change reported, each once.
    let mut reported: BTreeMap<String, usize> = BTreeMap::new();
    let mut data_changed = 0;
    while reported.len() < changed.len() || data_changed == 0 {
        let d = json(&diffs.next());
        for kind in ["added", "removed", "changed"] {
            for name in d[kind].as_object().unwrap().keys() {
                *reported.entry(name.clone()).or_default() += 1;
            }
        }
        data_changed += usize::from(!d["data"].is_null());
    }
    let names: Vec<&str> = reported.keys().map(String::as_str).collect();
    let mut want = changed.clone();
    want.sort();
    assert_eq!(names, want, "the changes reported");
    assert!(
        reported.values().all(|n| *n == 1),
        "each once: {reported:?}"
    );
    assert_eq!(data_changed, 1);
    diffs.assert_quiet(Duration::from_millis(300));

    let doc = json(&r.get_json("/rs/svc").unwrap());
    assert_eq!(doc["children"].as_object().unwrap().len(), CHILDREN);
    assert_eq!(doc["children"]["c005"]["i"], -5);
    assert_eq!(doc["children"]["new2"]["n"], 2);
    assert!(doc["children"].get("c010").is_none());
    assert_eq!(doc["data"]["v"], 1);
    let (_, stat) = raw.get("/rs/svc").unwrap();
    assert_eq!(doc["stat"]["pzxid"], stat.pzxid);
    assert_eq!(doc["stat"]["cversion"], stat.cversion);
    assert_eq!(doc["stat"]["numChildren"], stat.num_children);

    let cost = r.request_counts().since(&before);
    let bound = 1 + changed.len() as u64 + 4;
    eprintln!("resync: {cost:?}");
    assert!(
        cost.reads() <= bound,
        "{} reads for {} changed nodes: {cost:?}",
        cost.reads(),
        changed.len()
    );
    assert_eq!(cost.set_watches, 1, "one probe");
}

#[test]
fn resync_after_a_partition() {
    let zk = Zk::standalone();
    let proxy = Proxy::start(&zk.connect);
    resync_after(&zk, &proxy.addr, |_| proxy.cut(), |_| proxy.restore());
}

#[test]
fn resync_after_a_server_restart() {
    let zk = Zk::standalone();
    let proxy = Proxy::start(&zk.connect);
    let restart = |_: &Registry| {
        proxy.cut();
        zk.cmd(&["kill", "1"]);
        zk.cmd(&["start", "1"]);
        zk.cmd(&["wait", "1"]);
    };
    resync_after(&zk, &proxy.addr, restart, |_| proxy.restore());
}

#[test]
fn resync_after_the_connected_member_is_killed() {
    let zk = Zk::ensemble();
    // One proxy per member, so that the client can be kept away from all of them while the
    // member its session is on dies.
    let proxies: Vec<Proxy> = zk.connect.split(',').map(Proxy::start).collect();
    let connect: Vec<&str> = proxies.iter().map(|p| p.addr.as_str()).collect();
    let victim = std::cell::RefCell::new(String::new());
    let kill = |r: &Registry| {
        *victim.borrow_mut() = connected_node(&zk, r.session_id());
        proxies.iter().for_each(Proxy::cut);
        zk.cmd(&["kill", &victim.borrow()]);
    };
    let back = |_: &Registry| proxies.iter().for_each(Proxy::restore);
    resync_after(&zk, &connect.join(","), kill, back);
    zk.cmd(&["start", &victim.borrow()]);
}

#[test]
fn one_resync_for_every_path_of_a_handle() {
    // Fifty watched paths: after a partition, their resync is one probe for all of them, plus a
    // read per change, not a request or two per path.
    let zk = Zk::standalone();
    let proxy = Proxy::start(&zk.connect);
    let raw = Raw::connect(&zk.connect);
    raw.create("/many", b"");
    for i in 0..50 {
        raw.create(&format!("/many/p{i:02}"), b"{}");
        raw.create(&format!("/many/p{i:02}/a"), br#"{"v":0}"#);
    }
    let r = open(&proxy.addr, true);
    let watches: Vec<Events<String>> = (0..50)
        .map(|i| docs(&r, &format!("/many/p{i:02}")))
        .collect();
    for w in &watches {
        until(w, |d| d["children"].get("a").is_some());
    }
    let st = states(&r);
    assert_eq!(st.next(), State::Connected);
    proxy.cut();
    until_state(&st, State::Disconnected);
    raw.set("/many/p07/a", br#"{"v":7}"#);
    raw.create("/many/p42/b", b"{}");
    let before = r.request_counts();
    proxy.restore();
    until(&watches[7], |d| d["children"]["a"]["v"] == 7);
    until(&watches[42], |d| d["children"].get("b").is_some());
    let cost = r.request_counts().since(&before);
    eprintln!("resync of 50 paths: {cost:?}");
    assert_eq!(cost.set_watches, 1, "{cost:?}");
    // The probe; p07/a read again; p42's list and its new child.
    assert_eq!(cost.reads(), 4, "{cost:?}");
}

#[test]
fn after_an_expiry_the_path_is_read_again_and_published_once() {
    let zk = Zk::standalone();
    let proxy = Proxy::start(&zk.connect);
    let raw = Raw::connect(&zk.connect);
    populate(&raw);
    let mut o = Options::default();
    o.set("timeout_ms", "2000").unwrap();
    let r = Registry::open(Some(&proxy.addr), o).unwrap();
    let events = docs(&r, "/rs/svc");
    until(&events, |d| {
        d["children"].as_object().unwrap().len() == CHILDREN
    });
    let st = states(&r);
    assert_eq!(st.next(), State::Connected);
    proxy.cut();
    until_state(&st, State::Expired);
    let changed = change_while_away(&raw);
    let before = r.request_counts();
    proxy.restore();
    until_state(&st, State::Connected);
    // One document, complete: never a partial list on the way.
    let d = json(&events.next());
    assert_eq!(
        d["children"].as_object().unwrap().len(),
        CHILDREN,
        "{changed:?}"
    );
    assert_eq!(d["children"]["c005"]["i"], -5);
    assert_eq!(d["data"]["v"], 1);
    events.assert_quiet(Duration::from_millis(500));
    let cost = r.request_counts().since(&before);
    // The watch, the node, its list, and every child's data in one multi-read (per 250).
    assert_eq!(cost.add_watch, 1, "{cost:?}");
    assert_eq!(cost.get_data, 1, "{cost:?}");
    assert_eq!(cost.multi_read, CHILDREN.div_ceil(250) as u64, "{cost:?}");
    assert_eq!(cost.get_children, 1, "{cost:?}");
}

#[test]
fn persistent_watch_is_restored_after_a_reconnect() {
    // The vendored client itself: a recursive watch still delivers events after the connection
    // was lost and made again (upstream never re-sent it), and the connected state carries the
    // zxid the connection resumed from.
    let zk = Zk::standalone();
    let proxy = Proxy::start(&zk.connect);
    let raw = Raw::connect(&zk.connect);
    raw.create("/pw", b"");
    let client = Raw::connect(&proxy.addr);
    let mut watcher = client
        .rt
        .block_on(
            client
                .client
                .watch("/pw", zookeeper_client::AddWatchMode::PersistentRecursive),
        )
        .unwrap();
    raw.create("/pw/a", b"");
    let next = |w: &mut zookeeper_client::PersistentWatcher| {
        client
            .rt
            .block_on(async { tokio::time::timeout(Duration::from_secs(15), w.changed()).await })
            .expect("no event within 15 s")
    };
    let e = next(&mut watcher);
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (zookeeper_client::EventType::NodeCreated, "/pw/a")
    );
    proxy.cut();
    assert_eq!(
        next(&mut watcher).session_state,
        zookeeper_client::SessionState::Disconnected
    );
    proxy.restore();
    let e = next(&mut watcher);
    assert_eq!(
        e.session_state,
        zookeeper_client::SessionState::SyncConnected
    );
    // The last zxid the client had seen in an answer (not the "none" of other session events).
    assert!(e.zxid > 0, "resumed from {}", e.zxid);
    raw.create("/pw/b", b"");
    let e = next(&mut watcher);
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (zookeeper_client::EventType::NodeCreated, "/pw/b")
    );
}

#[test]
fn falls_back_to_one_shot_watches_where_the_server_refuses_persistent_ones() {
    let optimized =
        "-Dzookeeper.watchManagerName=org.apache.zookeeper.server.watch.WatchManagerOptimized";
    let zk = Zk::start_with("standalone", &[("ZK_JVM_EXTRA", optimized)]);
    let raw = Raw::connect(&zk.connect);
    raw.create("/fb", b"{}");
    raw.create("/fb/a", br#"{"i":1}"#);
    let r = open(&zk.connect, true);
    let events = docs(&r, "/fb");
    let d = until(&events, |d| d["children"].get("a").is_some());
    assert_eq!(d["children"]["a"]["i"], 1);
    // Changes still arrive, each at one-shot cost (the list is read again on an addition).
    let before = r.request_counts();
    raw.create("/fb/b", br#"{"i":2}"#);
    until(&events, |d| d["children"].get("b").is_some());
    raw.set("/fb/a", br#"{"i":3}"#);
    until(&events, |d| d["children"]["a"]["i"] == 3);
    raw.delete("/fb/b");
    let d = until(&events, |d| d["children"].get("b").is_none());
    assert_eq!(d["stat"]["numChildren"], 1);
    let cost = r.request_counts().since(&before);
    assert_eq!(cost.get_children, 2, "{cost:?}");
    assert_eq!(cost.add_watch, 0, "refused once, not asked again: {cost:?}");
    // A second path does not ask again either.
    let before = r.request_counts();
    raw.create("/fb2", b"{}");
    let _ = r.get_json("/fb2").unwrap();
    assert_eq!(r.request_counts().since(&before).add_watch, 0);
}
