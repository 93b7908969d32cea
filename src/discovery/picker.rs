//! Pickers: choose one instance of a service for a request, from the cache's current document,
//! without a lock or an allocation on the common path.
//!
//! A picker keeps a table made from one document (the usable instances after the `state` rule
//! and the filter, and what its strategy needs) and rebuilds it when the cache replaces that
//! document (`Document::is_superseded`, one atomic load per pick) or a handle is closed (the
//! memo's epoch).

use std::ffi::CStr;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use parking_lot::Mutex;
use rustc_hash::FxHashSet;

use super::down::{Down, DownPolicy, Ejections};
use super::instance::instance;
use crate::document::Document;
use crate::memo;
use crate::status::{Error, Result, Status};

/// How a picker chooses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// Uniformly at random.
    Random,
    /// Each usable instance in turn.
    RoundRobin,
    /// Smooth weighted round-robin by the instances' `weight`.
    Weighted,
    /// The same key to the same instance (rendezvous hashing); removing an instance moves only
    /// its keys.
    Consistent,
}

/// A picker's settings (`ndsr_picker_new`'s options).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PickerOptions {
    pub strategy: Strategy,
    /// `key=value` matches on instance data, all required.
    pub filter: Vec<(String, String)>,
    pub down: DownPolicy,
    /// When more than this share (percent) of the usable instances is ejected, ejections are
    /// ignored: better a failing server than none.
    pub panic_percent: u32,
}

impl Default for PickerOptions {
    fn default() -> Self {
        PickerOptions {
            strategy: Strategy::RoundRobin,
            filter: Vec::new(),
            down: DownPolicy {
                errors: 0,
                window: Duration::from_secs(10),
                down: Duration::from_secs(30),
            },
            panic_percent: 50,
        }
    }
}

/// The option keys of a picker.
pub const KEYS: [&str; 6] = [
    "strategy",
    "filter",
    "down_errors",
    "down_window_ms",
    "down_ms",
    "panic_percent",
];

impl PickerOptions {
    /// Sets `key` (one of [`KEYS`]) from its text.
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let number = |max: u64| -> Result<u64> {
            value
                .parse::<u64>()
                .ok()
                .filter(|n| *n <= max)
                .ok_or_else(|| {
                    Error::invalid(format!("{key}: {value:?} is not a number up to {max}"))
                })
        };
        match key {
            "strategy" => self.strategy = strategy(value)?,
            "filter" => self.filter = filter(value)?,
            "down_errors" => self.down.errors = number(1_000)? as u32,
            "down_window_ms" => self.down.window = Duration::from_millis(number(86_400_000)?),
            "down_ms" => self.down.down = Duration::from_millis(number(86_400_000)?),
            "panic_percent" => self.panic_percent = number(100)? as u32,
            _ => return Err(Error::invalid(format!("unknown picker option {key:?}"))),
        }
        Ok(())
    }
}

fn strategy(value: &str) -> Result<Strategy> {
    Ok(match value {
        "random" => Strategy::Random,
        "round_robin" => Strategy::RoundRobin,
        "weighted" => Strategy::Weighted,
        "consistent" => Strategy::Consistent,
        _ => {
            return Err(Error::invalid(format!(
                "strategy: {value:?} is not random, round_robin, weighted or consistent"
            )))
        }
    })
}

fn filter(value: &str) -> Result<Vec<(String, String)>> {
    value
        .split(',')
        .filter(|part| !part.trim().is_empty())
        .map(|part| {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| Error::invalid(format!("filter: {part:?} is not key=value")))?;
            Ok((k.trim().to_string(), v.trim().to_string()))
        })
        .collect()
}

/// Buckets of the consistent strategy: a key goes to a bucket by its hash, a bucket to the
/// instance that wins its rendezvous (computed at the bucket's first use). Fixed, so that every
/// process maps a key alike whatever the number of instances.
const BUCKETS: usize = 16_384;
const UNSET: u16 = u16::MAX;
/// Entries of the weighted strategy's schedule at most (weights are scaled down beyond it).
const SCHEDULE: u64 = 4_096;

/// One usable instance in a table.
#[derive(Clone, Copy)]
struct Usable {
    /// Its child index in the table's document.
    index: usize,
    weight: u32,
    /// Its name's hash (consistent strategy).
    hash: u64,
}

/// What a picker picks from: one document's usable instances.
struct Table {
    doc: Arc<Document>,
    epoch: u64,
    /// Per child of the document: usable (with its weight and hash), or not.
    verdicts: Vec<Option<(u32, u64)>>,
    usable: Vec<Usable>,
    /// Weighted: the smooth weighted round-robin sequence (indexes into `usable`).
    schedule: Vec<u32>,
    /// Consistent: each bucket's instance, or UNSET.
    buckets: Box<[AtomicU16]>,
}

/// Where a picker gets a path's current document: the handle (see `fork::Registry`).
pub trait Documents: Send + Sync {
    /// The current document of `path` (read and watched on first use, within the timeout).
    fn current(&self, path: &str) -> Result<Arc<Document>>;
}

/// A picker of one service's instances.
pub struct Picker {
    documents: Arc<dyn Documents>,
    path: String,
    options: PickerOptions,
    table: ArcSwap<Table>,
    /// Round-robin and weighted position.
    next: AtomicUsize,
    down: Down,
    /// One rebuild at a time; the names already logged as not instances.
    rebuild: Mutex<FxHashSet<String>>,
}

impl Picker {
    /// A picker of the instances of `path` (read and watched, within the handle's timeout).
    pub fn new(
        documents: Arc<dyn Documents>,
        path: &str,
        options: PickerOptions,
    ) -> Result<Picker> {
        let epoch = memo::epoch();
        let doc = documents.current(path)?;
        let mut warned = FxHashSet::default();
        let table = build(doc, None, epoch, &options, path, &mut warned);
        Ok(Picker {
            documents,
            path: path.to_string(),
            down: Down::new(options.down),
            options,
            table: ArcSwap::from_pointee(table),
            next: AtomicUsize::new(0),
            rebuild: Mutex::new(warned),
        })
    }

    /// Picks an instance and calls `f` with its name (`host:port`), borrowed for the call.
    /// `key` is required by the consistent strategy and ignored by the others.
    /// `NDSR_E_NOT_FOUND` when no instance is usable.
    pub fn pick<R>(&self, key: Option<&[u8]>, f: impl FnOnce(&CStr) -> R) -> Result<R> {
        let mut table = self.table.load();
        if table.epoch != memo::epoch() || table.doc.is_superseded() {
            self.refresh()?;
            table = self.table.load();
        }
        let n = table.usable.len();
        if n == 0 {
            return Err(Error::new(
                Status::NotFound,
                format!("{}: no usable instance", self.path),
            ));
        }
        let ejections = self.down.ejections();
        let ejected = ejections.as_ref().filter(|e| !self.panicking(&table, e));
        let skip = |u: usize| ejected.is_some_and(|e| e.contains(name_of(&table, u)));
        let chosen = match self.options.strategy {
            Strategy::Random => first_from(fastrand::usize(..n), n, skip),
            Strategy::RoundRobin => first_from(self.next.fetch_add(1, Ordering::Relaxed), n, skip),
            Strategy::Weighted => {
                let s = &table.schedule;
                let start = self.next.fetch_add(1, Ordering::Relaxed);
                (0..s.len())
                    .map(|k| s[(start + k) % s.len()] as usize)
                    .find(|u| !skip(*u))
            }
            Strategy::Consistent => {
                let key = key.ok_or_else(|| {
                    Error::invalid("the consistent strategy needs a key (argument key is NULL)")
                })?;
                consistent(&table, key, skip)
            }
        };
        let u = chosen.ok_or_else(|| {
            Error::new(
                Status::NotFound,
                format!("{}: every usable instance is ejected", self.path),
            )
        })?;
        let name = table.doc.name(table.usable[u].index).unwrap_or_default();
        Ok(f(name))
    }

    /// Records the outcome of a request to `name` (the down-instance policy).
    pub fn report(&self, name: &str, ok: bool) {
        self.down.report(name, ok);
    }

    /// How many instances are usable now.
    pub fn usable(&self) -> Result<usize> {
        let table = self.table.load();
        if table.epoch != memo::epoch() || table.doc.is_superseded() {
            self.refresh()?;
        }
        Ok(self.table.load().usable.len())
    }

    /// Whether more than `panic_percent` of the table's instances are ejected.
    fn panicking(&self, table: &Table, ejections: &Ejections<'_>) -> bool {
        let n = table.usable.len();
        let out = (0..n)
            .filter(|u| ejections.contains(name_of(table, *u)))
            .count();
        out * 100 > n * self.options.panic_percent as usize
    }

    /// Rebuilds the table from the cache's current document.
    fn refresh(&self) -> Result<()> {
        let mut warned = self.rebuild.lock();
        let current = self.table.load();
        if current.epoch == memo::epoch() && !current.doc.is_superseded() {
            return Ok(()); // another thread rebuilt it
        }
        let epoch = memo::epoch();
        let doc = self.documents.current(&self.path)?;
        let table = build(
            doc,
            Some(&current),
            epoch,
            &self.options,
            &self.path,
            &mut warned,
        );
        self.table.store(Arc::new(table));
        Ok(())
    }
}

fn name_of(table: &Table, u: usize) -> &str {
    table
        .doc
        .name_str(table.usable[u].index)
        .unwrap_or_default()
}

/// The first of `n` positions from `start` (wrapping) not skipped.
fn first_from(start: usize, n: usize, skip: impl Fn(usize) -> bool) -> Option<usize> {
    (0..n).map(|k| (start + k) % n).find(|u| !skip(*u))
}

/// The table of `doc` for a picker with `options`. A child unchanged since `prev` (same name,
/// same data) keeps its verdict, so a change costs the parsing of what changed only. Children
/// that are not instances are logged once per picker.
fn build(
    doc: Arc<Document>,
    prev: Option<&Table>,
    epoch: u64,
    options: &PickerOptions,
    path: &str,
    warned: &mut FxHashSet<String>,
) -> Table {
    let mut j = 0;
    let verdicts: Vec<Option<(u32, u64)>> = (0..doc.count())
        .map(|i| {
            let name = doc.name_str(i).unwrap_or_default();
            if let Some(prev) = prev {
                while prev.doc.name_str(j).is_some_and(|n| n < name) {
                    j += 1;
                }
                let same = prev.doc.name_str(j) == Some(name)
                    && prev.doc.child_json(j) == doc.child_json(i);
                if same {
                    return prev.verdicts[j];
                }
            }
            verdict(&doc, i, options, path, warned)
        })
        .collect();
    let usable: Vec<Usable> = verdicts
        .iter()
        .enumerate()
        .filter_map(|(index, v)| {
            v.map(|(weight, hash)| Usable {
                index,
                weight,
                hash,
            })
        })
        .collect();
    let schedule = match options.strategy {
        Strategy::Weighted => smooth_weighted(&usable),
        _ => Vec::new(),
    };
    let buckets = match options.strategy {
        Strategy::Consistent => (0..BUCKETS).map(|_| AtomicU16::new(UNSET)).collect(),
        _ => Box::default(),
    };
    Table {
        doc,
        epoch,
        verdicts,
        usable,
        schedule,
        buckets,
    }
}

/// Whether child `i` may be picked: an instance, usable by its own data, and through the
/// filter; with its weight and its name's hash.
fn verdict(
    doc: &Document,
    i: usize,
    options: &PickerOptions,
    path: &str,
    warned: &mut FxHashSet<String>,
) -> Option<(u32, u64)> {
    let name = doc.name_str(i).unwrap_or_default();
    let Some(found) = instance(doc, i) else {
        if warned.len() < 1_000 && warned.insert(name.to_string()) {
            log::warn!("{path}: child {name:?} is not an instance (no host:port in its name or data); not picked");
        }
        return None;
    };
    (found.usable() && matches(doc, i, &options.filter))
        .then(|| (found.weight, hash(name.as_bytes())))
}

/// Whether child `i`'s data has every `key=value` of the filter (a string equal to the value,
/// or an integer written as it).
fn matches(doc: &Document, i: usize, filter: &[(String, String)]) -> bool {
    filter.iter().all(|(k, v)| {
        doc.child_str(i, k)
            .is_some_and(|s| s.to_bytes() == v.as_bytes())
            || doc.child_int(i, k).is_ok_and(|n| n.to_string() == *v)
    })
}

/// The smooth weighted round-robin sequence of `usable` (nginx's): each instance appears in
/// proportion to its weight, spread out rather than in runs.
fn smooth_weighted(usable: &[Usable]) -> Vec<u32> {
    let total: u64 = usable.iter().map(|u| u64::from(u.weight)).sum();
    let divisor = usable
        .iter()
        .map(|u| u64::from(u.weight))
        .fold(0, gcd)
        .max(1);
    let scale = |w: u32| -> i64 {
        let w = u64::from(w) / divisor;
        let reduced = total / divisor;
        (if reduced > SCHEDULE {
            (w * SCHEDULE / reduced).max(1)
        } else {
            w
        }) as i64
    };
    let weights: Vec<i64> = usable.iter().map(|u| scale(u.weight)).collect();
    let sum: i64 = weights.iter().sum();
    let mut current = vec![0i64; usable.len()];
    (0..sum)
        .map(|_| {
            for (c, w) in current.iter_mut().zip(&weights) {
                *c += w;
            }
            let best = (0..current.len())
                .max_by_key(|i| (current[*i], -(*i as i64)))
                .unwrap_or(0);
            current[best] -= sum;
            best as u32
        })
        .collect()
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// The instance for `key`: its bucket's rendezvous winner, or, when that one is ejected, the
/// best of the others for the key.
fn consistent(table: &Table, key: &[u8], skip: impl Fn(usize) -> bool) -> Option<usize> {
    let h = hash(key);
    let bucket = &table.buckets[(h % BUCKETS as u64) as usize];
    let mut u = bucket.load(Ordering::Relaxed);
    if u == UNSET || u as usize >= table.usable.len() {
        let seed = mix((h % BUCKETS as u64) ^ 0x9e37_79b9_7f4a_7c15);
        u = rendezvous(table, seed, |_| false)? as u16;
        if table.usable.len() < UNSET as usize {
            bucket.store(u, Ordering::Relaxed);
        }
    }
    match skip(u as usize) {
        false => Some(u as usize),
        true => rendezvous(table, mix(h), skip),
    }
}

/// The instance with the highest score for `seed`, among those not skipped.
fn rendezvous(table: &Table, seed: u64, skip: impl Fn(usize) -> bool) -> Option<usize> {
    (0..table.usable.len())
        .filter(|u| !skip(*u))
        .max_by_key(|u| mix(seed ^ table.usable[*u].hash))
}

/// FNV-1a, then `mix`: stable across processes and versions (every client of a fleet maps a
/// key alike).
pub fn hash(bytes: &[u8]) -> u64 {
    let fnv = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    });
    mix(fnv)
}

/// The splitmix64 finaliser.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usable(weights: &[u32]) -> Vec<Usable> {
        weights
            .iter()
            .enumerate()
            .map(|(i, w)| Usable {
                index: i,
                weight: *w,
                hash: hash(i.to_string().as_bytes()),
            })
            .collect()
    }

    #[test]
    fn smooth_weighted_spreads_in_proportion() {
        let s = smooth_weighted(&usable(&[5, 1, 1]));
        assert_eq!(s, [0, 0, 1, 0, 2, 0, 0]);
        let s = smooth_weighted(&usable(&[2, 4]));
        assert_eq!(s, [1, 0, 1], "reduced by the gcd");
        let s = smooth_weighted(&usable(&[1_000_000, 1]));
        assert!(
            s.len() as u64 <= SCHEDULE + 1 && s.contains(&1),
            "scaled, the light one kept"
        );
    }

    #[test]
    fn options_are_checked() {
        let mut o = PickerOptions::default();
        o.set("strategy", "weighted").unwrap();
        o.set("filter", "zone=eu-1, tier = a").unwrap();
        assert_eq!(
            o.filter,
            [("zone".into(), "eu-1".into()), ("tier".into(), "a".into())]
        );
        assert!(o.set("strategy", "fastest").is_err());
        assert!(o.set("filter", "zone").is_err());
        assert!(o.set("panic_percent", "101").is_err());
        assert!(o.set("timeout_ms", "1").is_err());
    }

    #[test]
    fn the_hash_is_stable() {
        // Fixed values: a change would remap every consistent key of a fleet.
        assert_eq!(hash(b""), mix(0xcbf2_9ce4_8422_2325));
        assert_eq!(hash(b"user-42"), 0x7a15_96f0_e94b_5793);
        assert_ne!(hash(b"user-42"), hash(b"user-43"));
    }
}
