//! libndsr: a service registry and dynamic-configuration library on Apache ZooKeeper, shipped as
//! a C library (`libndsr.so`, `include/ndsr.h`); this is its Rust API, which the C API wraps.
//!
//! ```no_run
//! use ndsr::{Options, Registry};
//!
//! let r = Registry::open(Some("zk1:2181,zk2:2181"), Options::default())?;
//! r.set_node("/services/web/host1:80", r#"{"weight":10}"#)?;     // ephemeral registration
//! let doc = r.get_json("/services/web")?;                         // cached and watched
//! let (sub, _) = r.on_change(
//!     "/services/web",
//!     ndsr::callback(|e| {
//!         if let ndsr::Event::Document { json, .. } = e {
//!             println!("{json}");
//!         }
//!     }),
//! )?;
//! r.off(sub)?;
//! r.close();
//! # Ok::<(), ndsr::Error>(())
//! ```
//!
//! Layout (one owner per concern; see README's Layout): `fork` (the handle callers hold, the
//! handle table, fork()), `core` (the coordinator), `registration`, `cache`, `events`, `lock`
//! (the parts), `session`, `zk`, `shared`, `runtime`, `logging` (what they share), `ffi` (the C
//! API, thin glue).

mod acl;
mod backoff;
mod cache;
mod codec;
mod core;
pub mod discovery;
mod dispatcher;
mod document;
mod ensemble;
mod events;
mod ffi;
mod files;
mod fork;
mod held;
mod limits;
mod lock;
mod logging;
mod memo;
mod options;
mod path;
mod reader;
mod registration;
mod runtime;
mod session;
mod shared;
mod stats;
pub mod status;
pub mod testing;
mod zk;

pub use crate::acl::Credentials;
pub use crate::document::Document;
pub use crate::events::subscription::{callback, Callback, Event, Handler};
pub use crate::fork::Registry;
pub use crate::lock::Lease;
pub use crate::logging::{set_log_sink, LogFn, LogHandlerFn, SinkFn};
pub use crate::options::Options;
pub use crate::path::validate as validate_path;
pub use crate::session::State;
pub use crate::status::{Applied, Error, Result, Status};
