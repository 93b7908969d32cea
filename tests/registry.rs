//! The core against a real standalone ZooKeeper: registration, the document, watching with the
//! incremental read rule, missing paths, close, bad input.
mod common;

use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use ndsr::status::*;
use ndsr::testing::Hooks;
use ndsr::testing::RequestCounts;
use ndsr::Event;
use ndsr::Options;
use ndsr::{Applied, Registry};
use serde_json::{json, Value};

fn open(zk: &Zk) -> Arc<Registry> {
    Registry::open(Some(&zk.connect), Options::default()).expect("open")
}

fn watch(r: &Registry, path: &str) -> (u64, Events<String>) {
    let (tx, rx) = mpsc::channel();
    let (id, applied) = r
        .on_change(
            path,
            ndsr::callback(move |e| {
                if let Event::Document { json, .. } = e {
                    let _ = tx.send(json.to_string());
                }
            }),
        )
        .unwrap();
    assert_eq!(applied, Applied::Done);
    (id, Events { rx })
}

fn stat_json(s: &zookeeper_client::Stat) -> Value {
    json!({"czxid": s.czxid, "mzxid": s.mzxid, "ctime": s.ctime, "mtime": s.mtime, "version": s.version,
           "cversion": s.cversion, "aversion": s.aversion, "ephemeralOwner": s.ephemeral_owner,
           "dataLength": s.data_length, "numChildren": s.num_children, "pzxid": s.pzxid})
}

#[test]
fn register_read_back_and_unregister() {
    let zk = Zk::standalone();
    let raw = Raw::connect(&zk.connect);
    let r = open(&zk);
    assert_eq!(
        r.set_node("/services/ssh/server1:22", r#"{"foo":"bar"}"#)
            .unwrap(),
        Applied::Done
    );

    // The bytes are the Python original's format: pid, created, then the user's keys, compact.
    let (bytes, stat) = raw.get("/services/ssh/server1:22").expect("registered");
    let text = String::from_utf8(bytes).unwrap();
    let re_prefix = format!("{{\"pid\":{},\"created\":\"", std::process::id());
    assert!(text.starts_with(&re_prefix), "{text}");
    assert!(text.ends_with("\",\"foo\":\"bar\"}"), "{text}");
    let created = json(&text)["created"].as_str().unwrap().to_string();
    assert!(
        chrono::NaiveDateTime::parse_from_str(&created, "%Y-%m-%d %H:%M:%S").is_ok(),
        "{created}"
    );
    assert_eq!(
        stat.ephemeral_owner,
        r.session_id(),
        "ephemeral, owned by our session"
    );

    let (_, parent_stat) = raw.get("/services/ssh").unwrap();
    let doc = json(&r.get_json("/services/ssh").unwrap());
    assert_eq!(
        doc,
        json!({"path": "/services/ssh", "stat": stat_json(&parent_stat), "data": null,
               "children": {"server1:22": {"pid": std::process::id(), "created": created, "foo": "bar"}}})
    );
    assert_eq!(
        doc.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["path", "stat", "data", "children"]
    );

    assert_eq!(r.unset("/services/ssh/server1:22").unwrap(), Applied::Done);
    assert!(!raw.exists("/services/ssh/server1:22"));
    // Unset of a path that does not exist is fine and sends one delete.
    assert_eq!(r.unset("/services/ssh/never").unwrap(), Applied::Done);
}

#[test]
fn same_data_twice_writes_once() {
    let zk = Zk::standalone();
    let raw = Raw::connect(&zk.connect);
    let r = open(&zk);
    r.set_data("/config/app", r#"{"level":"debug"}"#).unwrap();
    let (_, first) = raw.get("/config/app").unwrap();
    let before = r.request_counts();
    assert_eq!(
        r.set_data("/config/app", r#"{"level":"debug"}"#).unwrap(),
        Applied::Done
    );
    r.set_node("/config/live", "null").unwrap();
    let mid = r.request_counts();
    assert_eq!(r.set_node("/config/live", "null").unwrap(), Applied::Done);
    let again = r.request_counts().since(&mid);
    assert_eq!(
        (again.writes(), again.get_data),
        (0, 0),
        "nothing written or read: {again:?}"
    );
    assert_eq!(mid.since(&before).set_data, 0);
    assert_eq!(raw.get("/config/app").unwrap().1.mzxid, first.mzxid);
    // Different data does write.
    r.set_data("/config/app", r#"{"level":"info"}"#).unwrap();
    assert_eq!(
        json(std::str::from_utf8(&raw.get("/config/app").unwrap().0).unwrap())["level"],
        "info"
    );
    // A JSON string is stored as string_value.
    r.set_data("/config/str", r#""hello""#).unwrap();
    let v = json(std::str::from_utf8(&raw.get("/config/str").unwrap().0).unwrap());
    assert_eq!(v["string_value"], "hello");
    assert_eq!(v.as_object().unwrap().len(), 3);
}

#[test]
fn data_written_by_others_decodes_like_the_original() {
    let zk = Zk::standalone();
    let raw = Raw::connect(&zk.connect);
    raw.create("/d", b"");
    raw.create("/d/empty", b"");
    raw.create("/d/blank", b"  \n ");
    raw.create("/d/text", b"hello world");
    raw.create("/d/array", b"[1,2]");
    raw.create("/d/broken", b"{not json}");
    raw.create("/d/binary", b"\xff\xfe\x00ok");
    raw.create("/d/obj", br#" {"a": {"b": [1, 2]}, "z": null} "#);
    let r = open(&zk);
    let doc = json(&r.get_json("/d").unwrap());
    assert_eq!(doc["data"], Value::Null);
    assert_eq!(
        doc["children"],
        json!({
            "array": {"string_value": "[1,2]"},
            "binary": {"string_value": "\u{FFFD}\u{FFFD}\u{0}ok"},
            "blank": {},
            "broken": {"string_value": "{not json}"},
            "empty": null,
            "obj": {"a": {"b": [1, 2]}, "z": null},
            "text": {"string_value": "hello world"}
        })
    );
    // A leaf: children {} and the stat of the node itself.
    let (_, st) = raw.get("/d/text").unwrap();
    assert_eq!(
        json(&r.get_json("/d/text").unwrap()),
        json!({"path": "/d/text", "stat": stat_json(&st), "data": {"string_value": "hello world"}, "children": {}})
    );
    // A missing path: stat null, data null, children {}.
    assert_eq!(
        json(&r.get_json("/nope").unwrap()),
        json!({"path": "/nope", "stat": null, "data": null, "children": {}})
    );
}

#[test]
fn cached_get_makes_no_request() {
    let zk = Zk::standalone();
    let raw = Raw::connect(&zk.connect);
    raw.create("/c", b"{}");
    raw.create("/c/a", b"{}");
    let r = open(&zk);
    let first = r.get_json("/c").unwrap();
    let before = r.request_counts();
    for _ in 0..1000 {
        assert_eq!(r.get_json("/c").unwrap(), first);
    }
    assert_eq!(r.request_counts(), before);
}

/// Each change is seen once, in order, get_json agrees, and the reads are the incremental ones.
/// The reads a change costs: (getData, getChildren, exists).
type Cost = (u64, u64, u64);

#[test]
fn watch_sees_each_change_once_with_incremental_reads() {
    // A persistent recursive watch: a read per new or changed child, none for a removal,
    // nothing to re-arm.
    let persistent: [Cost; 5] = [(1, 0, 0), (1, 0, 0), (1, 0, 0), (0, 0, 0), (1, 0, 0)];
    each_change_once(true, persistent);
}

#[test]
fn one_shot_watches_see_each_change_once_with_incremental_reads() {
    // One-shot watches: the list again on an addition or a removal.
    let one_shot: [Cost; 5] = [(1, 1, 0), (1, 1, 0), (1, 0, 0), (0, 1, 0), (1, 0, 0)];
    each_change_once(false, one_shot);
}

fn each_change_once(persistent: bool, costs: [Cost; 5]) {
    let zk = Zk::standalone();
    let mut opts = Options::default();
    opts.set("persistent_watches", &persistent.to_string())
        .unwrap();
    let a = Registry::open(Some(&zk.connect), opts).unwrap();
    let b = open(&zk);
    let raw = Raw::connect(&zk.connect);
    b.set_data("/svc", r#"{"v":1}"#).unwrap();
    let (_, events) = watch(&a, "/svc");
    let d = json(&events.next());
    assert_eq!(d["data"]["v"], 1);
    assert_eq!(d["children"], json!({}));
    let cost = |i: usize| RequestCounts {
        get_data: costs[i].0,
        get_children: costs[i].1,
        exists: costs[i].2,
        ..Default::default()
    };

    // Each step: the change, what the document must show, the reads it may cost.
    type Change<'a> = Box<dyn Fn() + 'a>;
    type Check = Box<dyn Fn(&Value)>;
    let steps: Vec<(&str, Change, Check, RequestCounts)> = vec![
        (
            "child added",
            Box::new(|| {
                b.set_node("/svc/n1", r#"{"port":1}"#).unwrap();
            }),
            Box::new(|d| assert_eq!(d["children"]["n1"]["port"], 1)),
            cost(0),
        ),
        (
            "second child added",
            Box::new(|| {
                b.set_node("/svc/n2", r#"{"port":2}"#).unwrap();
            }),
            Box::new(|d| {
                assert_eq!(d["children"]["n2"]["port"], 2);
                assert_eq!(d["children"]["n1"]["port"], 1);
                assert_eq!(d["stat"]["numChildren"], 2);
            }),
            cost(1),
        ),
        (
            "child data changed",
            Box::new(|| {
                b.set_node("/svc/n1", r#"{"port":11}"#).unwrap();
            }),
            Box::new(|d| assert_eq!(d["children"]["n1"]["port"], 11)),
            cost(2),
        ),
        (
            "child removed",
            Box::new(|| {
                b.unset("/svc/n2").unwrap();
            }),
            Box::new(|d| {
                assert!(d["children"].get("n2").is_none());
                assert_eq!(d["stat"]["numChildren"], 1);
            }),
            cost(3),
        ),
        (
            "node data changed",
            Box::new(|| {
                b.set_data("/svc", r#"{"v":2}"#).unwrap();
            }),
            Box::new(|d| assert_eq!(d["data"]["v"], 2)),
            cost(4),
        ),
    ];
    for (name, change, check, cost) in steps {
        let before = a.request_counts();
        change();
        let got = events.next();
        let d = json(&got);
        check(&d);
        assert_eq!(a.request_counts().since(&before), cost, "reads for {name}");
        // The document's stat is the server's (the persistent engine keeps it without reading
        // it on every change; before ZooKeeper 3.9 a removal's zxid is not known, so pzxid
        // may be behind until the list is read again).
        let (_, stat) = raw.get("/svc").unwrap();
        let pzxid = d["stat"]["pzxid"].as_i64().unwrap();
        match persistent {
            true => assert!(pzxid <= stat.pzxid, "pzxid after {name}"),
            false => assert_eq!(pzxid, stat.pzxid, "pzxid after {name}"),
        }
        assert_eq!(
            d["stat"]["cversion"], stat.cversion,
            "cversion after {name}"
        );
        assert_eq!(
            d["stat"]["numChildren"], stat.num_children,
            "numChildren after {name}"
        );
        assert_eq!(d["stat"]["mzxid"], stat.mzxid, "mzxid after {name}");
        assert_eq!(
            a.get_json("/svc").unwrap(),
            got,
            "get_json agrees after {name}"
        );
    }
    // Nothing was delivered twice: the next event is the next change, not a repeat.
    b.set_data("/svc", r#"{"v":3}"#).unwrap();
    assert_eq!(json(&events.next())["data"]["v"], 3);
    events.assert_quiet(Duration::from_millis(300));
}

#[test]
fn missing_path_is_watched_until_created() {
    let zk = Zk::standalone();
    let raw = Raw::connect(&zk.connect);
    let r = open(&zk);
    let (_, events) = watch(&r, "/later/svc");
    assert_eq!(json(&events.next())["stat"], Value::Null);
    raw.create("/later", b"");
    raw.create("/later/svc", br#"{"x":1}"#);
    let d = json(&events.next());
    assert_eq!(d["data"], json!({"x": 1}));
    assert_eq!(d["children"], json!({}));
    raw.create("/later/svc/c1", br#"{"y":2}"#);
    assert_eq!(json(&events.next())["children"], json!({"c1": {"y": 2}}));
    raw.set("/later/svc/c1", br#"{"y":3}"#);
    assert_eq!(json(&events.next())["children"], json!({"c1": {"y": 3}}));
    // Deleted and created again: reported both times.
    raw.delete("/later/svc/c1");
    assert_eq!(json(&events.next())["children"], json!({}));
    raw.delete("/later/svc");
    assert_eq!(json(&events.next())["stat"], Value::Null);
    raw.create("/later/svc", b"");
    let d = json(&events.next());
    assert!(d["stat"].is_object());
    assert_eq!(d["data"], Value::Null);
}

#[test]
fn close_removes_ephemeral_nodes_at_once() {
    let zk = Zk::standalone();
    let raw = Raw::connect(&zk.connect);
    let mut opts = Options::default();
    opts.set("timeout_ms", "20000").unwrap();
    let r = Registry::open(Some(&zk.connect), opts).unwrap();
    assert_eq!(r.set_node("/eph/a", r#"{"x":1}"#).unwrap(), Applied::Done);
    let (stat, w) = raw
        .rt
        .block_on(raw.client.check_and_watch_stat("/eph/a"))
        .unwrap();
    assert!(stat.is_some());
    r.close();
    // The deletion arrives well within the 20 s session timeout.
    let event = raw
        .rt
        .block_on(async { tokio::time::timeout(Duration::from_secs(3), w.changed()).await })
        .expect("node not deleted within 3 s of close");
    assert_eq!(event.event_type, zookeeper_client::EventType::NodeDeleted);
    assert_eq!(
        r.set_node("/eph/b", "null").unwrap_err().code,
        NDSR_E_CLOSED
    );
    assert_eq!(r.get_json("/eph").unwrap_err().code, NDSR_E_CLOSED);
}

#[test]
fn bad_input_is_refused_before_anything_is_sent() {
    let zk = Zk::standalone();
    let r = open(&zk);
    let before = r.request_counts();
    for p in [
        "",
        "noslash",
        "/a/",
        "/a//b",
        "/a/./b",
        "/a/../b",
        "/a\u{1}b",
        "/zookeeper/x",
    ] {
        assert_eq!(
            r.set_node(p, "null").unwrap_err().code,
            NDSR_E_INVALID_ARGUMENT,
            "{p:?}"
        );
    }
    for p in ["", "x", "/a/"] {
        assert_eq!(
            r.get_json(p).unwrap_err().code,
            NDSR_E_INVALID_ARGUMENT,
            "{p:?}"
        );
    }
    for j in ["{", "[1,2]", "42", "true", "{\"a\":}"] {
        let e = r.set_node("/ok", j).unwrap_err();
        assert_eq!(e.code, NDSR_E_INVALID_ARGUMENT, "{j}");
        assert!(
            e.message.contains("JSON") || e.message.contains("object"),
            "{}",
            e.message
        );
    }
    let big = format!("{{\"b\":\"{}\"}}", "x".repeat(NDSR_MAX_DATA_LEN));
    assert_eq!(r.set_data("/ok", &big).unwrap_err().code, NDSR_E_TOO_LARGE);
    assert_eq!(r.request_counts(), before, "nothing sent");
    // Just under the cap is fine and reads back whole.
    let fits = format!("{{\"b\":\"{}\"}}", "y".repeat(NDSR_MAX_DATA_LEN - 100));
    r.set_data("/big", &fits).unwrap();
    let doc = json(&r.get_json("/big").unwrap());
    assert_eq!(
        doc["data"]["b"].as_str().unwrap().len(),
        NDSR_MAX_DATA_LEN - 100
    );
}

#[test]
fn the_reserved_subtree_is_checked_under_the_chroot() {
    let zk = Zk::standalone();
    let raw = Raw::connect(&zk.connect);
    let r = Registry::open(
        Some(&format!("{}/zookeeper", zk.connect)),
        Options::default(),
    )
    .unwrap();
    // "/x" under the chroot /zookeeper is /zookeeper/x on the server.
    for e in [
        r.set_data("/x", "null").unwrap_err(),
        r.set_node("/svc/x:1", "null").unwrap_err(),
        r.unset("/x").unwrap_err(),
    ] {
        assert_eq!(e.code, NDSR_E_INVALID_ARGUMENT, "{}", e.message);
        assert!(e.message.contains("reserved"), "{}", e.message);
    }
    assert!(!raw.exists("/zookeeper/x") && !raw.exists("/zookeeper/svc"));
    // Reading is allowed, as without a chroot.
    assert!(r.get_json("/").is_ok());
    // Any other chroot is an ordinary one.
    raw.create("/app", b"");
    let r = Registry::open(Some(&format!("{}/app", zk.connect)), Options::default()).unwrap();
    r.set_data("/x", "null").unwrap();
    assert!(raw.exists("/app/x"));
}

#[test]
fn numbers_beyond_64_bits_are_kept_exactly() {
    let zk = Zk::standalone();
    let raw = Raw::connect(&zk.connect);
    let r = open(&zk);
    let big = "123456789012345678901234567890";
    r.set_data(
        "/num",
        &format!(r#"{{"n":{big},"f":0.30000000000000000001}}"#),
    )
    .unwrap();
    let stored = String::from_utf8(raw.get("/num").unwrap().0).unwrap();
    assert!(stored.contains(&format!(r#""n":{big}"#)), "{stored}");
    assert!(stored.contains(r#""f":0.30000000000000000001"#), "{stored}");
    let doc = r.get_json("/num").unwrap();
    assert!(doc.contains(&format!(r#""n":{big}"#)), "{doc}");
}

#[test]
fn read_only_handle_refuses_writes() {
    let zk = Zk::standalone();
    let mut opts = Options::default();
    opts.set("readonly", "true").unwrap();
    let r = Registry::open(Some(&zk.connect), opts).unwrap();
    assert_eq!(
        r.set_node("/ro", "null").unwrap_err().code,
        NDSR_E_READ_ONLY
    );
    assert_eq!(
        r.set_data("/ro", "null").unwrap_err().code,
        NDSR_E_READ_ONLY
    );
    assert_eq!(r.unset("/ro").unwrap_err().code, NDSR_E_READ_ONLY);
    assert_eq!(r.request_counts().writes(), 0);
    assert!(json(&r.get_json("/").unwrap())["children"]
        .get("zookeeper")
        .is_some());
}

#[test]
fn open_without_server_fails_or_is_lazy() {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = format!("127.0.0.1:{port}");
    let mut opts = Options::default();
    opts.set("timeout_ms", "1000").unwrap();
    let e = Registry::open(Some(&server), opts.clone())
        .err()
        .expect("must fail");
    assert_eq!(e.code, NDSR_E_NO_CONNECTION);
    opts.set("lazy", "true").unwrap();
    let r = Registry::open(Some(&server), opts).expect("lazy open succeeds");
    assert_eq!(r.state(), ndsr::State::Disconnected);
    assert_eq!(r.set_node("/q/a", "null").unwrap(), Applied::Queued);
    assert_eq!(r.get_json("/q").unwrap_err().code, NDSR_E_NO_CONNECTION);
}
