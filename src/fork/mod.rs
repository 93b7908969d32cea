//! fork() support, in one place, at the top of the module graph. A child process must never use
//! its parent's connection: the socket is shared with the parent (a close from the child would
//! end the parent's session), and the threads that served it do not exist in the child.
//!
//! - `table`: the one table of open handles, by number (C callers' `ndsr_t *`), which the fork
//!   hooks walk too;
//! - `registry`: [`Registry`], the handle as callers hold it. Before a fork, with every thread
//!   still running, each handle records what a child would take over (its watches,
//!   subscriptions and credentials) and the global locks a child needs are taken, so that no
//!   thread holds them at the fork; in the parent afterwards, the locks are released and the
//!   records dropped; in the child, the locks are released and the fork generation goes up.
//!   That is all: a child of a threaded process may only do async-signal-safe work there. Each
//!   handle then rebuilds itself at the child's first call to it (or `ndsr_rebuild`), with its
//!   own runtime, session and callback thread: an explicit step of every call, whose failure is
//!   the call's error.

mod registry;
mod table;

pub use self::registry::Registry;
