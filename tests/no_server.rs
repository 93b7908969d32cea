//! Starting with no ZooKeeper server up (a test binary of its own, so that the CPU it measures
//! is this library's alone, not other tests').
mod common;

use std::time::{Duration, Instant};

use common::*;
use ndsr::Options;
use ndsr::{Applied, Registry};

#[test]
fn start_with_no_server_up() {
    let zk = Zk::ensemble();
    for n in ["1", "2", "3"] {
        zk.cmd(&["stop", n]);
    }
    let mut o = Options::default();
    o.set("lazy", "true").unwrap();
    o.set("timeout_ms", "2000").unwrap();
    let r = Registry::open(Some(&zk.connect), o).expect("lazy open while ZooKeeper is down");
    assert_eq!(
        r.set_node("/n/svc/me:1", r#"{"me":1}"#).unwrap(),
        Applied::Queued
    );
    let events = docs(&r, "/n/svc");
    // CPU while down: the client waits, it does not spin.
    let cpu = || {
        let mut u: libc::rusage = unsafe { std::mem::zeroed() };
        unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
        Duration::new(u.ru_utime.tv_sec as u64, u.ru_utime.tv_usec as u32 * 1000)
            + Duration::new(u.ru_stime.tv_sec as u64, u.ru_stime.tv_usec as u32 * 1000)
    };
    let (c0, t0) = (cpu(), Instant::now());
    std::thread::sleep(Duration::from_secs(3));
    let used = cpu() - c0;
    eprintln!(
        "CPU used while ZooKeeper was down: {used:?} in {:?}",
        t0.elapsed()
    );
    assert!(
        used < t0.elapsed() / 20,
        "used {used:?} of CPU in {:?} while ZooKeeper was down",
        t0.elapsed()
    );
    for n in ["1", "2", "3"] {
        zk.cmd(&["start", n]);
    }
    let d = loop {
        let d = json(&events.next());
        if d["children"].get("me:1").is_some() {
            break d;
        }
    };
    assert_eq!(d["children"]["me:1"]["me"], 1);
    until_registered(&r, "/n/svc/me:1");
}
