//! Discovery: a service's children read as instances (`instance`), and pickers that choose one
//! for a request (`picker`) with the down-instance policy (`down`). Reads only: it uses the
//! cache's documents and never writes.

pub mod down;
pub mod instance;
pub mod picker;

pub use instance::{instances, Instance, InstanceState};
pub use picker::{Picker, PickerOptions, Strategy};

use crate::document::Document;

/// How many instances of `doc` its own data lets be picked.
pub fn usable_count(doc: &Document) -> usize {
    instances(doc).0.iter().filter(|i| i.usable()).count()
}
