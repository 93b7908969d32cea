//! Who owns a registration's node: restore what others delete or change, take over a stale node
//! once, never fight a live session (no flapping), and never resurrect an unset node.
mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use ndsr::status::*;
use ndsr::testing::Hooks;
use ndsr::Options;
use ndsr::Registry;
use zookeeper_client::EventType;

fn open(connect: &str) -> Arc<Registry> {
    Registry::open(Some(connect), Options::default()).expect("open")
}

/// Waits until `path` exists with an owner satisfying `pred` (event-driven, 15 s at most).
fn wait_owner(raw: &Raw, path: &str, pred: impl Fn(Option<i64>) -> bool) -> Option<i64> {
    raw.rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(15), async {
            loop {
                let (stat, w) = raw.client.check_and_watch_stat(path).await.unwrap();
                let owner = stat.map(|s| s.ephemeral_owner);
                if pred(owner) {
                    return owner;
                }
                w.changed().await;
            }
        })
        .await
        .expect("owner never reached the expected state")
    })
}

#[test]
fn deleted_or_changed_registration_is_restored() {
    let zk = Zk::standalone();
    let raw = Raw::connect(&zk.connect);
    let r = open(&zk.connect);
    r.set_node("/own/svc/me:1", r#"{"mine":true}"#).unwrap();
    let me = r.session_id();
    raw.delete("/own/svc/me:1");
    assert_eq!(
        wait_owner(&raw, "/own/svc/me:1", |o| o == Some(me)),
        Some(me)
    );
    raw.set("/own/svc/me:1", br#"{"mine":false}"#);
    raw.rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(15), async {
            loop {
                let (data, _, w) = raw
                    .client
                    .get_and_watch_data("/own/svc/me:1")
                    .await
                    .unwrap();
                if json(std::str::from_utf8(&data).unwrap())["mine"] == true {
                    return;
                }
                w.changed().await;
            }
        })
        .await
        .expect("data not restored")
    });
    until_registered(&r, "/own/svc/me:1");
}

#[test]
fn every_registration_of_a_burst_is_restored() {
    // The tasks and watches of new registrations start only once the handle's writes pause, in
    // one batch: none may be lost on the way, first or last.
    let zk = Zk::standalone();
    let raw = Raw::connect(&zk.connect);
    raw.create("/own", b"");
    raw.create("/own/burst", b"");
    let r = open(&zk.connect);
    let n = 40;
    let path = |i: usize| format!("/own/burst/n{i:02}");
    for i in 0..n {
        r.set_node(&path(i), r#"{"burst":true}"#).unwrap();
    }
    let me = r.session_id();
    for i in [0, n / 2, n - 1] {
        raw.delete(&path(i));
    }
    for i in [0, n / 2, n - 1] {
        assert_eq!(wait_owner(&raw, &path(i), |o| o == Some(me)), Some(me));
    }
    // One create per registration, and one per restore: nothing re-created twice.
    assert_eq!(r.request_counts().create as usize, n + 3);
    for i in 0..n {
        until_registered(&r, &path(i));
    }
}

#[test]
fn a_stale_node_is_taken_over_once_and_a_live_session_is_never_fought() {
    let zk = Zk::standalone();
    let raw = Raw::connect(&zk.connect);
    // A node left by "our previous process" (another session, still alive): taken over.
    raw.create("/own", b"");
    raw.create("/own/svc", b"");
    raw.create_ephemeral("/own/svc/x:1", b"{}");
    let a = open(&zk.connect);
    assert_eq!(
        a.set_node("/own/svc/x:1", r#"{"who":"a"}"#).unwrap(),
        ndsr::Applied::Done
    );
    assert_eq!(
        raw.get("/own/svc/x:1").unwrap().1.ephemeral_owner,
        a.session_id()
    );

    // Two processes misconfigured with one path: b takes it over once, a restores its node once;
    // whoever wins that race keeps the path and the other reports a conflict and does not fight.
    let b = open(&zk.connect);
    let first = b.set_node("/own/svc/x:1", r#"{"who":"b"}"#);
    assert!(
        first.is_ok() || first.as_ref().unwrap_err().code == NDSR_E_CONFLICT,
        "{first:?}"
    );
    let settled = |h: &Registry| h.registration_status("/own/svc/x:1").unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let (holder, waiter) = loop {
        match (settled(&a), settled(&b)) {
            (NDSR_OK, NDSR_E_CONFLICT) => break (a.clone(), b.clone()),
            (NDSR_E_CONFLICT, NDSR_OK) => break (b.clone(), a.clone()),
            _ => {}
        }
        assert!(std::time::Instant::now() < deadline, "no stable owner");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(
        raw.get("/own/svc/x:1").unwrap().1.ephemeral_owner,
        holder.session_id()
    );
    // No flapping: the node stays the holder's and nobody writes.
    let (before_h, before_w) = (
        holder.request_counts().writes(),
        waiter.request_counts().writes(),
    );
    let (_, w) = raw
        .rt
        .block_on(raw.client.check_and_watch_stat("/own/svc/x:1"))
        .unwrap();
    let quiet = raw
        .rt
        .block_on(async { tokio::time::timeout(Duration::from_millis(1500), w.changed()).await });
    assert!(quiet.is_err(), "the node changed: {quiet:?}");
    assert_eq!(
        (
            holder.request_counts().writes(),
            waiter.request_counts().writes()
        ),
        (before_h, before_w)
    );
    assert_eq!(
        waiter
            .set_node("/own/svc/x:1", r#"{"who":"waiter"}"#)
            .unwrap_err()
            .code,
        NDSR_E_CONFLICT
    );

    // When the holder goes away, the waiter registers by itself, with its latest data.
    let gone = holder.session_id();
    holder.close();
    let owner = wait_owner(&raw, "/own/svc/x:1", |o| o.is_some() && o != Some(gone));
    assert_eq!(owner, Some(waiter.session_id()));
    let data = json(std::str::from_utf8(&raw.get("/own/svc/x:1").unwrap().0).unwrap());
    assert_eq!(data["who"], "waiter");
    until_registered(&waiter, "/own/svc/x:1");
}

#[test]
fn unset_while_disconnected_never_resurrects() {
    let zk = Zk::standalone();
    let raw = Raw::connect(&zk.connect);
    let proxy = Proxy::start(&zk.connect);
    let mut o = Options::default();
    o.set("timeout_ms", "10000").unwrap();
    let r = Registry::open(Some(&proxy.addr), o).unwrap();
    r.set_node("/res/svc/me:1", "null").unwrap();
    let (_, w) = raw
        .rt
        .block_on(raw.client.check_and_watch_stat("/res/svc/me:1"))
        .unwrap();
    proxy.cut();
    // Unset while the connection is down: kept, applied on reconnect (the session survives).
    let unset = {
        let r = r.clone();
        std::thread::spawn(move || r.unset("/res/svc/me:1"))
    };
    std::thread::sleep(Duration::from_millis(300));
    proxy.restore();
    assert!(unset.join().unwrap().is_ok());
    let ev = raw
        .rt
        .block_on(async { tokio::time::timeout(Duration::from_secs(15), w.changed()).await })
        .unwrap();
    assert_eq!(ev.event_type, EventType::NodeDeleted);
    // And it stays deleted.
    let (stat, w) = raw
        .rt
        .block_on(raw.client.check_and_watch_stat("/res/svc/me:1"))
        .unwrap();
    assert!(stat.is_none());
    let quiet = raw
        .rt
        .block_on(async { tokio::time::timeout(Duration::from_millis(1500), w.changed()).await });
    assert!(quiet.is_err(), "resurrected: {quiet:?}");
    // Applied, and forgotten: nothing is kept for a path once it is unset.
    assert_eq!(
        r.registration_status("/res/svc/me:1").unwrap_err().code,
        ndsr::status::NDSR_E_NOT_FOUND
    );
}

#[test]
fn a_persistent_node_is_someones_data_and_is_never_replaced() {
    let zk = Zk::standalone();
    let raw = Raw::connect(&zk.connect);
    raw.create("/data", b"");
    raw.create("/data/cfg", br#"{"keep":1}"#);
    let r = open(&zk.connect);
    let e = r.set_node("/data/cfg", r#"{"me":1}"#).unwrap_err();
    assert_eq!(e.code, NDSR_E_CONFLICT, "{}", e.message);
    assert!(e.message.contains("persistent"), "{}", e.message);
    assert_eq!(r.registration_status("/data/cfg").unwrap(), NDSR_E_CONFLICT);
    r.close();
    let (data, stat) = raw.get("/data/cfg").expect("still there after close");
    assert_eq!(
        (data.as_slice(), stat.ephemeral_owner),
        (&br#"{"keep":1}"#[..], 0)
    );

    // Kept, and registered once the data node goes away.
    let r = open(&zk.connect);
    assert_eq!(
        r.set_node("/data/cfg", r#"{"me":2}"#).unwrap_err().code,
        NDSR_E_CONFLICT
    );
    raw.delete("/data/cfg");
    let me = r.session_id();
    assert_eq!(wait_owner(&raw, "/data/cfg", |o| o == Some(me)), Some(me));

    // Data written where a live session's registration is goes into a node of its own; the
    // registration is never written over first.
    raw.create_ephemeral("/data/eph", b"{}");
    let before = raw.get("/data/eph").unwrap().1;
    r.set_data("/data/eph", r#"{"x":1}"#).unwrap();
    let (data, stat) = raw.get("/data/eph").unwrap();
    assert_eq!(stat.ephemeral_owner, 0);
    assert_eq!(json(std::str::from_utf8(&data).unwrap())["x"], 1);
    assert!(
        stat.czxid > before.mzxid,
        "a new node, not the old one written"
    );
}

#[test]
fn a_refusal_is_final() {
    let zk = Zk::standalone();
    let raw = Raw::connect(&zk.connect);
    // A directory the world may only read.
    let read_only = zookeeper_client::Acl::new(
        zookeeper_client::Permission::READ,
        zookeeper_client::AuthId::new("world", "anyone"),
    );
    let opts = zookeeper_client::CreateMode::Persistent.with_acls(zookeeper_client::Acls::new(
        std::slice::from_ref(&read_only),
    ));
    raw.rt
        .block_on(raw.client.create("/ro", b"", &opts))
        .unwrap();
    raw.create_ephemeral("/eph", b"{}");
    raw.create("/full", b"");
    raw.create("/full/kid", b"");
    let r = open(&zk.connect);
    let cases = [
        ("/ro/svc:1", r.set_node("/ro/svc:1", "null"), NDSR_E_NO_AUTH),
        ("/ro/cfg", r.set_data("/ro/cfg", "null"), NDSR_E_NO_AUTH),
        // An ephemeral node cannot have children.
        ("/eph/kid", r.set_node("/eph/kid", "null"), NDSR_E_ZOOKEEPER),
    ];
    for (p, result, code) in &cases {
        assert_eq!(result.as_ref().unwrap_err().code, *code, "{p}: {result:?}");
        assert_eq!(r.registration_status(p).unwrap(), *code, "{p}");
    }
    // A node with children cannot be unset: refused, and nothing is kept for it.
    assert_eq!(r.unset("/full").unwrap_err().code, NDSR_E_ZOOKEEPER);
    assert_eq!(
        r.registration_status("/full").unwrap_err().code,
        NDSR_E_NOT_FOUND
    );
    // A path the server would refuse is refused before anything is sent.
    assert_eq!(
        r.set_node("/smile\u{1F600}", "null").unwrap_err().code,
        NDSR_E_INVALID_ARGUMENT
    );
    // Nothing is retried in the background, now or after the session is replaced.
    let before = r.request_counts();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(r.request_counts().writes(), before.writes());
    let proxy = Proxy::start(&zk.connect);
    let r2 = Registry::open(Some(&proxy.addr), Options::default()).unwrap();
    assert_eq!(
        r2.set_node("/ro/svc:2", "null").unwrap_err().code,
        NDSR_E_NO_AUTH
    );
    let states = states(&r2);
    until_state(&states, ndsr::State::Connected);
    let writes = r2.request_counts().writes();
    proxy.cut();
    until_state(&states, ndsr::State::Disconnected);
    proxy.restore();
    until_state(&states, ndsr::State::Connected);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(r2.request_counts().writes(), writes);
    assert_eq!(r2.registration_status("/ro/svc:2").unwrap(), NDSR_E_NO_AUTH);
    // A new call is a new attempt.
    assert_eq!(
        r.set_node("/ro/svc:1", r#"{"again":1}"#).unwrap_err().code,
        NDSR_E_NO_AUTH
    );
}

#[test]
fn status_never_waits_for_a_write_in_progress() {
    let zk = Zk::standalone();
    let proxy = Proxy::start(&zk.connect);
    let mut o = Options::default();
    o.set("timeout_ms", "5000").unwrap();
    let r = Registry::open(Some(&proxy.addr), o).unwrap();
    r.set_node("/st/svc/a:1", r#"{"v":1}"#).unwrap();
    let states = states(&r);
    until_state(&states, ndsr::State::Connected);
    proxy.cut();
    until_state(&states, ndsr::State::Disconnected);
    // A write that waits for the connection, holding the registration while it does.
    let writer = {
        let r = r.clone();
        std::thread::spawn(move || r.set_node("/st/svc/a:1", r#"{"v":2}"#))
    };
    let mut slowest = Duration::ZERO;
    for _ in 0..20 {
        let t = std::time::Instant::now();
        let status = r.registration_status("/st/svc/a:1").unwrap();
        slowest = slowest.max(t.elapsed());
        assert!(status == NDSR_OK || status == NDSR_QUEUED, "{status}");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        slowest < Duration::from_millis(100),
        "status took {slowest:?}"
    );
    proxy.restore();
    assert!(writer.join().unwrap().is_ok());
    assert_eq!(r.registration_status("/st/svc/a:1").unwrap(), NDSR_OK);
}
