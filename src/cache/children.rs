//! What both watch engines keep of a path's children, and how they make its document.

use std::sync::Arc;

use compact_str::CompactString;
use zookeeper_client::Stat;

use crate::codec;
use crate::document::{Builder, Document, Span};

/// A child's value (its data as JSON): where it sits in the last document, or, when read since,
/// its own text until the next document is made. The document is the only full copy.
pub(super) enum ChildJson {
    InDoc(Span),
    Own(Box<str>),
    /// Listed but not readable by this handle (its ACL): left out of the document, and read
    /// again when it changes.
    Unreadable,
}

impl ChildJson {
    /// The value of data read from ZooKeeper.
    pub fn read(raw: &[u8]) -> ChildJson {
        ChildJson::Own(decoded_json(raw).into())
    }

    fn len(&self) -> usize {
        match self {
            ChildJson::InDoc(span) => span.len(),
            ChildJson::Own(s) => s.len(),
            ChildJson::Unreadable => 0,
        }
    }
}

/// ZooKeeper data as the JSON a document holds.
pub(super) fn decoded_json(raw: &[u8]) -> String {
    codec::decode(raw).to_string()
}

/// Makes the document of `path` from its state; children's values then point into it (`prev`
/// is the document they pointed into until now).
pub(super) fn render(
    path: &str,
    prev: Option<&Document>,
    stat: Option<&Stat>,
    data: &str,
    mut children: Vec<(&CompactString, &mut ChildJson)>,
) -> Arc<Document> {
    let prev_json = prev.map_or("", |d| d.json());
    let size: usize = children.iter().map(|(k, c)| k.len() + c.len() + 4).sum();
    let data = if data.is_empty() { "null" } else { data };
    let mut b = Builder::new(path, stat, data, size, children.len());
    for (name, c) in children.iter_mut() {
        let value = match &**c {
            ChildJson::InDoc(span) => span.get(prev_json),
            ChildJson::Own(s) => s,
            ChildJson::Unreadable => continue,
        };
        **c = ChildJson::InDoc(b.child(name, value));
    }
    Arc::new(b.finish())
}
