//! Memory stays bounded whatever callers and servers do: a stuck callback does not queue every
//! intermediate document, and a path unset leaves nothing behind. (Heap use is measured for
//! the whole process, so this binary's tests take turns.)
mod common;

use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use ndsr::Options;
use ndsr::Registry;

static TURN: Mutex<()> = Mutex::new(());

/// Bytes the allocator has handed out and not got back, over all arenas.
fn heap_in_use() -> usize {
    // SAFETY: a plain query of glibc's allocator.
    let m = unsafe { libc::mallinfo2() };
    m.uordblks + m.hblkhd
}

/// Waits (polling the cache, which never touches the network) until the document of `path`
/// satisfies `pred`.
fn wait_doc(r: &Registry, path: &str, pred: impl Fn(&serde_json::Value) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !pred(&json(&r.get_json(path).unwrap())) {
        assert!(
            Instant::now() < deadline,
            "{path} never reached the state awaited"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn a_stuck_callback_gets_the_latest_document_not_a_backlog() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let zk = Zk::standalone();
    let raw = Raw::connect(&zk.connect);
    raw.create("/mem", b"");
    raw.create("/mem/svc", b"");
    let filler = format!(r#"{{"pad":"{}"}}"#, "p".repeat(900));
    for i in 0..200 {
        raw.create(&format!("/mem/svc/host{i:03}:80"), filler.as_bytes());
    }
    let r = Registry::open(Some(&zk.connect), Options::default()).unwrap();
    let (calls_tx, calls) = mpsc::channel::<String>();
    let (release_tx, release) = mpsc::channel::<()>();
    let release = Mutex::new(release);
    let first = std::sync::atomic::AtomicBool::new(true);
    let cb = std::sync::Arc::new((calls_tx, release, first));
    r.on_change(
        "/mem/svc",
        ndsr::callback(move |e| {
            if let ndsr::Event::Document { json, .. } = e {
                let (tx, release, first) = &*cb;
                let _ = tx.send(json.to_string());
                // The first call blocks until the test lets it go.
                if first.swap(false, std::sync::atomic::Ordering::SeqCst) {
                    let _ = release.lock().unwrap().recv();
                }
            }
        }),
    )
    .unwrap();
    calls
        .recv_timeout(Duration::from_secs(15))
        .expect("first call");
    let before = heap_in_use();
    // 1,000 documents of about 200 KB, each seen by the cache before the next change.
    for i in 0..1000 {
        raw.set("/mem/svc/host000:80", format!(r#"{{"n":{i}}}"#).as_bytes());
        wait_doc(&r, "/mem/svc", |d| d["children"]["host000:80"]["n"] == i);
    }
    let grown = heap_in_use().saturating_sub(before);
    eprintln!(
        "heap grew by {} KiB while the callback was stuck",
        grown / 1024
    );
    assert!(grown < 16 << 20, "heap grew by {grown} bytes");
    release_tx.send(()).unwrap();
    // Then the latest document, once: no backlog of 1,000.
    let next = json(&calls.recv_timeout(Duration::from_secs(15)).unwrap());
    assert_eq!(next["children"]["host000:80"]["n"], 999);
    assert!(calls.recv_timeout(Duration::from_millis(500)).is_err());
}

#[test]
fn a_path_unset_leaves_nothing_behind() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let zk = Zk::standalone();
    let r = Registry::open(Some(&zk.connect), Options::default()).unwrap();
    let cycle = |i: usize| {
        let p = format!("/churn/svc/host{i}:80");
        r.set_node(&p, r#"{"w":1}"#).unwrap();
        r.unset(&p).unwrap();
    };
    for i in 0..300 {
        cycle(i);
    }
    // Deferred work (a new registration's task starts within a second) has run.
    std::thread::sleep(Duration::from_millis(1500));
    let before = heap_in_use();
    let n = 3000;
    for i in 1000..1000 + n {
        cycle(i);
    }
    std::thread::sleep(Duration::from_millis(1500));
    let per_path = heap_in_use().saturating_sub(before) / n;
    eprintln!("{per_path} bytes kept per path set and unset");
    assert!(per_path < 200, "{per_path} bytes kept per path");
}
