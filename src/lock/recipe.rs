//! Global locks and semaphores, in the ZooKeeper layout of kazoo's `Semaphore` (which the Python
//! original uses), so that Python and libndsr processes exclude each other:
//!
//! - `PATH` holds the number of holders allowed (`"1"`), as text;
//! - each holder has an ephemeral child `PATH/<uuid hex>` whose data is its name;
//! - contenders queue on the kazoo lock `PATH-__lock__`: ephemeral sequential children
//!   `<uuid hex>__lock__<10-digit sequence>`; the lowest sequence may take a lease.
//!
//! Unlike the original, which made one attempt and then only polled, a waiter takes the lock as
//! soon as a holder lets go within the wait time.

use std::time::Duration;

use tokio::time::Instant;
use zookeeper_client::{Acl, Acls, CreateMode};

use crate::path;
use crate::session::Session;
use crate::status::{is_connection_error, Error, Result, Status};
use crate::zk::{Counters, Zk};

type ZkResult<T> = std::result::Result<T, zookeeper_client::Error>;

/// A lock (a semaphore with `simultaneous` holders) on one path.
#[derive(Debug)]
pub struct LockSpec {
    /// The lock path.
    pub path: String,
    /// The holder's name, stored in its lease node ("" for none).
    pub name: String,
    /// How many holders at once (1 = a mutex).
    pub simultaneous: u32,
}

/// A lease we hold: its node and the session generation it lives in.
#[derive(Clone, Debug)]
pub struct Lease {
    /// `PATH/<uuid hex>`.
    pub node: String,
    /// The session generation holding it; the lease died with that session.
    pub generation: u64,
}

fn zk_err(e: zookeeper_client::Error, p: &str) -> Error {
    Error::from_zk(&e, p)
}

/// Creates `p` (persistent, with `acls`, as kazoo's ensure_path does) with its missing
/// ancestors. Ok(true) if it was created here.
async fn ensure(zk: &Zk<'_>, p: &str, data: &[u8], acls: &[Acl]) -> ZkResult<bool> {
    let options = CreateMode::Persistent.with_acls(Acls::new(acls));
    loop {
        match zk.create(p, data, &options).await {
            Ok(_) => return Ok(true),
            Err(zookeeper_client::Error::NodeExists) => return Ok(false),
            Err(zookeeper_client::Error::NoNode) => {
                let parent = path::parent(p);
                if parent == "/" {
                    return Err(zookeeper_client::Error::NoNode);
                }
                Box::pin(ensure(zk, parent, &[], acls)).await?;
            }
            Err(e) => return Err(e),
        }
    }
}

/// The sequence part of a kazoo lock contender's name (`…__lock__0000000042`).
fn contender_sequence(name: &str) -> Option<&str> {
    let i = name.rfind("__lock__")?;
    let seq = &name[i + "__lock__".len()..];
    let digits = seq.strip_prefix('-').unwrap_or(seq);
    (digits.len() == 10 && digits.bytes().all(|b| b.is_ascii_digit())).then_some(seq)
}

/// The contender just before `ours` (kazoo compares the sequences as strings), if any.
fn predecessor<'a>(children: &'a [String], ours: &str) -> Option<&'a str> {
    let mine = contender_sequence(ours)?;
    children
        .iter()
        .filter_map(|c| contender_sequence(c).map(|s| (s, c.as_str())))
        .filter(|(s, _)| *s < mine)
        .max_by(|a, b| a.0.cmp(b.0))
        .map(|(_, c)| c)
}

async fn wait_or_deadline(watcher: zookeeper_client::OneshotWatcher, deadline: Instant) -> bool {
    tokio::time::timeout_at(deadline, watcher.changed())
        .await
        .is_ok()
}

/// After a guard create whose reply was lost: the guard may exist, and would queue every
/// contender behind it until our session ends. It is found by our id (as kazoo does) and
/// removed, as long as the session lives and the deadline allows.
async fn remove_lost_guard(
    session: &Session,
    counters: &Counters,
    generation: u64,
    guard_dir: &str,
    id: &str,
    deadline: Instant,
) {
    let ours = format!("{id}__lock__");
    let cleanup = async {
        while let Some(gen) = session.wait_connected().await {
            if gen.id != generation {
                return; // a new session: the old one's ephemeral guard is gone with it
            }
            let zk = Zk::new(&gen.client, counters);
            // Whether the connection failed on the way (then look again).
            let lost = match zk.get_children(guard_dir).await {
                Ok(children) => {
                    let mut lost = false;
                    for c in children.iter().filter(|c| c.starts_with(&ours)) {
                        match zk.delete(&path::join(guard_dir, c), None).await {
                            Err(e) if is_connection_error(&e) => lost = true,
                            _ => log::info!(
                                "{guard_dir}/{c}: removed a lock guard whose create reply was lost"
                            ),
                        }
                    }
                    lost
                }
                Err(e) => is_connection_error(&e),
            };
            if !lost {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let _ =
        tokio::time::timeout_at(deadline.max(Instant::now() + session.timeout()), cleanup).await;
}

/// The semaphore node carries the number of holders: made if missing; a different number is a
/// mistake that must not be papered over (kazoo raises "Inconsistent max leases").
async fn check_semaphore(zk: &Zk<'_>, spec: &LockSpec, acls: &[Acl]) -> Result<()> {
    let p = spec.path.as_str();
    let max = spec.simultaneous.to_string();
    if ensure(zk, p, max.as_bytes(), acls)
        .await
        .map_err(|e| zk_err(e, p))?
    {
        return Ok(());
    }
    let (data, _) = zk.get_data(p).await.map_err(|e| zk_err(e, p))?;
    match String::from_utf8_lossy(&data).trim().parse::<i64>() {
        Ok(n) if n != spec.simultaneous as i64 => Err(Error::new(
            Status::InvalidArgument,
            format!(
                "{p}: inconsistent max leases: the lock allows {n} holders, not {}",
                spec.simultaneous
            ),
        )),
        _ => Ok(()),
    }
}

/// A contender's place in the queue: its guard node `name` in `dir`, under the id `id`.
struct Contender {
    id: String,
    dir: String,
    name: String,
}

/// Joins the queue: an ephemeral sequential guard node under `PATH-__lock__`. A guard whose
/// create reply was lost is found by our id and removed (see [`remove_lost_guard`]).
async fn enqueue(
    zk: &Zk<'_>,
    session: &Session,
    generation: u64,
    spec: &LockSpec,
    deadline: Instant,
    acls: &[Acl],
) -> Result<Contender> {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let dir = format!("{}-__lock__", spec.path);
    ensure(zk, &dir, &[], acls)
        .await
        .map_err(|e| zk_err(e, &dir))?;
    let prefix = path::join(&dir, &format!("{id}__lock__"));
    let options = CreateMode::EphemeralSequential.with_acls(Acls::new(acls));
    match zk
        .create_sequential(&prefix, spec.name.as_bytes(), &options)
        .await
    {
        Ok(name) => Ok(Contender { id, dir, name }),
        Err(e) => {
            if is_connection_error(&e) {
                remove_lost_guard(session, zk.counters, generation, &dir, &id, deadline).await;
            }
            Err(zk_err(e, &dir))
        }
    }
}

/// How long a contender waits for the one before it in the queue even when its own wait is
/// shorter (`--wait 0`), while a lease is free: that one holds its guard only while it takes a
/// free lease (a round trip or two). Contention for the guard alone is not "the lock is taken".
const GUARD_GRACE: Duration = Duration::from_secs(2);

/// Waits in the queue until no contender is before us: false if the deadline came first (or,
/// while a lease is free, [`GUARD_GRACE`] after it).
async fn wait_turn(
    zk: &Zk<'_>,
    spec: &LockSpec,
    c: &Contender,
    deadline: Instant,
) -> ZkResult<bool> {
    loop {
        let children = zk.get_children(&c.dir).await?;
        let Some(pred) = predecessor(&children, &c.name) else {
            return Ok(true);
        };
        let (stat, watcher) = zk.check_and_watch_stat(&path::join(&c.dir, pred)).await?;
        if stat.is_none() {
            continue;
        }
        let free = match zk.get_children(&spec.path).await {
            Ok(leases) => leases.len() < spec.simultaneous as usize,
            Err(zookeeper_client::Error::NoNode) => true,
            Err(e) => return Err(e),
        };
        let until = match free {
            true => deadline.max(Instant::now() + GUARD_GRACE),
            false => deadline,
        };
        if !wait_or_deadline(watcher, until).await {
            return Ok(false);
        }
    }
}

/// At the head of the queue: takes the lease `lease` once fewer than `simultaneous` are taken;
/// false if the deadline came first.
async fn take_lease(
    zk: &Zk<'_>,
    spec: &LockSpec,
    lease: &str,
    deadline: Instant,
    acls: &[Acl],
) -> ZkResult<bool> {
    loop {
        let (children, _, watcher) = zk.get_and_watch_children(&spec.path).await?;
        if children.len() < spec.simultaneous as usize {
            let options = CreateMode::Ephemeral.with_acls(Acls::new(acls));
            return match zk.create(lease, spec.name.as_bytes(), &options).await {
                Ok(_) | Err(zookeeper_client::Error::NodeExists) => Ok(true),
                Err(e) => Err(e),
            };
        }
        if !wait_or_deadline(watcher, deadline).await {
            return Ok(false);
        }
    }
}

/// Acquires `spec` on the current session, waiting until `deadline` for a holder to let go.
/// `NDSR_E_TIMEOUT` if the lock was not had in time (nothing is left behind).
pub async fn acquire(
    session: &Session,
    counters: &Counters,
    spec: &LockSpec,
    deadline: Instant,
    acls: &[Acl],
) -> Result<Lease> {
    if spec.simultaneous == 0 {
        return Err(Error::invalid("simultaneous must be at least 1"));
    }
    let remaining = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1));
    let gen = session
        .connected_within(remaining.min(session.timeout()))
        .await?;
    let zk = Zk::new(&gen.client, counters);
    check_semaphore(&zk, spec, acls).await?;
    let contender = enqueue(&zk, session, gen.id, spec, deadline, acls).await?;
    let lease = path::join(&spec.path, &contender.id);
    let result = match wait_turn(&zk, spec, &contender, deadline).await {
        Ok(true) => take_lease(&zk, spec, &lease, deadline, acls).await,
        other => other,
    };
    // The guard is only for queueing: let the next contender in.
    let _ = zk
        .delete(&path::join(&contender.dir, &contender.name), None)
        .await;
    match result {
        Ok(true) => Ok(Lease {
            node: lease,
            generation: gen.id,
        }),
        Ok(false) => Err(Error::new(
            Status::Timeout,
            format!("{}: lock not acquired within the wait time", spec.path),
        )),
        Err(e) => {
            // A lost reply may have created the lease: never leave one behind on failure.
            if is_connection_error(&e) {
                let _ = zk.delete(&lease, None).await;
            }
            Err(zk_err(e, &spec.path))
        }
    }
}

/// Releases a lease (a lease of a dead session is gone already).
pub async fn release(session: &Session, counters: &Counters, lease: &Lease) -> Result<()> {
    let Some(gen) = session.current().filter(|g| g.id == lease.generation) else {
        return Ok(());
    };
    let zk = Zk::new(&gen.client, counters);
    match zk.delete(&lease.node, None).await {
        Ok(()) | Err(zookeeper_client::Error::NoNode) => Ok(()),
        Err(e) => Err(zk_err(e, &lease.node)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kazoo_contender_order() {
        let kids: Vec<String> = [
            "a__lock__0000000003",
            "b__lock__0000000001",
            "junk",
            "c__lock__0000000007",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            predecessor(&kids, "c__lock__0000000007"),
            Some("a__lock__0000000003")
        );
        assert_eq!(
            predecessor(&kids, "a__lock__0000000003"),
            Some("b__lock__0000000001")
        );
        assert_eq!(predecessor(&kids, "b__lock__0000000001"), None);
        assert_eq!(contender_sequence("x__lock__123"), None);
    }
}
