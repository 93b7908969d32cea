//! A blocking call's request is written by the calling thread (vendored zookeeper-client,
//! `drive`): the runtime's worker is not woken to write it, and no wake-up is lost when callers
//! and the worker poll the session's future in turn.
mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use common::*;
use ndsr::options::Options;
use ndsr::registry::Registry;
use zookeeper_client::drive::Drive;

/// The tests of this file one at a time: one counts a thread's sleeps, which a test keeping both
/// cores busy beside it (`no_wake_up_is_lost_between_callers_and_the_task`) would change.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Counts its polls, keeps the waker it was last polled with, and finishes once `stop` is set.
struct Probe {
    polls: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    waker: Arc<Mutex<Option<Waker>>>,
}

impl Future for Probe {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.polls.fetch_add(1, Ordering::SeqCst);
        *self.waker.lock().unwrap() = Some(cx.waker().clone());
        if self.stop.load(Ordering::SeqCst) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn the_requesting_thread_polls_and_later_wake_ups_reach_the_task() {
    let _serial = serial();
    let rt = runtime();
    let polls = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let waker = Arc::new(Mutex::new(None::<Waker>));
    let probe = Probe {
        polls: polls.clone(),
        stop: stop.clone(),
        waker: waker.clone(),
    };
    let (drive, task) = Drive::new(probe);
    let (first, polled) = std::sync::mpsc::channel();
    let handle = rt.spawn(async move {
        let mut task = std::pin::pin!(task);
        futures_util::future::poll_fn(|cx| {
            let r = task.as_mut().poll(cx);
            let _ = first.send(());
            r
        })
        .await
    });
    polled.recv_timeout(Duration::from_secs(5)).unwrap();
    // A request from a thread in the runtime but outside its tasks: the wake-up it causes is
    // taken by this thread's own poll, and the task is not polled for it.
    let before = polls.load(Ordering::SeqCst);
    let _guard = rt.enter();
    let w = waker.clone();
    drive.queue_and_poll(move || w.lock().unwrap().as_ref().unwrap().wake_by_ref());
    assert_eq!(polls.load(Ordering::SeqCst), before + 1);
    assert!(polled.try_recv().is_err(), "the task was woken for it");
    // A wake-up with nobody polling inline goes to the task.
    stop.store(true, Ordering::SeqCst);
    waker.lock().unwrap().as_ref().unwrap().wake_by_ref();
    rt.block_on(async { tokio::time::timeout(Duration::from_secs(5), handle).await })
        .expect("the task never finished")
        .unwrap();
}

#[test]
fn inside_a_task_a_request_is_only_queued() {
    let _serial = serial();
    let rt = runtime();
    let polls = Arc::new(AtomicUsize::new(0));
    let probe = Probe {
        polls: polls.clone(),
        stop: Arc::new(AtomicBool::new(false)),
        waker: Arc::new(Mutex::new(None)),
    };
    let (drive, _task) = Drive::new(probe);
    let queued = rt
        .block_on(rt.spawn(async move {
            let mut queued = false;
            drive.queue_and_poll(|| queued = true);
            queued
        }))
        .unwrap();
    assert!(queued);
    assert_eq!(polls.load(Ordering::SeqCst), 0, "polled inside a task");
}

/// Round after round, one thread queues an item through `queue_and_poll` while another sends
/// one plainly (waking the task, which then competes for the future), and then both stop: a
/// wake-up lost in that race leaves an item unread for good.
#[test]
fn no_wake_up_is_lost_between_callers_and_the_task() {
    let _serial = serial();
    const ROUNDS: usize = 20_000;
    let rt = runtime();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let read = Arc::new(AtomicUsize::new(0));
    let counted = read.clone();
    let (drive, task) = Drive::new(async move {
        while rx.recv().await.is_some() {
            counted.fetch_add(1, Ordering::SeqCst);
        }
    });
    rt.spawn(task);
    let start = Arc::new(std::sync::Barrier::new(2));
    let plain = {
        let (tx, start) = (tx.clone(), start.clone());
        std::thread::spawn(move || {
            for _ in 0..ROUNDS {
                start.wait();
                tx.send(()).unwrap();
                start.wait();
            }
        })
    };
    let _guard = rt.enter();
    for round in 1..=ROUNDS {
        start.wait();
        drive.queue_and_poll(|| tx.send(()).unwrap());
        start.wait();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while read.load(Ordering::SeqCst) < 2 * round {
            assert!(
                std::time::Instant::now() < deadline,
                "round {round}: an item was left unread (a wake-up was lost)"
            );
            std::thread::yield_now();
        }
    }
    plain.join().unwrap();
}

/// Blocking registrations made on a plain thread, a millisecond apart (as a daemon's calls come,
/// and so that the worker has gone back to sleep before each): their requests leave in that
/// thread's own writes, so the worker writes none of them and sleeps once per call (until the
/// answer), not twice (until it is handed the request, and again until the answer). Counted by
/// the kernel per thread.
#[test]
fn a_blocking_call_does_not_hand_its_request_to_the_worker() {
    let _serial = serial();
    let zk = Zk::standalone();
    let r = Registry::open(Some(&zk.connect), Options::default()).expect("open");
    r.set_node("/drive/warm", "{}").unwrap();
    let worker = worker_tid();
    let (sleeps_before, writes_before) = (sleeps(worker), writes(worker));
    const N: u64 = 100;
    for i in 0..N {
        std::thread::sleep(Duration::from_millis(1));
        r.set_node(&format!("/drive/n{i}"), "{}").unwrap();
    }
    let slept = sleeps(worker) - sleeps_before;
    let wrote = writes(worker) - writes_before;
    assert!(
        slept < N * 3 / 2 && wrote < N / 2,
        "for {N} calls the worker went to sleep {slept} times and made {wrote} writes"
    );
    r.close();
}

/// The library runtime's worker thread.
fn worker_tid() -> i32 {
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let task = task.unwrap().path();
        if std::fs::read_to_string(task.join("comm")).unwrap().trim() == "ndsr-zk" {
            return task.file_name().unwrap().to_str().unwrap().parse().unwrap();
        }
    }
    panic!("no ndsr-zk thread");
}

/// A counter of thread `tid` from `/proc/self/task/<tid>/<file>`.
fn counter(tid: i32, file: &str, key: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/self/task/{tid}/{file}")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// How many times thread `tid` has gone to sleep (its voluntary context switches).
fn sleeps(tid: i32) -> u64 {
    counter(tid, "status", "voluntary_ctxt_switches:")
}

/// How many write system calls thread `tid` has made.
fn writes(tid: i32) -> u64 {
    counter(tid, "io", "syscw:")
}
