//! The library's private tokio runtime. Callers never see async: the C functions block on
//! futures here with a bounded time, and background work (session supervision, watches) runs
//! on the runtime's single worker.

use std::future::Future;

use once_cell::sync::Lazy;
use tokio::runtime::Runtime;

thread_local! {
    static ON_WORKER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

static RT: Lazy<Runtime> = Lazy::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("ndsr-zk")
        .on_thread_start(|| ON_WORKER.with(|w| w.set(true)))
        .enable_all()
        .build()
        .expect("ndsr: cannot start the tokio runtime")
});

/// Runs `fut` to completion on the calling thread. When the caller is itself inside a tokio
/// runtime (a Rust program using the rlib from async code), `block_on` would panic, so the
/// future is driven from a scoped helper thread instead.
pub fn block_on<F>(fut: F) -> F::Output
where
    F: Future + Send,
    F::Output: Send,
{
    if tokio::runtime::Handle::try_current().is_ok() {
        std::thread::scope(|s| {
            s.spawn(|| RT.block_on(fut))
                .join()
                .expect("ndsr: helper thread panicked")
        })
    } else {
        RT.block_on(fut)
    }
}

/// True on one of the library runtime's own threads.
pub fn on_worker() -> bool {
    ON_WORKER.with(|w| w.get())
}

/// Spawns a background task on the library's runtime.
pub fn spawn<F>(fut: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    RT.spawn(fut)
}
