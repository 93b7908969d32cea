//! A C handle driven through the library's exported C functions, for the bounds its snapshots
//! promise (tests/bounds.rs). The snapshot hot path (a thread's memo and snapshot slots) is the
//! C API's own, so it is checked through it.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[allow(non_camel_case_types)]
enum ndsr_t {}
#[allow(non_camel_case_types)]
enum ndsr_options_t {}
#[allow(non_camel_case_types)]
enum ndsr_snapshot_t {}

type ChangeFn = unsafe extern "C" fn(*mut c_void, *const c_char, *const c_char, usize);
type FreeFn = unsafe extern "C" fn(*mut c_void);

extern "C" {
    fn ndsr_options_new(out: *mut *mut ndsr_options_t) -> c_int;
    fn ndsr_options_set(o: *mut ndsr_options_t, key: *const c_char, value: *const c_char) -> c_int;
    fn ndsr_options_free(o: *mut ndsr_options_t);
    fn ndsr_open(server: *const c_char, o: *const ndsr_options_t, out: *mut *mut ndsr_t) -> c_int;
    fn ndsr_close(h: *mut ndsr_t);
    fn ndsr_on_change(
        h: *mut ndsr_t,
        path: *const c_char,
        func: ChangeFn,
        userdata: *mut c_void,
        userdata_free: FreeFn,
        subscription: *mut u64,
    ) -> c_int;
    fn ndsr_snapshot_get(
        h: *mut ndsr_t,
        path: *const c_char,
        out: *mut *mut ndsr_snapshot_t,
    ) -> c_int;
    fn ndsr_snapshot_count(s: *const ndsr_snapshot_t) -> usize;
    fn ndsr_snapshot_name(s: *const ndsr_snapshot_t, i: usize) -> *const c_char;
    fn ndsr_snapshot_child_str(
        s: *const ndsr_snapshot_t,
        i: usize,
        key: *const c_char,
    ) -> *const c_char;
    fn ndsr_snapshot_child_int(
        s: *const ndsr_snapshot_t,
        i: usize,
        key: *const c_char,
        out: *mut i64,
    ) -> c_int;
    fn ndsr_snapshot_release(s: *mut ndsr_snapshot_t) -> c_int;
}

/// The C handle's call timeout: the bound of a first read.
const TIMEOUT_MS: u64 = 500;

pub struct CReader {
    h: *mut ndsr_t,
}

fn c(s: &str) -> CString {
    CString::new(s).unwrap()
}

impl CReader {
    /// A C handle with a call timeout of TIMEOUT_MS that has read `path` and sees at least
    /// `min` children in it.
    pub fn open(server: &str, path: &str, min: usize) -> CReader {
        let mut o = std::ptr::null_mut();
        let mut h = std::ptr::null_mut();
        // SAFETY: valid pointers and NUL-terminated strings, as the header asks.
        unsafe {
            assert_eq!(ndsr_options_new(&mut o), 0);
            let timeout = c(&TIMEOUT_MS.to_string());
            assert_eq!(
                ndsr_options_set(o, c"timeout_ms".as_ptr(), timeout.as_ptr()),
                0
            );
            assert_eq!(ndsr_open(c(server).as_ptr(), o, &mut h), 0);
            ndsr_options_free(o);
        }
        let reader = CReader { h };
        let deadline = Instant::now() + Duration::from_secs(10);
        while reader.names(path).len() < min {
            assert!(
                Instant::now() < deadline,
                "{path}: fewer than {min} children"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        reader
    }

    /// The names of `path`'s children in a snapshot taken now.
    pub fn names(&self, path: &str) -> Vec<String> {
        let path = c(path);
        let mut s = std::ptr::null_mut();
        // SAFETY: as the header asks; the names are copied before the release.
        unsafe {
            assert_eq!(ndsr_snapshot_get(self.h, path.as_ptr(), &mut s), 0);
            let names = (0..ndsr_snapshot_count(s))
                .map(|i| {
                    CStr::from_ptr(ndsr_snapshot_name(s, i))
                        .to_string_lossy()
                        .into_owned()
                })
                .collect();
            assert_eq!(ndsr_snapshot_release(s), 0);
            names
        }
    }

    /// Polls until the snapshot of `path` has exactly `names` (the callbacks that would say so
    /// may be the ones held up).
    pub fn wait_for_names(&self, path: &str, names: &[&str]) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let now = self.names(path);
            if now == names {
                return;
            }
            assert!(Instant::now() < deadline, "{path}: {now:?}, not {names:?}");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Subscribes to `path` with a callback that blocks, from its first call, until the
    /// returned sender sends (or is dropped); returns once it is blocked.
    pub fn stick_a_callback(&self, path: &str) -> Sender<()> {
        type Stuck = (Sender<()>, Mutex<Receiver<()>>);
        unsafe extern "C" fn stuck(ud: *mut c_void, _: *const c_char, _: *const c_char, _: usize) {
            // SAFETY: the Box made below, alive until `release_it`.
            let (entered, release) = unsafe { &*(ud as *const Stuck) };
            let _ = entered.send(());
            let _ = release.lock().unwrap().recv();
        }
        unsafe extern "C" fn release_it(ud: *mut c_void) {
            // SAFETY: made by Box::into_raw below, freed once by the library.
            drop(unsafe { Box::from_raw(ud as *mut Stuck) });
        }
        let (entered_tx, entered) = mpsc::channel::<()>();
        let (release, release_rx) = mpsc::channel();
        let ud = Box::into_raw(Box::new((entered_tx, Mutex::new(release_rx)))) as *mut c_void;
        let mut sub = 0;
        // SAFETY: as the header asks.
        let rc =
            unsafe { ndsr_on_change(self.h, c(path).as_ptr(), stuck, ud, release_it, &mut sub) };
        assert_eq!(rc, 0);
        entered.recv_timeout(Duration::from_secs(10)).unwrap();
        release
    }

    /// A thousand rounds of snapshot, count, typed getters and release of `read` (read
    /// already) take under 200 ms each; the first read of `never_read` returns within the
    /// handle's timeout (plus slack). Returns that first read's status.
    pub fn assert_bounded(&self, read: &str, never_read: &str) -> c_int {
        let (read, never_read) = (c(read), c(never_read));
        let slowest = (0..1000)
            .map(|_| {
                let t = Instant::now();
                let mut s = std::ptr::null_mut();
                let mut port = 0;
                // SAFETY: as the header asks.
                unsafe {
                    assert_eq!(ndsr_snapshot_get(self.h, read.as_ptr(), &mut s), 0);
                    assert!(ndsr_snapshot_count(s) >= 3);
                    let _ = ndsr_snapshot_child_str(s, 0, c"host".as_ptr());
                    let _ = ndsr_snapshot_child_int(s, 1, c"port".as_ptr(), &mut port);
                    assert_eq!(ndsr_snapshot_release(s), 0);
                }
                t.elapsed()
            })
            .max()
            .unwrap();
        assert!(
            slowest < Duration::from_millis(200),
            "a snapshot round took {slowest:?}"
        );
        let t = Instant::now();
        let mut s = std::ptr::null_mut();
        // SAFETY: as the header asks.
        let rc = unsafe { ndsr_snapshot_get(self.h, never_read.as_ptr(), &mut s) };
        let took = t.elapsed();
        assert!(
            took < Duration::from_millis(TIMEOUT_MS + 1000),
            "a first read took {took:?} (timeout {TIMEOUT_MS} ms)"
        );
        if rc == 0 {
            // SAFETY: taken just above.
            unsafe { ndsr_snapshot_release(s) };
        }
        rc
    }
}

impl Drop for CReader {
    fn drop(&mut self) {
        // SAFETY: opened by ndsr_open, closed once.
        unsafe { ndsr_close(self.h) };
    }
}
