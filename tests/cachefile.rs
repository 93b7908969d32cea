//! The cache file: written from live documents, shared by processes, read at a start-up with
//! ZooKeeper unreachable, replaced by live data when the connection comes.
mod common;

use std::os::unix::fs::PermissionsExt;

use common::*;
use ndsr::options::Options;
use ndsr::registry::Registry;
use ndsr::status::NDSR_E_NO_CONNECTION;
use serde_json::Value;

fn with_cache(server: &str, file: &std::path::Path, lazy: bool) -> std::sync::Arc<Registry> {
    let mut o = Options::default();
    o.set("cachefile", file.to_str().unwrap()).unwrap();
    o.set("timeout_ms", "1500").unwrap();
    o.set("lazy", if lazy { "true" } else { "false" }).unwrap();
    Registry::open(Some(server), o).expect("open")
}

fn file_json(file: &std::path::Path) -> Value {
    json(&std::fs::read_to_string(file).unwrap())
}

#[test]
fn written_shared_and_used_when_zookeeper_is_unreachable() {
    let zk = Zk::standalone();
    let raw = Raw::connect(&zk.connect);
    raw.create("/svc", b"");
    raw.create("/svc/web", br#"{"role":"web"}"#);
    raw.create("/svc/web/h1:80", br#"{"w":1}"#);
    raw.create("/svc/empty", b"");
    raw.create("/svc/db", b"");
    raw.create("/svc/db/d1:5432", b"{}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ndsr-cache.json");

    // Two handles (as two processes would) write to one file: both paths end up in it.
    let a = with_cache(&zk.connect, &file, false);
    let b = with_cache(&zk.connect, &file, false);
    let web = a.get_json("/svc/web").unwrap();
    b.get_json("/svc/db").unwrap();
    a.get_json("/svc/empty").unwrap();
    a.get_json("/svc/missing").unwrap();
    a.flush_cache();
    b.flush_cache();
    let v = file_json(&file);
    assert_eq!(
        (v["format"].as_str(), v["version"].as_u64()),
        (Some("ndsr-cache"), Some(1))
    );
    let paths = v["paths"].as_object().unwrap();
    let mut keys: Vec<&String> = paths.keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        ["/svc/db", "/svc/web"],
        "empty and missing nodes are not cached"
    );
    assert_eq!(paths["/svc/web"]["document"], json(&web));
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // No temporary files are left behind.
    assert_eq!(
        std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".tmp")
            })
            .count(),
        0
    );
    // A change is saved too.
    raw.create("/svc/web/h2:80", br#"{"w":2}"#);
    let events = docs(&a, "/svc/web");
    while json(&events.next())["children"].get("h2:80").is_none() {}
    a.flush_cache();
    assert!(
        file_json(&file)["paths"]["/svc/web"]["document"]["children"]
            .get("h2:80")
            .is_some()
    );
    a.close();
    b.close();

    // A process starting while ZooKeeper is unreachable: the cached document, marked last-known.
    let proxy = Proxy::start(&zk.connect);
    proxy.cut();
    let c = with_cache(&proxy.addr, &file, true);
    let doc = json(&c.get_json("/svc/web").unwrap());
    assert_eq!(doc["data"]["role"], "web");
    assert_eq!(doc["children"].as_object().unwrap().len(), 2);
    let (live, since) = c.freshness("/svc/web").unwrap();
    assert!(!live);
    assert_eq!(
        Some(since),
        file_json(&file)["paths"]["/svc/web"]["saved_ms"].as_i64()
    );
    assert_eq!(
        c.get_json("/svc/other").unwrap_err().code,
        NDSR_E_NO_CONNECTION,
        "not cached"
    );

    // The connection comes: the path becomes live and a change made meanwhile shows.
    let events = docs(&c, "/svc/web");
    assert_eq!(
        json(&events.next())["children"].as_object().unwrap().len(),
        2,
        "the cached one first"
    );
    raw.delete("/svc/web/h1:80");
    proxy.restore();
    let d = loop {
        let d = json(&events.next());
        if d["children"].get("h1:80").is_none() {
            break d;
        }
    };
    assert!(d["children"].get("h2:80").is_some());
    assert!(c.freshness("/svc/web").unwrap().0, "live now");
}

#[test]
fn a_corrupt_cache_file_is_ignored_and_rewritten() {
    let zk = Zk::standalone();
    let raw = Raw::connect(&zk.connect);
    raw.create("/k", br#"{"x":1}"#);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cache.json");
    std::fs::write(&file, "{ not json").unwrap();
    let a = with_cache(&zk.connect, &file, false);
    assert_eq!(json(&a.get_json("/k").unwrap())["data"]["x"], 1);
    a.flush_cache();
    assert!(file_json(&file)["paths"].get("/k").is_some());
    // A symlink is never followed.
    let target = dir.path().join("elsewhere");
    std::fs::write(&target, "precious").unwrap();
    let link = dir.path().join("link.json");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let b = with_cache(&zk.connect, &link, false);
    b.get_json("/k").unwrap();
    b.flush_cache();
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious");

    // Credentials never reach the cache file.
    let mut o = Options::default();
    o.set("cachefile", file.to_str().unwrap()).unwrap();
    o.set("username", "svc").unwrap();
    o.set("password", "cache-s3cret").unwrap();
    let c = Registry::open(Some(&zk.connect), o).unwrap();
    c.set_data("/k2", r#"{"y":2}"#).unwrap();
    c.get_json("/k2").unwrap();
    c.flush_cache();
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("/k2"));
    assert!(!text.contains("cache-s3cret"));
}
