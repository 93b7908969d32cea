//! The `ndsr` command-line tool, run as a built binary against real ZooKeeper.
#[path = "../../tests/common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

fn ndsr(zk: &Zk, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ndsr"))
        .args(["--server", &zk.connect, "--timeout", "5"])
        .args(args)
        .output()
        .expect("run ndsr")
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn python() -> String {
    std::env::var("NDSR_PYTHON")
        .unwrap_or_else(|_| format!("{}/../.venv/bin/python", env!("CARGO_MANIFEST_DIR")))
}

/// Every output format, byte for byte, against what the Python original's own formatting code
/// prints for the same tree (including values PyYAML must quote, escape or fold).
#[test]
fn get_formats_match_the_original_byte_for_byte() {
    let zk = Zk::standalone();
    let raw = Raw::connect(&zk.connect);
    raw.create("/cli", b"");
    raw.create(
        "/cli/svc",
        br#"{"a":1,"b":[1,2,{"c":null}],"t":true,"f":1.5}"#,
    );
    raw.create(
        "/cli/svc/host1:80",
        br#"{"pid":42,"created":"2012-12-15 00:45:03","weight":10,"state":"up"}"#,
    );
    let tricky = serde_json::json!({
        "yes": "yes", "no": "No", "on": "off", "num": "123", "float": "1.5", "octal": "017",
        "hex": "0x1F", "date": "2012-12-15", "null_word": "null", "tilde": "~", "empty": "",
        "colon": "a: b", "colon2": "a:b", "hash": "a #b", "lead": " x", "trail": "x ",
        "dash": "- x", "q": "it's", "dq": "say \"hi\"", "uni": "café ☃", "nl": "two\nlines",
        "tab": "a\tb", "star": "*x", "bang": "!x", "pct": "%x", "at": "@x", "bt": "`x",
        "brace": "{x}", "comma": "a, b", "long": "word ".repeat(30).trim_end().to_string(),
        "longq": format!("'{}", "word ".repeat(30).trim_end()),
        "nested": {"deep": {"deeper": []}, "empty": {}}, "list": [[1, 2], [], {}, "x"],
        "neg": -7, "big": 12345678901234i64, "small": 0.0001, "tiny": 1.5e-7, "bool": false,
    });
    raw.create("/cli/svc/host2:80", tricky.to_string().as_bytes());
    raw.create("/cli/svc/group", b"  ");
    raw.create("/cli/svc/group/a", b"not json at all");
    raw.create("/cli/svc/group/b", b"");
    raw.create("/cli/svc/group/b/leaf", b"[1,2]");

    let py = python();
    let out = Command::new(&py)
        .arg(format!(
            "{}/../tests/interop/cli_expected.py",
            env!("CARGO_MANIFEST_DIR")
        ))
        .args([&zk.connect, "/cli/svc"])
        .output()
        .unwrap_or_else(|e| panic!("{py}: {e} (run scripts/install-deps.sh)"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(expected.len(), 12);
    for (key, want) in expected {
        let parts: Vec<&str> = key.split(' ').collect();
        let mut args = vec!["get", "/cli/svc", "--format", parts[2]];
        if parts[0] == "True" {
            args.push("--data");
        }
        if parts[1] == "True" {
            args.push("--recursive");
        }
        let o = ndsr(&zk, &args);
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(stdout(&o), want.as_str().unwrap(), "ndsr {args:?}");
        assert!(
            o.stderr.is_empty(),
            "nothing on stderr: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

#[test]
fn get_at_the_root_and_missing_paths() {
    let zk = Zk::standalone();
    let raw = Raw::connect(&zk.connect);
    raw.create("/x", b"");
    raw.create("/x/y", b"");
    // The original writes //x at the root; we write /x.
    let o = ndsr(&zk, &["get", "/", "-r", "--format", "dir"]);
    assert_eq!(
        stdout(&o),
        "/\n/x\n/x/y\n/zookeeper\n/zookeeper/config\n/zookeeper/quota\n"
    );
    let o = ndsr(&zk, &["get", "/nope"]);
    assert_eq!(o.status.code(), Some(4));
    assert!(o.stdout.is_empty());
    let err = String::from_utf8(o.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("/nope"), "{err}");
}

#[test]
fn set_unset_and_exit_codes() {
    let zk = Zk::standalone();
    let raw = Raw::connect(&zk.connect);
    let o = ndsr(&zk, &["set", "/conf/app", r#"{"threads":8}"#]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(o.stdout.is_empty());
    let v = json(std::str::from_utf8(&raw.get("/conf/app").unwrap().0).unwrap());
    assert_eq!(v["threads"], 8);
    assert!(v["pid"].is_u64() && v["created"].is_string());
    assert_eq!(
        ndsr(&zk, &["get", "/conf/app", "-d", "--format", "json"])
            .status
            .code(),
        Some(0)
    );
    assert!(ndsr(&zk, &["unset", "/conf/app"]).status.success());
    assert!(!raw.exists("/conf/app"));
    assert!(
        ndsr(&zk, &["unset", "/conf/app"]).status.success(),
        "missing is fine"
    );

    // Usage errors: 2, one line on stderr.
    for args in [
        &["set", "/x", "[1,2]"][..],
        &["set", "bad/path"],
        &["get", "/x", "--format", "xml"],
        &["frobnicate"],
    ] {
        let o = ndsr(&zk, args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(o.stdout.is_empty());
        let err = String::from_utf8(o.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    }
    // What is missing is named on that line.
    let o = ndsr(&zk, &["set"]);
    let err = String::from_utf8(o.stderr).unwrap();
    assert!(err.contains("<PATH>") && err.lines().count() == 1, "{err}");
    // No connection: 3.
    let o = Command::new(env!("CARGO_BIN_EXE_ndsr"))
        .args(["--server", "127.0.0.1:1", "--timeout", "0.5", "get", "/"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3));
    let err = String::from_utf8(o.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    // --help for each command, with examples.
    for cmd in ["get", "set", "unset", "watch", "lock"] {
        let o = Command::new(env!("CARGO_BIN_EXE_ndsr"))
            .args([cmd, "--help"])
            .output()
            .unwrap();
        assert!(o.status.success());
        assert!(stdout(&o).contains("Example"), "{cmd} --help has examples");
    }
}

#[test]
fn ephemeral_set_lasts_until_interrupted() {
    let zk = Zk::standalone();
    let raw = Raw::connect(&zk.connect);
    let mut child = Command::new(env!("CARGO_BIN_EXE_ndsr"))
        .args([
            "--server",
            &zk.connect,
            "set",
            "/svc/web/me:80",
            r#"{"w":1}"#,
            "--ephemeral",
        ])
        .spawn()
        .unwrap();
    let (stat, w) = raw.rt.block_on(async {
        loop {
            let (stat, w) = raw
                .client
                .check_and_watch_stat("/svc/web/me:80")
                .await
                .unwrap();
            if stat.is_some() {
                return (stat, w);
            }
            w.changed().await;
        }
    });
    assert!(stat.unwrap().ephemeral_owner != 0);
    // SIGHUP (a closed terminal) ends it as cleanly as SIGTERM or SIGINT.
    unsafe { libc::kill(child.id() as i32, libc::SIGHUP) };
    assert!(child.wait().unwrap().success());
    let ev = raw
        .rt
        .block_on(async { tokio::time::timeout(Duration::from_secs(3), w.changed()).await })
        .unwrap();
    assert_eq!(
        ev.event_type,
        zookeeper_client::EventType::NodeDeleted,
        "removed at once on SIGHUP"
    );
}

#[test]
fn watch_prints_one_line_per_change() {
    let zk = Zk::standalone();
    let raw = Raw::connect(&zk.connect);
    raw.create("/w", b"{\"v\":0}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ndsr"))
        .args(["--server", &zk.connect, "watch", "/w"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next = || json(&lines.next().unwrap().unwrap());
    assert_eq!(next()["data"]["v"], 0);
    raw.set("/w", b"{\"v\":1}");
    assert_eq!(next()["data"]["v"], 1);
    raw.create("/w/c", b"{}");
    assert_eq!(next()["children"], serde_json::json!({"c": {}}));
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    assert!(child.wait().unwrap().success());
}

#[test]
fn lock_runs_the_command_while_holding_the_lock() {
    let zk = Zk::standalone();
    let o = ndsr(&zk, &["lock", "/locks/job", "--", "sh", "-c", "exit 7"]);
    assert_eq!(o.status.code(), Some(7), "the command's status");
    // While one ndsr holds the lock (its command waits on a fifo), another cannot get it.
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("go");
    let marker = dir.path().join("running");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let script = format!(
        "touch {}; cat {} > /dev/null",
        marker.display(),
        fifo.display()
    );
    let mut holder = Command::new(env!("CARGO_BIN_EXE_ndsr"))
        .args([
            "--server",
            &zk.connect,
            "lock",
            "/locks/job",
            "--",
            "sh",
            "-c",
            &script,
        ])
        .spawn()
        .unwrap();
    while !marker.exists() {
        std::thread::sleep(Duration::from_millis(10));
    }
    let o = ndsr(&zk, &["lock", "/locks/job", "--wait", "0.3", "--", "true"]);
    assert_eq!(o.status.code(), Some(5), "not acquired");
    assert_eq!(String::from_utf8(o.stderr).unwrap().lines().count(), 1);
    // A waiter gets it as soon as the holder's command ends.
    let waiter = Command::new(env!("CARGO_BIN_EXE_ndsr"))
        .args([
            "--server",
            &zk.connect,
            "lock",
            "/locks/job",
            "--wait",
            "30",
            "--",
            "sh",
            "-c",
            "echo got it",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::fs::write(&fifo, b"x").unwrap();
    assert!(holder.wait().unwrap().success());
    let out = waiter.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "got it\n");
}

#[test]
fn credentials_from_flags_or_environment_and_auth_exit_code() {
    let zk = Zk::standalone();
    let o = Command::new(env!("CARGO_BIN_EXE_ndsr"))
        .args([
            "--server",
            &zk.connect,
            "--username",
            "ops",
            "set",
            "/prot/conf",
            r#"{"a":1}"#,
        ])
        .env("NDSR_PASSWORD", "from-env")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let raw = Raw::connect(&zk.connect);
    raw.rt
        .block_on(raw.client.auth("digest", b"ops:from-env"))
        .unwrap();
    let (acls, _) = raw.rt.block_on(raw.client.get_acl("/prot/conf")).unwrap();
    let creds = ndsr::Credentials {
        username: "ops".into(),
        password: "from-env".into(),
    };
    assert!(acls
        .iter()
        .any(|a| a.scheme() == "digest" && a.id() == creds.digest_id()));
    // Without the credentials: not authorised, exit 6, one line, no password anywhere.
    let o = ndsr(&zk, &["set", "/prot/conf", r#"{"a":2}"#]);
    assert_eq!(o.status.code(), Some(6));
    let err = String::from_utf8(o.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    let o = ndsr(
        &zk,
        &[
            "--username",
            "ops",
            "--password",
            "wrong",
            "set",
            "/prot/conf",
            "{}",
        ],
    );
    assert_eq!(o.status.code(), Some(6));
    assert!(!String::from_utf8(o.stderr).unwrap().contains("wrong"));
    // A username without a password is a usage error.
    assert_eq!(
        ndsr(&zk, &["--username", "ops", "get", "/"]).status.code(),
        Some(2)
    );
}

/// Under systemd, `timeout` or `docker stop` the tool gets the signal: the command gets it too,
/// and the lock is released only once the command has ended.
#[test]
fn lock_passes_signals_on_and_releases_after_the_command() {
    let zk = Zk::standalone();
    let dir = tempfile::tempdir().unwrap();
    let (running, done) = (dir.path().join("running"), dir.path().join("done"));
    for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
        let _ = std::fs::remove_file(&running);
        let _ = std::fs::remove_file(&done);
        // The command takes a moment to finish once signalled, and says which signal it got.
        let script = format!(
            "for s in TERM INT HUP; do trap \"sleep 0.5; echo $s > {d}; exit 3\" $s; done; touch {r}; while true; do sleep 0.05; done",
            d = done.display(),
            r = running.display()
        );
        let mut holder = Command::new(env!("CARGO_BIN_EXE_ndsr"))
            .args([
                "--server",
                &zk.connect,
                "lock",
                "/locks/sig",
                "--",
                "sh",
                "-c",
                &script,
            ])
            .spawn()
            .unwrap();
        while !running.exists() {
            std::thread::sleep(Duration::from_millis(10));
        }
        unsafe { libc::kill(holder.id() as i32, sig) };
        // While the command winds down, the lock is still held.
        let o = ndsr(&zk, &["lock", "/locks/sig", "--wait", "0", "--", "true"]);
        assert_eq!(
            o.status.code(),
            Some(5),
            "signal {sig}: taken while the command ran"
        );
        let status = holder.wait().unwrap();
        assert_eq!(
            status.code(),
            Some(3),
            "signal {sig}: the command's own status"
        );
        let got = std::fs::read_to_string(&done).unwrap_or_default();
        assert!(
            !got.trim().is_empty(),
            "signal {sig}: the command was not signalled"
        );
        // Released at once, not at the session's expiry.
        let t = std::time::Instant::now();
        let o = ndsr(&zk, &["lock", "/locks/sig", "--wait", "0", "--", "true"]);
        assert_eq!(o.status.code(), Some(0), "signal {sig}: {:?}", o);
        assert!(t.elapsed() < Duration::from_secs(3));
    }
}

/// `--timeout` bounds the wait for a server that accepts and never answers.
#[test]
fn timeout_bounds_the_wait_for_a_silent_server() {
    let addr = silent_server();
    let t = std::time::Instant::now();
    let o = Command::new(env!("CARGO_BIN_EXE_ndsr"))
        .args(["--server", &addr, "--timeout", "2", "get", "/"])
        .output()
        .unwrap();
    let took = t.elapsed();
    assert_eq!(o.status.code(), Some(3), "no connection");
    assert!(
        took < Duration::from_millis(2600),
        "took {took:?} for --timeout 2"
    );
    let err = String::from_utf8(o.stderr).unwrap();
    assert!(err.contains("no answer to the connect request"), "{err}");
}

#[test]
fn pick_and_get_instances() {
    let zk = Zk::standalone();
    let raw = Raw::connect(&zk.connect);
    raw.create("/svc", b"");
    raw.create("/svc/web", b"");
    raw.create("/svc/web/a:80", br#"{"zone":"eu-1"}"#);
    raw.create(
        "/svc/web/b:80",
        br#"{"zone":"us-1","host":"10.0.0.2","port":8080}"#,
    );
    raw.create("/svc/web/c:80", br#"{"state":"draining"}"#);
    raw.create("/svc/web/[::1]:81", b"{}");
    raw.create("/svc/web/junk", b"{}");
    let o = ndsr(&zk, &["get", "/svc/web", "--instances"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stdout(&o), "[::1]:81\na:80\n10.0.0.2:8080\n");

    let o = ndsr(&zk, &["pick", "/svc/web", "--filter", "zone=eu-1"]);
    assert_eq!((o.status.code(), stdout(&o).as_str()), (Some(0), "a:80\n"));
    let o = ndsr(&zk, &["pick", "/svc/web", "--filter", "zone=us-1"]);
    assert_eq!(stdout(&o), "10.0.0.2:8080\n", "the data's host and port");
    let picks: Vec<String> = (0..2)
        .map(|_| {
            stdout(&ndsr(
                &zk,
                &[
                    "pick",
                    "/svc/web",
                    "--strategy",
                    "consistent",
                    "--key",
                    "user-7",
                ],
            ))
        })
        .collect();
    assert_eq!(picks[0], picks[1], "the same key, the same instance");
    let o = ndsr(&zk, &["pick", "/svc/web", "--filter", "zone=ap-1"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no usable instance"));
    let o = ndsr(&zk, &["pick", "/svc/web", "--strategy", "fastest"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn stats_print_the_handles_numbers_in_json_or_prometheus() {
    let zk = Zk::standalone();
    let raw = Raw::connect(&zk.connect);
    raw.create("/stats", b"");
    raw.create("/stats/a", b"{}");
    let o = ndsr(&zk, &["stats", "/stats"]);
    assert!(o.status.success(), "{o:?}");
    let s = json(&stdout(&o));
    assert_eq!(s["state"], "connected");
    assert_eq!(s["cache"]["paths"], 1);
    assert_eq!(s["cache"]["nodes"], 1);
    assert!(s["requests"]["total"].as_u64().unwrap() >= 2, "{s}");
    let o = ndsr(&zk, &["stats", "--prometheus"]);
    assert!(o.status.success(), "{o:?}");
    assert!(stdout(&o).contains("# TYPE ndsr_requests_total counter"));
}

#[test]
fn get_doc_set_raw_and_unset_recursive() {
    let zk = Zk::standalone();
    let raw = Raw::connect(&zk.connect);
    // set --raw: the data as given, no pid/created; get --doc: the document, one line.
    let o = ndsr(&zk, &["set", "/conf/web", r#"{"threads":8}"#, "--raw"]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(raw.get("/conf/web").unwrap().0, br#"{"threads":8}"#);
    let o = ndsr(&zk, &["get", "/conf/web", "--doc"]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(stdout(&o).lines().count(), 1);
    let doc = json(&stdout(&o));
    assert_eq!(doc["data"], json(r#"{"threads":8}"#));
    assert_eq!(doc["path"], "/conf/web");
    // unset --recursive: the whole subtree; without it, a node with children is refused.
    raw.create("/tree", b"");
    raw.create("/tree/a", b"");
    raw.create("/tree/a/b", b"");
    raw.create("/tree/c", b"");
    assert_eq!(ndsr(&zk, &["unset", "/tree"]).status.code(), Some(1));
    let o = ndsr(&zk, &["unset", "/tree", "--recursive"]);
    assert!(o.status.success(), "{o:?}");
    assert!(!raw.exists("/tree"));
}

#[test]
fn watch_reports_connection_changes_on_stderr() {
    let zk = Zk::standalone();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ndsr"))
        .args(["--server", &zk.connect, "--timeout", "4", "watch", "/w"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert!(line.contains("\"path\":\"/w\""), "{line}");
    zk.cmd(&["stop", "1"]);
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    err.read_line(&mut first).unwrap();
    assert!(
        first.contains("disconnected: the document is last-known"),
        "{first}"
    );
    zk.cmd(&["start", "1"]);
    let mut next = String::new();
    while !next.contains("live again") {
        next.clear();
        assert!(err.read_line(&mut next).unwrap() > 0, "stderr ended");
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn two_locks_of_a_semaphore_of_two_both_run() {
    let zk = Zk::standalone();
    for _ in 0..5 {
        let run = || {
            Command::new(env!("CARGO_BIN_EXE_ndsr"))
                .args(["--server", &zk.connect, "lock", "/sem/cli"])
                .args(["--simultaneous", "2", "--", "sleep", "0.3"])
                .spawn()
                .unwrap()
        };
        let (mut a, mut b) = (run(), run());
        assert_eq!(a.wait().unwrap().code(), Some(0), "the first holder ran");
        assert_eq!(
            b.wait().unwrap().code(),
            Some(0),
            "a free slot is not refused"
        );
    }
}
