//! Log sink: every log record of the library goes to a callback the caller can set, or to stderr
//! at warn by default. Lines are for operators: libndsr's own lines name the handle they are
//! about (see `Session::tag`), repeats are summarised ([`Repeated`]), and what the ZooKeeper
//! client library logs is passed on only at debug level (libndsr reports the same events once,
//! in its own words).

use std::ffi::c_void;
use std::time::{Duration, Instant};

use log::{Level, LevelFilter, Log, Metadata, Record};
use once_cell::sync::OnceCell;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// A log callback: `(userdata, level, message)` with level 1 = error … 5 = trace; the message
/// starts with the component (`session: …`).
pub type LogFn =
    unsafe extern "C" fn(userdata: *mut c_void, level: i32, message: *const libc::c_char);

/// A log callback with the component apart: `(userdata, level, component, message)`.
pub type LogHandlerFn = unsafe extern "C" fn(
    userdata: *mut c_void,
    level: i32,
    component: *const libc::c_char,
    message: *const libc::c_char,
);

/// Where lines go.
#[derive(Clone, Copy)]
pub enum SinkFn {
    /// stderr.
    Stderr,
    /// A callback taking the component as part of the message.
    Message(LogFn),
    /// A callback taking the component as an argument of its own.
    Handler(LogHandlerFn),
}

struct Sink {
    func: SinkFn,
    userdata: usize,
}

static SINK: RwLock<Sink> = RwLock::new(Sink {
    func: SinkFn::Stderr,
    userdata: 0,
});
static INSTALLED: OnceCell<bool> = OnceCell::new();

// A std lock (not parking_lot): it is held across fork() (see `before_fork`), and std's unlock
// in the child touches nothing but the lock word.
fn read_sink() -> RwLockReadGuard<'static, Sink> {
    SINK.read().unwrap_or_else(|e| e.into_inner())
}

thread_local! {
    static HELD: crate::runtime::Held<RwLockWriteGuard<'static, Sink>> =
        const { crate::runtime::Held::new() };
}

/// Before a fork: no thread may be inside the sink when the child is made.
pub(crate) fn before_fork() {
    let guard = SINK.write().unwrap_or_else(|e| e.into_inner());
    HELD.with(|h| h.keep(guard));
}

/// After a fork, in parent and child.
pub(crate) fn after_fork() {
    HELD.with(|h| h.release());
}

struct Logger;

/// The level a record is passed on at: a dependency's lines are debug at most.
fn effective_level(record: &Metadata) -> Level {
    if record.target().starts_with("ndsr") {
        record.level()
    } else {
        record.level().max(Level::Debug)
    }
}

/// The component a line is about: libndsr's part (its top module), or the dependency's crate.
fn component(target: &str) -> &str {
    let path = target.strip_prefix("ndsr::").unwrap_or(target);
    path.split("::").next().unwrap_or(path)
}

fn c_text(s: &str) -> std::ffi::CString {
    std::ffi::CString::new(s.replace('\0', " ")).unwrap_or_default()
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        effective_level(metadata) <= log::max_level()
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let level = effective_level(record.metadata());
        let component = component(record.target());
        let message = record.args().to_string();
        let sink = read_sink();
        let userdata = sink.userdata as *mut c_void;
        match sink.func {
            SinkFn::Stderr => eprintln!("ndsr {level} {component}: {message}"),
            // SAFETY (both): the caller promised a function that accepts these arguments.
            SinkFn::Message(f) => {
                let text = c_text(&format!("{component}: {message}"));
                unsafe { f(userdata, level_number(level), text.as_ptr()) }
            }
            SinkFn::Handler(f) => {
                let (c, m) = (c_text(component), c_text(&message));
                unsafe { f(userdata, level_number(level), c.as_ptr(), m.as_ptr()) }
            }
        }
    }

    fn flush(&self) {}
}

fn level_number(level: Level) -> i32 {
    match level {
        Level::Error => 1,
        Level::Warn => 2,
        Level::Info => 3,
        Level::Debug => 4,
        Level::Trace => 5,
    }
}

/// Installs the library's logger once (warn to stderr) unless the program already has one.
pub fn install() {
    INSTALLED.get_or_init(|| {
        let ok = log::set_logger(&Logger).is_ok();
        if ok {
            log::set_max_level(LevelFilter::Warn);
        }
        ok
    });
}

/// Sends the library's log lines up to `level` (0 = off … 5 = trace) to `func`, with
/// `userdata` (process-wide).
pub fn set_log_sink(func: SinkFn, userdata: *mut c_void, level: i32) {
    install();
    *SINK.write().unwrap_or_else(|e| e.into_inner()) = Sink {
        func,
        userdata: userdata as usize,
    };
    log::set_max_level(match level {
        i32::MIN..=0 => LevelFilter::Off,
        1 => LevelFilter::Error,
        2 => LevelFilter::Warn,
        3 => LevelFilter::Info,
        4 => LevelFilter::Debug,
        _ => LevelFilter::Trace,
    });
}

/// How long repeats of a line are counted instead of logged.
pub const REPEAT_WINDOW: Duration = Duration::from_secs(10);

/// Summarises a line that repeats: the first is logged, the repeats within [`REPEAT_WINDOW`]
/// are only counted, and the first one after the window is logged with the count
/// ("… (12 more in the last 10 s)").
#[derive(Default)]
pub struct Repeated {
    /// Since when repeats are counted, and how many there were.
    window: parking_lot::Mutex<Option<(Instant, u64)>>,
}

impl Repeated {
    /// None when this occurrence is only counted; else the suffix to log it with ("" or the
    /// count of the repeats that were not logged).
    pub fn note(&self) -> Option<String> {
        let now = Instant::now();
        let mut window = self.window.lock();
        match &mut *window {
            Some((since, count)) if now.duration_since(*since) < REPEAT_WINDOW => {
                *count += 1;
                None
            }
            Some((_, count)) => {
                let n = *count;
                *window = Some((now, 0));
                Some(if n == 0 {
                    String::new()
                } else {
                    format!(" ({n} more in the last {} s)", REPEAT_WINDOW.as_secs())
                })
            }
            None => {
                *window = Some((now, 0));
                Some(String::new())
            }
        }
    }

    /// The repeats counted and not logged yet; starts afresh (the next occurrence is logged).
    pub fn take(&self) -> u64 {
        self.window.lock().take().map_or(0, |(_, n)| n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_are_counted_within_the_window() {
        let r = Repeated::default();
        assert_eq!(r.note().as_deref(), Some(""));
        assert_eq!(r.note(), None);
        assert_eq!(r.note(), None);
        // The window ends: the next line carries the count.
        r.window.lock().as_mut().unwrap().0 -= REPEAT_WINDOW;
        assert_eq!(r.note().as_deref(), Some(" (2 more in the last 10 s)"));
        assert_eq!(r.note(), None);
        assert_eq!(r.take(), 1);
        assert_eq!(r.note().as_deref(), Some(""));
    }

    #[test]
    fn dependencies_are_debug_at_most() {
        let meta = |target, level| Metadata::builder().target(target).level(level).build();
        assert_eq!(
            effective_level(&meta("zookeeper_client::session", Level::Warn)),
            Level::Debug
        );
        assert_eq!(
            effective_level(&meta("zookeeper_client::session", Level::Trace)),
            Level::Trace
        );
        assert_eq!(
            effective_level(&meta("ndsr::session", Level::Warn)),
            Level::Warn
        );
        assert_eq!(component("ndsr::session"), "session");
        assert_eq!(component("ndsr::cache::watcher"), "cache");
        assert_eq!(
            component("zookeeper_client::session::mod"),
            "zookeeper_client"
        );
    }
}
