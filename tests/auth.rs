//! Digest authentication and ACLs on real ZooKeeper, as the Python original sets them up.
mod common;

use std::sync::{Arc, Mutex};

use common::*;
use ndsr::status::*;
use ndsr::testing::Hooks;
use ndsr::Credentials;
use ndsr::Options;
use ndsr::Registry;
use zookeeper_client::Permission;

fn with_creds(connect: &str, user: &str, pw: &str) -> Arc<Registry> {
    let mut o = Options::default();
    o.set("username", user).unwrap();
    o.set("password", pw).unwrap();
    Registry::open(Some(connect), o).expect("open")
}

/// The ACL of `path`, read by `raw` (which must hold ADMIN there to see digest hashes unmasked).
fn acl_of(raw: &Raw, path: &str) -> Vec<(String, String, u32)> {
    let (acls, _) = raw.rt.block_on(raw.client.get_acl(path)).unwrap();
    let mut v: Vec<_> = acls
        .iter()
        .map(|a| {
            (
                a.scheme().to_string(),
                a.id().to_string(),
                perm_bits(a.permission()),
            )
        })
        .collect();
    v.sort();
    v
}

fn raw_as(connect: &str, user: &str, pw: &str) -> Raw {
    let raw = Raw::connect(connect);
    raw.rt
        .block_on(raw.client.auth("digest", format!("{user}:{pw}").as_bytes()))
        .unwrap();
    raw
}

fn perm_bits(p: Permission) -> u32 {
    [
        Permission::READ,
        Permission::WRITE,
        Permission::CREATE,
        Permission::DELETE,
        Permission::ADMIN,
    ]
    .iter()
    .enumerate()
    .filter(|(_, q)| p.has(**q))
    .map(|(i, _)| 1 << i)
    .sum()
}

#[test]
fn credentials_give_the_originals_acl_pair_and_parent_rule() {
    let zk = Zk::standalone();
    let raw = raw_as(&zk.connect, "svc", "s3cret");
    let r = with_creds(&zk.connect, "svc", "s3cret");
    r.set_node("/a/b/c/host:22", r#"{"x":1}"#).unwrap();
    let id = Credentials {
        username: "svc".into(),
        password: "s3cret".into(),
    }
    .digest_id();
    let pair = vec![
        ("digest".to_string(), id.clone(), 31),
        ("world".to_string(), "anyone".to_string(), 1),
    ];
    assert_eq!(
        acl_of(&raw, "/a/b/c/host:22"),
        pair,
        "leaf: owner all, world read"
    );
    assert_eq!(
        acl_of(&raw, "/a/b/c"),
        pair,
        "the service directory is protected"
    );
    let open = vec![("world".to_string(), "anyone".to_string(), 31)];
    assert_eq!(acl_of(&raw, "/a/b"), open, "levels above stay open");
    assert_eq!(acl_of(&raw, "/a"), open);
    // A single-level parent gets the default ACL.
    r.set_data("/unittest/host:22", "null").unwrap();
    assert_eq!(acl_of(&raw, "/unittest"), pair);

    // Someone without the credentials can read but not write; nothing is retried for ever.
    assert!(raw.get("/a/b/c/host:22").is_some());
    let anon = Registry::open(Some(&zk.connect), Options::default()).unwrap();
    let before = anon.request_counts();
    let e = anon.set_data("/a/b/c/host:22", r#"{"x":2}"#).unwrap_err();
    assert_eq!(e.code, NDSR_E_NO_AUTH, "{}", e.message);
    assert_eq!(
        anon.set_node("/a/b/c/intruder", "null").unwrap_err().code,
        NDSR_E_NO_AUTH
    );
    assert!(
        anon.request_counts().since(&before).writes() <= 6,
        "a few attempts, not a retry loop"
    );
    assert!(json(&anon.get_json("/a/b/c").unwrap())["children"]
        .get("host:22")
        .is_some());
    // The owner still writes.
    r.set_node("/a/b/c/host:22", r#"{"x":3}"#).unwrap();
}

#[test]
fn explicit_acl_and_changing_credentials() {
    let zk = Zk::standalone();
    let raw = raw_as(&zk.connect, "bob", "pw");
    let bob = Credentials {
        username: "bob".into(),
        password: "pw".into(),
    }
    .digest_id();
    let mut o = Options::default();
    o.set("acl", &format!("world:anyone:r,digest:{bob}:cdrwa"))
        .unwrap();
    o.set("username", "bob").unwrap();
    o.set("password", "pw").unwrap();
    let r = Registry::open(Some(&zk.connect), o).unwrap();
    r.set_data("/explicit", "null").unwrap();
    assert_eq!(
        acl_of(&raw, "/explicit"),
        vec![
            ("digest".to_string(), bob, 31),
            ("world".to_string(), "anyone".to_string(), 1)
        ]
    );

    // New credentials on an open handle: re-authenticated, and new nodes use the new ACL.
    let r = with_creds(&zk.connect, "first", "one");
    r.set_data("/creds/old", "null").unwrap();
    r.set_credentials("second", "two").unwrap();
    r.set_data("/creds/new", "null").unwrap();
    let second = Credentials {
        username: "second".into(),
        password: "two".into(),
    }
    .digest_id();
    let raw = raw_as(&zk.connect, "second", "two");
    assert!(acl_of(&raw, "/creds/new")
        .iter()
        .any(|(s, id, p)| s == "digest" && *id == second && *p == 31));
    // A handle with only the second credentials can write the new node, not the old one.
    let other = with_creds(&zk.connect, "second", "two");
    other.set_data("/creds/new", r#"{"v":1}"#).unwrap();
    assert_eq!(
        other.set_data("/creds/old", r#"{"v":1}"#).unwrap_err().code,
        NDSR_E_NO_AUTH
    );
    assert_eq!(
        r.set_credentials("bad:name", "x").unwrap_err().code,
        NDSR_E_INVALID_ARGUMENT
    );
}

#[test]
fn authentication_survives_a_server_restart() {
    let zk = Zk::standalone();
    let mut o = Options::default();
    o.set("username", "svc").unwrap();
    o.set("password", "pw").unwrap();
    o.set("timeout_ms", "20000").unwrap();
    let r = Registry::open(Some(&zk.connect), o).unwrap();
    r.set_data("/guarded/conf", r#"{"v":1}"#).unwrap();
    let session = r.session_id();
    zk.cmd(&["restart", "1"]);
    // Same session, auth re-sent on reconnect: the protected node is still writable.
    r.set_data("/guarded/conf", r#"{"v":2}"#).unwrap();
    assert_eq!(r.session_id(), session);
    assert_eq!(json(&r.get_json("/guarded/conf").unwrap())["data"]["v"], 2);
}

#[test]
fn passwords_never_reach_logs_or_errors() {
    let zk = Zk::standalone();
    let lines: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::into_raw(lines.clone()) as *mut std::ffi::c_void;
    unsafe extern "C" fn collect(
        ud: *mut std::ffi::c_void,
        _level: i32,
        msg: *const std::ffi::c_char,
    ) {
        let lines = unsafe { &*(ud as *const Mutex<Vec<String>>) };
        lines.lock().unwrap().push(
            unsafe { std::ffi::CStr::from_ptr(msg) }
                .to_string_lossy()
                .into_owned(),
        );
    }
    ndsr::set_log_sink(ndsr::SinkFn::Message(collect), sink, 5);
    let secret = "pa55-w0rd-XYZZY";
    let mut o = Options::default();
    o.set("username", "svc").unwrap();
    o.set("password", secret).unwrap();
    assert!(!format!("{o:?}").contains(secret));
    let r = Registry::open(Some(&zk.connect), o.clone()).unwrap();
    r.set_node("/pw/a", "null").unwrap();
    let e = r.set_node("bad", "null").unwrap_err();
    assert!(!e.message.contains(secret));
    r.set_credentials("svc2", secret).unwrap();
    r.close();
    let mut o2 = o;
    o2.set("timeout_ms", "300").unwrap();
    let e = Registry::open(Some("127.0.0.1:1"), o2).err().unwrap();
    assert!(!e.message.contains(secret));
    // Swapping the sink waits for log calls in progress, so nothing is added after this.
    ndsr::set_log_sink(ndsr::SinkFn::Stderr, std::ptr::null_mut(), 2);
    let lines = lines.lock().unwrap();
    assert!(
        lines.len() > 5,
        "trace logging was on: {} lines",
        lines.len()
    );
    for l in lines.iter() {
        assert!(!l.contains(secret), "password in log: {l}");
    }
}

/// A server that rejects our authentication (here: one that demands SASL) ends in AUTH_FAILED:
/// reported by the call and the state callback, and no reconnection loop follows.
#[test]
fn rejected_authentication_is_terminal() {
    let sasl = "-Dzookeeper.sessionRequireClientSASLAuth=true \
                -Dzookeeper.authProvider.sasl=org.apache.zookeeper.server.auth.SASLAuthenticationProvider";
    let zk = Zk::start_with("standalone", &[("ZK_JVM_EXTRA", sasl)]);
    // Rejected while connecting: open fails at once (well within its 5 s timeout).
    let mut o = Options::default();
    o.set("username", "svc").unwrap();
    o.set("password", "pw").unwrap();
    let t = std::time::Instant::now();
    assert_eq!(
        Registry::open(Some(&zk.connect), o).err().unwrap().code,
        NDSR_E_AUTH_FAILED
    );
    assert!(t.elapsed() < std::time::Duration::from_secs(4));
    // Rejected when the background connection is made (a lazy handle that started cut off).
    let proxy = Proxy::start(&zk.connect);
    proxy.cut();
    let mut o = Options::default();
    o.set("lazy", "true").unwrap();
    o.set("timeout_ms", "1000").unwrap();
    let r = Registry::open(Some(&proxy.addr), o).unwrap();
    let states = states(&r);
    assert_eq!(states.next(), ndsr::State::Disconnected);
    proxy.restore();
    assert_eq!(states.next(), ndsr::State::AuthFailed);
    // Terminal: later calls fail at once, and nothing reconnects.
    let before = r.request_counts();
    let t = std::time::Instant::now();
    assert_eq!(
        r.set_node("/denied", "null").unwrap_err().code,
        NDSR_E_AUTH_FAILED
    );
    assert_eq!(r.get_json("/").unwrap_err().code, NDSR_E_AUTH_FAILED);
    assert!(
        t.elapsed() < std::time::Duration::from_secs(1),
        "no waiting for a session"
    );
    states.assert_quiet(std::time::Duration::from_millis(1500));
    assert_eq!(r.state(), ndsr::State::AuthFailed);
    assert_eq!(r.request_counts(), before);
}

/// An ACL that lets nobody but the digest user other:pw do anything.
fn only_other() -> zookeeper_client::Acl {
    let other = Credentials {
        username: "other".into(),
        password: "pw".into(),
    };
    zookeeper_client::Acl::new(
        Permission::ALL,
        zookeeper_client::AuthId::new("digest", &other.digest_id()),
    )
}

/// Creates `path` with an ACL that lets nobody but user "other" (not us) do anything.
fn create_private(raw: &Raw, path: &str, data: &[u8]) {
    let only_other = only_other();
    let opts = zookeeper_client::CreateMode::Persistent.with_acls(zookeeper_client::Acls::new(
        std::slice::from_ref(&only_other),
    ));
    raw.rt
        .block_on(raw.client.create(path, data, &opts))
        .unwrap();
}

/// A child this handle may not read is left out of its service's document (and logged); the
/// rest is served and stays live. A path that cannot be read at all says so at once.
#[test]
fn an_unreadable_child_is_left_out_and_the_rest_stays_live() {
    let zk = Zk::standalone();
    let raw = Raw::connect(&zk.connect);
    raw.create("/svc", b"");
    raw.create("/svc/a:1", b"{}");
    create_private(&raw, "/svc/secret:1", b"{}");
    let r = Registry::open(Some(&zk.connect), Options::default()).unwrap();
    let t = std::time::Instant::now();
    let doc = json(&r.get_json("/svc").unwrap());
    assert!(t.elapsed() < std::time::Duration::from_secs(2));
    let names: Vec<&String> = doc["children"].as_object().unwrap().keys().collect();
    assert_eq!(names, ["a:1"]);
    assert_eq!(
        doc["stat"]["numChildren"], 2,
        "the list itself is as the server has it"
    );
    assert!(r.freshness("/svc").unwrap().0, "live");

    // Changes keep coming, an unreadable child appearing on the way included.
    let events = docs(&r, "/svc");
    events.next();
    raw.create("/svc/b:1", b"{}");
    until(&events, |d| d["children"].get("b:1").is_some());
    create_private(&raw, "/svc/secret:2", b"{}");
    raw.create("/svc/c:1", b"{}");
    let d = until(&events, |d| d["children"].get("c:1").is_some());
    assert!(d["children"].get("secret:2").is_none());
    raw.set("/svc/a:1", br#"{"v":2}"#);
    until(&events, |d| d["children"]["a:1"]["v"] == 2);
    assert!(r.freshness("/svc").unwrap().0, "still live");

    // A node that cannot be read at all: NDSR_E_NO_AUTH at once, not a timeout.
    create_private(&raw, "/hidden", b"{}");
    for _ in 0..2 {
        let t = std::time::Instant::now();
        assert_eq!(r.get_json("/hidden").unwrap_err().code, NDSR_E_NO_AUTH);
        assert!(
            t.elapsed() < std::time::Duration::from_secs(2),
            "{:?}",
            t.elapsed()
        );
    }
}
