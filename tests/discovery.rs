//! Discovery on real ZooKeeper: a service's children read as instances, pickers of each
//! strategy (shares, fairness, consistent-hash stability as instances come and go), filters and
//! the `state` rule, the down-instance policy (ejection, return, panic threshold), a change
//! reaching a picker, `wait_for`, and instances written by the Python original.
mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use ndsr::discovery::PickerOptions;
use ndsr::{Options, Registry, Status};

fn open(zk: &Zk) -> Arc<Registry> {
    Registry::open(Some(&zk.connect), Options::default()).expect("open")
}

fn options(pairs: &[(&str, &str)]) -> PickerOptions {
    let mut o = PickerOptions::default();
    for (k, v) in pairs {
        o.set(k, v).unwrap();
    }
    o
}

/// Registers `nodes` (name, data) under `path` from `r`, and waits until `r`'s cache has them.
fn register(r: &Registry, path: &str, nodes: &[(&str, &str)]) {
    for (name, data) in nodes {
        r.set_node(&format!("{path}/{name}"), data).unwrap();
    }
    let events = docs(r, path);
    until(&events, |d| {
        nodes
            .iter()
            .all(|(name, _)| d["children"].get(*name).is_some())
    });
}

/// How many times each name was picked in `n` picks (keys from `key`).
fn picks(
    p: &ndsr::discovery::Picker,
    n: usize,
    key: impl Fn(usize) -> Option<String>,
) -> BTreeMap<String, usize> {
    let mut count = BTreeMap::new();
    for i in 0..n {
        let k = key(i);
        let name = p
            .pick(k.as_deref().map(str::as_bytes), |c| {
                c.to_str().unwrap().to_string()
            })
            .unwrap();
        *count.entry(name).or_default() += 1;
    }
    count
}

#[test]
fn round_robin_weighted_and_random_shares() {
    let zk = Zk::standalone();
    let r = open(&zk);
    register(
        &r,
        "/d/svc",
        &[
            ("a:1", r#"{"weight":1}"#),
            ("b:1", r#"{"weight":2}"#),
            ("c:1", r#"{"weight":7}"#),
        ],
    );
    let rr = r.picker("/d/svc", PickerOptions::default()).unwrap();
    let c = picks(&rr, 300, |_| None);
    assert_eq!(
        c.values().copied().collect::<Vec<_>>(),
        [100, 100, 100],
        "{c:?}"
    );

    let w = r
        .picker("/d/svc", options(&[("strategy", "weighted")]))
        .unwrap();
    let c = picks(&w, 1000, |_| None);
    assert_eq!(
        c.values().copied().collect::<Vec<_>>(),
        [100, 200, 700],
        "{c:?}"
    );

    let rnd = r
        .picker("/d/svc", options(&[("strategy", "random")]))
        .unwrap();
    let c = picks(&rnd, 3000, |_| None);
    assert!(c.values().all(|n| (800..=1200).contains(n)), "{c:?}");
}

#[test]
fn consistent_keys_stay_and_move_only_with_their_instance() {
    let zk = Zk::standalone();
    let r = open(&zk);
    let names: Vec<String> = (0..10).map(|i| format!("h{i}:80")).collect();
    let nodes: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "{}")).collect();
    register(&r, "/d/ch", &nodes);
    let p = r
        .picker("/d/ch", options(&[("strategy", "consistent")]))
        .unwrap();
    let map = |p: &ndsr::discovery::Picker| -> HashMap<String, String> {
        (0..2000)
            .map(|i| {
                let key = format!("user-{i}");
                let name = p
                    .pick(Some(key.as_bytes()), |c| c.to_str().unwrap().to_string())
                    .unwrap();
                (key, name)
            })
            .collect()
    };
    let before = map(&p);
    assert!(before == map(&p), "the same key, the same instance");
    let spread: BTreeMap<&String, usize> = before.values().fold(BTreeMap::new(), |mut m, n| {
        *m.entry(n).or_default() += 1;
        m
    });
    assert!(
        spread.values().all(|n| (100..=320).contains(n)),
        "{spread:?}"
    );
    // Another process maps keys alike.
    let other = open(&zk);
    let q = other
        .picker("/d/ch", options(&[("strategy", "consistent")]))
        .unwrap();
    assert!(before == map(&q), "another process maps keys alike");

    // An instance goes: only its keys move.
    r.unset("/d/ch/h3:80").unwrap();
    let events = docs(&r, "/d/ch");
    until(&events, |d| d["children"].get("h3:80").is_none());
    let after = map(&p);
    for (k, name) in &before {
        match name.as_str() {
            "h3:80" => assert_ne!(after[k], "h3:80"),
            _ => assert_eq!(after[k], *name, "{k} moved though its instance stayed"),
        }
    }
    // It comes back: its keys return, and no other key moves.
    register(&r, "/d/ch", &[("h3:80", "{}")]);
    let back = map(&p);
    let moved: Vec<(&String, &String, &String)> = before
        .iter()
        .filter(|(k, n)| back[*k] != **n)
        .map(|(k, n)| (k, n, &back[k]))
        .take(5)
        .collect();
    assert!(moved.is_empty(), "keys moved (key, before, now): {moved:?}");
    assert_eq!(
        p.pick(None, |_| ()).unwrap_err().code,
        Status::InvalidArgument,
        "consistent needs a key"
    );
}

#[test]
fn state_weight_and_filters_decide_who_is_picked() {
    let zk = Zk::standalone();
    let r = open(&zk);
    register(
        &r,
        "/d/f",
        &[
            ("a:1", r#"{"zone":"eu-1","tier":1}"#),
            ("b:1", r#"{"zone":"eu-1","state":"draining"}"#),
            ("c:1", r#"{"zone":"us-1"}"#),
            ("d:1", r#"{"zone":"eu-1","state":"down"}"#),
            ("e:1", r#"{"zone":"eu-1","weight":0}"#),
            ("not-an-instance", "{}"),
            ("x:2", r#"{"zone":"eu-1","tier":2,"state":"up"}"#),
        ],
    );
    let all = r.picker("/d/f", PickerOptions::default()).unwrap();
    assert_eq!(all.usable().unwrap(), 3);
    let c = picks(&all, 30, |_| None);
    assert_eq!(c.keys().cloned().collect::<Vec<_>>(), ["a:1", "c:1", "x:2"]);

    let eu = r
        .picker("/d/f", options(&[("filter", "zone=eu-1")]))
        .unwrap();
    let c = picks(&eu, 20, |_| None);
    assert_eq!(c.keys().cloned().collect::<Vec<_>>(), ["a:1", "x:2"]);
    let tier2 = r
        .picker("/d/f", options(&[("filter", "zone=eu-1,tier=2")]))
        .unwrap();
    assert_eq!(
        picks(&tier2, 5, |_| None).keys().collect::<Vec<_>>(),
        ["x:2"]
    );
    let none = r
        .picker("/d/f", options(&[("filter", "zone=ap-1")]))
        .unwrap();
    assert_eq!(none.pick(None, |_| ()).unwrap_err().code, Status::NotFound);
}

#[test]
fn failing_instances_are_ejected_then_return_and_panic_ignores_ejections() {
    let zk = Zk::standalone();
    let r = open(&zk);
    register(
        &r,
        "/d/down",
        &[("a:1", "{}"), ("b:1", "{}"), ("c:1", "{}")],
    );
    let p = r
        .picker(
            "/d/down",
            options(&[
                ("down_errors", "2"),
                ("down_window_ms", "10000"),
                ("down_ms", "300"),
            ]),
        )
        .unwrap();
    p.report("b:1", false);
    assert!(
        picks(&p, 30, |_| None).contains_key("b:1"),
        "one failure is not enough"
    );
    p.report("b:1", false);
    let ejected_at = Instant::now();
    let c = picks(&p, 30, |_| None);
    assert_eq!(c.keys().cloned().collect::<Vec<_>>(), ["a:1", "c:1"]);
    // Back after down_ms (the policy's own time: nothing to await but the clock).
    std::thread::sleep(Duration::from_millis(300).saturating_sub(ejected_at.elapsed()));
    assert!(picks(&p, 30, |_| None).contains_key("b:1"));

    // Two of three ejected is over 50%: ejections are ignored rather than overload one.
    for name in ["a:1", "b:1"] {
        p.report(name, false);
        p.report(name, false);
    }
    assert_eq!(picks(&p, 30, |_| None).len(), 3);
}

#[test]
fn a_new_instance_reaches_the_picker_and_a_closed_handle_ends_it() {
    let zk = Zk::standalone();
    let r = open(&zk);
    register(&r, "/d/new", &[("a:1", "{}")]);
    let p = r.picker("/d/new", PickerOptions::default()).unwrap();
    assert_eq!(picks(&p, 4, |_| None).len(), 1);
    let writer = open(&zk);
    writer.set_node("/d/new/b:1", "{}").unwrap();
    let events = docs(&r, "/d/new");
    until(&events, |d| d["children"].get("b:1").is_some());
    assert_eq!(
        picks(&p, 4, |_| None).len(),
        2,
        "seen as soon as the cache has it"
    );
    r.close();
    assert_eq!(p.pick(None, |_| ()).unwrap_err().code, Status::Closed);
}

#[test]
fn wait_for_instances() {
    let zk = Zk::standalone();
    let r = open(&zk);
    let t0 = Instant::now();
    assert_eq!(
        r.wait_for("/d/wait", 1, Duration::from_millis(200))
            .unwrap_err()
            .code,
        Status::Timeout
    );
    assert!(t0.elapsed() < Duration::from_secs(2));
    let waiter = {
        let r = r.clone();
        std::thread::spawn(move || r.wait_for("/d/wait", 2, Duration::from_secs(10)))
    };
    let writer = open(&zk);
    writer.set_node("/d/wait/a:1", "{}").unwrap();
    writer
        .set_node("/d/wait/down:1", r#"{"state":"down"}"#)
        .unwrap();
    writer.set_node("/d/wait/b:1", "{}").unwrap();
    waiter.join().unwrap().unwrap();
    let doc = json(&r.get_json("/d/wait").unwrap());
    assert!(
        doc["children"].get("b:1").is_some(),
        "returned once both were there"
    );
    r.wait_for("/d/wait", 2, Duration::ZERO).unwrap();
}
