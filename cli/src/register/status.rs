//! What `ndsr register` tells the outside: log lines on stderr, a status file kept up to date
//! (each service's check and registration, and the session's stats) that `ndsr register
//! --status` prints from another shell, and systemd's readiness protocol (`sd_notify` over
//! `$NOTIFY_SOCKET`, no libsystemd needed).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use ndsr::Registry;
use serde_json::{json, Value};

use super::config::Service;
use super::service::{Health, Phase};

/// Log lines in the library's format (`ndsr LEVEL register: service: text`), up to a level
/// (1 error … 5 trace).
#[derive(Clone, Copy)]
pub struct Log(pub u8);

impl Log {
    pub fn error(&self, service: &str, text: &str) {
        self.line(1, "ERROR", service, text);
    }
    pub fn warn(&self, service: &str, text: &str) {
        self.line(2, "WARN", service, text);
    }
    pub fn info(&self, service: &str, text: &str) {
        self.line(3, "INFO", service, text);
    }
    fn line(&self, level: u8, name: &str, service: &str, text: &str) {
        if level <= self.0 {
            eprintln!("ndsr {name} register: {service}: {text}");
        }
    }
}

/// The services' state, written to the status file at every change.
pub struct Board {
    file: Option<PathBuf>,
    registry: Arc<Registry>,
    started: SystemTime,
    services: Mutex<BTreeMap<String, Value>>,
    /// A failed write is logged once.
    write_failed: AtomicBool,
    log: Log,
}

impl Board {
    pub fn new(file: Option<PathBuf>, registry: Arc<Registry>, log: Log) -> Board {
        Board {
            file,
            registry,
            started: SystemTime::now(),
            services: Mutex::default(),
            write_failed: AtomicBool::new(false),
            log,
        }
    }

    /// Records where service `s` stands.
    pub fn update(&self, s: &Service, h: &Health) {
        let last = h.last.as_ref();
        let entry = json!({
            "service": s.name,
            "state": h.phase.name(),
            "since": unix(h.since),
            "check": s.check.describe(),
            "passing": last.map(|o| o.ok),
            "detail": last.map(|o| o.detail.clone()),
            "checked_at": h.checked_at.map(unix),
            "passes_in_a_row": h.passes,
            "failures_in_a_row": h.failures,
        });
        self.lock().insert(s.path.clone(), entry);
        self.write();
    }

    /// Drops the service registered at `path` (it has stopped).
    pub fn forget(&self, path: &str) {
        self.lock().remove(path);
        self.write();
    }

    /// `n of m registered`, for systemd's status line.
    pub fn summary(&self) -> String {
        let services = self.lock();
        let up = services
            .values()
            .filter(|v| v["state"] == Phase::Up.name())
            .count();
        format!("{up} of {} services registered", services.len())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Value>> {
        self.services.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes the file whole, by a rename: a reader never sees half of it.
    fn write(&self) {
        let Some(file) = &self.file else { return };
        let stats: Value = self
            .registry
            .stats_json()
            .ok()
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or(Value::Null);
        let doc = json!({
            "pid": std::process::id(),
            "started": unix(self.started),
            "updated": unix(SystemTime::now()),
            "registrations": *self.lock(),
            "stats": stats,
        });
        let tmp = file.with_extension("tmp");
        let written =
            std::fs::write(&tmp, format!("{doc:#}\n")).and_then(|_| std::fs::rename(&tmp, file));
        if let Err(e) = written {
            if !self.write_failed.swap(true, Ordering::SeqCst) {
                self.log
                    .warn("status", &format!("cannot write {}: {e}", file.display()));
            }
        }
    }

    /// Removes the status file (a clean exit).
    pub fn close(&self) {
        if let Some(file) = &self.file {
            let _ = std::fs::remove_file(file);
        }
    }
}

fn unix(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| (d.as_millis() as f64) / 1000.0)
}

/// Where the status file goes by default: systemd's `RuntimeDirectory`, else `/run` for root,
/// else the user's runtime directory, else /tmp.
pub fn default_file() -> PathBuf {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(dir) = var("RUNTIME_DIRECTORY") {
        return dir.join("ndsr-register.json");
    }
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() };
    match (uid, var("XDG_RUNTIME_DIR")) {
        (0, _) => PathBuf::from("/run/ndsr-register.json"),
        (_, Some(dir)) => dir.join("ndsr-register.json"),
        (_, None) => PathBuf::from(format!("/tmp/ndsr-register-{uid}.json")),
    }
}

/// `ndsr register --status`: prints the status file; whether its daemon is running.
pub fn show(file: &Path) -> Result<bool, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("{}: {e} (is ndsr register running?)", file.display()))?;
    let doc: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
    let pid = doc["pid"].as_i64().unwrap_or(0) as i32;
    // SAFETY: signal 0 only asks whether the process exists.
    let running = pid > 0 && unsafe { libc::kill(pid, 0) } == 0;
    println!("{}", text.trim_end());
    Ok(running)
}

/// Tells systemd (`Type=notify`) `state`, e.g. `READY=1`, when started by it; otherwise nothing.
pub fn notify(state: &str) {
    use std::os::unix::net::UnixDatagram;
    let Some(target) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let Ok(socket) = UnixDatagram::unbound() else {
        return;
    };
    let bytes = target.as_encoded_bytes();
    let _ = match bytes.strip_prefix(b"@") {
        // An abstract socket (Linux).
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            std::os::unix::net::SocketAddr::from_abstract_name(name)
                .and_then(|addr| socket.send_to_addr(state.as_bytes(), &addr))
        }
        None => socket.send_to(state.as_bytes(), Path::new(&target)),
    };
}
