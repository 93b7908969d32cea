//! The cache file: last known documents on disk, so that a process starting while ZooKeeper is
//! unreachable still finds its services.
//!
//! Format (versioned JSON, never a language-specific serialisation):
//! `{"format":"ndsr-cache","version":1,"paths":{"/svc":{"saved_ms":…,"document":{…}}}}`.
//! Writes merge into what is there under an advisory lock (`flock` on `<file>.lock`), go to a
//! temporary file in the same directory (mode 0600), are fsynced and renamed over the file, so
//! several processes can share one file and a reader never sees half a file. A missing node and
//! a node with neither data nor children are not cached (an empty service list usually means
//! trouble; the last good one is kept). A dedicated thread does the writing, coalescing bursts.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;

use parking_lot::Mutex;
use serde_json::{json, Map, Value};

use crate::session::now_ms;

const FORMAT: &str = "ndsr-cache";
const VERSION: u64 = 1;
/// A cache file larger than this is not read (a corrupt or hostile file must not eat memory).
const MAX_FILE: u64 = 256 * 1024 * 1024;

enum Msg {
    Save(String, String),
    Flush(mpsc::Sender<()>),
}

/// One handle's view of a cache file.
pub struct CacheFile {
    path: PathBuf,
    tx: Mutex<Option<mpsc::Sender<Msg>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// A cached document: when it was saved (Unix ms) and its JSON.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cached {
    /// When it was saved.
    pub saved_ms: i64,
    /// The document.
    pub json: String,
}

/// Whether a document is worth caching: the node exists and has data or children.
pub fn worth_caching(doc: &Value) -> bool {
    !doc["stat"].is_null()
        && (!doc["data"].is_null() || doc["children"].as_object().is_some_and(|c| !c.is_empty()))
}

fn read_file(path: &Path) -> std::io::Result<Option<Map<String, Value>>> {
    let mut f = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if f.metadata()?.len() > MAX_FILE {
        return Err(std::io::Error::other("cache file too large"));
    }
    let mut text = String::new();
    f.read_to_string(&mut text)?;
    let v: Value = serde_json::from_str(&text).map_err(std::io::Error::other)?;
    if v["format"] != FORMAT || v["version"] != VERSION {
        return Err(std::io::Error::other("not an ndsr cache file of version 1"));
    }
    match v.get("paths") {
        Some(Value::Object(paths)) => Ok(Some(paths.clone())),
        _ => Err(std::io::Error::other("cache file has no \"paths\" object")),
    }
}

/// Reads every entry of the file (nothing if it is missing or not a valid cache file).
pub fn load(path: &Path) -> HashMap<String, Cached> {
    let paths = match read_file(path) {
        Ok(Some(p)) => p,
        Ok(None) => return HashMap::new(),
        Err(e) => {
            log::warn!("cache file {}: {e}; not used", path.display());
            return HashMap::new();
        }
    };
    paths
        .into_iter()
        .filter_map(|(p, e)| {
            let doc = e.get("document")?;
            let ok = doc.get("path") == Some(&Value::from(p.as_str()))
                && doc.get("children").is_some_and(Value::is_object);
            ok.then(|| {
                (
                    p,
                    Cached {
                        saved_ms: e["saved_ms"].as_i64().unwrap_or(0),
                        json: doc.to_string(),
                    },
                )
            })
        })
        .collect()
}

struct FileLock(File);

impl FileLock {
    fn take(path: &Path) -> std::io::Result<FileLock> {
        let mut lock = path.as_os_str().to_owned();
        lock.push(".lock");
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(lock)?;
        // SAFETY: a valid descriptor; blocks until the other writer is done.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(FileLock(f))
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // SAFETY: a valid descriptor.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

/// Merges `updates` (path -> document JSON) into the file, atomically.
fn merge(path: &Path, updates: &HashMap<String, String>) -> std::io::Result<()> {
    let _lock = FileLock::take(path)?;
    let mut paths = read_file(path).unwrap_or_else(|e| {
        log::warn!("cache file {}: {e}; starting it afresh", path.display());
        None
    });
    let paths = paths.get_or_insert_with(Map::new);
    let now = now_ms();
    for (p, doc) in updates {
        if let Ok(doc) = serde_json::from_str::<Value>(doc) {
            paths.insert(p.clone(), json!({"saved_ms": now, "document": doc}));
        }
    }
    let text = serde_json::to_vec(&json!({"format": FORMAT, "version": VERSION, "paths": paths}))?;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.{}.tmp", std::process::id(), now));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(&text)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

impl CacheFile {
    /// Starts the writer thread for `path`.
    pub fn open(path: PathBuf) -> std::io::Result<CacheFile> {
        let (tx, rx) = mpsc::channel::<Msg>();
        let file = path.clone();
        let thread = std::thread::Builder::new()
            .name("ndsr-cache".into())
            .spawn(move || {
                let mut pending: HashMap<String, String> = HashMap::new();
                while let Ok(first) = rx.recv() {
                    let mut flushes = Vec::new();
                    // Take everything queued, so a burst of changes is one write.
                    for msg in std::iter::once(first).chain(rx.try_iter()) {
                        match msg {
                            Msg::Save(p, doc) => {
                                pending.insert(p, doc);
                            }
                            Msg::Flush(done) => flushes.push(done),
                        }
                    }
                    if !pending.is_empty() {
                        if let Err(e) = merge(&file, &pending) {
                            log::warn!("cache file {}: cannot write: {e}", file.display());
                        }
                        pending.clear();
                    }
                    for done in flushes {
                        let _ = done.send(());
                    }
                }
            })?;
        Ok(CacheFile {
            path,
            tx: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// The entry for `p`, if the file has one.
    pub fn lookup(&self, p: &str) -> Option<Cached> {
        load(&self.path).remove(p)
    }

    /// Queues a document for saving (if it is worth caching).
    pub fn save(&self, p: &str, doc_json: &str) {
        let worth = serde_json::from_str::<Value>(doc_json)
            .map(|v| worth_caching(&v))
            .unwrap_or(false);
        if let (true, Some(tx)) = (worth, &*self.tx.lock()) {
            let _ = tx.send(Msg::Save(p.to_string(), doc_json.to_string()));
        }
    }

    /// Waits until everything queued so far is written.
    pub fn flush(&self) {
        let (done, wait) = mpsc::channel();
        let sent = self
            .tx
            .lock()
            .as_ref()
            .map(|tx| tx.send(Msg::Flush(done)).is_ok())
            .unwrap_or(false);
        if sent {
            let _ = wait.recv();
        }
    }

    /// Writes what is queued and stops the writer.
    pub fn close(&self) {
        drop(self.tx.lock().take());
        if let Some(t) = self.thread.lock().take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_load_and_reject() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("cache.json");
        let doc = r#"{"path":"/a","stat":{"czxid":1},"data":{"x":1},"children":{}}"#;
        merge(&f, &HashMap::from([("/a".to_string(), doc.to_string())])).unwrap();
        let doc_b = r#"{"path":"/b","stat":{"czxid":2},"data":null,"children":{"c":null}}"#;
        merge(&f, &HashMap::from([("/b".to_string(), doc_b.to_string())])).unwrap();
        let all = load(&f);
        assert_eq!(all.len(), 2);
        assert_eq!(
            serde_json::from_str::<Value>(&all["/a"].json).unwrap()["data"]["x"],
            1
        );
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(&f).unwrap().permissions().mode() & 0o777,
            0o600
        );
        fs::write(&f, "not json").unwrap();
        assert!(load(&f).is_empty());
        fs::write(&f, r#"{"format":"ndsr-cache","version":99,"paths":{}}"#).unwrap();
        assert!(load(&f).is_empty());
        assert!(!worth_caching(
            &serde_json::json!({"stat":null,"data":{"a":1},"children":{}})
        ));
        assert!(!worth_caching(
            &serde_json::json!({"stat":{},"data":null,"children":{}})
        ));
        assert!(worth_caching(
            &serde_json::json!({"stat":{},"data":null,"children":{"x":null}})
        ));
    }
}
