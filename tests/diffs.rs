//! Diff events and snapshots on real ZooKeeper: the first diff has every child added, each diff
//! applies exactly to the state the previous ones built (checked at every step, under random
//! churn that adds, removes and changes children, changes the parent's own data, deletes the
//! parent and re-creates it), and the end state is the document `get_json` gives. Snapshots:
//! the same document, without a copy, unchanged by later changes.
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use ndsr::{Options, Registry};
use serde_json::{Map, Value};

fn open(zk: &Zk) -> Arc<Registry> {
    Registry::open(Some(&zk.connect), Options::default()).expect("open")
}

/// What a consumer builds from diffs alone.
#[derive(Default, Debug)]
struct Replayed {
    path: Value,
    stat: Value,
    data: Value,
    children: Map<String, Value>,
}

impl Replayed {
    /// Applies `diff`, checking that it fits the state exactly (what it says was there was).
    fn apply(&mut self, diff: &Value) {
        for (name, data) in diff["removed"].as_object().expect("removed") {
            assert_eq!(
                self.children.remove(name).as_ref(),
                Some(data),
                "removed {name}: {diff}"
            );
        }
        for (name, change) in diff["changed"].as_object().expect("changed") {
            let now = self.children.get_mut(name).expect("changed child known");
            assert_eq!(*now, change["old"], "changed {name}: {diff}");
            assert_ne!(
                change["old"], change["new"],
                "a change that is none: {diff}"
            );
            *now = change["new"].clone();
        }
        for (name, data) in diff["added"].as_object().expect("added") {
            let before = self.children.insert(name.clone(), data.clone());
            assert_eq!(before, None, "added {name} twice: {diff}");
        }
        if !diff["data"].is_null() {
            assert_eq!(self.data, diff["data"]["old"], "data: {diff}");
            assert_ne!(
                diff["data"]["old"], diff["data"]["new"],
                "a data change that is none"
            );
            self.data = diff["data"]["new"].clone();
        }
        self.path = diff["path"].clone();
        self.stat = diff["stat"].clone();
    }

    fn as_document(&self) -> Value {
        serde_json::json!({
            "path": self.path,
            "stat": self.stat,
            "data": self.data,
            "children": Value::Object(self.children.clone()),
        })
    }
}

/// Receives diffs into `state` (each checked as it is applied) until it is the document
/// `get_json` gives, with no write on the way: the cache and the subscriber then both reach the
/// server's state. (A subscriber that falls behind skips documents, so it is compared with the
/// document as it is when it has caught up, not with one read earlier.)
fn replay_until_current(events: &Events<String>, state: &mut Replayed, r: &Registry, path: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let want = json(&r.get_json(path).unwrap());
        if state.as_document() == want {
            return;
        }
        if let Ok(next) = events.rx.recv_timeout(Duration::from_millis(200)) {
            state.apply(&json(&next));
        }
        assert!(
            Instant::now() < deadline,
            "the diffs never caught up; replayed {}\nwant {want}",
            state.as_document()
        );
    }
}

/// A small deterministic generator (the seed is printed, to replay a failure).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn first_diff_adds_every_child_then_diffs_say_what_changed() {
    let zk = Zk::standalone();
    let raw = Raw::connect(&zk.connect);
    raw.create("/d1", br#"{"role":"web"}"#);
    raw.create("/d1/a", br#"{"port":1}"#);
    raw.create("/d1/b", br#"{"port":2}"#);
    let r = open(&zk);
    let events = diffs(&r, "/d1");
    let first = json(&events.next());
    assert_eq!(first["path"], "/d1");
    assert_eq!(
        first["added"],
        serde_json::json!({"a":{"port":1},"b":{"port":2}})
    );
    assert_eq!(first["removed"], serde_json::json!({}));
    assert_eq!(first["changed"], serde_json::json!({}));
    assert_eq!(
        first["data"],
        serde_json::json!({"old":null,"new":{"role":"web"}})
    );
    assert_eq!(first["stat"]["numChildren"], 2);

    raw.set("/d1/a", br#"{"port":10}"#);
    let d = json(&events.next());
    assert_eq!(
        d["changed"],
        serde_json::json!({"a":{"old":{"port":1},"new":{"port":10}}})
    );
    assert_eq!(d["added"], serde_json::json!({}));
    assert_eq!(d["data"], Value::Null, "the parent's data did not change");

    raw.delete("/d1/b");
    let d = json(&events.next());
    assert_eq!(d["removed"], serde_json::json!({"b":{"port":2}}));
    assert_eq!(d["stat"]["numChildren"], 1);

    raw.set("/d1", br#"{"role":"api"}"#);
    let d = json(&events.next());
    assert_eq!(
        d["data"],
        serde_json::json!({"old":{"role":"web"},"new":{"role":"api"}})
    );
    assert_eq!(d["changed"], serde_json::json!({}));
}

#[test]
fn diffs_replay_exactly_under_random_churn() {
    let zk = Zk::standalone();
    let raw = Raw::connect(&zk.connect);
    let r = open(&zk);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("seed {seed}");
    let mut rng = Rng(seed);
    raw.create("/churn", b"{\"v\":0}");
    let events = diffs(&r, "/churn");
    let mut state = Replayed::default();
    let mut live: Vec<String> = Vec::new();
    let mut parent = true;
    let mut checkpoints = 0;
    for step in 0..400 {
        match rng.below(10) {
            _ if !parent => {
                raw.create("/churn", format!("{{\"v\":{step}}}").as_bytes());
                parent = true;
            }
            0..=3 => {
                let name = format!("n{}", rng.below(40));
                if !live.contains(&name) {
                    let data = format!("{{\"host\":\"10.0.0.{}\",\"step\":{step}}}", rng.below(9));
                    raw.create(&format!("/churn/{name}"), data.as_bytes());
                    live.push(name);
                }
            }
            4..=5 if !live.is_empty() => {
                let name = live.swap_remove(rng.below(live.len() as u64) as usize);
                raw.delete(&format!("/churn/{name}"));
            }
            6..=7 if !live.is_empty() => {
                let name = &live[rng.below(live.len() as u64) as usize];
                raw.set(
                    &format!("/churn/{name}"),
                    format!("{{\"step\":{step}}}").as_bytes(),
                );
            }
            8 => raw.set("/churn", format!("{{\"v\":{step}}}").as_bytes()),
            _ if rng.below(4) == 0 => {
                // The parent deleted (its children first) and, at the next step, re-created.
                for name in live.drain(..) {
                    raw.delete(&format!("/churn/{name}"));
                }
                raw.delete("/churn");
                parent = false;
            }
            _ => {
                // Now and then, catch up with the server's document.
                replay_until_current(&events, &mut state, &r, "/churn");
                checkpoints += 1;
            }
        }
    }
    if !parent {
        raw.create("/churn", b"{\"v\":\"end\"}");
    }
    // The end: the state built from diffs alone is the document, once the cache has caught up
    // with the last write (the document then holds its data and its children).
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let doc = json(&r.get_json("/churn").unwrap());
        let (data, _) = raw.get("/churn").unwrap();
        let mut names: Vec<&String> = doc["children"].as_object().unwrap().keys().collect();
        let mut want: Vec<&String> = live.iter().collect();
        names.sort();
        want.sort();
        if doc["data"] == json(std::str::from_utf8(&data).unwrap()) && names == want {
            break;
        }
        assert!(Instant::now() < deadline, "the cache never caught up");
        std::thread::sleep(Duration::from_millis(20));
    }
    replay_until_current(&events, &mut state, &r, "/churn");
    eprintln!("{checkpoints} checkpoints");
}

#[test]
fn snapshots_share_the_document_and_keep_it() {
    let zk = Zk::standalone();
    let raw = Raw::connect(&zk.connect);
    raw.create("/snap", b"{}");
    raw.create("/snap/b", br#"{"host":"h2","port":81,"w":1.5}"#);
    raw.create("/snap/a", br#"{"host":"h1","port":80}"#);
    let r = open(&zk);
    let events = docs(&r, "/snap");
    events.next();
    let s = r.snapshot("/snap").unwrap();
    assert_eq!(s.json(), r.get_json("/snap").unwrap());
    assert_eq!(s.count(), 2);
    assert_eq!((s.name_str(0), s.name_str(1)), (Some("a"), Some("b")));
    assert_eq!(s.child_str(0, "host").unwrap().to_str().unwrap(), "h1");
    assert_eq!(s.child_int(1, "port"), Ok(81));
    assert_eq!(s.child_int(1, "w"), Err(ndsr::Status::InvalidArgument));
    assert_eq!(s.child_int(1, "nope"), Err(ndsr::Status::NotFound));
    assert_eq!(s.child_json(0), Some(r#"{"host":"h1","port":80}"#));
    let again = r.snapshot("/snap").unwrap();
    assert!(
        Arc::ptr_eq(&s, &again),
        "a snapshot is the cached document, not a copy"
    );

    raw.delete("/snap/a");
    until(&events, |d| d["children"].as_object().unwrap().len() == 1);
    let after = r.snapshot("/snap").unwrap();
    assert_eq!(after.count(), 1);
    assert_eq!(s.count(), 2, "a snapshot never changes");
    r.close();
    assert_eq!(s.name_str(1), Some("b"), "and outlives its handle");
}
