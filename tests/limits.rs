//! Requests that can never fit in one ZooKeeper packet are refused before anything is sent, and
//! a server that closes every connection right after the handshake is not hammered.
mod common;

use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use ndsr::status::{NDSR_E_TOO_LARGE, NDSR_MAX_DATA_LEN};
use ndsr::testing::Hooks;
use ndsr::Options;
use ndsr::Registry;
use ndsr::State;

const MIB: usize = 1 << 20;

#[test]
fn oversized_requests_are_refused_before_sending() {
    let zk = Zk::standalone();
    let r = Registry::open(Some(&zk.connect), Options::default()).unwrap();
    let states = states(&r);
    assert_eq!(states.next(), State::Connected);
    let before = r.request_counts();
    let session = r.session_id();
    let too_large = |what: &str, e: ndsr::status::Error| {
        assert_eq!(e.code, NDSR_E_TOO_LARGE, "{what}: {}", e.message);
        assert!(
            e.message.contains("jute.maxbuffer"),
            "{what}: {}",
            e.message
        );
    };

    let huge_path = format!("/{}", "p".repeat(MIB));
    too_large("set_node", r.set_node(&huge_path, "null").unwrap_err());
    too_large("set_data", r.set_data(&huge_path, "null").unwrap_err());
    too_large("unset", r.unset(&huge_path).unwrap_err());
    too_large("get_json", r.get_json(&huge_path).unwrap_err());
    let cb = ndsr::callback(|_| {});
    too_large("on_change", r.on_change(&huge_path, cb).unwrap_err());
    // Each within its own cap, together over the packet limit.
    let long_path = format!("/svc/{}", "q".repeat(4096));
    let big = format!(r#"{{"b":"{}"}}"#, "x".repeat(NDSR_MAX_DATA_LEN - 100 - 50));
    too_large("path + data", r.set_node(&long_path, &big).unwrap_err());
    let name = "n".repeat(3 * MIB / 2);
    too_large(
        "lock name",
        r.lock("/locks/big", &name, 1, Duration::ZERO).unwrap_err(),
    );
    too_large(
        "acquire_lock name",
        r.acquire_lock("/locks/big", &name, 1, Duration::ZERO)
            .unwrap_err(),
    );
    let password = "s".repeat(2 * MIB);
    too_large(
        "set_credentials",
        r.set_credentials("user", &password).unwrap_err(),
    );
    let mut o = Options::default();
    too_large("password option", o.set("password", &password).unwrap_err());

    // Nothing was sent, nothing was kept, and the connection never dropped.
    assert_eq!(r.request_counts(), before);
    assert_eq!(
        r.registration_status(&long_path).unwrap_err().code,
        ndsr::status::NDSR_E_NOT_FOUND
    );
    states.assert_quiet(Duration::from_millis(500));
    assert_eq!(r.session_id(), session);
    // The handle works as before.
    r.set_node("/svc/ok:1", "null").unwrap();
    assert!(json(&r.get_json("/svc").unwrap())["children"]
        .get("ok:1")
        .is_some());
}

/// A fake ZooKeeper that answers every connect request with a session (and the ping that
/// follows) and then closes the connection at once; counts the connections it accepted.
fn closing_server() -> (String, Arc<AtomicUsize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            count.fetch_add(1, Ordering::SeqCst);
            let mut len = [0u8; 4];
            if conn.read_exact(&mut len).is_err() {
                continue;
            }
            let mut request = vec![0u8; u32::from_be_bytes(len) as usize];
            if conn.read_exact(&mut request).is_err() {
                continue;
            }
            // ConnectResponse: protocol version, timeout, session id, password, read-only.
            let mut body = Vec::new();
            body.extend_from_slice(&0i32.to_be_bytes());
            body.extend_from_slice(&10_000i32.to_be_bytes());
            body.extend_from_slice(&0x1234i64.to_be_bytes());
            body.extend_from_slice(&16i32.to_be_bytes());
            body.extend_from_slice(&[7u8; 16]);
            body.push(0);
            let mut frame = (body.len() as u32).to_be_bytes().to_vec();
            frame.extend_from_slice(&body);
            let _ = conn.write_all(&frame);
            // The client's first request (a ping, sent on a new session only) is answered too:
            // the session is established.
            let _ = conn.set_read_timeout(Some(Duration::from_millis(200)));
            if conn.read_exact(&mut len).is_ok() {
                let mut ping = vec![0u8; u32::from_be_bytes(len) as usize];
                let _ = conn.read_exact(&mut ping);
                let mut reply = 16u32.to_be_bytes().to_vec();
                reply.extend_from_slice(&(-2i32).to_be_bytes());
                reply.extend_from_slice(&0i64.to_be_bytes());
                reply.extend_from_slice(&0i32.to_be_bytes());
                let _ = conn.write_all(&reply);
            }
            let _ = conn.shutdown(std::net::Shutdown::Both);
        }
    });
    (addr, accepted)
}

#[test]
fn a_server_that_closes_after_the_handshake_is_paced() {
    let (addr, accepted) = closing_server();
    let mut o = Options::default();
    o.set("timeout_ms", "10000").unwrap();
    let r = Registry::open(Some(&addr), o).expect("the handshake succeeds");
    let start = accepted.load(Ordering::SeqCst);
    let t = Instant::now();
    std::thread::sleep(Duration::from_secs(2));
    let n = accepted.load(Ordering::SeqCst) - start;
    let per_sec = n as f64 / t.elapsed().as_secs_f64();
    eprintln!("{n} connections in {:?}", t.elapsed());
    // Paced as failed attempts are (at most one each 25-150 ms), not reconnected at once.
    assert!(
        per_sec <= 20.0,
        "{per_sec:.0} connections a second to a server that closes them"
    );
    assert!(n >= 2, "it keeps trying ({n})");
    r.close();
}

#[test]
fn a_lazy_open_returns_at_once() {
    // A server that accepts and never answers: a non-lazy open waits its timeout, no more.
    let addr = silent_server();
    let mut o = Options::default();
    o.set("timeout_ms", "2000").unwrap();
    let t = Instant::now();
    let e = Registry::open(Some(&addr), o.clone()).err().unwrap();
    let took = t.elapsed();
    assert_eq!(e.code, ndsr::status::NDSR_E_NO_CONNECTION);
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_millis(2300),
        "open took {took:?} for a timeout of 2 s"
    );
    o.set("lazy", "true").unwrap();
    let t = Instant::now();
    let r = Registry::open(Some(&addr), o).unwrap();
    assert!(
        t.elapsed() < Duration::from_millis(100),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(r.state(), State::Disconnected);
    let t = Instant::now();
    r.close();
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
}

/// Creates `/big/<i>` (100-byte names) for `range`, pipelined.
fn create_big_children(raw: &Raw, range: std::ops::Range<usize>) {
    let paths: Vec<String> = range.map(|i| format!("/big/{i:0>100}")).collect();
    let opts =
        zookeeper_client::CreateMode::Persistent.with_acls(zookeeper_client::Acls::anyone_all());
    raw.rt.block_on(async {
        for chunk in paths.chunks(500) {
            let creates: Vec<_> = chunk
                .iter()
                .map(|p| raw.client.create(p, b"", &opts))
                .collect();
            for c in creates {
                c.await.expect("create");
            }
        }
    });
}

/// A listing whose names alone exceed one ZooKeeper packet (jute.maxbuffer, 1 MiB): ZooKeeper
/// sends it (it checks only what it receives), and the Java and C clients, which refuse an
/// answer that long, drop the connection and read it again in a loop. libndsr fails that
/// path's read with NDSR_E_TOO_LARGE (the answer's bytes dropped as they come: memory stays
/// bounded); the session stays up and other paths work. A listing just under it is read.
#[test]
fn a_listing_over_one_packet_is_refused_and_the_session_stays_up() {
    let zk = Zk::standalone();
    let raw = Raw::connect(&zk.connect);
    raw.create("/big", b"");
    create_big_children(&raw, 0..9_000);
    let mut o = Options::default();
    o.set("timeout_ms", "20000").unwrap();
    let r = Registry::open(Some(&zk.connect), o.clone()).unwrap();
    let session = r.session_id();
    let st = states(&r);
    assert_eq!(st.next(), ndsr::State::Connected);
    let doc = r.snapshot("/big").expect("read");
    assert_eq!(doc.count(), 9_000, "0.9 MB of names: one packet, read");

    create_big_children(&raw, 9_000..11_000);
    let fresh = Registry::open(Some(&zk.connect), o).unwrap();
    let fresh_session = fresh.session_id();
    let e = fresh.get_json("/big").unwrap_err();
    assert_eq!(e.code, ndsr::Status::TooLarge, "{e:?}");
    assert!(e.message.contains("one ZooKeeper packet"), "{}", e.message);
    for h in [&r, &fresh] {
        h.set_data("/other", r#"{"ok":1}"#).unwrap();
        assert_eq!(json(&h.get_json("/other").unwrap())["data"]["ok"], 1);
    }
    assert_eq!(fresh.session_id(), fresh_session);
    assert_eq!(r.session_id(), session);
    st.assert_quiet(Duration::from_millis(300));
}
