//! One service's worker: a thread that runs the service's check every interval and keeps its
//! registration in step with HAProxy's rise and fall (registered after `rise` passes in a row,
//! removed after `fall` failures in a row), and drains it when told to stop: `state: draining`
//! for the grace period, then removal. A slow or hung check holds up only its own service.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Instant, SystemTime};

use ndsr::status::NDSR_E_CONFLICT;
use ndsr::{Applied, Registry};
use serde_json::Value;

use super::check::{seconds, Outcome};
use super::config::Service;
use super::status::{Board, Log};

/// Where a service's registration stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Not registered (not yet `rise` passes, or removed after `fall` failures).
    Down,
    /// Registered (or waiting for ZooKeeper to be registered).
    Up,
    /// Registered with `state: draining`, removed at the end of the grace period.
    Draining,
    /// ZooKeeper refused the registration (an ACL, say): not tried again until a reload.
    Refused,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Down => "down",
            Phase::Up => "registered",
            Phase::Draining => "draining",
            Phase::Refused => "refused",
        }
    }
}

/// A service's check results and registration.
#[derive(Clone, Debug)]
pub struct Health {
    pub phase: Phase,
    /// Passes or failures in a row (one of them is 0).
    pub passes: u32,
    pub failures: u32,
    pub last: Option<Outcome>,
    pub checked_at: Option<SystemTime>,
    /// When the phase began.
    pub since: SystemTime,
}

impl Health {
    pub fn down() -> Health {
        Health {
            phase: Phase::Down,
            passes: 0,
            failures: 0,
            last: None,
            checked_at: None,
            since: SystemTime::now(),
        }
    }

    /// Counts `outcome`; returns the phase the counts call for, if it is another.
    fn record(&mut self, outcome: Outcome, rise: u32, fall: u32) -> Option<Phase> {
        if outcome.ok {
            (self.passes, self.failures) = (self.passes + 1, 0);
        } else {
            (self.passes, self.failures) = (0, self.failures + 1);
        }
        self.last = Some(outcome);
        self.checked_at = Some(SystemTime::now());
        match self.phase {
            Phase::Down if self.passes >= rise => Some(Phase::Up),
            Phase::Up if self.failures >= fall => Some(Phase::Down),
            _ => None,
        }
    }

    fn enter(&mut self, phase: Phase) {
        self.phase = phase;
        self.since = SystemTime::now();
    }
}

/// What a worker is told.
enum Stop {
    /// Drain the registration and end.
    Drain,
    /// End the grace period of a drain now.
    Hurry,
    /// End, leaving the registration as it is, and hand the health back (a reload that
    /// changed the service but not its path).
    Handover,
}

/// What every worker shares: the session, the status board, the log.
#[derive(Clone)]
pub struct Shared {
    pub registry: Arc<Registry>,
    pub board: Arc<Board>,
    pub log: Log,
}

/// A running service.
pub struct Worker {
    pub service: Service,
    tx: Sender<Stop>,
    thread: JoinHandle<Health>,
}

impl Worker {
    /// Starts checking `service`, whose registration stands as `health` says.
    pub fn start(service: Service, health: Health, shared: Shared) -> std::io::Result<Worker> {
        let (tx, rx) = mpsc::channel();
        let s = service.clone();
        let thread = std::thread::Builder::new()
            .name(format!("check {}", service.name))
            .spawn(move || run(s, health, rx, shared))?;
        Ok(Worker {
            service,
            tx,
            thread,
        })
    }

    /// Starts draining (after the check running now, if any).
    pub fn drain(&self) {
        let _ = self.tx.send(Stop::Drain);
    }

    /// A handle that ends the worker's grace period early.
    pub fn hurry_handle(&self) -> impl Fn() + Send + 'static {
        let tx = self.tx.clone();
        move || {
            let _ = tx.send(Stop::Hurry);
        }
    }

    /// Stops the worker without touching its registration; its health.
    pub fn handover(self) -> Health {
        let _ = self.tx.send(Stop::Handover);
        self.join()
    }

    /// Waits for the worker to end.
    pub fn join(self) -> Health {
        self.thread.join().unwrap_or_else(|_| Health::down())
    }
}

fn run(s: Service, mut h: Health, rx: Receiver<Stop>, shared: Shared) -> Health {
    if h.phase == Phase::Up {
        // Taken over from a reload: the data may have changed.
        register(&s, &mut h, &shared);
    }
    loop {
        let started = Instant::now();
        let outcome = s.check.run(s.timeout);
        report_check(&s, &h, &outcome, &shared.log);
        if let Some(next) = h.record(outcome, s.rise, s.fall) {
            match next {
                Phase::Up => register(&s, &mut h, &shared),
                _ => remove(
                    &s,
                    &mut h,
                    &shared,
                    &format!("{} failures in a row", s.fall),
                    false,
                ),
            }
        }
        shared.board.update(&s, &h);
        match rx.recv_timeout(s.interval.saturating_sub(started.elapsed())) {
            Err(RecvTimeoutError::Timeout) | Ok(Stop::Hurry) => {}
            Ok(Stop::Handover) => return h,
            Ok(Stop::Drain) | Err(RecvTimeoutError::Disconnected) => {
                drain(&s, &mut h, &rx, &shared);
                return h;
            }
        }
    }
}

/// One log line when the check's verdict changes (and for the first result).
fn report_check(s: &Service, h: &Health, outcome: &Outcome, log: &Log) {
    if h.last.as_ref().map(|l| l.ok) == Some(outcome.ok) {
        return;
    }
    let what = s.check.describe();
    match outcome.ok {
        true => log.info(
            &s.name,
            &format!("check {what} passes ({})", outcome.detail),
        ),
        false => log.warn(&s.name, &format!("check {what} fails ({})", outcome.detail)),
    }
}

fn register(s: &Service, h: &mut Health, shared: &Shared) {
    let r = &shared.registry;
    match r.set_node(&s.path, &s.data) {
        Ok(applied) => {
            h.enter(Phase::Up);
            let note = match (applied, r.registration_status(&s.path)) {
                (_, Ok(NDSR_E_CONFLICT)) => "; held by another live session: taken when it ends",
                (Applied::Queued, _) => "; made once ZooKeeper is reached",
                _ => "",
            };
            let passes = match h.passes {
                1 => "1 pass".to_string(),
                n => format!("{n} passes"),
            };
            let line = format!("registered {} ({passes} in a row{note})", s.path);
            shared.log.info(&s.name, &line);
        }
        Err(e) => {
            h.enter(Phase::Refused);
            let text = format!(
                "{} refused: {} (not tried again until a reload)",
                s.path, e.message
            );
            shared.log.error(&s.name, &text);
        }
    }
}

/// Removes the registration; `planned` (a stop, not a failing check) is logged as news, not
/// as a warning.
fn remove(s: &Service, h: &mut Health, shared: &Shared, why: &str, planned: bool) {
    h.enter(Phase::Down);
    let line = format!("removed {} ({why})", s.path);
    match shared.registry.unset(&s.path) {
        Ok(_) if planned => shared.log.info(&s.name, &line),
        Ok(_) => shared.log.warn(&s.name, &line),
        Err(e) => shared
            .log
            .error(&s.name, &format!("{}: {}", s.path, e.message)),
    }
}

/// `state: draining` for the grace period (cut short by [`Stop::Hurry`]), then removal.
fn drain(s: &Service, h: &mut Health, rx: &Receiver<Stop>, shared: &Shared) {
    if h.phase == Phase::Up {
        match shared.registry.set_node(&s.path, &draining(&s.data)) {
            Ok(_) => {
                h.enter(Phase::Draining);
                shared.board.update(s, h);
                let grace = seconds(s.grace);
                shared
                    .log
                    .info(&s.name, &format!("draining {} for {grace}", s.path));
                let _ = rx.recv_timeout(s.grace);
            }
            Err(e) => shared.log.error(&s.name, &format!("drain: {}", e.message)),
        }
        remove(s, h, shared, "stopped", true);
    }
    shared.board.forget(&s.path);
}

/// The data with `state: draining` (the instance convention pickers skip).
fn draining(data: &str) -> String {
    let mut v: Value =
        serde_json::from_str(data).unwrap_or_else(|_| Value::Object(Default::default()));
    if let Value::Object(m) = &mut v {
        m.insert("state".into(), "draining".into());
    }
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(ok: bool) -> Outcome {
        Outcome {
            ok,
            detail: String::new(),
        }
    }

    #[test]
    fn rise_and_fall_count_in_a_row() {
        let mut h = Health::down();
        let mut step = |ok| h.record(outcome(ok), 2, 3);
        assert_eq!(step(true), None);
        assert_eq!(step(false), None, "a failure resets the passes");
        assert_eq!(step(true), None);
        assert_eq!(step(true), Some(Phase::Up));
        h.enter(Phase::Up);
        let mut step = |ok| h.record(outcome(ok), 2, 3);
        assert_eq!(step(false), None);
        assert_eq!(step(false), None);
        assert_eq!(step(true), None, "a pass resets the failures");
        assert_eq!(step(false), None);
        assert_eq!(step(false), None);
        assert_eq!(step(false), Some(Phase::Down));
    }
}
