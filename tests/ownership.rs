//! Who owns a registration's node: restore what others delete or change, take over a stale node
//! once, never fight a live session (no flapping), and never resurrect an unset node.
mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use ndsr::options::Options;
use ndsr::registry::Registry;
use ndsr::status::*;
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
    assert_eq!(r.registration_status("/own/svc/me:1").unwrap(), NDSR_OK);
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
        assert_eq!(r.registration_status(&path(i)).unwrap(), NDSR_OK);
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
        ndsr::registry::Applied::Done
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
    assert_eq!(waiter.registration_status("/own/svc/x:1").unwrap(), NDSR_OK);
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
    assert_eq!(r.registration_status("/res/svc/me:1").unwrap(), NDSR_OK);
}
