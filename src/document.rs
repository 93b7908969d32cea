//! The document of a path, as the seed README shows it:
//! `{"path": …, "stat": {…}|null, "data": …, "children": {name: data}}`.
//!
//! A document is an immutable snapshot, made once per change: its compact JSON, and an index
//! into it (where the stat, the data and each child's value are; the children's names in name
//! order, each NUL-terminated for C). Readers borrow from it without a copy and without a JSON
//! parser (see `ndsr_snapshot_*`); a child's top-level keys are parsed only if asked for, once.

use std::ffi::CStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use serde_json::Value;
use zookeeper_client::Stat;

use crate::status::Status;

/// Where a value sits in the document's JSON.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    start: u32,
    len: u32,
}

impl Span {
    fn of(text: &str, from: usize) -> Span {
        Span {
            start: from as u32,
            len: (text.len() - from) as u32,
        }
    }

    /// The value in `text` (the JSON of the document it was made for).
    pub fn get<'a>(&self, text: &'a str) -> &'a str {
        &text[self.start as usize..(self.start + self.len) as usize]
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.len as usize
    }
}

/// One child: where its name starts in the names, and its value in the JSON.
#[derive(Clone, Copy, Debug)]
struct Child {
    name: u32,
    value: Span,
}

/// A child's top-level key's value, as the typed getters give it.
#[derive(Debug)]
enum Field {
    /// A string without a NUL, NUL-terminated for C.
    Str(std::ffi::CString),
    /// An integer that fits 64 bits.
    Int(i64),
    /// Anything else (a float, an object, a string holding a NUL, …).
    Other,
}

impl Field {
    /// The string, if it is one.
    #[inline(always)]
    fn as_str(&self) -> Option<&CStr> {
        match self {
            Field::Str(v) => Some(v),
            _ => None,
        }
    }

    /// The integer, if it is one.
    #[inline(always)]
    fn as_int(&self) -> Option<i64> {
        match self {
            Field::Int(v) => Some(*v),
            _ => None,
        }
    }
}

/// One top-level key of a child, with its value.
#[derive(Debug)]
struct Entry {
    /// The key's length and first four bytes (see [`key_tag`]): one compare rules out a
    /// different key of the object, most often settles a match.
    tag: u64,
    key: Box<[u8]>,
    value: Field,
}

impl Entry {
    /// Whether this is the entry of `key`, whose tag is `tag`.
    #[inline(always)]
    fn is(&self, key: &[u8], tag: u64) -> bool {
        self.tag == tag && (key.len() <= 4 || same_bytes(&self.key[4..], &key[4..]))
    }
}

/// A child's top-level keys with their values, in the data's order.
type Fields = Box<[Entry]>;

/// A key's length (low half) and first four bytes, zero-padded (high half).
#[inline(always)]
fn key_tag(key: &[u8]) -> u64 {
    let head = match key.first_chunk::<4>() {
        Some(head) => u32::from_le_bytes(*head),
        None => short_head(key),
    };
    (key.len() as u32 as u64) | (head as u64) << 32
}

/// The head of a key shorter than four bytes, zero-padded (no loop, no call to `memcpy`).
#[inline(always)]
fn short_head(key: &[u8]) -> u32 {
    match *key {
        [] => 0,
        [a] => u32::from(a),
        [a, b] => u32::from(a) | u32::from(b) << 8,
        [a, b, c, ..] => u32::from(a) | u32::from(b) << 8 | u32::from(c) << 16,
    }
}

/// A snapshot of one watched path: immutable, shared by reference count between the cache,
/// subscribers and readers.
#[derive(Debug)]
pub struct Document {
    /// The JSON, followed by a NUL (for C readers, who borrow it as a C string).
    json: String,
    path: Span,
    stat: Span,
    data: Span,
    children: Box<[Child]>,
    /// The children's names, each followed by a NUL.
    names: Box<[u8]>,
    /// Each child's parsed keys, made on first use.
    fields: OnceLock<Box<[OnceLock<Fields>]>>,
    /// Set once a newer document of the path replaced this one in the cache (see `memo`).
    superseded: AtomicBool,
}

impl PartialEq for Document {
    fn eq(&self, other: &Self) -> bool {
        self.json == other.json
    }
}

impl Eq for Document {}

/// `stat` as JSON, in the order the seed README uses.
pub fn stat_json(stat: &Stat) -> String {
    format!(
        "{{\"czxid\":{},\"mzxid\":{},\"ctime\":{},\"mtime\":{},\"version\":{},\"cversion\":{},\"aversion\":{},\"ephemeralOwner\":{},\"dataLength\":{},\"numChildren\":{},\"pzxid\":{}}}",
        stat.czxid,
        stat.mzxid,
        stat.ctime,
        stat.mtime,
        stat.version,
        stat.cversion,
        stat.aversion,
        stat.ephemeral_owner,
        stat.data_length,
        stat.num_children,
        stat.pzxid
    )
}

/// JSON text of a string.
pub fn json_string(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// Makes a document: the path, its stat and data, then its children in name order.
pub struct Builder {
    json: String,
    path: Span,
    stat: Span,
    data: Span,
    children: Vec<Child>,
    names: Vec<u8>,
}

impl Builder {
    /// A document of `path` with `stat` (None: the node does not exist) and `data` (JSON
    /// text), with room for about `size_hint` bytes of children and `count` children.
    pub fn new(
        path: &str,
        stat: Option<&Stat>,
        data: &str,
        size_hint: usize,
        count: usize,
    ) -> Builder {
        let mut json = String::with_capacity(256 + data.len() + size_hint);
        json.push_str("{\"path\":");
        let from = json.len();
        json.push_str(&json_string(path));
        let path = Span::of(&json, from);
        json.push_str(",\"stat\":");
        let from = json.len();
        match stat {
            Some(s) => json.push_str(&stat_json(s)),
            None => json.push_str("null"),
        }
        let stat = Span::of(&json, from);
        json.push_str(",\"data\":");
        let from = json.len();
        json.push_str(data);
        let data = Span::of(&json, from);
        json.push_str(",\"children\":{");
        Builder {
            json,
            path,
            stat,
            data,
            children: Vec::with_capacity(count),
            names: Vec::new(),
        }
    }

    /// Adds a child (names must come in order, each once), its value being JSON text; returns
    /// where the value sits in the document.
    pub fn child(&mut self, name: &str, value: &str) -> Span {
        if !self.children.is_empty() {
            self.json.push(',');
        }
        self.json.push_str(&json_string(name));
        self.json.push(':');
        let from = self.json.len();
        self.json.push_str(value);
        let value = Span::of(&self.json, from);
        self.children.push(Child {
            name: self.names.len() as u32,
            value,
        });
        self.names.extend_from_slice(name.as_bytes());
        self.names.push(0);
        value
    }

    /// The document.
    pub fn finish(mut self) -> Document {
        self.json.push_str("}}\0");
        Document {
            json: self.json,
            path: self.path,
            stat: self.stat,
            data: self.data,
            children: self.children.into_boxed_slice(),
            names: self.names.into_boxed_slice(),
            fields: OnceLock::new(),
            superseded: AtomicBool::new(false),
        }
    }
}

impl Document {
    /// Marks the document replaced by a newer one in the cache.
    pub fn supersede(&self) {
        self.superseded.store(true, Ordering::Release);
    }

    /// Whether a newer document replaced this one in the cache.
    pub fn is_superseded(&self) -> bool {
        self.superseded.load(Ordering::Acquire)
    }

    /// A document read back from its JSON (a cache file's, say): None unless it has the
    /// document's shape.
    pub fn from_json(text: &str) -> Option<Document> {
        let v: Value = serde_json::from_str(text).ok()?;
        let path = v.get("path")?.as_str()?;
        let stat = match v.get("stat")? {
            Value::Null => None,
            s => Some(stat_of(s)?),
        };
        let data = v.get("data")?.to_string();
        let children = v.get("children")?.as_object()?;
        let mut names: Vec<&String> = children.keys().collect();
        names.sort();
        let mut b = Builder::new(path, stat.as_ref(), &data, text.len(), names.len());
        for name in names {
            b.child(name, &children[name].to_string());
        }
        Some(b.finish())
    }

    /// The whole document as compact JSON.
    pub fn json(&self) -> &str {
        &self.json[..self.json.len() - 1]
    }

    /// The whole document as a C string: [`Document::json`] followed by a NUL (compact JSON
    /// has none inside: serde escapes it), valid as long as the document.
    pub fn json_c(&self) -> *const std::ffi::c_char {
        self.json.as_ptr().cast()
    }

    /// The stat as JSON (`null` when the node does not exist).
    pub fn stat_json(&self) -> &str {
        self.stat.get(&self.json)
    }

    /// The node's data as JSON.
    pub fn data_json(&self) -> &str {
        self.data.get(&self.json)
    }

    /// How many children.
    pub fn count(&self) -> usize {
        self.children.len()
    }

    /// The name of child `i` (in name order), NUL-terminated.
    pub fn name(&self, i: usize) -> Option<&CStr> {
        let (start, end) = self.name_bounds(i)?;
        CStr::from_bytes_with_nul(&self.names[start..=end]).ok()
    }

    /// The name of child `i` as `str`.
    pub fn name_str(&self, i: usize) -> Option<&str> {
        let (start, end) = self.name_bounds(i)?;
        let bytes = &self.names[start..end];
        // SAFETY: the names were appended from `&str`s (`Builder::child`), each followed by a
        // NUL, and `name_bounds` gives exactly one of them.
        Some(unsafe { std::str::from_utf8_unchecked(bytes) })
    }

    /// Where child `i`'s name starts in the names, and where its NUL is: the names are
    /// contiguous, so the next name's start (or the end) bounds it without a scan.
    fn name_bounds(&self, i: usize) -> Option<(usize, usize)> {
        let start = self.children.get(i)?.name as usize;
        let next = self
            .children
            .get(i + 1)
            .map_or(self.names.len(), |c| c.name as usize);
        Some((start, next.checked_sub(1)?))
    }

    /// The value (decoded data, as JSON) of child `i`.
    pub fn child_json(&self, i: usize) -> Option<&str> {
        Some(self.children.get(i)?.value.get(&self.json))
    }

    /// The index of the child `name`.
    pub fn find(&self, name: &str) -> Option<usize> {
        let mut lo = 0;
        let mut hi = self.children.len();
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.name_str(mid)?.cmp(name) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(mid),
            }
        }
        None
    }

    /// The string value of the top-level key `key` of child `i`: None when the child or the key
    /// is missing or the value is not a string (or holds a NUL).
    #[inline]
    pub fn child_str(&self, i: usize, key: impl AsRef<[u8]>) -> Option<&CStr> {
        self.field(i, key)?.as_str()
    }

    /// The integer value of the top-level key `key` of child `i`: `NotFound` when the child or
    /// the key is missing, `InvalidArgument` when the value is not an integer that fits 64 bits.
    #[inline]
    pub fn child_int(&self, i: usize, key: impl AsRef<[u8]>) -> Result<i64, Status> {
        self.field(i, key)
            .ok_or(Status::NotFound)?
            .as_int()
            .ok_or(Status::InvalidArgument)
    }

    /// The value of the top-level key `key` of child `i` (its keys parsed at the first call
    /// for that child). Always inlined: the typed getters are a C reader's hot path.
    #[inline(always)]
    fn field(&self, i: usize, key: impl AsRef<[u8]>) -> Option<&Field> {
        let fields = match self.fields_if_parsed(i) {
            Some(fields) => fields,
            None => self.parsed_fields(i)?,
        };
        find(fields, key.as_ref())
    }

    /// The integer value of the top-level key `key` of child `i` if that child's keys are
    /// parsed already, else None (as when it is not an integer): [`Document::child_int`]'s
    /// common case, in code that calls nothing.
    #[inline(always)]
    pub fn parsed_child_int(&self, i: usize, key: &[u8]) -> Option<i64> {
        find(self.fields_if_parsed(i)?, key)?.as_int()
    }

    /// As [`Document::parsed_child_int`], for [`Document::child_str`].
    #[inline(always)]
    pub fn parsed_child_str(&self, i: usize, key: &[u8]) -> Option<&CStr> {
        find(self.fields_if_parsed(i)?, key)?.as_str()
    }

    /// Child `i`'s keys if they are parsed already.
    #[inline(always)]
    fn fields_if_parsed(&self, i: usize) -> Option<&Fields> {
        self.fields.get()?.get(i)?.get()
    }

    /// Child `i`'s keys, parsed now if they were not yet (None: no child `i`). Out of line, so
    /// that the typed getters' common case (parsed already) needs nothing kept on the stack.
    #[cold]
    #[inline(never)]
    fn parsed_fields(&self, i: usize) -> Option<&Fields> {
        let all = self.fields.get_or_init(|| self.no_fields_yet());
        Some(all.get(i)?.get_or_init(|| self.fields_of(i)))
    }

    /// A place for each child's keys, none parsed yet (made at the first typed read).
    #[cold]
    fn no_fields_yet(&self) -> Box<[OnceLock<Fields>]> {
        (0..self.children.len()).map(|_| OnceLock::new()).collect()
    }

    /// Child `i`'s keys, parsed (at its first typed read).
    #[cold]
    fn fields_of(&self, i: usize) -> Fields {
        parse_fields(self.child_json(i).unwrap_or("null"))
    }
}

/// The value of `key` among `fields`.
#[inline(always)]
fn find<'a>(fields: &'a Fields, key: &[u8]) -> Option<&'a Field> {
    let tag = key_tag(key);
    fields.iter().find(|e| e.is(key, tag)).map(|e| &e.value)
}

/// Whether `a` and `b` are equal, compared inline (fixed-size loads, no call to `memcmp`): the
/// keys and paths of the snapshot hot paths are short, and a call costs more than the compare.
#[inline]
pub fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    fn word(s: &[u8], at: usize) -> u64 {
        u64::from_le_bytes(s[at..at + 8].try_into().unwrap_or_default())
    }
    fn half(s: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(s[at..at + 4].try_into().unwrap_or_default())
    }
    let n = a.len();
    if n != b.len() {
        return false;
    }
    match n {
        0..=3 => a.iter().zip(b).all(|(x, y)| x == y),
        // Two overlapping loads cover the whole of both.
        4..=7 => half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4),
        _ => {
            (0..n / 8).all(|k| word(a, 8 * k) == word(b, 8 * k)) && word(a, n - 8) == word(b, n - 8)
        }
    }
}

/// A stat read back from JSON.
fn stat_of(v: &Value) -> Option<Stat> {
    let n = |k: &str| v.get(k).and_then(Value::as_i64);
    Some(Stat {
        czxid: n("czxid")?,
        mzxid: n("mzxid")?,
        ctime: n("ctime")?,
        mtime: n("mtime")?,
        version: n("version")? as i32,
        cversion: n("cversion")? as i32,
        aversion: n("aversion")? as i32,
        ephemeral_owner: n("ephemeralOwner")?,
        data_length: n("dataLength")? as i32,
        num_children: n("numChildren")? as i32,
        pzxid: n("pzxid")?,
    })
}

/// A child's top-level keys (none when its data is not a JSON object).
#[cold]
fn parse_fields(json: &str) -> Fields {
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(json) else {
        return Box::default();
    };
    map.into_iter()
        .map(|(k, v)| {
            let field = match v {
                Value::String(s) => std::ffi::CString::new(s).map_or(Field::Other, Field::Str),
                Value::Number(n) => n.as_i64().map_or(Field::Other, Field::Int),
                _ => Field::Other,
            };
            Entry {
                tag: key_tag(k.as_bytes()),
                key: k.into_bytes().into_boxed_slice(),
                value: field,
            }
        })
        .collect()
}

/// The diff from `old` (None: nothing known, so every child is added) to `new`, as JSON:
/// `{"path":…,"stat":…,"added":{name:data},"removed":{name:data},"changed":{name:{"old":…,
/// "new":…}},"data":null|{"old":…,"new":…}}` (`data` set only when the node's own data
/// changed). Applying the diffs in order to nothing gives every document exactly.
pub fn diff(old: Option<&Document>, new: &Document) -> String {
    let mut added = Vec::new();
    let mut removed = Vec::new();
    let mut changed = Vec::new();
    let (on, nn) = (old.map_or(0, Document::count), new.count());
    let (mut i, mut j) = (0, 0);
    while i < on || j < nn {
        let a = old.and_then(|o| o.name_str(i)).filter(|_| i < on);
        let b = new.name_str(j).filter(|_| j < nn);
        match (a, b) {
            (Some(x), Some(y)) if x == y => {
                let (ov, nv) = (old.and_then(|o| o.child_json(i)), new.child_json(j));
                if ov != nv {
                    changed.push((y, ov.unwrap_or("null"), nv.unwrap_or("null")));
                }
                i += 1;
                j += 1;
            }
            (Some(x), Some(y)) if x < y => {
                removed.push((x, old.and_then(|o| o.child_json(i)).unwrap_or("null")));
                i += 1;
            }
            (Some(x), None) => {
                removed.push((x, old.and_then(|o| o.child_json(i)).unwrap_or("null")));
                i += 1;
            }
            (_, Some(y)) => {
                added.push((y, new.child_json(j).unwrap_or("null")));
                j += 1;
            }
            (None, None) => break,
        }
    }
    let old_data = old.map_or("null", Document::data_json);
    let data = match old_data == new.data_json() {
        true => "null".to_string(),
        false => format!("{{\"old\":{old_data},\"new\":{}}}", new.data_json()),
    };
    let path = new.path.get(&new.json);
    let mut out = String::with_capacity(128 + new.stat_json().len() + data.len());
    out.push_str("{\"path\":");
    out.push_str(path);
    out.push_str(",\"stat\":");
    out.push_str(new.stat_json());
    out.push_str(",\"added\":");
    members(&mut out, &added);
    out.push_str(",\"removed\":");
    members(&mut out, &removed);
    out.push_str(",\"changed\":{");
    for (k, (name, o, n)) in changed.iter().enumerate() {
        if k > 0 {
            out.push(',');
        }
        out.push_str(&json_string(name));
        out.push_str(&format!(":{{\"old\":{o},\"new\":{n}}}"));
    }
    out.push_str("},\"data\":");
    out.push_str(&data);
    out.push('}');
    out
}

/// `{"name":value,…}`.
fn members(out: &mut String, items: &[(&str, &str)]) {
    out.push('{');
    for (k, (name, value)) in items.iter().enumerate() {
        if k > 0 {
            out.push(',');
        }
        out.push_str(&json_string(name));
        out.push(':');
        out.push_str(value);
    }
    out.push('}');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_bytes_is_slice_equality() {
        let words: Vec<Vec<u8>> = (0..40)
            .flat_map(|n| {
                let base: Vec<u8> = (0..n).map(|i| b'a' + (i % 26) as u8).collect();
                let mut last = base.clone();
                if let Some(b) = last.last_mut() {
                    *b = b'!';
                }
                let mut first = base.clone();
                if let Some(b) = first.first_mut() {
                    *b = b'!';
                }
                [base, last, first]
            })
            .collect();
        for a in &words {
            for b in &words {
                assert_eq!(same_bytes(a, b), a == b, "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn typed_getters_tell_apart_keys_with_the_same_head_or_length() {
        // Keys of every length up to 20 sharing prefixes, the same four bytes at the head with
        // other lengths, the same length with other tails, a NUL inside (as JSON escapes it),
        // and the empty key.
        let mut keys: Vec<&str> = (0..=20).map(|n| &"abcdefghijklmnopqrst"[..n]).collect();
        keys.extend([
            "abcX",
            "abcdX",
            "abcdefgX",
            "abcdefghX",
            "Xbcd",
            r"ab\u0000c",
        ]);
        let object: Vec<String> = keys
            .iter()
            .enumerate()
            .map(|(v, k)| format!("\"{k}\":{v}"))
            .collect();
        let d = doc("null", &[("c", &format!("{{{}}}", object.join(",")))]);
        for (v, k) in keys.iter().enumerate() {
            let k: String = serde_json::from_str(&format!("\"{k}\"")).unwrap();
            assert_eq!(d.child_int(0, &k), Ok(v as i64), "{k:?}");
        }
        for absent in [
            "abcY",
            "abcdY",
            "abcdefghijklmnopqrstu",
            "Xbc",
            "Xbcde",
            "ab\0",
            "abc\0",
        ] {
            assert_eq!(d.child_int(0, absent), Err(Status::NotFound), "{absent:?}");
        }
    }

    #[test]
    fn the_parsed_getters_answer_once_a_child_is_parsed() {
        let d = doc(
            "null",
            &[("a", r#"{"id":7,"s":"x"}"#), ("b", r#"{"id":8}"#)],
        );
        assert_eq!(d.parsed_child_int(0, b"id"), None, "not parsed yet");
        assert_eq!(d.child_int(0, "id"), Ok(7));
        assert_eq!(d.parsed_child_int(0, b"id"), Some(7));
        assert_eq!(
            d.parsed_child_str(0, b"s").map(CStr::to_bytes),
            Some(&b"x"[..])
        );
        assert_eq!(d.parsed_child_int(0, b"s"), None, "not an integer");
        assert_eq!(d.parsed_child_str(0, b"id"), None, "not a string");
        assert_eq!(d.parsed_child_int(1, b"id"), None, "child 1 not parsed yet");
        assert_eq!(d.parsed_child_int(5, b"id"), None, "no child 5");
    }

    fn doc(data: &str, children: &[(&str, &str)]) -> Document {
        let mut b = Builder::new("/p", None, data, 0, children.len());
        for (n, v) in children {
            b.child(n, v);
        }
        b.finish()
    }

    #[test]
    fn shape_and_index() {
        let d = doc(
            "null",
            &[("a\"q", "null"), ("b", "{\"x\":1,\"s\":\"hi\",\"f\":1.5}")],
        );
        assert_eq!(
            d.json(),
            r#"{"path":"/p","stat":null,"data":null,"children":{"a\"q":null,"b":{"x":1,"s":"hi","f":1.5}}}"#
        );
        let v: serde_json::Value = serde_json::from_str(d.json()).unwrap();
        assert_eq!(v.as_object().unwrap().len(), 4);
        assert_eq!(d.count(), 2);
        assert_eq!(d.name_str(0), Some("a\"q"));
        assert_eq!(d.name(1).unwrap().to_bytes(), b"b");
        assert_eq!(d.child_json(0), Some("null"));
        assert_eq!(d.find("b"), Some(1));
        assert_eq!(d.find("c"), None);
        assert_eq!(d.child_int(1, "x"), Ok(1));
        assert_eq!(d.child_str(1, "s").unwrap().to_bytes(), b"hi");
        assert_eq!(d.child_int(1, "f"), Err(Status::InvalidArgument));
        assert_eq!(d.child_int(1, "nope"), Err(Status::NotFound));
        assert_eq!(d.child_int(9, "x"), Err(Status::NotFound));
        assert_eq!(d.name(2), None);
        let back = Document::from_json(d.json()).unwrap();
        assert_eq!(back.json(), d.json());
    }

    #[test]
    fn diffs_replay() {
        let a = doc("{\"v\":1}", &[("x", "{\"n\":1}"), ("y", "{\"n\":2}")]);
        let b = doc("{\"v\":2}", &[("y", "{\"n\":3}"), ("z", "{}")]);
        let first: Value = serde_json::from_str(&diff(None, &a)).unwrap();
        assert_eq!(first["added"], serde_json::json!({"x":{"n":1},"y":{"n":2}}));
        assert_eq!(first["data"], serde_json::json!({"old":null,"new":{"v":1}}));
        let d: Value = serde_json::from_str(&diff(Some(&a), &b)).unwrap();
        assert_eq!(d["path"], "/p");
        assert_eq!(d["added"], serde_json::json!({"z":{}}));
        assert_eq!(d["removed"], serde_json::json!({"x":{"n":1}}));
        assert_eq!(
            d["changed"],
            serde_json::json!({"y":{"old":{"n":2},"new":{"n":3}}})
        );
        assert_eq!(d["data"], serde_json::json!({"old":{"v":1},"new":{"v":2}}));
        let same: Value = serde_json::from_str(&diff(Some(&b), &b)).unwrap();
        assert_eq!(same["data"], Value::Null);
        assert_eq!(same["changed"], serde_json::json!({}));
    }
}
