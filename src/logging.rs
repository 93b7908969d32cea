//! Log sink: every log record of the library (and of the ZooKeeper client, through `tracing`'s
//! `log` feature) goes to a callback the caller can set, or to stderr at warn by default.

use std::ffi::c_void;

use log::{Level, LevelFilter, Log, Metadata, Record};
use once_cell::sync::OnceCell;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// A log callback: `(userdata, level, message)` with level 1 = error … 5 = trace.
pub type LogFn =
    unsafe extern "C" fn(userdata: *mut c_void, level: i32, message: *const libc::c_char);

struct Sink {
    func: Option<LogFn>,
    userdata: usize,
}

static SINK: RwLock<Sink> = RwLock::new(Sink {
    func: None,
    userdata: 0,
});
static INSTALLED: OnceCell<bool> = OnceCell::new();

// A std lock (not parking_lot): it is held across fork() (see `before_fork`), and std's unlock
// in the child touches nothing but the lock word.
fn read_sink() -> RwLockReadGuard<'static, Sink> {
    SINK.read().unwrap_or_else(|e| e.into_inner())
}

thread_local! {
    static HELD: crate::fork::Held<RwLockWriteGuard<'static, Sink>> =
        const { crate::fork::Held::new() };
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

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let line = format!("{}: {}", record.target(), record.args());
        let sink = read_sink();
        match sink.func {
            Some(f) => {
                let text = std::ffi::CString::new(line.replace('\0', " ")).unwrap_or_default();
                // SAFETY: the caller promised a function that accepts these arguments.
                unsafe {
                    f(
                        sink.userdata as *mut c_void,
                        level_number(record.level()),
                        text.as_ptr(),
                    )
                }
            }
            None => eprintln!("ndsr {} {}", record.level(), line),
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

/// Sets the sink (None = stderr) and the most verbose level passed on (0 = off … 5 = trace).
pub fn set_sink(func: Option<LogFn>, userdata: *mut c_void, level: i32) {
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
