//! While disconnected, reads return the last known document, and a separate call tells whether
//! a document is live or last-known, and since when.
mod common;

use common::*;
use ndsr::Options;
use ndsr::Registry;
use ndsr::State;

/// Milliseconds since the Unix epoch.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}
use ndsr::status::NDSR_E_NOT_FOUND;

#[test]
fn live_then_last_known_then_live_again() {
    let zk = Zk::standalone();
    let raw = Raw::connect(&zk.connect);
    raw.create("/fresh", br#"{"v":1}"#);
    let proxy = Proxy::start(&zk.connect);
    let mut o = Options::default();
    o.set("timeout_ms", "20000").unwrap();
    let r = Registry::open(Some(&proxy.addr), o).unwrap();
    let states = states(&r);
    assert_eq!(states.next(), State::Connected);

    assert_eq!(
        r.freshness("/fresh").unwrap_err().code,
        NDSR_E_NOT_FOUND,
        "never read"
    );
    let t0 = now_ms();
    let doc = r.get_json("/fresh").unwrap();
    let (live, since) = r.freshness("/fresh").unwrap();
    assert!(live);
    assert!(since >= t0 - 1 && since <= now_ms(), "{since} vs {t0}");

    let cut_at = now_ms();
    proxy.cut();
    assert_eq!(states.next(), State::Disconnected);
    let (live, since) = r.freshness("/fresh").unwrap();
    assert!(!live, "last-known while disconnected");
    assert!(since >= cut_at - 1 && since <= now_ms());
    assert_eq!(
        r.get_json("/fresh").unwrap(),
        doc,
        "the last known document is served"
    );

    let restored_at = now_ms();
    proxy.restore();
    assert_eq!(states.next(), State::Connected);
    let (live, since) = r.freshness("/fresh").unwrap();
    assert!(live);
    assert!(since >= restored_at - 1);
    // And it is really live: a change arrives.
    let docs = docs(&r, "/fresh");
    raw.set("/fresh", br#"{"v":2}"#);
    while json(&docs.next())["data"]["v"] != 2 {}
    assert_eq!(json(&r.get_json("/fresh").unwrap())["data"]["v"], 2);
}
