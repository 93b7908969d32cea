//! A blocking call's request is written by the calling thread (vendored zookeeper-client,
//! `drive`): a thread outside the runtime's tasks polls the session's future itself, so the
//! worker is not woken to write its request, and no wake-up is lost when callers and the worker
//! poll the future in turn. (Its effect on W1 is measured by bench/: the process's context
//! switches per register.)
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use zookeeper_client::drive::Drive;

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
