//! The client-side rate limit, counted against a real server over time.
mod common;

use std::time::{Duration, Instant};

use common::*;
use ndsr::status::NDSR_E_INVALID_ARGUMENT;
use ndsr::testing::Hooks;
use ndsr::Options;
use ndsr::Registry;

#[test]
fn requests_stay_within_burst_plus_rate() {
    let zk = Zk::standalone();
    let (burst, rate) = (5u32, 20.0f64);
    let mut o = Options::default();
    o.set("rate_limit_burst", &burst.to_string()).unwrap();
    o.set("rate_limit_per_sec", &rate.to_string()).unwrap();
    let r = Registry::open(Some(&zk.connect), o).unwrap();
    r.set_data("/rl/n", r#"{"i":0}"#).unwrap(); // creates the parent: a few requests
    std::thread::sleep(Duration::from_secs_f64(burst as f64 / rate)); // let the bucket refill

    // 40 writes of one request each; record when each request had been sent.
    let mut stamps = Vec::new();
    let start = Instant::now();
    for i in 1..=40 {
        r.set_data("/rl/n", &format!("{{\"i\":{i}}}")).unwrap();
        stamps.push((r.request_counts().writes(), Instant::now()));
    }
    let elapsed = start.elapsed();
    // Never more than burst + rate * window requests in any window …
    for (i, (n0, t0)) in stamps.iter().enumerate() {
        for (n1, t1) in &stamps[i + 1..] {
            let allowed = burst as f64 + rate * (*t1 - *t0).as_secs_f64() + 1.0;
            assert!(
                (n1 - n0) as f64 <= allowed,
                "{} requests in {:?}",
                n1 - n0,
                *t1 - *t0
            );
        }
    }
    // … so 40 requests took at least (40 - burst) / rate; unlimited they take milliseconds.
    let floor = Duration::from_secs_f64((40 - burst) as f64 / rate) - Duration::from_millis(50);
    assert!(
        elapsed >= floor,
        "took {elapsed:?}, the limit allows no less than {floor:?}"
    );
    assert_eq!(json(&r.get_json("/rl/n").unwrap())["data"]["i"], 40);
}

#[test]
fn rate_limit_options_go_together() {
    let mut o = Options::default();
    o.set("rate_limit_burst", "10").unwrap();
    let e = Registry::open(Some("127.0.0.1:1"), o.clone())
        .err()
        .unwrap();
    assert_eq!(e.code, NDSR_E_INVALID_ARGUMENT);
    assert!(o.set("rate_limit_per_sec", "-1").is_err());
    assert!(o.set("rate_limit_burst", "many").is_err());
}
