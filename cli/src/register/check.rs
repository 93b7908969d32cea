//! Health checks: an HTTP GET expecting a status class, a TCP connect, or a shell command that
//! must exit 0. Each is bounded by its timeout: a command is killed with its process group, and
//! an HTTP or TCP check that does not answer in time fails (its thread is left to end on its
//! own socket and resolver timeouts).

use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::process::CommandExt;
use std::process::{Command as Process, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A check, as configured.
#[derive(Clone, Debug, PartialEq)]
pub enum Check {
    /// GET `url` (plain HTTP); passes on a status that `expect` lists (`2xx`, `3xx`, `200`, …).
    Http { url: String, expect: Vec<String> },
    /// Connect to `host:port`.
    Tcp(String),
    /// `sh -c COMMAND`; passes on exit code 0.
    Command(String),
}

/// What one run of a check found.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    pub ok: bool,
    /// What it saw, for the log and the status: `HTTP 200`, `exit 1`, `no answer in 2 s`.
    pub detail: String,
}

impl Outcome {
    fn new(ok: bool, detail: impl Into<String>) -> Outcome {
        Outcome {
            ok,
            detail: detail.into(),
        }
    }
}

impl Check {
    /// `http://…` or `tcp://host:port`, with the HTTP status classes to accept
    /// (comma-separated; default `2xx`).
    pub fn parse_url(url: &str, expect: Option<&str>) -> Result<Check, String> {
        if let Some(addr) = url.strip_prefix("tcp://") {
            return match addr.rsplit_once(':') {
                Some((h, p)) if !h.is_empty() && p.parse::<u16>().is_ok() => {
                    Ok(Check::Tcp(addr.to_string()))
                }
                _ => Err(format!("check: tcp://host:port, not {url:?}")),
            };
        }
        if url.starts_with("https://") {
            return Err("check: https:// is not supported (no TLS for checks): use \
                        check_cmd = curl -fsS https://…"
                .into());
        }
        if !url.starts_with("http://") {
            return Err(format!("check: http://… or tcp://host:port, not {url:?}"));
        }
        let expect: Vec<String> = expect
            .unwrap_or("2xx")
            .split(',')
            .map(|e| e.trim().to_ascii_lowercase())
            .collect();
        if let Some(bad) = expect.iter().find(|e| !status_pattern(e)) {
            return Err(format!("expect: statuses like 2xx or 204, not {bad:?}"));
        }
        Ok(Check::Http {
            url: url.to_string(),
            expect,
        })
    }

    /// Runs the check once, within `timeout`.
    pub fn run(&self, timeout: Duration) -> Outcome {
        match self {
            Check::Command(cmd) => run_command(cmd, timeout),
            Check::Http { url, expect } => {
                let (url, expect) = (url.clone(), expect.clone());
                bounded(timeout, move || http(&url, &expect, timeout))
            }
            Check::Tcp(addr) => {
                let addr = addr.clone();
                bounded(timeout, move || tcp(&addr, timeout))
            }
        }
    }

    /// How the check is shown in logs and the status.
    pub fn describe(&self) -> String {
        match self {
            Check::Http { url, .. } => url.clone(),
            Check::Tcp(addr) => format!("tcp://{addr}"),
            Check::Command(cmd) => format!("`{cmd}`"),
        }
    }
}

/// `2xx`-style classes or three-digit codes.
fn status_pattern(p: &str) -> bool {
    let b = p.as_bytes();
    b.len() == 3
        && (b'1'..=b'5').contains(&b[0])
        && ((b[1..] == *b"xx") || b[1..].iter().all(u8::is_ascii_digit))
}

fn status_matches(status: u16, expect: &[String]) -> bool {
    let code = status.to_string();
    expect
        .iter()
        .any(|p| *p == code || (p.ends_with("xx") && code.starts_with(&p[..1])))
}

/// Runs `check` on a thread of its own and waits for it at most `timeout` (a resolver or a
/// socket that ignores its own timeout cannot hold up the service).
fn bounded(timeout: Duration, check: impl FnOnce() -> Outcome + Send + 'static) -> Outcome {
    let (tx, rx) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("ndsr-check".into())
        .spawn(move || {
            let _ = tx.send(check());
        });
    if let Err(e) = spawned {
        return Outcome::new(false, format!("no thread for the check: {e}"));
    }
    rx.recv_timeout(timeout)
        .unwrap_or_else(|_| Outcome::new(false, format!("no answer in {}", seconds(timeout))))
}

fn http(url: &str, expect: &[String], timeout: Duration) -> Outcome {
    let agent = ureq::AgentBuilder::new()
        .timeout(timeout)
        .redirects(0)
        .user_agent("ndsr-register")
        .build();
    let status = match agent.get(url).call() {
        Ok(response) => response.status(),
        Err(ureq::Error::Status(code, _)) => code,
        Err(ureq::Error::Transport(t)) => return Outcome::new(false, transport_error(&t)),
    };
    Outcome::new(status_matches(status, expect), format!("HTTP {status}"))
}

/// A transport error in a few words (ureq's own text repeats the URL).
fn transport_error(t: &ureq::Transport) -> String {
    let text = t.to_string();
    text.rsplit(": ").next().unwrap_or(&text).to_string()
}

fn tcp(addr: &str, timeout: Duration) -> Outcome {
    let started = Instant::now();
    let addrs = match addr.to_socket_addrs() {
        Ok(a) => a.collect::<Vec<_>>(),
        Err(e) => return Outcome::new(false, format!("cannot resolve {addr}: {e}")),
    };
    let mut last = format!("{addr}: no address");
    for a in addrs {
        let left = timeout.saturating_sub(started.elapsed());
        if left.is_zero() {
            break;
        }
        match TcpStream::connect_timeout(&a, left) {
            Ok(_) => return Outcome::new(true, "connected"),
            Err(e) => last = e.to_string(),
        }
    }
    Outcome::new(false, last)
}

/// `sh -c cmd` in a process group of its own, output discarded; killed with its group at the
/// timeout.
fn run_command(cmd: &str, timeout: Duration) -> Outcome {
    let child = Process::new("/bin/sh")
        .args(["-c", cmd])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return Outcome::new(false, format!("cannot run /bin/sh: {e}")),
    };
    let pid = child.id() as i32;
    let (tx, rx) = mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    let status = rx.recv_timeout(timeout);
    if status.is_err() {
        // SAFETY: the group of the child we started and have not reaped (the waiter has not
        // returned), so the id is still ours.
        unsafe { libc::kill(-pid, libc::SIGKILL) };
    }
    let _ = waiter.join();
    match status {
        Ok(Ok(s)) if s.success() => Outcome::new(true, "exit 0"),
        Ok(Ok(s)) => Outcome::new(false, exit_text(s)),
        Ok(Err(e)) => Outcome::new(false, e.to_string()),
        Err(_) => Outcome::new(false, format!("killed after {}", seconds(timeout))),
    }
}

fn exit_text(s: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (s.code(), s.signal()) {
        (Some(c), _) => format!("exit {c}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => "ended".into(),
    }
}

/// `2 s`, `0.5 s`.
pub fn seconds(d: Duration) -> String {
    format!("{} s", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_statuses() {
        assert!(Check::parse_url("ftp://x", None).is_err());
        assert!(Check::parse_url("https://x/", None)
            .unwrap_err()
            .contains("check_cmd = curl"));
        assert!(Check::parse_url("tcp://host", None).is_err());
        assert_eq!(
            Check::parse_url("tcp://h:80", None),
            Ok(Check::Tcp("h:80".into()))
        );
        assert!(Check::parse_url("http://h/", Some("2xx,ok")).is_err());
        let expect: Vec<String> = vec!["2xx".into(), "301".into()];
        assert!(status_matches(204, &expect) && status_matches(301, &expect));
        assert!(!status_matches(302, &expect) && !status_matches(500, &expect));
    }

    #[test]
    fn commands_pass_fail_and_are_killed_at_the_timeout() {
        let t = Duration::from_secs(5);
        assert!(Check::Command("true".into()).run(t).ok);
        assert_eq!(Check::Command("exit 3".into()).run(t).detail, "exit 3");
        let started = Instant::now();
        // The grandchild (sleep) goes with the group: the wait does not last 30 s.
        let hung = Check::Command("sleep 30; true".into()).run(Duration::from_millis(200));
        assert!(
            !hung.ok && hung.detail.starts_with("killed after"),
            "{hung:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
