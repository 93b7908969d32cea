//! A read-only handle on an ensemble member cut off from its quorum (read-only mode enabled):
//! it connects read-only, reads, refuses writes without sending them, and returns to read-write
//! when the quorum is back.
mod common;

use std::time::Duration;

use common::*;
use ndsr::status::*;
use ndsr::testing::Hooks;
use ndsr::Options;
use ndsr::Registry;
use ndsr::State;

#[test]
fn read_only_server_serves_reads_to_a_read_only_handle() {
    let zk = Zk::start_with("ensemble", &[("ZK_READONLY", "1")]);
    let writer = Registry::open(Some(&zk.connect), Options::default()).unwrap();
    writer.set_data("/ro/conf", r#"{"v":1}"#).unwrap();
    drop(writer);
    // Make sure node 1 has the data before it is cut off (a sync through it).
    let raw1 = Raw::connect(zk.connect.split(',').next().unwrap());
    raw1.rt.block_on(raw1.client.sync("/ro/conf")).unwrap();
    drop(raw1);

    zk.cmd(&["stop", "2"]);
    zk.cmd(&["stop", "3"]);
    // Node 1 alone: it serves read-only (this takes a few seconds).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    // (srvr says "READ-ONLY mode" or "Mode: read-only" depending on the moment)
    while !zk
        .cmd(&["4lw", "1", "srvr"])
        .to_lowercase()
        .contains("read-only")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "node 1 never went read-only"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let mut o = Options::default();
    o.set("readonly", "true").unwrap();
    o.set("timeout_ms", "4000").unwrap();
    let r = Registry::open(Some(&zk.connect), o).expect("a read-only handle connects");
    assert_eq!(r.state(), State::ConnectedReadOnly);
    assert_eq!(json(&r.get_json("/ro/conf").unwrap())["data"]["v"], 1);
    assert_eq!(
        r.set_data("/ro/conf", "{}").unwrap_err().code,
        NDSR_E_READ_ONLY
    );
    assert_eq!(r.request_counts().writes(), 0);

    // A read-write handle cannot use a read-only server.
    let mut rw = Options::default();
    rw.set("timeout_ms", "2000").unwrap();
    assert_eq!(
        Registry::open(Some(&zk.connect), rw).err().unwrap().code,
        NDSR_E_NO_CONNECTION
    );

    // The quorum comes back: the handle moves to a read-write server by itself.
    let states = states(&r);
    assert_eq!(states.next(), State::ConnectedReadOnly);
    zk.cmd(&["start", "2"]);
    zk.cmd(&["start", "3"]);
    while states.next() != State::Connected {}
    assert_eq!(json(&r.get_json("/ro/conf").unwrap())["data"]["v"], 1);
}
