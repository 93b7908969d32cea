//! `ndsr register` as a daemon against real ZooKeeper: checks whose health the tests flip (an
//! HTTP server, a TCP listener, a command), rise and fall, hung checks, draining on SIGTERM,
//! reloading on SIGHUP, a ZooKeeper outage and a session expiry, configuration errors,
//! `--once`, `--status` and systemd's readiness messages. The daemon's log lines (one per
//! change) are the events the tests wait for.
#[path = "../../tests/common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use common::*;

/// A running `ndsr register` with its stderr lines.
struct Daemon {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    taken: std::collections::HashSet<usize>,
}

impl Daemon {
    /// Starts `ndsr register ARGS` (with a status file of its own unless ARGS name one).
    fn start(server: &str, args: &[&str], env: &[(&str, &str)]) -> Daemon {
        let own_status = format!(
            "{}/ndsr-register-test-{}.json",
            std::env::temp_dir().display(),
            unique()
        );
        let mut child = Command::new(env!("CARGO_BIN_EXE_ndsr"))
            .args(["--server", server, "--timeout", "2", "register"])
            .args(args)
            .args(match args.contains(&"--status-file") {
                true => vec![],
                false => vec!["--status-file", own_status.as_str()],
            })
            .envs(env.iter().copied())
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("run ndsr register");
        let (tx, lines) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("daemon: {line}");
                let _ = tx.send(line);
            }
        });
        Daemon {
            child,
            lines,
            seen: Vec::new(),
            taken: Default::default(),
        }
    }

    /// Waits for a log line containing every one of `parts` that no earlier call took (lines
    /// of different services come in any order); returns it.
    fn expect(&mut self, parts: &[&str]) -> String {
        let matches = |l: &String| parts.iter().all(|p| l.contains(p));
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let found =
                (0..self.seen.len()).find(|i| !self.taken.contains(i) && matches(&self.seen[*i]));
            if let Some(i) = found {
                self.taken.insert(i);
                return self.seen[i].clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no line with {parts:?}; saw {:#?}", self.seen));
            self.seen.push(line);
        }
    }

    fn signal(&self, sig: i32) {
        // SAFETY: signalling the child we started and have not reaped.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }

    /// Waits for the exit (20 s at most); its code.
    fn exit_code(&mut self) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s.code().unwrap_or(-1);
            }
            assert!(Instant::now() < deadline, "the daemon did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A number no other daemon of this test process uses.
fn unique() -> String {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

/// A loopback HTTP server answering every request with the status set (0: never answers).
struct Health {
    port: u16,
    status: Arc<AtomicU16>,
}

impl Health {
    fn start(status: u16) -> Health {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let status = Arc::new(AtomicU16::new(status));
        let st = status.clone();
        std::thread::spawn(move || {
            let mut hung = Vec::new();
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let mut buf = [0u8; 1024];
                let _ = conn.read(&mut buf);
                match st.load(Ordering::SeqCst) {
                    0 => hung.push(conn),
                    code => {
                        let reply = format!("HTTP/1.0 {code} X\r\nContent-Length: 0\r\n\r\n");
                        let _ = conn.write_all(reply.as_bytes());
                    }
                }
            }
        });
        Health { port, status }
    }

    fn set(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/health", self.port)
    }
}

/// The data of `path` as JSON, None when it does not exist.
fn data(raw: &Raw, path: &str) -> Option<serde_json::Value> {
    raw.get(path)
        .map(|(d, _)| json(std::str::from_utf8(&d).unwrap()))
}

fn write(path: &std::path::Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

#[test]
fn http_rise_fall_and_back_and_a_drain_on_sigterm() {
    let zk = Zk::standalone();
    let raw = Raw::connect(&zk.connect);
    let web = Health::start(200);
    let dir = tempfile::tempdir().unwrap();
    let status_file = dir.path().join("status.json");
    let (url, status) = (web.url(), status_file.to_str().unwrap());
    let args = [
        "/reg/web/{hostname}:{port}",
        "--port",
        "8080",
        "--check",
        &url,
        "--data",
        r#"{"weight":10}"#,
        "--interval",
        "0.1",
        "--rise",
        "3",
        "--fall",
        "2",
        "--grace",
        "1.5",
        "--check-timeout",
        "0.3",
        "--status-file",
        status,
    ];
    let mut d = Daemon::start(&zk.connect, &args, &[]);
    let path = format!("/reg/web/{}:8080", hostname());
    d.expect(&["check", &url, "passes (HTTP 200)"]);
    d.expect(&["registered", &path, "(3 passes in a row"]);
    assert_eq!(data(&raw, &path).unwrap()["weight"], 10);
    // --status from another shell: the running daemon's view, exit 0.
    let shown = Command::new(env!("CARGO_BIN_EXE_ndsr"))
        .args(["register", "--status", "--status-file", status])
        .output()
        .unwrap();
    assert!(shown.status.success());
    let shown = json(std::str::from_utf8(&shown.stdout).unwrap());
    assert_eq!(shown["registrations"][&path]["state"], "registered");
    assert_eq!(shown["stats"]["state"], "connected");

    web.set(503);
    d.expect(&["check", "fails (HTTP 503)"]);
    d.expect(&["removed", &path, "(2 failures in a row)"]);
    assert!(!raw.exists(&path));
    web.set(204);
    d.expect(&["registered", &path, "(3 passes in a row"]);
    assert!(raw.exists(&path));
    // A server that takes the request and never answers: a failure at the check's timeout.
    web.set(0);
    let hung = d.expect(&["check", "fails ("]);
    assert!(!hung.contains("HTTP"), "{hung}");
    d.expect(&["removed", &path, "(2 failures in a row)"]);
    web.set(200);
    d.expect(&["registered", &path, "(3 passes in a row"]);

    // SIGTERM: draining for the grace period, then removed; exit 0.
    d.signal(libc::SIGTERM);
    d.expect(&["draining", &path, "for 1.5 s"]);
    let drained_at = Instant::now();
    assert_eq!(data(&raw, &path).unwrap()["state"], "draining");
    d.expect(&["removed", &path, "(stopped)"]);
    assert!(drained_at.elapsed() >= Duration::from_millis(1300));
    assert_eq!(d.exit_code(), 0);
    assert!(!raw.exists(&path));
    // Gone with the daemon: the status file, and --status says it is not running.
    assert!(!status_file.exists());
    let after = Command::new(env!("CARGO_BIN_EXE_ndsr"))
        .args(["register", "--status", "--status-file", status])
        .output()
        .unwrap();
    assert_eq!(after.status.code(), Some(1));
}

/// Whether process `pid` runs (a zombie that no init reaps in a container does not count).
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
        Err(_) => false,
    }
}

fn hostname() -> String {
    let out = Command::new("hostname").output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn tcp_and_command_checks_and_hung_checks() {
    let zk = Zk::standalone();
    let raw = Raw::connect(&zk.connect);
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let flag = dir.path().join("healthy");
    let pidfile = dir.path().join("sleep.pid");
    write(&flag, "");
    let config = dir.path().join("register.ini");
    write(
        &config,
        &format!(
            "[tcp]\npath = /reg/tcp/h:{{port}}\nport = {port}\ncheck = tcp://127.0.0.1:{{port}}\n\
             interval = 0.1\nrise = 1\nfall = 1\ngrace = 0\n\n\
             [cmd]\npath = /reg/cmd/h:1\ncheck_cmd = test -f {flag}\ninterval = 0.1\nrise = 1\n\
             fall = 1\ngrace = 0\n\n\
             [hung]\npath = /reg/hung/h:1\ncheck_cmd = sleep 30 & echo $! >> {pid}; wait\n\
             interval = 0.1\ntimeout = 1\nrise = 1\ngrace = 0\n",
            flag = flag.display(),
            pid = pidfile.display()
        ),
    );
    let started = Instant::now();
    let mut d = Daemon::start(&zk.connect, &["--config", config.to_str().unwrap()], &[]);
    // The hung check holds up no other service: both register before its first verdict.
    d.expect(&["registered", &format!("/reg/tcp/h:{port}")]);
    d.expect(&["registered", "/reg/cmd/h:1"]);
    assert!(!d.seen.iter().any(|l| l.contains("hung:")), "{:#?}", d.seen);
    // Killed at its timeout, with what it started, and counted as a failure.
    d.expect(&["hung:", "fails (killed after 1 s)"]);
    assert!(started.elapsed() >= Duration::from_millis(900));
    // The first run's (later runs append theirs; one may be running now).
    let pids = std::fs::read_to_string(&pidfile).unwrap();
    let sleeper: i32 = pids.lines().next().unwrap().parse().unwrap();
    // SIGKILL was sent with the verdict; its delivery takes an instant (no event tells).
    let deadline = Instant::now() + Duration::from_secs(2);
    while alive(sleeper) {
        assert!(Instant::now() < deadline, "the check's sleep survived");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(!raw.exists("/reg/hung/h:1"));

    drop(listener); // connections refused from now on
    d.expect(&["tcp:", "fails"]);
    d.expect(&["removed", &format!("/reg/tcp/h:{port}")]);
    std::fs::remove_file(&flag).unwrap();
    d.expect(&["cmd:", "fails (exit 1)"]);
    d.expect(&["removed", "/reg/cmd/h:1"]);
    assert!(!raw.exists("/reg/cmd/h:1"));
    write(&flag, "");
    d.expect(&["registered", "/reg/cmd/h:1"]);
    let _listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    d.expect(&["registered", &format!("/reg/tcp/h:{port}")]);
    d.signal(libc::SIGINT);
    assert_eq!(d.exit_code(), 0);
    assert!(!raw.exists("/reg/cmd/h:1"));
}

#[test]
fn sighup_adds_removes_and_leaves_the_rest_alone() {
    let zk = Zk::standalone();
    let raw = Raw::connect(&zk.connect);
    let dir = tempfile::tempdir().unwrap();
    let sock_path = dir.path().join("notify.sock");
    let notify = std::os::unix::net::UnixDatagram::bind(&sock_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let next_notice = || {
        let mut buf = [0u8; 512];
        let n = notify.recv(&mut buf).expect("a notice to systemd");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let section = |name: &str| {
        format!("[{name}]\npath = /reg/hup/{name}:1\ncheck_cmd = true\ninterval = 0.1\nrise = 1\ngrace = 0.2\n")
    };
    let config = dir.path().join("register.ini");
    write(&config, &(section("a") + &section("keep")));
    let env = [("NOTIFY_SOCKET", sock_path.to_str().unwrap())];
    let mut d = Daemon::start(&zk.connect, &["--config", config.to_str().unwrap()], &env);
    assert!(next_notice().starts_with("READY=1\nSTATUS="));
    d.expect(&["registered", "/reg/hup/a:1"]);
    d.expect(&["registered", "/reg/hup/keep:1"]);
    let keep_before = raw.get("/reg/hup/keep:1").unwrap().1;

    // `a` goes, `b` comes, `keep` is not touched.
    write(&config, &(section("b") + &section("keep")));
    d.signal(libc::SIGHUP);
    assert_eq!(next_notice(), "RELOADING=1");
    d.expect(&["reloaded"]);
    d.expect(&["removed", "/reg/hup/a:1", "(stopped)"]);
    d.expect(&["registered", "/reg/hup/b:1"]);
    assert!(!raw.exists("/reg/hup/a:1"));
    assert!(next_notice().starts_with("READY=1"));
    let keep_after = raw.get("/reg/hup/keep:1").unwrap().1;
    assert_eq!(
        keep_before.czxid, keep_after.czxid,
        "keep was registered again"
    );
    assert_eq!(
        keep_before.mzxid, keep_after.mzxid,
        "keep was written again"
    );

    // `keep`'s data changes: written in place, not registered again.
    let changed = section("keep").replace("grace = 0.2", "grace = 0.2\ndata = {\"v\": 2}");
    write(&config, &(section("b") + &changed));
    d.signal(libc::SIGHUP);
    assert_eq!(next_notice(), "RELOADING=1");
    assert!(next_notice().starts_with("READY=1"));
    d.expect(&["registered", "/reg/hup/keep:1"]);
    let (now, stat) = raw.get("/reg/hup/keep:1").unwrap();
    assert_eq!(json(std::str::from_utf8(&now).unwrap())["v"], 2);
    assert_eq!(stat.czxid, keep_before.czxid);

    // A broken file is refused; everything stays as it is.
    write(&config, "[b]\npath = /reg/hup/b:1\nfoo = 1\n");
    d.signal(libc::SIGHUP);
    d.expect(&[
        "refused, the running configuration stays",
        "[b] unknown key `foo`",
    ]);
    assert!(raw.exists("/reg/hup/b:1") && raw.exists("/reg/hup/keep:1"));
    assert_eq!(next_notice(), "RELOADING=1");
    assert!(next_notice().starts_with("READY=1"));

    d.signal(libc::SIGTERM);
    assert_eq!(next_notice(), "STOPPING=1");
    assert_eq!(d.exit_code(), 0);
    assert!(!raw.exists("/reg/hup/b:1") && !raw.exists("/reg/hup/keep:1"));
}

#[test]
fn registrations_come_back_after_an_outage_and_an_expiry() {
    let zk = Zk::standalone();
    let raw = Raw::connect(&zk.connect);
    let proxy = Proxy::start(&zk.connect);
    let args = [
        "/reg/ha/me:1",
        "--check-cmd",
        "true",
        "--interval",
        "0.2",
        "--rise",
        "1",
    ];
    let mut d = Daemon::start(&proxy.addr, &args, &[]);
    d.expect(&["registered", "/reg/ha/me:1"]);
    let owner = raw.get("/reg/ha/me:1").unwrap().1.ephemeral_owner;

    // An outage shorter than the session: the same registration throughout.
    proxy.cut();
    d.expect(&["connection lost"]);
    proxy.restore();
    d.expect(&["connection restored"]);
    assert_eq!(raw.get("/reg/ha/me:1").unwrap().1.ephemeral_owner, owner);

    // Long enough for ZooKeeper to expire the session: the node goes, then comes back on the
    // new session, while the checks kept passing.
    proxy.cut();
    raw.wait_exists("/reg/ha/me:1", false, Duration::from_secs(20));
    proxy.restore();
    raw.wait_exists("/reg/ha/me:1", true, Duration::from_secs(20));
    let (_, stat) = raw.get("/reg/ha/me:1").unwrap();
    assert_ne!(stat.ephemeral_owner, owner);
    assert!(
        !d.seen.iter().any(|l| l.contains("removed")),
        "{:#?}",
        d.seen
    );
    d.signal(libc::SIGTERM);
    assert_eq!(d.exit_code(), 0);
}

#[test]
fn configuration_errors_exit_2_and_once_tells_what_it_would_do() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_ndsr"))
            .arg("register")
            .args(args)
            .output()
            .unwrap()
    };
    let config = dir.path().join("bad.ini");
    write(&config, "[web]\npath = /reg/x:1\ncheck = ftp://nope\n");
    let out = run(&["--config", config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("[web] check: http://") && err.lines().count() == 1,
        "{err}"
    );
    let out = run(&["/reg/x:1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no check"));
    let out = run(&["--config", "/nonexistent.ini"]);
    assert_eq!(out.status.code(), Some(2));

    // --once: no ZooKeeper needed; every check once; 1 when one fails.
    write(
        &config,
        "[ok]\npath = /reg/ok/{hostname}:1\ncheck_cmd = true\n\n[bad]\npath = /reg/bad:1\n\
         cmd = false\nrefresh = 1\n",
    );
    let out = run(&["--config", config.to_str().unwrap(), "--once"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains(&format!(
            "ok: /reg/ok/{}:1 {{}}: check `true`: exit 0: would register",
            hostname()
        )),
        "{text}"
    );
    assert!(
        text.contains("bad: /reg/bad:1 {}: check `false`: exit 1: would not register"),
        "{text}"
    );
}
