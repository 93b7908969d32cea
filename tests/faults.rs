//! The fault scenarios of a trusted ZooKeeper client, on a real 3-node ensemble. Each asserts
//! the promise (registration alive with the right owner, watches delivering, last known data
//! served), not just "no crash".
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use ndsr::Options;
use ndsr::Registry;
use ndsr::State;

/// Waits until `r` is connected again, checks it is still on `session`, and returns the time
/// since `since`.
fn connected_again(st: &Events<State>, r: &Registry, session: i64, since: Instant) -> Duration {
    until_state(st, State::Connected);
    let took = since.elapsed();
    assert_eq!(r.session_id(), session, "same session");
    took
}

fn open(connect: &str, timeout_ms: u64) -> Arc<Registry> {
    let mut o = Options::default();
    o.set("timeout_ms", &timeout_ms.to_string()).unwrap();
    Registry::open(Some(connect), o).expect("open")
}

/// One scenario: a registration and a watch, a fault, a change made during or after it by
/// someone else; then the session, the registration and the watch must all be intact.
fn survives(zk: &Zk, fault: impl FnOnce(&Zk, &Registry), heal: impl FnOnce(&Zk)) {
    let raw = Raw::connect(&zk.connect);
    let r = open(&zk.connect, 8000);
    r.set_node("/f/svc/me:1", r#"{"me":1}"#).unwrap();
    let events = docs(&r, "/f/svc");
    until(&events, |d| d["children"].get("me:1").is_some());
    let session = r.session_id();

    fault(zk, &r);
    raw.create("/f/svc/during", b"{}");
    heal(zk);
    let d = until(&events, |d| d["children"].get("during").is_some());
    assert!(
        d["children"].get("me:1").is_some(),
        "registration in the document"
    );
    assert_eq!(r.session_id(), session, "same session");
    assert_eq!(
        raw.get("/f/svc/me:1")
            .expect("registered")
            .1
            .ephemeral_owner,
        session
    );
    raw.delete("/f/svc/during");
    until(&events, |d| d["children"].get("during").is_none());
}

#[test]
fn leader_killed() {
    let zk = Zk::ensemble();
    let leader = zk.cmd(&["leader"]).trim().to_string();
    survives(
        &zk,
        |zk, _| {
            zk.cmd(&["kill", &leader]);
        },
        |zk| {
            zk.cmd(&["start", &leader]);
            zk.cmd(&["wait", &leader]);
        },
    );
}

/// `fault` ("kill" or "pause") hits the server our session is connected to; `undo` ("start" or
/// "resume") brings it back after the scenario.
fn connected_server(fault: &str, undo: &str) {
    let zk = Zk::ensemble();
    let mut victim = String::new();
    survives(
        &zk,
        |zk, r| {
            victim = connected_node(zk, r.session_id());
            zk.cmd(&[fault, &victim]);
        },
        |_| {},
    );
    zk.cmd(&[undo, &victim]);
}

#[test]
fn connected_server_killed() {
    connected_server("kill", "start");
}

#[test]
fn connected_server_hung() {
    // SIGSTOP: the TCP connection stays open and silent; the client must notice by itself.
    connected_server("pause", "resume");
}

#[test]
fn quorum_lost_and_restored_within_the_session_timeout() {
    let zk = Zk::ensemble();
    let raw_lost = Raw::connect(&zk.connect);
    let r = open(&zk.connect, 10000);
    r.set_node("/q/svc/me:1", r#"{"me":1}"#).unwrap();
    let before = r.get_json("/q/svc").unwrap();
    let session = r.session_id();
    let st = states(&r);
    assert_eq!(st.next(), State::Connected);
    zk.cmd(&["stop", "2"]);
    zk.cmd(&["stop", "3"]);
    until_state(&st, State::Disconnected);
    // While there is no quorum, the last known document is served.
    assert_eq!(r.get_json("/q/svc").unwrap(), before);
    zk.cmd(&["start", "2"]);
    zk.cmd(&["start", "3"]);
    until_state(&st, State::Connected);
    assert_eq!(r.session_id(), session);
    assert_eq!(
        raw_lost
            .get("/q/svc/me:1")
            .expect("still registered")
            .1
            .ephemeral_owner,
        session
    );
}

#[test]
fn full_outage_longer_than_the_session_timeout() {
    let zk = Zk::ensemble();
    let raw = Raw::connect(&zk.connect);
    let r = open(&zk.connect, 3000);
    r.set_node("/o/svc/me:1", r#"{"me":1}"#).unwrap();
    raw.create("/o/svc/stale", b"{}");
    let events = docs(&r, "/o/svc");
    until(&events, |d| d["children"].get("stale").is_some());
    let st = states(&r);
    assert_eq!(st.next(), State::Connected);
    let old = r.session_id();
    drop(raw);
    for n in ["1", "2", "3"] {
        zk.cmd(&["stop", n]);
    }
    // Past the session timeout with no server: the client counts the session as expired.
    until_state(&st, State::Expired);
    for n in ["1", "2", "3"] {
        zk.cmd(&["start", n]);
    }
    for n in ["1", "2", "3"] {
        zk.cmd(&["wait", n]);
    }
    until_state(&st, State::Connected);
    let raw = Raw::connect(&zk.connect);
    raw.delete("/o/svc/stale"); // changed while we were away
    raw.create("/o/svc/new", b"{}");
    let d = until(&events, |d| {
        d["children"].get("new").is_some()
            && d["children"].get("stale").is_none()
            && d["children"].get("me:1").is_some()
    });
    // The registration is back on the new session (replacing the old session's node if the
    // ensemble had restored that session).
    let new_session = r.session_id();
    assert_ne!(new_session, old);
    let deadline = Instant::now() + Duration::from_secs(20);
    while raw.get("/o/svc/me:1").map(|(_, s)| s.ephemeral_owner) != Some(new_session) {
        assert!(
            Instant::now() < deadline,
            "registration not re-created on the new session"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        json(&r.get_json("/o/svc").unwrap())["children"]
            .as_object()
            .unwrap()
            .len(),
        2,
        "{d}"
    );
}

#[test]
fn ten_thousand_watched_children_survive_a_reconnect() {
    let zk = Zk::ensemble();
    let raw = Raw::connect(&zk.connect);
    raw.create("/big", b"");
    let opts =
        zookeeper_client::CreateMode::Persistent.with_acls(zookeeper_client::Acls::anyone_all());
    raw.rt.block_on(async {
        for chunk in (0..10_000).collect::<Vec<_>>().chunks(1000) {
            let paths: Vec<String> = chunk.iter().map(|i| format!("/big/c{i:05}")).collect();
            let futs: Vec<_> = chunk
                .iter()
                .zip(&paths)
                .map(|(i, p)| {
                    raw.client
                        .create(p, format!("{{\"i\":{i}}}").as_bytes(), &opts)
                })
                .collect();
            for r in futures_util::future::join_all(futs).await {
                r.unwrap();
            }
        }
    });
    let r = open(&zk.connect, 8000);
    let events = docs(&r, "/big");
    let d = until(&events, |d| {
        d["children"].as_object().unwrap().len() == 10_000
    });
    assert_eq!(d["children"]["c04242"]["i"], 4242);
    let victim = connected_node(&zk, r.session_id());
    zk.cmd(&["kill", &victim]);
    // Watches on all 10,000 children were re-sent: a change to any of them still arrives.
    raw.set("/big/c09999", br#"{"i":-1}"#);
    raw.create("/big/z-new", b"{}");
    let d = until(&events, |d| {
        d["children"]["c09999"]["i"] == -1 && d["children"].get("z-new").is_some()
    });
    assert_eq!(d["children"].as_object().unwrap().len(), 10_001);
    zk.cmd(&["start", &victim]);
}

/// Many threads register, read and unregister while the connection is cut and restored again
/// and again: every call returns a defined status, and at the end ZooKeeper holds exactly what
/// each thread last asked for.
#[test]
fn many_threads_while_connections_drop() {
    use ndsr::status::*;
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    let zk = Zk::standalone();
    let proxy = Proxy::start(&zk.connect);
    let r = open(&proxy.addr, 8000);
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for t in 0..6 {
        let (r, stop) = (r.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            let mut i = 0u64;
            let mut last_present = false;
            while !stop.load(SeqCst) {
                i += 1;
                let path = format!("/mt/svc/t{t}");
                let res = if i % 3 == 0 {
                    last_present = false;
                    r.unset(&path)
                } else {
                    last_present = true;
                    r.set_node(&path, &format!("{{\"i\":{i}}}"))
                };
                match res {
                    Ok(_) => {}
                    Err(e) => assert!(
                        [NDSR_E_NO_CONNECTION, NDSR_E_TIMEOUT].contains(&e.code),
                        "unexpected {e}"
                    ),
                }
                match r.get_json("/mt/svc") {
                    Ok(_) => {}
                    Err(e) => assert!(
                        [NDSR_E_NO_CONNECTION, NDSR_E_TIMEOUT].contains(&e.code),
                        "{e}"
                    ),
                }
            }
            (t, last_present)
        }));
    }
    for _ in 0..5 {
        std::thread::sleep(Duration::from_millis(300));
        proxy.cut();
        std::thread::sleep(Duration::from_millis(300));
        proxy.restore();
    }
    stop.store(true, SeqCst);
    let wanted: Vec<(i32, bool)> = threads
        .into_iter()
        .map(|t| t.join().expect("no panic"))
        .collect();
    // Everything asked for is applied once the connection is back.
    let raw = Raw::connect(&zk.connect);
    for (t, present) in wanted {
        let path = format!("/mt/svc/t{t}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while raw.exists(&path) != present {
            assert!(
                Instant::now() < deadline,
                "{path} should be present={present}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        if present {
            assert_eq!(raw.get(&path).unwrap().1.ephemeral_owner, r.session_id());
        }
    }
}

/// Closing while the connection is down (the client is reconnecting) returns promptly and
/// leaves nothing behind on the server once the session ends.
#[test]
fn close_while_reconnecting() {
    let zk = Zk::standalone();
    let proxy = Proxy::start(&zk.connect);
    let r = open(&proxy.addr, 4000);
    r.set_node("/cw/svc/me:1", "null").unwrap();
    let st = states(&r);
    assert_eq!(st.next(), State::Connected);
    proxy.cut();
    until_state(&st, State::Disconnected);
    let t = Instant::now();
    r.close();
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "close took {:?}",
        t.elapsed()
    );
    assert_eq!(r.state(), State::Closed);
    // The server expires the session (it could not be closed over the cut link): node gone.
    let raw = Raw::connect(&zk.connect);
    let deadline = Instant::now() + Duration::from_secs(20);
    while raw.exists("/cw/svc/me:1") {
        assert!(Instant::now() < deadline, "node left behind");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A create whose reply is lost: ZooKeeper made the node, the client never heard. After the
/// reconnect the registration recognises the node as its own: one node, the same one (never
/// deleted and re-made), owned by our session, no conflict.
#[test]
fn lost_create_reply_leaves_no_duplicate() {
    let zk = Zk::standalone();
    let proxy = Proxy::start(&zk.connect);
    let raw = Raw::connect(&zk.connect);
    let r = open(&proxy.addr, 4000);
    let session = r.session_id();
    raw.create("/lr", b"");
    raw.create("/lr/svc", b"");
    proxy.mute_replies();
    let r2 = r.clone();
    let call = std::thread::spawn(move || r2.set_node("/lr/svc/me:1", r#"{"me":1}"#));
    // The create reached ZooKeeper; its reply did not reach us.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !raw.exists("/lr/svc/me:1") {
        assert!(
            Instant::now() < deadline,
            "the create never reached ZooKeeper"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let created = raw.get("/lr/svc/me:1").unwrap().1;
    assert_eq!(created.ephemeral_owner, session);
    proxy.cut();
    proxy.restore();
    let applied = call.join().expect("no panic");
    assert!(
        matches!(
            applied,
            Ok(_)
                | Err(ndsr::status::Error {
                    code: ndsr::status::NDSR_E_NO_CONNECTION | ndsr::status::NDSR_E_TIMEOUT,
                    ..
                })
        ),
        "{applied:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while r.registration_status("/lr/svc/me:1") != Ok(ndsr::status::NDSR_OK) {
        assert!(Instant::now() < deadline, "registration never in place");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(r.session_id(), session, "the session survived");
    let (data, stat) = raw.get("/lr/svc/me:1").expect("registered");
    assert_eq!(
        stat.czxid, created.czxid,
        "the node was deleted and made again"
    );
    assert_eq!(stat.ephemeral_owner, session);
    assert_eq!(json(std::str::from_utf8(&data).unwrap())["me"], 1);
    let d = json(&r.get_json("/lr/svc").unwrap());
    assert_eq!(d["children"].as_object().unwrap().len(), 1, "{d}");
}

/// While the server is down the client keeps trying with a capped pause (100 ms + jitter,
/// README "Behaviour under faults"), so it is back soon after the server is, not after a
/// backoff grown during the outage.
/// A blip (the first seconds of an outage: a server restart, a leader election) is retried
/// quickly: a server back after 1.5 s is found within a few hundred ms.
#[test]
fn reconnects_promptly_after_a_short_outage() {
    let zk = Zk::standalone();
    let proxy = Proxy::start(&zk.connect);
    let r = open(&proxy.addr, 20000);
    let st = states(&r);
    assert_eq!(st.next(), State::Connected);
    let session = r.session_id();
    proxy.cut();
    until_state(&st, State::Disconnected);
    std::thread::sleep(Duration::from_millis(1500));
    proxy.restore();
    let took = connected_again(&st, &r, session, Instant::now());
    assert!(
        took < Duration::from_millis(700),
        "reconnected {took:?} after the server was back"
    );
}

/// A long outage is paced for the ensemble's sake: after the first seconds, one connection
/// attempt each 1–2 s (counted at a proxy that refuses them), and a server that comes back is
/// still found within that pause (at most 2 s).
#[test]
fn a_long_outage_is_paced_to_at_most_one_attempt_a_second() {
    let zk = Zk::standalone();
    let proxy = Proxy::start(&zk.connect);
    let r = open(&proxy.addr, 30000);
    let st = states(&r);
    assert_eq!(st.next(), State::Connected);
    let session = r.session_id();
    proxy.cut();
    until_state(&st, State::Disconnected);
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(3));
    let quick = proxy.refused();
    std::thread::sleep(Duration::from_secs(5).saturating_sub(t0.elapsed()));
    let at_5s = proxy.refused();
    std::thread::sleep(Duration::from_secs(10).saturating_sub(t0.elapsed()));
    let slow = proxy.refused() - at_5s;
    eprintln!("{quick} attempts in the first 3 s, {slow} from 5 s to 10 s");
    assert!(quick >= 10, "quick retries at first ({quick} in 3 s)");
    assert!(slow <= 5, "{slow} attempts in 5 s of a long outage");
    assert!(slow >= 2, "it keeps trying ({slow} attempts in 5 s)");
    proxy.restore();
    let took = connected_again(&st, &r, session, Instant::now());
    assert!(
        took < Duration::from_millis(2500),
        "reconnected {took:?} after the server was back"
    );
}

/// A server can accept a connection and never answer the connect request (a starting
/// ZooKeeper 3.8.0 does, ZOOKEEPER-5051). The client must give up on it long before its
/// connection timeout (2/5 of the session: 4 s here) and get through on the next attempts.
#[test]
fn abandons_an_unanswered_handshake() {
    let zk = Zk::standalone();
    let proxy = Proxy::start(&zk.connect);
    let r = open(&proxy.addr, 10000);
    let st = states(&r);
    assert_eq!(st.next(), State::Connected);
    let session = r.session_id();
    proxy.cut();
    until_state(&st, State::Disconnected);
    // Two in a row: the second attempt waits longer than the first, and still far less than
    // the connection timeout.
    proxy.swallow_connections(2);
    proxy.restore();
    let took = connected_again(&st, &r, session, Instant::now());
    assert_eq!(proxy.swallowed(), 2, "both silent connections were tried");
    assert!(
        took < Duration::from_millis(3000),
        "connected {took:?} after two silent servers (the connection timeout is 4 s)"
    );
}

/// A lock's queueing node (ephemeral sequential) whose create reply is lost must not stay and
/// queue every other contender behind it while our session lives: it is found by our id and
/// removed, and others can take the lock at once.
#[test]
fn lost_lock_guard_reply_leaves_no_orphan() {
    let zk = Zk::standalone();
    let proxy = Proxy::start(&zk.connect);
    let raw = Raw::connect(&zk.connect);
    let r = open(&proxy.addr, 4000);
    let other = open(&zk.connect, 4000);
    let session = r.session_id();
    // Only the sequential create has "<lock>-__lock__/" in it.
    proxy.mute_replies_after(b"/tl-__lock__/");
    let r2 = r.clone();
    let call =
        std::thread::spawn(move || r2.lock("/tl", "me", 1, Duration::from_secs(8)).map(|_| ()));
    let deadline = Instant::now() + Duration::from_secs(10);
    let guards = |raw: &Raw| {
        raw.rt
            .block_on(raw.client.list_children("/tl-__lock__"))
            .unwrap_or_default()
    };
    while guards(&raw).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the guard create never reached ZooKeeper"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    proxy.cut();
    proxy.restore();
    let res = call.join().expect("no panic");
    assert_eq!(r.session_id(), session, "the session survived");
    let err = res.expect_err("the guard's reply was lost: the call fails");
    assert!(
        [
            ndsr::status::NDSR_E_NO_CONNECTION,
            ndsr::status::NDSR_E_TIMEOUT
        ]
        .contains(&err.code),
        "{err}"
    );
    // The failed call left nothing behind: the lock is free for others at once.
    assert!(guards(&raw).is_empty(), "orphan guard: {:?}", guards(&raw));
    other
        .acquire_lock("/tl", "other", 1, Duration::ZERO)
        .expect("the lock is free for others");
}
