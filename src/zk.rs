//! Every ZooKeeper request the library makes goes through [`Zk`], which counts it by kind (so
//! that tests and benchmarks can check what a change costs) and, when the handle has a rate
//! limit, admits it through the handle's token bucket first.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;
use zookeeper_client::{
    AddWatchMode, Client, CreateOptions, MultiReadResult, OneshotWatcher, PersistentWatcher, Stat,
};

/// The answer of an exists-with-watch already sent, to be awaited later, possibly by another
/// task.
pub type StatWatch = Pin<
    Box<
        dyn Future<Output = Result<(Option<Stat>, OneshotWatcher), zookeeper_client::Error>> + Send,
    >,
>;

/// A token bucket: up to `burst` requests at once, refilled at `per_sec` a second. Requests
/// wait their turn in order (the mutex is fair).
#[derive(Debug)]
pub struct RateLimiter {
    burst: f64,
    per_sec: f64,
    state: tokio::sync::Mutex<(f64, Instant)>,
}

impl RateLimiter {
    /// A full bucket.
    pub fn new(burst: u32, per_sec: f64) -> RateLimiter {
        RateLimiter {
            burst: burst as f64,
            per_sec,
            state: tokio::sync::Mutex::new((burst as f64, Instant::now())),
        }
    }

    /// Waits for a token.
    pub async fn acquire(&self) {
        let mut st = self.state.lock().await;
        let refill = |st: &mut (f64, Instant)| {
            let now = Instant::now();
            st.0 = (st.0 + (now - st.1).as_secs_f64() * self.per_sec).min(self.burst);
            st.1 = now;
        };
        refill(&mut st);
        if st.0 < 1.0 {
            let wait = Duration::from_secs_f64((1.0 - st.0) / self.per_sec);
            tokio::time::sleep(wait).await;
            refill(&mut st);
        }
        st.0 -= 1.0;
    }
}

/// Requests issued by one handle, by kind, and the handle's rate limit.
#[derive(Debug, Default)]
pub struct Counters {
    limiter: Option<RateLimiter>,
    get_data: AtomicU64,
    get_children: AtomicU64,
    exists: AtomicU64,
    create: AtomicU64,
    set_data: AtomicU64,
    delete: AtomicU64,
    add_watch: AtomicU64,
    set_watches: AtomicU64,
    multi_read: AtomicU64,
    /// What else the handle's parts count for its stats (see [`Activity`]).
    events: AtomicU64,
    reregistrations: AtomicU64,
    conflicts: AtomicU64,
    limited: AtomicU64,
    limited_us: AtomicU64,
    /// When the last write was admitted: microseconds since `EPOCH`.
    last_write_us: AtomicU64,
}

/// The origin of `Counters::last_write_us`.
static EPOCH: once_cell::sync::Lazy<Instant> = once_cell::sync::Lazy::new(Instant::now);

fn since_epoch_us() -> u64 {
    EPOCH.elapsed().as_micros() as u64
}

/// The requests a handle has issued, by kind, at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RequestCounts {
    /// getData requests (node and child data reads).
    pub get_data: u64,
    /// getChildren requests.
    pub get_children: u64,
    /// exists requests.
    pub exists: u64,
    /// create requests.
    pub create: u64,
    /// setData requests.
    pub set_data: u64,
    /// delete requests.
    pub delete: u64,
    /// addWatch requests (a persistent recursive watch per watched path and session).
    pub add_watch: u64,
    /// SetWatches probes (what changed while disconnected, see `cache::resync`).
    pub set_watches: u64,
    /// Multi-read requests (many children's data in one request, see `Zk::get_data_of_many`).
    pub multi_read: u64,
}

impl RequestCounts {
    /// All reads (watch requests included: the server answers them from its tree too).
    pub fn reads(&self) -> u64 {
        self.get_data
            + self.get_children
            + self.exists
            + self.add_watch
            + self.set_watches
            + self.multi_read
    }

    /// All writes.
    pub fn writes(&self) -> u64 {
        self.create + self.set_data + self.delete
    }

    /// The difference `self - earlier`.
    pub fn since(&self, earlier: &RequestCounts) -> RequestCounts {
        RequestCounts {
            get_data: self.get_data - earlier.get_data,
            get_children: self.get_children - earlier.get_children,
            exists: self.exists - earlier.exists,
            create: self.create - earlier.create,
            set_data: self.set_data - earlier.set_data,
            delete: self.delete - earlier.delete,
            add_watch: self.add_watch - earlier.add_watch,
            set_watches: self.set_watches - earlier.set_watches,
            multi_read: self.multi_read - earlier.multi_read,
        }
    }
}

/// What a handle's parts counted besides requests, at one moment (see `ndsr_stats_json`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Activity {
    /// Watch events the cache took (a persistent watch's or a one-shot watch's).
    pub events: u64,
    /// Registrations made again on a new session (after an expiry).
    pub reregistrations: u64,
    /// Times a registration found another session's node in its way.
    pub conflicts: u64,
    /// Requests the rate limit held back, and for how long in all.
    pub limited: u64,
    pub limited_us: u64,
}

impl Counters {
    /// Counters for a handle with an optional rate limit.
    pub fn new(limiter: Option<RateLimiter>) -> Counters {
        Counters {
            limiter,
            ..Counters::default()
        }
    }

    /// Counts one request of kind `which`, after the rate limit (if any) admits it.
    async fn admit(&self, which: &AtomicU64) {
        if let Some(l) = &self.limiter {
            let asked = Instant::now();
            l.acquire().await;
            let waited = asked.elapsed();
            if waited >= Duration::from_micros(100) {
                self.limited.fetch_add(1, Ordering::Relaxed);
                self.limited_us
                    .fetch_add(waited.as_micros() as u64, Ordering::Relaxed);
            }
        }
        which.fetch_add(1, Ordering::Relaxed);
    }

    /// The cache took a watch event.
    pub fn note_event(&self) {
        self.events.fetch_add(1, Ordering::Relaxed);
    }

    /// A registration is being made again on a new session.
    pub fn note_reregistration(&self) {
        self.reregistrations.fetch_add(1, Ordering::Relaxed);
    }

    /// A registration found another session's node in its way.
    pub fn note_conflict(&self) {
        self.conflicts.fetch_add(1, Ordering::Relaxed);
    }

    /// What was counted besides requests.
    pub fn activity(&self) -> Activity {
        Activity {
            events: self.events.load(Ordering::Relaxed),
            reregistrations: self.reregistrations.load(Ordering::Relaxed),
            conflicts: self.conflicts.load(Ordering::Relaxed),
            limited: self.limited.load(Ordering::Relaxed),
            limited_us: self.limited_us.load(Ordering::Relaxed),
        }
    }

    /// Counts one write, and notes when it was made (see [`Counters::writes_pause`]).
    async fn admit_write(&self, which: &AtomicU64) {
        self.admit(which).await;
        self.last_write_us
            .fetch_max(since_epoch_us(), Ordering::Relaxed);
    }

    /// Returns once no write has been made for `quiet`, or after `at_most`.
    pub async fn writes_pause(&self, quiet: Duration, at_most: Duration) {
        let deadline = Instant::now() + at_most;
        loop {
            let last = *EPOCH + Duration::from_micros(self.last_write_us.load(Ordering::Relaxed));
            let due = (last + quiet).min(deadline);
            if Instant::now() >= due {
                return;
            }
            tokio::time::sleep_until(due).await;
        }
    }

    /// A snapshot of the counts.
    pub fn snapshot(&self) -> RequestCounts {
        RequestCounts {
            get_data: self.get_data.load(Ordering::Relaxed),
            get_children: self.get_children.load(Ordering::Relaxed),
            exists: self.exists.load(Ordering::Relaxed),
            create: self.create.load(Ordering::Relaxed),
            set_data: self.set_data.load(Ordering::Relaxed),
            delete: self.delete.load(Ordering::Relaxed),
            add_watch: self.add_watch.load(Ordering::Relaxed),
            set_watches: self.set_watches.load(Ordering::Relaxed),
            multi_read: self.multi_read.load(Ordering::Relaxed),
        }
    }
}

type ZkResult<T> = Result<T, zookeeper_client::Error>;

/// Whether an error is about the request as a whole rather than its node.
fn is_whole_request_error(e: &zookeeper_client::Error) -> bool {
    !matches!(
        e,
        zookeeper_client::Error::NoNode | zookeeper_client::Error::NoAuth
    )
}

/// The lists of a SetWatches2 probe (see [`Zk::probe_watches`]).
#[derive(Default)]
pub struct Probe<'a> {
    /// Nodes whose data or deletion since the zxid is asked for.
    pub data: Vec<&'a str>,
    /// Nodes whose creation is asked for.
    pub exist: Vec<&'a str>,
    /// Nodes whose children's creation or deletion since the zxid is asked for.
    pub child: Vec<&'a str>,
    /// Nodes whose persistent recursive watch is (re-)added, after the others.
    pub recursive: Vec<&'a str>,
}

impl Probe<'_> {
    /// The request's size, near enough.
    pub fn bytes(&self) -> usize {
        [&self.data, &self.exist, &self.child, &self.recursive]
            .iter()
            .flat_map(|l| l.iter())
            .map(|p| p.len() + 4)
            .sum()
    }
}

/// A client plus the counters (and rate limit) of the handle that uses it. A request is sent when
/// its future is first polled; `join!`/`join_all` poll in order, so requests made together are
/// pipelined in order.
#[derive(Clone, Copy)]
pub struct Zk<'a> {
    /// The session's client.
    pub client: &'a Client,
    /// Where requests are counted.
    pub counters: &'a Counters,
}

impl<'a> Zk<'a> {
    /// Requests on `client`, counted (and rate-limited) by `counters`.
    pub fn new(client: &'a Client, counters: &'a Counters) -> Zk<'a> {
        Zk { client, counters }
    }

    /// getData with a watch.
    pub async fn get_and_watch_data(
        &self,
        path: &str,
    ) -> ZkResult<(Vec<u8>, Stat, OneshotWatcher)> {
        self.counters.admit(&self.counters.get_data).await;
        self.client.get_and_watch_data(path).await
    }

    /// getData without a watch.
    pub async fn get_data(&self, path: &str) -> ZkResult<(Vec<u8>, Stat)> {
        self.counters.admit(&self.counters.get_data).await;
        self.client.get_data(path).await
    }

    /// The data of each of `paths` in one request, no watch: one result per path, in order
    /// (`NoNode` for a node gone, `NoAuth` for one not readable). Two paths or more make a
    /// multi-read (ZooKeeper 3.6+).
    pub async fn get_data_of_many(
        &self,
        paths: &[String],
    ) -> ZkResult<Vec<ZkResult<(Vec<u8>, Stat)>>> {
        if let [one] = paths {
            return match self.get_data(one).await {
                Err(e) if is_whole_request_error(&e) => Err(e),
                answer => Ok(vec![answer]),
            };
        }
        let mut reader = self.client.new_multi_reader();
        for p in paths {
            reader.add_get_data(p)?;
        }
        self.counters.admit(&self.counters.multi_read).await;
        let results = match reader.commit().await {
            // The answer passed the client's reply limit (children with large data): one
            // request per path instead, each of which fits.
            Err(zookeeper_client::Error::MarshallingError) => {
                let each = paths.iter().map(|p| self.get_data(p));
                return Ok(futures_util::future::join_all(each).await);
            }
            r => r?,
        };
        Ok(results
            .into_iter()
            .map(|r| match r {
                MultiReadResult::Data { data, stat } => Ok((data, stat)),
                MultiReadResult::Error { err } => Err(err),
                MultiReadResult::Children { .. } => Err(zookeeper_client::Error::UnexpectedError(
                    "a multi-read of data answered with a listing".into(),
                )),
                _ => Err(zookeeper_client::Error::UnexpectedError(
                    "an unknown multi-read result".into(),
                )),
            })
            .collect())
    }

    /// getChildren2 with a watch.
    pub async fn get_and_watch_children(
        &self,
        path: &str,
    ) -> ZkResult<(Vec<String>, Stat, OneshotWatcher)> {
        self.counters.admit(&self.counters.get_children).await;
        self.client.get_and_watch_children(path).await
    }

    /// getChildren without a watch.
    pub async fn get_children(&self, path: &str) -> ZkResult<Vec<String>> {
        self.counters.admit(&self.counters.get_children).await;
        self.client.list_children(path).await
    }

    /// getChildren2 without a watch: the names and the node's stat.
    pub async fn get_children_and_stat(&self, path: &str) -> ZkResult<(Vec<String>, Stat)> {
        self.counters.admit(&self.counters.get_children).await;
        self.client.get_children(path).await
    }

    /// addWatch in persistent recursive mode.
    pub async fn watch_recursively(&self, path: &str) -> ZkResult<PersistentWatcher> {
        self.counters.admit(&self.counters.add_watch).await;
        self.client
            .watch(path, AddWatchMode::PersistentRecursive)
            .await
    }

    /// SetWatches2 probe: events for what changed after `zxid` (see `Client::probe_watches` in
    /// the vendored crate).
    pub async fn probe_watches(&self, zxid: i64, probe: &Probe<'_>) -> ZkResult<()> {
        self.counters.admit(&self.counters.set_watches).await;
        self.client
            .probe_watches(
                zxid,
                &probe.data,
                &probe.exist,
                &probe.child,
                &probe.recursive,
            )
            .await
    }

    /// exists with a watch.
    pub async fn check_and_watch_stat(
        &self,
        path: &str,
    ) -> ZkResult<(Option<Stat>, OneshotWatcher)> {
        self.counters.admit(&self.counters.exists).await;
        self.client.check_and_watch_stat(path).await
    }

    /// exists with a watch, sent now; the answer is awaited by whoever gets the returned future.
    pub async fn send_check_and_watch_stat(&self, path: &str) -> StatWatch {
        self.counters.admit(&self.counters.exists).await;
        Box::pin(self.client.check_and_watch_stat_detached(path))
    }

    /// create.
    pub async fn create(
        &self,
        path: &str,
        data: &[u8],
        options: &CreateOptions<'_>,
    ) -> ZkResult<Stat> {
        self.counters.admit_write(&self.counters.create).await;
        self.client
            .create(path, data, options)
            .await
            .map(|(stat, _)| stat)
    }

    /// create of a sequential node; returns the name the server gave it (the last segment).
    pub async fn create_sequential(
        &self,
        path: &str,
        data: &[u8],
        options: &CreateOptions<'_>,
    ) -> ZkResult<String> {
        self.counters.admit_write(&self.counters.create).await;
        let (_, seq) = self.client.create(path, data, options).await?;
        Ok(format!(
            "{}{seq}",
            path.rsplit('/').next().unwrap_or_default()
        ))
    }

    /// setData.
    pub async fn set_data(&self, path: &str, data: &[u8], version: Option<i32>) -> ZkResult<Stat> {
        self.counters.admit_write(&self.counters.set_data).await;
        self.client.set_data(path, data, version).await
    }

    /// delete.
    pub async fn delete(&self, path: &str, version: Option<i32>) -> ZkResult<()> {
        self.counters.admit_write(&self.counters.delete).await;
        self.client.delete(path, version).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn bucket_allows_a_burst_then_the_rate() {
        let l = RateLimiter::new(5, 10.0);
        let start = Instant::now();
        for _ in 0..5 {
            l.acquire().await;
        }
        assert_eq!(Instant::now(), start, "the burst is free");
        for _ in 0..10 {
            l.acquire().await;
        }
        let took = Instant::now() - start;
        assert!(
            took >= Duration::from_millis(990) && took <= Duration::from_millis(1010),
            "{took:?}"
        );
    }
}
