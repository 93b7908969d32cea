//! Every ZooKeeper request the library makes goes through [`Zk`], which counts it by kind, so
//! that tests and benchmarks can check what a change costs.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

use zookeeper_client::{Client, CreateOptions, OneshotWatcher, Stat};

/// Requests issued by one handle, by kind.
#[derive(Debug, Default)]
pub struct Counters {
    get_data: AtomicU64,
    get_children: AtomicU64,
    exists: AtomicU64,
    create: AtomicU64,
    set_data: AtomicU64,
    delete: AtomicU64,
}

/// A copy of [`Counters`] at one moment.
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
}

impl RequestCounts {
    /// All reads.
    pub fn reads(&self) -> u64 {
        self.get_data + self.get_children + self.exists
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
        }
    }
}

impl Counters {
    /// A snapshot of the counts.
    pub fn snapshot(&self) -> RequestCounts {
        RequestCounts {
            get_data: self.get_data.load(Ordering::Relaxed),
            get_children: self.get_children.load(Ordering::Relaxed),
            exists: self.exists.load(Ordering::Relaxed),
            create: self.create.load(Ordering::Relaxed),
            set_data: self.set_data.load(Ordering::Relaxed),
            delete: self.delete.load(Ordering::Relaxed),
        }
    }
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

type ZkResult<T> = Result<T, zookeeper_client::Error>;

/// A client plus the counters of the handle that uses it. Each method issues its request when
/// called (the crate orders requests at future creation), so several calls made before
/// awaiting are pipelined.
#[derive(Clone, Copy)]
pub struct Zk<'a> {
    /// The session's client.
    pub client: &'a Client,
    /// Where requests are counted.
    pub counters: &'a Counters,
}

impl<'a> Zk<'a> {
    /// getData with a watch.
    pub fn get_and_watch_data(
        &self,
        path: &str,
    ) -> impl Future<Output = ZkResult<(Vec<u8>, Stat, OneshotWatcher)>> + Send + 'a {
        bump(&self.counters.get_data);
        self.client.get_and_watch_data(path)
    }

    /// getData without a watch.
    pub fn get_data(
        &self,
        path: &str,
    ) -> impl Future<Output = ZkResult<(Vec<u8>, Stat)>> + Send + 'a {
        bump(&self.counters.get_data);
        self.client.get_data(path)
    }

    /// getChildren2 with a watch.
    pub fn get_and_watch_children(
        &self,
        path: &str,
    ) -> impl Future<Output = ZkResult<(Vec<String>, Stat, OneshotWatcher)>> + Send + 'a {
        bump(&self.counters.get_children);
        self.client.get_and_watch_children(path)
    }

    /// exists with a watch.
    pub fn check_and_watch_stat(
        &self,
        path: &str,
    ) -> impl Future<Output = ZkResult<(Option<Stat>, OneshotWatcher)>> + Send + 'a {
        bump(&self.counters.exists);
        self.client.check_and_watch_stat(path)
    }

    /// create.
    pub fn create<'p>(
        &self,
        path: &'p str,
        data: &[u8],
        options: &CreateOptions<'_>,
    ) -> impl Future<Output = ZkResult<Stat>> + Send + 'p
    where
        'a: 'p,
    {
        bump(&self.counters.create);
        let fut = self.client.create(path, data, options);
        async move { fut.await.map(|(stat, _)| stat) }
    }

    /// create of a sequential node; returns the name the server gave it (the last path segment).
    pub fn create_sequential<'p>(
        &self,
        path: &'p str,
        data: &[u8],
        options: &CreateOptions<'_>,
    ) -> impl Future<Output = ZkResult<String>> + Send + 'p
    where
        'a: 'p,
    {
        bump(&self.counters.create);
        let fut = self.client.create(path, data, options);
        let name = path.rsplit('/').next().unwrap_or_default().to_string();
        async move { fut.await.map(|(_, seq)| format!("{name}{seq}")) }
    }

    /// getChildren without a watch.
    pub fn get_children(
        &self,
        path: &str,
    ) -> impl Future<Output = ZkResult<Vec<String>>> + Send + 'a {
        bump(&self.counters.get_children);
        self.client.list_children(path)
    }

    /// exists without a watch.
    pub fn exists(&self, path: &str) -> impl Future<Output = ZkResult<Option<Stat>>> + Send + 'a {
        bump(&self.counters.exists);
        self.client.check_stat(path)
    }

    /// setData.
    pub fn set_data(
        &self,
        path: &str,
        data: &[u8],
        version: Option<i32>,
    ) -> impl Future<Output = ZkResult<Stat>> + Send + 'a {
        bump(&self.counters.set_data);
        self.client.set_data(path, data, version)
    }

    /// delete.
    pub fn delete(
        &self,
        path: &str,
        version: Option<i32>,
    ) -> impl Future<Output = ZkResult<()>> + Send + 'a {
        bump(&self.counters.delete);
        self.client.delete(path, version)
    }
}
