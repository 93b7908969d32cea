//! The stats (`ndsr_stats_json`, `ndsr_stats_prometheus`) against what the server saw: the
//! requests a handle counts are the requests ZooKeeper received from its session (`cons`: the
//! last request number), and the gauges and counters follow a registration, a watched path, a
//! change, a callback, a lost connection and an expiry.
mod common;

use std::time::Duration;

use common::*;
use ndsr::{Options, Registry, State};
use serde_json::Value;

/// The last request number (xid) the server has seen from `session` (every request but pings
/// and the client's own SetWatches after a reconnect has the next number).
fn last_request_number(zk: &Zk, session: i64) -> u64 {
    let cons = zk.cmd(&["4lw", "1", "cons"]);
    let line = cons
        .lines()
        .find(|l| l.contains(&format!("sid=0x{session:x},")))
        .unwrap_or_else(|| panic!("session 0x{session:x} not in {cons}"));
    let lcxid = line.split("lcxid=0x").nth(1).unwrap().split(',').next();
    u64::from_str_radix(lcxid.unwrap(), 16).unwrap()
}

fn stats(r: &Registry) -> Value {
    json(&r.stats_json().unwrap())
}

#[test]
fn stats_count_what_the_server_saw() {
    let zk = Zk::standalone();
    let proxy = Proxy::start(&zk.connect);
    let mut o = Options::default();
    o.set("timeout_ms", "2000").unwrap();
    let r = Registry::open(Some(&proxy.addr), o).unwrap();
    let writer = Registry::open(Some(&zk.connect), Options::default()).unwrap();
    r.set_node("/st/svc/me:1", "{}").unwrap();
    writer.set_node("/st/svc/other:1", "{}").unwrap();
    let events = docs(&r, "/st/svc");
    until(&events, |d| d["children"].as_object().unwrap().len() == 2);
    writer.set_data("/st/svc", r#"{"v":1}"#).unwrap();
    until(&events, |d| d["data"]["v"] == 1);
    events.assert_quiet(Duration::from_millis(300));

    let s = stats(&r);
    assert_eq!(
        s["requests"]["total"],
        last_request_number(&zk, r.session_id()),
        "{s}"
    );
    assert_eq!(s["state"], "connected");
    assert_eq!(s["session_id"], format!("0x{:x}", r.session_id()));
    assert_eq!(s["registrations"]["count"], 1);
    assert_eq!(s["cache"]["paths"], 1);
    assert_eq!(s["cache"]["nodes"], 2);
    assert_eq!(s["cache"]["oldest_last_known_ms"], 0);
    assert_eq!(s["watch"]["events"], 1, "the data change: {s}");
    assert!(s["callbacks"]["delivered"].as_u64().unwrap() >= 2, "{s}");
    assert_eq!(s["callbacks"]["queued"], 0);
    assert_eq!(s["session"]["reconnects"], 0);

    // A lost connection, some time without one, then back.
    let st = states(&r);
    assert_eq!(st.next(), State::Connected);
    proxy.cut();
    until_state(&st, State::Disconnected);
    let away = stats(&r);
    assert_eq!(away["state"], "disconnected");
    std::thread::sleep(Duration::from_millis(300)); // time spent away, to be counted
    proxy.restore();
    until_state(&st, State::Connected);
    let s = stats(&r);
    assert_eq!(s["session"]["reconnects"], 1, "{s}");
    assert!(
        s["session"]["disconnected_ms"].as_u64().unwrap() >= 300,
        "{s}"
    );
    assert_eq!(s["session"]["expiries"], 0);

    // An expiry: cut until the server has dropped the session (its node goes), then back.
    let raw = Raw::connect(&zk.connect);
    proxy.cut();
    until_state(&st, State::Disconnected);
    raw.wait_exists("/st/svc/me:1", false, Duration::from_secs(20));
    proxy.restore();
    until_state(&st, State::Expired);
    until_state(&st, State::Connected);
    raw.wait_exists("/st/svc/me:1", true, Duration::from_secs(20));
    let s = stats(&r);
    assert_eq!(s["session"]["expiries"], 1, "{s}");
    assert_eq!(s["session"]["reconnects"], 2, "{s}");
    assert_eq!(s["registrations"]["reregistrations"], 1, "{s}");
    assert_eq!(s["registrations"]["count"], 1, "{s}");

    let text = r.stats_prometheus().unwrap();
    let tag = format!("0x{:x}", r.session_id());
    assert!(
        text.contains("# TYPE ndsr_requests_total counter\n"),
        "{text}"
    );
    assert!(text.contains("kind=\"get_data\"}"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("ndsr_connected{") && l.contains(&tag) && l.ends_with(" 1")),
        "{text}"
    );
    assert!(text.contains("ndsr_session_reconnects_total{"), "{text}");
    assert!(text.contains("ndsr_cache_nodes{"), "{text}");
    r.close();
    assert_eq!(
        stats(&r)["state"],
        "closed",
        "the last numbers stay readable"
    );
}

#[test]
fn bytes_count_what_crossed_the_wire() {
    // Through a proxy that counts what it passes, on connections it never drops: what the
    // proxy passed before the stats were taken was written (or read) by the client before, and
    // what the client counted reaches the proxy (or came through it) soon after.
    let zk = Zk::standalone();
    let proxy = Proxy::start(&zk.connect);
    let r = Registry::open(Some(&proxy.addr), Options::default()).unwrap();
    r.set_node("/st/bytes/me:1", r#"{"pad":"0123456789"}"#)
        .unwrap();
    until_registered(&r, "/st/bytes/me:1");
    r.get_json("/st/bytes").unwrap();
    let (to_server, to_client) = proxy.bytes();
    let s = stats(&r);
    let (sent, received) = (
        s["bytes"]["sent"].as_u64().unwrap(),
        s["bytes"]["received"].as_u64().unwrap(),
    );
    assert!(sent >= to_server && received <= proxy.bytes().1, "{s}");
    assert!(to_server > 200 && to_client > 200, "{s}");
    until_true(|| proxy.bytes().0 >= sent);
    until_true(|| stats(&r)["bytes"]["received"].as_u64().unwrap() >= to_client);
    let text = r.stats_prometheus().unwrap();
    assert!(text.contains("ndsr_bytes_sent_total{"), "{text}");
}

/// Sends `()` on drop: tells the test that a callback was released.
struct OnDrop(std::sync::mpsc::Sender<()>);

impl Drop for OnDrop {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

#[test]
fn periodic_stats_follow_the_handle_and_skip_ticks_when_slow() {
    use std::sync::mpsc::channel;
    use std::time::Instant;
    let zk = Zk::standalone();
    let r = Registry::open(Some(&zk.connect), Options::default()).unwrap();
    assert_eq!(
        r.on_stats(Duration::ZERO, ndsr::callback(|_| {}))
            .unwrap_err()
            .code,
        ndsr::Status::InvalidArgument
    );
    let (tx, calls) = channel::<(Instant, Value)>();
    let (freed_tx, freed) = channel();
    let guard = std::sync::Arc::new(OnDrop(freed_tx));
    let start = Instant::now();
    let id = r
        .on_stats(
            Duration::from_millis(100),
            ndsr::callback(move |e| {
                let _keep = &guard;
                if let ndsr::Event::Stats { json } = e {
                    let _ = tx.send((Instant::now(), serde_json::from_str(json).unwrap()));
                }
            }),
        )
        .unwrap();
    let (first_at, first) = calls.recv_timeout(Duration::from_secs(5)).unwrap();
    // The first call comes after one interval, with what ndsr_stats_json gives.
    assert!(first_at - start >= Duration::from_millis(90));
    assert_eq!(first["registrations"]["count"], 0, "{first}");
    r.set_node("/st/periodic/me:1", "{}").unwrap();
    // A later call shows the registration: the stats are made at each tick.
    let later = loop {
        let (_, s) = calls.recv_timeout(Duration::from_secs(5)).unwrap();
        if s["registrations"]["count"] == 1 {
            break s;
        }
    };
    assert!(
        later["requests"]["create"].as_u64().unwrap() >= 1,
        "{later}"
    );
    r.off(id).unwrap();
    // Ended: the callback is released, and no call comes after.
    freed.recv_timeout(Duration::from_secs(5)).unwrap();
    while calls.try_recv().is_ok() {}
    assert!(calls.recv_timeout(Duration::from_millis(300)).is_err());

    // A callback stuck for 50 intervals leaves at most one call waiting, not 50 (the count
    // includes the stuck call itself).
    let (release_tx, release) = channel::<()>();
    let release = std::sync::Arc::new(std::sync::Mutex::new(release));
    let (entered_tx, entered) = channel();
    r.on_stats(
        Duration::from_millis(10),
        ndsr::callback(move |_| {
            let _ = entered_tx.send(());
            let _ = release.lock().unwrap().recv();
        }),
    )
    .unwrap();
    entered.recv_timeout(Duration::from_secs(5)).unwrap();
    std::thread::sleep(Duration::from_millis(500)); // 50 ticks go by
    let s = stats(&r);
    assert!(s["callbacks"]["queued"].as_u64().unwrap() <= 2, "{s}");
    drop(release_tx);
}
