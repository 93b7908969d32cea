//! Events: the callbacks of a handle. Subscriptions (`subscription`) and the one thread that
//! runs every callback (`dispatcher`); this module makes subscriptions, keeps the connection
//! state subscribers, and forwards every state transition to them. Document subscribers are
//! kept by the watched path they follow (see `cache`).

pub(crate) mod subscription;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;

use self::subscription::{Callback, Delivered, Form, StatsSource, Subscription};
use crate::dispatcher::Submitter;
use crate::session::State;
use crate::shared::Shared;
use crate::status::{Error, Result};

/// State subscriptions, each with the sequence number of the state it was first given.
type StateSubs = Mutex<Vec<(Arc<Subscription>, u64)>>;

/// The subscriptions of a handle that are not kept by a path: the connection state ones.
pub struct Events {
    shared: Arc<Shared>,
    next_id: AtomicU64,
    states: Arc<StateSubs>,
    /// Stats subscriptions (see [`Events::on_stats`]).
    stats: Mutex<Vec<Arc<Subscription>>>,
}

impl Events {
    /// Events whose subscription ids start at `next_id`; the returned future forwards state
    /// transitions, and is to be spawned with the handle's tasks.
    pub fn new(
        shared: Arc<Shared>,
        next_id: u64,
    ) -> (Events, impl std::future::Future<Output = ()>) {
        let states: Arc<StateSubs> = Arc::default();
        let transitions = shared.session.subscribe_transitions();
        let forward = forward_states(states.clone(), shared.clone(), transitions);
        let events = Events {
            shared,
            next_id: AtomicU64::new(next_id),
            states,
            stats: Mutex::default(),
        };
        (events, forward)
    }

    /// A new subscription with a fresh id, given documents in `form`.
    pub fn subscription(&self, form: Form, callback: Callback) -> Arc<Subscription> {
        Subscription::new(self.next_id.fetch_add(1, Ordering::SeqCst), form, callback)
    }

    /// The next subscription id (a forked child goes on from it).
    pub fn next_id(&self) -> u64 {
        self.next_id.load(Ordering::SeqCst)
    }

    /// Calls `callback` with the connection state now and after every change.
    pub fn on_state(&self, callback: Callback) -> Result<u64> {
        let sub = self.subscription(Form::Document, callback);
        let id = sub.id;
        let mut subs = self.states.lock();
        if self.shared.is_closed() {
            // Close collects the state subscribers under this lock after setting the flag.
            drop(subs);
            self.retire(sub);
            return Err(Error::closed());
        }
        let (seq, state) = self.shared.session.state_with_seq();
        sub.deliver_state(&self.shared.dispatcher, state);
        subs.push((sub, seq));
        Ok(id)
    }

    /// Calls `callback` with the stats `source` makes every `interval`, on the callback thread.
    /// Not carried into a forked child.
    pub fn on_stats(
        &self,
        interval: Duration,
        callback: Callback,
        source: StatsSource,
    ) -> Result<u64> {
        let sub = self.subscription(Form::Document, callback);
        let id = sub.id;
        let Some(later) = self.shared.dispatcher.submitter() else {
            self.retire(sub);
            return Err(Error::closed());
        };
        let mut subs = self.stats.lock();
        if self.shared.is_closed() {
            drop(subs);
            self.retire(sub);
            return Err(Error::closed());
        }
        let ticks = tick_stats(Arc::downgrade(&sub), later, interval, source);
        self.shared.tasks.spawn(ticks);
        subs.push(sub);
        Ok(id)
    }

    /// Removes the state or stats subscription `id`, if it is one.
    pub fn off_own(&self, id: u64) -> Option<Arc<Subscription>> {
        let mut subs = self.states.lock();
        if let Some(i) = subs.iter().position(|(s, _)| s.id == id) {
            return Some(subs.remove(i).0);
        }
        drop(subs);
        let mut stats = self.stats.lock();
        let i = stats.iter().position(|s| s.id == id)?;
        Some(stats.remove(i))
    }

    /// Ends `sub`: no call starts after this, and it is released on the callback thread after
    /// its last call.
    pub fn retire(&self, sub: Arc<Subscription>) {
        sub.retire(&self.shared.dispatcher);
    }

    /// Removes every state and stats subscriber (on close).
    pub fn take_own(&self) -> Vec<Arc<Subscription>> {
        let mut subs: Vec<Arc<Subscription>> = std::mem::take(&mut *self.states.lock())
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        subs.append(&mut self.stats.lock());
        subs
    }

    /// What a forked child takes over: the state subscriptions with what each was given last.
    pub(crate) fn carry(&self) -> Vec<(Arc<Subscription>, Delivered)> {
        let subs = self.states.lock();
        subs.iter()
            .map(|(s, _)| (s.clone(), s.last_delivered()))
            .collect()
    }

    /// In a forked child: the parent's state subscriptions, as the child's own copies.
    pub(crate) fn inherit(&self, carried: &[(Arc<Subscription>, Delivered)]) {
        for (sub, last) in carried {
            let sub = sub.for_child(last.clone());
            let (seq, state) = self.shared.session.state_with_seq();
            sub.deliver_state(&self.shared.dispatcher, state);
            self.states.lock().push((sub, seq));
        }
    }
}

/// Every `interval`, queues a stats call for `sub` until it ends.
async fn tick_stats(
    sub: Weak<Subscription>,
    later: Submitter,
    interval: Duration,
    source: StatsSource,
) {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match sub.upgrade() {
            Some(sub) if !sub.is_cancelled() => sub.deliver_stats(&later, source.clone()),
            _ => return,
        }
    }
}

/// Delivers every state transition to the state subscribers. It holds what it needs, never the
/// handle, so that the handle is never dropped (and closed) on a runtime thread.
async fn forward_states(
    subs: Arc<StateSubs>,
    shared: Arc<Shared>,
    mut states: tokio::sync::broadcast::Receiver<(u64, State)>,
) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        let (seq, state) = match states.recv().await {
            Ok(t) => t,
            // Fell behind by hundreds of transitions: report where things stand now.
            Err(RecvError::Lagged(_)) => shared.session.state_with_seq(),
            Err(RecvError::Closed) => return,
        };
        let subs = subs.lock();
        // A subscriber that joined after this transition was given the state then already.
        for (sub, _) in subs.iter().filter(|(_, since)| seq > *since) {
            sub.deliver_state(&shared.dispatcher, state);
        }
    }
}
