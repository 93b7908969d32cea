//! The cache file: written from live documents, shared by processes, read at a start-up with
//! ZooKeeper unreachable, replaced by live data when the connection comes.
mod common;

use std::os::unix::fs::PermissionsExt;

use common::*;
use ndsr::status::NDSR_E_NO_CONNECTION;
use ndsr::testing::Hooks;
use ndsr::Options;
use ndsr::Registry;
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

/// The file's entries for the handles on `connect` (a single server and no chroot: the
/// ensemble key is the connect string itself).
fn entries(file: &std::path::Path, connect: &str) -> Value {
    file_json(file)["ensembles"][connect].clone()
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

    // Every handle reaches the server through a proxy, so that one can later start while it
    // is unreachable with the same connect string (entries are kept per ensemble).
    let proxy = Proxy::start(&zk.connect);
    // Two handles (as two processes would) write to one file: both paths end up in it.
    let a = with_cache(&proxy.addr, &file, false);
    let b = with_cache(&proxy.addr, &file, false);
    let web = a.get_json("/svc/web").unwrap();
    b.get_json("/svc/db").unwrap();
    a.get_json("/svc/empty").unwrap();
    a.get_json("/svc/missing").unwrap();
    a.flush_cache();
    b.flush_cache();
    let v = file_json(&file);
    assert_eq!(
        (v["format"].as_str(), v["version"].as_u64()),
        (Some("ndsr-cache"), Some(2))
    );
    let paths = v["ensembles"][&proxy.addr].as_object().unwrap();
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
        entries(&file, &proxy.addr)["/svc/web"]["document"]["children"]
            .get("h2:80")
            .is_some()
    );
    a.close();
    b.close();

    // A process starting while ZooKeeper is unreachable: the cached document, marked last-known.
    proxy.cut();
    let c = with_cache(&proxy.addr, &file, true);
    let doc = json(&c.get_json("/svc/web").unwrap());
    assert_eq!(doc["data"]["role"], "web");
    assert_eq!(doc["children"].as_object().unwrap().len(), 2);
    let (live, since) = c.freshness("/svc/web").unwrap();
    assert!(!live);
    assert_eq!(
        Some(since),
        entries(&file, &proxy.addr)["/svc/web"]["saved_ms"].as_i64()
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
    assert!(entries(&file, &zk.connect).get("/k").is_some());
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

/// Writes a cache file holding `doc` for `path` under the entries of `connect`.
fn write_cache(file: &std::path::Path, connect: &str, path: &str, doc: Value) {
    let v = serde_json::json!({"format": "ndsr-cache", "version": 2, "ensembles": {
        connect: {path: {"saved_ms": 1, "document": doc}}}});
    std::fs::write(file, v.to_string()).unwrap();
    std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// A lazy handle on an unreachable server (a cut proxy) with `file` as its cache file: what
/// `get_json` of `path` gives, and how long it took.
fn read_offline(
    proxy: &Proxy,
    file: &std::path::Path,
    path: &str,
) -> (Result<String, ndsr::status::Status>, std::time::Duration) {
    let mut o = Options::default();
    o.set("cachefile", file.to_str().unwrap()).unwrap();
    o.set("timeout_ms", "1000").unwrap();
    o.set("lazy", "true").unwrap();
    let r = Registry::open(Some(&proxy.addr), o).unwrap();
    let t = std::time::Instant::now();
    let got = r.get_json(path).map_err(|e| e.code);
    (got, t.elapsed())
}

#[test]
fn a_cache_file_is_checked_before_it_is_trusted() {
    let zk = Zk::standalone();
    let proxy = Proxy::start(&zk.connect);
    proxy.cut();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cache.json");
    let stat = serde_json::json!({"czxid":1,"mzxid":1,"ctime":1,"mtime":1,"version":0,"cversion":0,
        "aversion":0,"ephemeralOwner":0,"dataLength":0,"numChildren":1,"pzxid":1});
    let poisoned = serde_json::json!({"path": "/svc", "stat": stat, "data": null,
        "children": {"evil:666": {"pid": 1}}});
    // As it should be: served.
    write_cache(&file, &proxy.addr, "/svc", poisoned.clone());
    let (got, _) = read_offline(&proxy, &file, "/svc");
    assert!(got.unwrap().contains("evil:666"));

    // Writable by others: not used.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666)).unwrap();
    assert_eq!(
        read_offline(&proxy, &file, "/svc").0.unwrap_err(),
        NDSR_E_NO_CONNECTION
    );
    // Another user's (this needs root to arrange).
    if unsafe { libc::geteuid() } == 0 {
        write_cache(&file, &proxy.addr, "/svc", poisoned.clone());
        let c = std::ffi::CString::new(file.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::chown(c.as_ptr(), 65534, 65534) }, 0);
        assert_eq!(
            read_offline(&proxy, &file, "/svc").0.unwrap_err(),
            NDSR_E_NO_CONNECTION
        );
        std::fs::remove_file(&file).unwrap();
    }
    // Not the document's shape.
    for (key, bad) in [
        ("stat", serde_json::json!("a string")),
        ("data", serde_json::json!([1, 2])),
        ("fifth", serde_json::json!(5)),
    ] {
        let mut doc = poisoned.clone();
        doc[key] = bad;
        write_cache(&file, &proxy.addr, "/svc", doc);
        assert_eq!(
            read_offline(&proxy, &file, "/svc").0.unwrap_err(),
            NDSR_E_NO_CONNECTION,
            "{key}"
        );
    }
    // Saved by a handle on another chroot (or ensemble): not this handle's.
    write_cache(
        &file,
        &format!("{}/other", proxy.addr),
        "/svc",
        poisoned.clone(),
    );
    assert_eq!(
        read_offline(&proxy, &file, "/svc").0.unwrap_err(),
        NDSR_E_NO_CONNECTION
    );

    // A FIFO in its place must not block, a device must not be read.
    std::fs::remove_file(&file).unwrap();
    let c = std::ffi::CString::new(file.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let (got, took) = read_offline(&proxy, &file, "/svc");
    assert_eq!(got.unwrap_err(), NDSR_E_NO_CONNECTION);
    assert!(took < std::time::Duration::from_secs(3), "{took:?}");
    let (got, took) = read_offline(&proxy, std::path::Path::new("/dev/zero"), "/svc");
    assert_eq!(got.unwrap_err(), NDSR_E_NO_CONNECTION);
    assert!(took < std::time::Duration::from_secs(3), "{took:?}");
}
