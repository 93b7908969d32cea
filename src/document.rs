//! The JSON document of a path, as the seed README shows it:
//! `{"path": …, "stat": {…}|null, "data": …, "children": {name: data}}`.
//! Documents are immutable snapshots, serialised once when they are made.

use std::collections::BTreeMap;
use std::fmt::Write;

use zookeeper_client::Stat;

/// A snapshot of one watched path: its pre-serialised JSON.
#[derive(Debug, PartialEq, Eq)]
pub struct Document {
    /// The whole document as compact JSON.
    pub json: String,
}

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

/// Builds a document from its parts; `data` and each child's value are JSON text already.
pub fn render<'a>(
    path: &str,
    stat: Option<&Stat>,
    data: &str,
    children: impl Iterator<Item = (&'a String, &'a str)>,
    size_hint: usize,
) -> Document {
    render_with(path, stat, data, size_hint, |json| {
        for (i, (name, value)) in children.enumerate() {
            if i > 0 {
                json.push(',');
            }
            let _ = write!(json, "{}:{}", json_string(name), value);
        }
    })
}

/// Builds a document whose children `write_children` writes into the string, as
/// `"name":value` pairs separated by commas (`children` is the open object).
pub fn render_with(
    path: &str,
    stat: Option<&Stat>,
    data: &str,
    size_hint: usize,
    write_children: impl FnOnce(&mut String),
) -> Document {
    let mut json = String::with_capacity(256 + data.len() + size_hint);
    json.push_str("{\"path\":");
    json.push_str(&json_string(path));
    json.push_str(",\"stat\":");
    match stat {
        Some(s) => json.push_str(&stat_json(s)),
        None => json.push_str("null"),
    }
    json.push_str(",\"data\":");
    json.push_str(data);
    json.push_str(",\"children\":{");
    write_children(&mut json);
    json.push_str("}}");
    Document { json }
}

/// Convenience for tests and callers holding a map of decoded child values.
pub fn render_map(
    path: &str,
    stat: Option<&Stat>,
    data: &str,
    children: &BTreeMap<String, String>,
) -> Document {
    render(
        path,
        stat,
        data,
        children.iter().map(|(k, v)| (k, v.as_str())),
        0,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape() {
        let mut c = BTreeMap::new();
        c.insert("b".to_string(), "{\"x\":1}".to_string());
        c.insert("a\"q".to_string(), "null".to_string());
        let d = render_map("/p", None, "null", &c);
        assert_eq!(
            d.json,
            r#"{"path":"/p","stat":null,"data":null,"children":{"a\"q":null,"b":{"x":1}}}"#
        );
        let v: serde_json::Value = serde_json::from_str(&d.json).unwrap();
        assert_eq!(v.as_object().unwrap().len(), 4);
    }
}
