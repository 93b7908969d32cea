//! Interoperability with the Python original (nd_service_registry from PyPI, run for real):
//! each side reads what the other registered, in the same ZooKeeper paths.
//!
//! Needs a Python with nd_service_registry: `$NDSR_PYTHON`, else `.venv/bin/python`
//! (made by scripts/install-deps.sh).
mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::*;
use ndsr::Options;
use ndsr::Registry;
use serde_json::json;

fn python() -> String {
    std::env::var("NDSR_PYTHON")
        .unwrap_or_else(|_| format!("{}/.venv/bin/python", env!("CARGO_MANIFEST_DIR")))
}

/// Starts the Python peer (tests/interop/peer.py): it registers `node` with `data`, reads `read`
/// and `dir`, prints what it saw as one JSON line (returned here), and keeps its registration
/// until its stdin closes.
fn start_peer(
    connect: &str,
    args: [&str; 4],
    env: &[(&str, &str)],
) -> (std::process::Child, serde_json::Value) {
    let py = python();
    assert!(
        std::path::Path::new(&py).exists(),
        "{py} not found: run scripts/install-deps.sh (it makes .venv with nd_service_registry)"
    );
    let script = format!("{}/tests/interop/peer.py", env!("CARGO_MANIFEST_DIR"));
    let mut child = Command::new(&py)
        .arg(&script)
        .arg(connect)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start python");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (child, json(&line))
}

#[test]
fn python_original_and_libndsr_read_each_other() {
    let zk = Zk::standalone();
    let r = Registry::open(Some(&zk.connect), Options::default()).unwrap();
    r.set_node("/interop/svc/rust:1", r#"{"lang":"rust","note":"café"}"#)
        .unwrap();
    let events = docs(&r, "/interop/svc");
    assert!(json(&events.next())["children"].get("rust:1").is_some());

    let (mut child, seen) = start_peer(
        &zk.connect,
        [
            "/interop/svc/py:1",
            r#"{"lang":"python","n":3}"#,
            "/interop/svc/rust:1",
            "/interop/svc",
        ],
        &[],
    );
    // Python decodes our node to the same object we wrote, with our pid and created.
    let ours = &seen["read"];
    assert_eq!(ours["lang"], "rust");
    assert_eq!(ours["note"], "café");
    assert_eq!(ours["pid"], std::process::id());
    assert!(ours["created"].is_string());
    let mut names: Vec<String> = serde_json::from_value(seen["children"].clone()).unwrap();
    names.sort();
    assert_eq!(names, ["py:1", "rust:1"]);

    // We see the Python registration arrive with its data …
    let d = json(&events.next());
    let py_node = &d["children"]["py:1"];
    assert_eq!(py_node["lang"], "python");
    assert_eq!(py_node["n"], 3);
    assert_eq!(py_node["pid"], child.id());
    assert_eq!(
        json(&r.get_json("/interop/svc").unwrap())["children"]["py:1"],
        *py_node
    );

    // … and leave when the Python process stops.
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
    let d = json(&events.next());
    assert_eq!(
        d["children"],
        json!({"rust:1": d["children"]["rust:1"].clone()})
    );
}

/// With the same credentials, the original and libndsr protect nodes with the same ACL, and the
/// directory the original protects accepts our registration only with those credentials.
#[test]
fn python_original_and_libndsr_share_acls() {
    let zk = Zk::standalone();
    let (mut child, _) = start_peer(
        &zk.connect,
        ["/secure/svc/py:1", "{}", "/secure/svc/py:1", "/secure/svc"],
        &[("PEER_USER", "fleet"), ("PEER_PASSWORD", "hunter2")],
    );

    let raw = Raw::connect(&zk.connect);
    raw.rt
        .block_on(raw.client.auth("digest", b"fleet:hunter2"))
        .unwrap();
    let creds = ndsr::Credentials {
        username: "fleet".into(),
        password: "hunter2".into(),
    };
    let ids = |path: &str| {
        let (acls, _) = raw.rt.block_on(raw.client.get_acl(path)).unwrap();
        let mut v: Vec<String> = acls
            .iter()
            .map(|a| format!("{}:{}:{}", a.scheme(), a.id(), a.permission()))
            .collect();
        v.sort();
        v
    };
    let mut ours: Vec<String> = creds
        .default_acl()
        .iter()
        .map(|a| format!("{}:{}:{}", a.scheme(), a.id(), a.permission()))
        .collect();
    ours.sort();
    assert_eq!(ids("/secure/svc/py:1"), ours, "the original's ACL is ours");
    assert_eq!(ids("/secure/svc"), ours);

    let mut anon = Options::default();
    anon.set("timeout_ms", "5000").unwrap();
    let r = Registry::open(Some(&zk.connect), anon).unwrap();
    assert_eq!(
        r.set_node("/secure/svc/rust:1", "null").unwrap_err().code,
        ndsr::status::NDSR_E_NO_AUTH
    );
    let mut o = Options::default();
    o.set("username", "fleet").unwrap();
    o.set("password", "hunter2").unwrap();
    let r = Registry::open(Some(&zk.connect), o).unwrap();
    r.set_node("/secure/svc/rust:1", "null").unwrap();
    assert_eq!(ids("/secure/svc/rust:1"), ours);
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
}

/// A server registered by the original (its name `host:port`, its data only what the original
/// adds) is an instance a picker chooses, and `wait_for` sees it.
#[test]
fn python_registrations_are_instances() {
    let zk = Zk::standalone();
    let r = Registry::open(Some(&zk.connect), Options::default()).unwrap();
    let (mut child, _) = start_peer(
        &zk.connect,
        [
            "/interop/inst/10.0.0.5:8080",
            "null",
            "/interop/inst/10.0.0.5:8080",
            "/interop/inst",
        ],
        &[],
    );
    r.wait_for("/interop/inst", 1, std::time::Duration::from_secs(10))
        .unwrap();
    let doc = r.snapshot("/interop/inst").unwrap();
    let (found, skipped) = ndsr::discovery::instances(&doc);
    assert!(skipped.is_empty());
    assert_eq!((found[0].host.as_str(), found[0].port), ("10.0.0.5", 8080));
    let p = r
        .picker("/interop/inst", ndsr::discovery::PickerOptions::default())
        .unwrap();
    let name = p.pick(None, |n| n.to_str().unwrap().to_string()).unwrap();
    assert_eq!(name, "10.0.0.5:8080");
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
}
