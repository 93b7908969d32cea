//! What an operator reads: one line per event that matters, naming the handle, repeats
//! summarised, the restored connection as visible as the lost one, nothing from the ZooKeeper
//! client library at the default levels, and failures that say what the last attempt met.
//! (The log sink is process-wide, so this binary's tests take turns.)
mod common;

use std::ffi::{c_char, c_void, CStr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use ndsr::status::NDSR_E_NO_CONNECTION;
use ndsr::Options;
use ndsr::Registry;
use ndsr::SinkFn;
use ndsr::State;

#[derive(Clone, Debug)]
struct Line {
    level: i32,
    component: String,
    message: String,
}

type Lines = Arc<Mutex<Vec<Line>>>;

static TURN: Mutex<()> = Mutex::new(());

unsafe extern "C" fn collect(ud: *mut c_void, level: i32, c: *const c_char, m: *const c_char) {
    let lines = unsafe { &*(ud as *const Mutex<Vec<Line>>) };
    let text = |p| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned();
    lines.lock().unwrap().push(Line {
        level,
        component: text(c),
        message: text(m),
    });
}

/// Captures every line up to `level` until the returned guard's lines are read.
fn capture(level: i32) -> Lines {
    let lines: Lines = Arc::default();
    let ud = Arc::into_raw(lines.clone()) as *mut c_void;
    ndsr::set_log_sink(SinkFn::Handler(collect), ud, level);
    lines
}

fn stop_capture() {
    ndsr::set_log_sink(SinkFn::Stderr, std::ptr::null_mut(), 2);
}

fn matching(lines: &Lines, text: &str) -> Vec<Line> {
    lines
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.message.contains(text))
        .cloned()
        .collect()
}

/// Waits up to 15 s for a line containing `text` (lines are logged by the library's threads).
fn wait_for(lines: &Lines, text: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while matching(lines, text).is_empty() {
        assert!(Instant::now() < deadline, "no line with {text:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn lines_name_the_handle_and_pair_the_lost_connection_with_its_restoration() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let zk = Zk::standalone();
    let proxy = Proxy::start(&zk.connect);
    let lines = capture(3);
    let a = Registry::open(Some(&proxy.addr), Options::default()).unwrap();
    let b = Registry::open(Some(&proxy.addr), Options::default()).unwrap();
    let tags: Vec<String> = [&a, &b]
        .iter()
        .map(|r| format!("[{} 0x{:x}]", proxy.addr, r.session_id()))
        .collect();
    for t in &tags {
        wait_for(&lines, &format!("{t} session established"));
    }
    let (sa, sb) = (states(&a), states(&b));
    until_state(&sa, State::Connected);
    until_state(&sb, State::Connected);
    proxy.cut();
    until_state(&sa, State::Disconnected);
    until_state(&sb, State::Disconnected);
    // Cut off for long enough to fail a dozen attempts each.
    std::thread::sleep(Duration::from_secs(2));
    proxy.restore();
    until_state(&sa, State::Connected);
    until_state(&sb, State::Connected);
    for t in &tags {
        wait_for(&lines, &format!("{t} connection restored"));
    }
    a.close();
    b.close();
    stop_capture();

    let all = lines.lock().unwrap().clone();
    for l in &all {
        assert!(
            l.component != "zookeeper_client",
            "a dependency's line at level {}: {}",
            l.level,
            l.message
        );
        assert!(!l.component.contains("::"), "component {:?}", l.component);
    }
    for t in &tags {
        let of = |what: &str| matching(&lines, &format!("{t} {what}"));
        assert_eq!(of("session established").len(), 1, "{all:#?}");
        let lost = of("connection lost");
        let restored = of("connection restored");
        assert_eq!((lost.len(), restored.len()), (1, 1), "{all:#?}");
        assert_eq!((lost[0].level, restored[0].level), (2, 2), "both warnings");
        assert_eq!(lost[0].component, "session");
        // About a dozen failed attempts each while cut off: summarised, not one line each.
        let failed = matching(&lines, &format!("[{}", proxy.addr))
            .into_iter()
            .filter(|l| l.message.contains(t.as_str()) && l.message.contains("cannot connect"))
            .count();
        assert!(failed <= 1, "{failed} lines of failed attempts: {all:#?}");
    }
    let info: Vec<_> = all.iter().filter(|l| l.level <= 3).collect();
    assert!(info.len() <= 10, "{info:#?}");
}

/// A listener that answers every connection with another protocol's greeting.
fn not_zookeeper() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for c in listener.incoming() {
            use std::io::Write;
            let Ok(mut c) = c else { continue };
            let _ = c.write_all(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n");
        }
    });
    addr
}

#[test]
fn a_port_that_is_not_zookeeper_is_logged_once_with_its_cause() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let addr = not_zookeeper();
    let lines = capture(2);
    let mut o = Options::default();
    o.set("lazy", "true").unwrap();
    let r = Registry::open(Some(&addr), o).unwrap();
    std::thread::sleep(Duration::from_secs(3));
    r.close();
    stop_capture();
    let all = lines.lock().unwrap().clone();
    assert_eq!(all.len(), 1, "{all:#?}");
    assert!(
        all[0]
            .message
            .contains(&format!("[{addr}] cannot connect to {addr}"))
            && all[0].message.contains("not ZooKeeper's"),
        "{all:#?}"
    );
}

#[test]
fn a_failed_open_says_what_the_last_attempt_met() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let refused = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let hung = silent_server();
    let other = not_zookeeper();
    for (server, cause) in [
        (refused.as_str(), "connection refused"),
        ("no-such-host.invalid:2181", "cannot resolve the host name"),
        (hung.as_str(), "no answer to the connect request"),
        (other.as_str(), "not ZooKeeper's"),
    ] {
        let mut o = Options::default();
        o.set("timeout_ms", "1500").unwrap();
        let e = Registry::open(Some(server), o).err().unwrap();
        assert_eq!(e.code, NDSR_E_NO_CONNECTION, "{server}: {}", e.message);
        assert!(
            e.message.contains(cause) && e.message.contains("last attempt"),
            "{server}: {}",
            e.message
        );
    }
}
