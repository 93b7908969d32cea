//! The cache file: last known documents on disk, so that a process starting while ZooKeeper is
//! unreachable still finds its services.
//!
//! Format (versioned JSON, never a language-specific serialisation):
//! `{"format":"ndsr-cache","version":2,"ensembles":{"<servers>/<chroot>":{"/svc":{"saved_ms":…,
//! "document":{…}}}}}`. Entries are kept per ensemble and chroot (see `Ensemble::key`), so a
//! handle is never served what another ensemble or chroot saved for the same path. Writes merge
//! into what is there under an advisory lock (`flock` on `<file>.lock`), go to a temporary file
//! in the same directory (mode 0600), are fsynced and renamed over the file, so several
//! processes can share one file and a reader never sees half a file. A missing node and a node
//! with neither data nor children are not cached (an empty service list usually means trouble;
//! the last good one is kept). A dedicated thread does the writing, coalescing bursts.
//!
//! What is read is not trusted: only a regular file of bounded size, not a symlink, owned by
//! this user (or root) and writable by no one else, in a directory no one else may write (as
//! `ssh` checks its files); each entry must have the document's exact shape. A file or entry
//! that fails is not used, with a warning.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;

use parking_lot::Mutex;
use serde_json::{json, Map, Value};

use crate::logging::Repeated;
use crate::session::now_ms;

const FORMAT: &str = "ndsr-cache";
const VERSION: u64 = 2;
/// A cache file larger than this is not read (a corrupt or hostile file must not eat memory).
const MAX_FILE: u64 = 256 * 1024 * 1024;
/// The keys of a stat, in the document's order.
const STAT_KEYS: [&str; 11] = [
    "czxid",
    "mzxid",
    "ctime",
    "mtime",
    "version",
    "cversion",
    "aversion",
    "ephemeralOwner",
    "dataLength",
    "numChildren",
    "pzxid",
];

enum Msg {
    Save(String, String),
    Flush(mpsc::Sender<()>),
}

/// One handle's view of a cache file.
pub struct CacheFile {
    path: PathBuf,
    /// The ensemble and chroot whose entries this handle reads and writes.
    key: String,
    tx: Mutex<Option<mpsc::Sender<Msg>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// A file that cannot be used is reported once in a while, not at every lookup.
    refused: Repeated,
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

/// Decoded node data: `null` or an object.
fn is_data(v: &Value) -> bool {
    v.is_null() || v.is_object()
}

/// Whether `doc` has exactly the shape of the document of `p`.
fn valid_document(p: &str, doc: &Value) -> bool {
    let Some(doc) = doc.as_object() else {
        return false;
    };
    let stat_ok = match doc.get("stat") {
        Some(Value::Null) => true,
        Some(Value::Object(stat)) => {
            stat.len() == STAT_KEYS.len()
                && STAT_KEYS
                    .iter()
                    .all(|k| stat.get(*k).is_some_and(|v| v.as_i64().is_some()))
        }
        _ => false,
    };
    doc.len() == 4
        && doc.get("path").and_then(Value::as_str) == Some(p)
        && stat_ok
        && doc.get("data").is_some_and(is_data)
        && doc
            .get("children")
            .and_then(Value::as_object)
            .is_some_and(|c| c.values().all(is_data))
}

/// The entry for `p`, if it has the right shape.
fn valid_entry(p: &str, entry: &Value) -> Option<Cached> {
    let saved_ms = entry.get("saved_ms")?.as_i64()?;
    let doc = entry.get("document")?;
    valid_document(p, doc).then(|| Cached {
        saved_ms,
        json: doc.to_string(),
    })
}

/// The file's entries, by ensemble key: `Ok(None)` if there is no file.
fn read_file(path: &Path) -> std::io::Result<Option<Map<String, Value>>> {
    let (f, meta) = match crate::files::open_regular(path, MAX_FILE, false) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if let Some(why) = crate::files::untrusted(path, &meta) {
        return Err(std::io::Error::other(format!("not trusted: {why}")));
    }
    let text = crate::files::read_at_most(f, MAX_FILE)?;
    let v: Value = serde_json::from_slice(&text).map_err(std::io::Error::other)?;
    if v["format"] != FORMAT || v["version"] != VERSION {
        return Err(std::io::Error::other(format!(
            "not an ndsr cache file of version {VERSION}"
        )));
    }
    match v.get("ensembles") {
        Some(Value::Object(all)) => Ok(Some(all.clone())),
        _ => Err(std::io::Error::other(
            "cache file has no \"ensembles\" object",
        )),
    }
}

/// Reads the entries of ensemble `key` (nothing if the file is missing; an error if it cannot
/// be used). Entries of the wrong shape are left out.
pub fn load(path: &Path, key: &str) -> std::io::Result<HashMap<String, Cached>> {
    let Some(mut all) = read_file(path)? else {
        return Ok(HashMap::new());
    };
    let Some(Value::Object(paths)) = all.remove(key) else {
        return Ok(HashMap::new());
    };
    Ok(paths
        .iter()
        .filter_map(|(p, e)| valid_entry(p, e).map(|c| (p.clone(), c)))
        .collect())
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
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(lock)?;
        if !f.metadata()?.file_type().is_file() {
            return Err(std::io::Error::other("its lock file is not a regular file"));
        }
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

/// Merges `updates` (path -> document JSON) into the entries of ensemble `key`, atomically.
fn merge(path: &Path, key: &str, updates: &HashMap<String, String>) -> std::io::Result<()> {
    let _lock = FileLock::take(path)?;
    let mut all = read_file(path).unwrap_or_else(|e| {
        log::warn!("cache file {}: {e}; starting it afresh", path.display());
        None
    });
    let all = all.get_or_insert_with(Map::new);
    let paths = all
        .entry(key.to_string())
        .or_insert_with(|| Value::Object(Map::new()));
    if !paths.is_object() {
        *paths = Value::Object(Map::new());
    }
    let now = now_ms();
    for (p, doc) in updates {
        if let (Ok(doc), Some(paths)) = (serde_json::from_str::<Value>(doc), paths.as_object_mut())
        {
            paths.insert(p.clone(), json!({"saved_ms": now, "document": doc}));
        }
    }
    let text =
        serde_json::to_vec(&json!({"format": FORMAT, "version": VERSION, "ensembles": all}))?;
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
    /// Starts the writer thread for `path`, for the entries of ensemble `key`.
    pub fn open(path: PathBuf, key: String) -> std::io::Result<CacheFile> {
        let (tx, rx) = mpsc::channel::<Msg>();
        let (file, file_key) = (path.clone(), key.clone());
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
                        if let Err(e) = merge(&file, &file_key, &pending) {
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
            key,
            tx: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
            refused: Repeated::default(),
        })
    }

    /// The entry for `p`, if the file has one that can be used.
    pub fn lookup(&self, p: &str) -> Option<Cached> {
        match load(&self.path, &self.key) {
            Ok(mut entries) => entries.remove(p),
            Err(e) => {
                if let Some(more) = self.refused.note() {
                    log::warn!("cache file {}: {e}; not used{more}", self.path.display());
                }
                None
            }
        }
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

    const DOC_A: &str = r#"{"path":"/a","stat":{"czxid":1,"mzxid":1,"ctime":1,"mtime":1,"version":0,"cversion":0,"aversion":0,"ephemeralOwner":0,"dataLength":0,"numChildren":0,"pzxid":1},"data":{"x":1},"children":{}}"#;

    #[test]
    fn merge_load_and_reject() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("cache.json");
        merge(
            &f,
            "zk:1",
            &HashMap::from([("/a".to_string(), DOC_A.to_string())]),
        )
        .unwrap();
        let doc_b = DOC_A.replace("/a", "/b");
        merge(&f, "zk:1", &HashMap::from([("/b".to_string(), doc_b)])).unwrap();
        merge(
            &f,
            "zk:2/r",
            &HashMap::from([("/a".to_string(), DOC_A.to_string())]),
        )
        .unwrap();
        let all = load(&f, "zk:1").unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(
            serde_json::from_str::<Value>(&all["/a"].json).unwrap()["data"]["x"],
            1
        );
        assert_eq!(load(&f, "zk:2/r").unwrap().len(), 1);
        assert!(load(&f, "zk:3").unwrap().is_empty());
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(&f).unwrap().permissions().mode() & 0o777,
            0o600
        );
        fs::write(&f, "not json").unwrap();
        assert!(load(&f, "zk:1").is_err());
        fs::write(&f, r#"{"format":"ndsr-cache","version":1,"paths":{}}"#).unwrap();
        assert!(load(&f, "zk:1").is_err());
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

    #[test]
    fn only_documents_of_the_right_shape() {
        let good: Value = serde_json::from_str(DOC_A).unwrap();
        assert!(valid_document("/a", &good));
        assert!(!valid_document("/b", &good), "another path's");
        let mut bad = good.clone();
        bad["stat"] = json!("a string");
        assert!(!valid_document("/a", &bad));
        let mut bad = good.clone();
        bad["data"] = json!([1, 2]);
        assert!(!valid_document("/a", &bad));
        let mut bad = good.clone();
        bad["extra"] = json!(1);
        assert!(!valid_document("/a", &bad));
        let mut bad = good.clone();
        bad["stat"]["version"] = json!("0");
        assert!(!valid_document("/a", &bad));
        let mut bad = good;
        bad["children"] = json!({"c": 3});
        assert!(!valid_document("/a", &bad));
    }
}
