//! Sessions against real ZooKeeper: a forced server-side expiry (the registration comes back, the
//! cache catches up with what changed meanwhile, the state callbacks tell), and an ensemble
//! member going away under a connected client (same session, nothing lost).
mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use ndsr::testing::Hooks;
use ndsr::Options;
use ndsr::Registry;
use ndsr::State;
use serde_json::json;

fn open(connect: &str, timeout_ms: &str) -> Arc<Registry> {
    let mut o = Options::default();
    o.set("timeout_ms", timeout_ms).unwrap();
    Registry::open(Some(connect), o).expect("open")
}

/// Expires the session server-side the portable way: a second connection with the same id and
/// password, then closing it. The handle must be cut off (behind a [`Proxy`]) meanwhile, or it
/// reconnects and takes its session back before the close.
fn expire(connect: &str, info: zookeeper_client::SessionInfo) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let c = zookeeper_client::Client::connector()
            .with_session_timeout(Duration::from_secs(10))
            .with_session(info)
            .connect(connect)
            .await
            .expect("attach to the session");
        drop(c); // closes the session
        tokio::time::sleep(Duration::from_millis(100)).await;
    });
}

#[test]
fn expiry_re_registers_and_resyncs() {
    let zk = Zk::standalone();
    let raw = Raw::connect(&zk.connect);
    let proxy = Proxy::start(&zk.connect);
    let r = open(&proxy.addr, "4000");
    r.set_node("/exp/svc/me:1", r#"{"who":"me"}"#).unwrap();
    r.set_data("/exp/config", r#"{"v":1}"#).unwrap();
    let st = states(&r);
    assert_eq!(st.next(), State::Connected);
    let events = docs(&r, "/exp/svc");
    assert!(json(&events.next())["children"].get("me:1").is_some());
    let old_session = r.session_id();

    // Something changes while our session dies: the watch of the old session cannot report it.
    let (node_watch_stat, node_watch) = raw
        .rt
        .block_on(raw.client.check_and_watch_stat("/exp/svc/me:1"))
        .unwrap();
    assert!(node_watch_stat.is_some());
    let info = r.session_info().unwrap();
    proxy.cut();
    expire(&zk.connect, info);
    // ZooKeeper removed our ephemeral node …
    let ev = raw
        .rt
        .block_on(async {
            tokio::time::timeout(Duration::from_secs(5), node_watch.changed()).await
        })
        .unwrap();
    assert_eq!(ev.event_type, zookeeper_client::EventType::NodeDeleted);
    raw.create("/exp/svc/other:2", br#"{"who":"other"}"#);
    proxy.restore();

    // … the state callbacks tell of the expiry and the new session …
    // (the connection drops first, then the reconnection learns that the session is gone)
    let mut s = st.next();
    while s == State::Disconnected {
        s = st.next();
    }
    assert_eq!(s, State::Expired);
    let mut s = st.next();
    while s != State::Connected {
        s = st.next();
    }
    // … our registration is back on the new session, and the cache shows both nodes.
    let d = until(&events, |d| {
        d["children"].get("me:1").is_some() && d["children"].get("other:2").is_some()
    });
    assert_eq!(d["children"]["me:1"]["who"], "me");
    assert_eq!(d["children"]["other:2"], json!({"who": "other"}));
    let (_, stat) = raw.get("/exp/svc/me:1").expect("re-created");
    assert_ne!(stat.ephemeral_owner, old_session);
    assert_eq!(stat.ephemeral_owner, r.session_id());
    assert_eq!(json(&r.get_json("/exp/svc").unwrap()), d);
    // The persistent node was not touched.
    assert_eq!(raw.get("/exp/config").unwrap().1.version, 0);
    // Watches work on the new session.
    raw.delete("/exp/svc/other:2");
    let d = until(&events, |d| d["children"].get("other:2").is_none());
    assert!(d["children"].get("me:1").is_some());
}

#[test]
fn ensemble_member_loss_keeps_session_and_watches() {
    let zk = Zk::ensemble();
    let raw = Raw::connect(&zk.connect);
    let r = open(&zk.connect, "6000");
    r.set_node("/ens/svc/me:1", r#"{"n":1}"#).unwrap();
    let events = docs(&r, "/ens/svc");
    assert!(json(&events.next())["children"].get("me:1").is_some());
    let session = r.session_id();

    // Kill every server but one in turn, including whichever we are connected to.
    for victim in ["1", "2"] {
        zk.cmd(&["kill", victim]);
        raw.create(&format!("/ens/svc/during-{victim}"), b"{}");
        let d = until(&events, |d| {
            d["children"]
                .get(format!("during-{victim}").as_str())
                .is_some()
        });
        assert!(d["children"].get("me:1").is_some());
        zk.cmd(&["start", victim]);
        zk.cmd(&["wait", victim]);
    }
    assert_eq!(r.session_id(), session, "same session throughout");
    let (_, stat) = raw.get("/ens/svc/me:1").unwrap();
    assert_eq!(stat.ephemeral_owner, session);
}

#[test]
fn a_drained_registration_shows_draining_then_goes_and_stays_gone_after_an_expiry() {
    let zk = Zk::standalone();
    let raw = Raw::connect(&zk.connect);
    let proxy = Proxy::start(&zk.connect);
    let r = open(&proxy.addr, "4000");
    r.set_node("/drain/svc/me:1", r#"{"weight":3}"#).unwrap();
    r.set_node("/drain/svc/other:1", "{}").unwrap();
    let st = states(&r);
    assert_eq!(st.next(), State::Connected);
    let events = docs(&r, "/drain/svc");
    until(&events, |d| {
        d["children"].get("me:1").is_some() && d["children"].get("other:1").is_some()
    });
    let p = r
        .picker("/drain/svc", ndsr::discovery::PickerOptions::default())
        .unwrap();
    assert_eq!(p.usable().unwrap(), 2);
    assert_eq!(
        r.drain("/drain/svc/none:1", Duration::ZERO)
            .unwrap_err()
            .code,
        ndsr::Status::NotFound
    );

    let t0 = std::time::Instant::now();
    r.drain("/drain/svc/me:1", Duration::from_millis(500))
        .unwrap();
    assert!(t0.elapsed() < Duration::from_millis(200), "returns at once");
    let d = until(&events, |d| d["children"]["me:1"]["state"] == "draining");
    assert_eq!(d["children"]["me:1"]["weight"], 3, "its own data kept");
    assert_eq!(p.usable().unwrap(), 1, "pickers stop choosing it");
    until(&events, |d| d["children"].get("me:1").is_none());
    assert!(
        t0.elapsed() >= Duration::from_millis(500),
        "not before the grace"
    );
    // Forgotten once the drain's removal has returned (the node's deletion can reach the cache
    // first; nothing signals the bookkeeping after it, so poll, 5 s at most).
    let t1 = std::time::Instant::now();
    while r.registration_status("/drain/svc/me:1").is_ok() {
        assert!(t1.elapsed() < Duration::from_secs(5), "never forgotten");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        r.registration_status("/drain/svc/me:1").unwrap_err().code,
        ndsr::Status::NotFound,
        "forgotten"
    );

    // After an expiry the other registration comes back; the drained one does not.
    let info = r.session_info().unwrap();
    proxy.cut();
    expire(&zk.connect, info);
    proxy.restore();
    while st.next() != State::Expired {}
    while st.next() != State::Connected {}
    let d = until(&events, |d| d["children"].get("other:1").is_some());
    assert!(d["children"].get("me:1").is_none());
    let (_, stat) = raw.get("/drain/svc/other:1").expect("re-created");
    assert_eq!(stat.ephemeral_owner, r.session_id());
    assert!(raw.get("/drain/svc/me:1").is_none());
}

#[test]
fn registering_again_cancels_a_drain() {
    let zk = Zk::standalone();
    let raw = Raw::connect(&zk.connect);
    let r = open(&zk.connect, "4000");
    r.set_node("/drain2/svc/me:1", "{}").unwrap();
    r.drain("/drain2/svc/me:1", Duration::from_millis(300))
        .unwrap();
    let events = docs(&r, "/drain2/svc");
    until(&events, |d| d["children"]["me:1"]["state"] == "draining");
    r.set_node("/drain2/svc/me:1", r#"{"back":true}"#).unwrap();
    // Past the grace (the drain's own timer: nothing else to await).
    std::thread::sleep(Duration::from_millis(600));
    let (data, _) = raw.get("/drain2/svc/me:1").expect("still registered");
    assert!(String::from_utf8_lossy(&data).contains("\"back\":true"));
    assert_eq!(
        r.registration_status("/drain2/svc/me:1").unwrap(),
        ndsr::Status::Ok
    );
}
