//! The JSON document of a path, as the seed README shows it:
//! `{"path": …, "stat": {…}|null, "data": …, "children": {name: data}}`.
//! Documents are immutable snapshots, serialised once when they are made.

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape() {
        let d = render_with("/p", None, "null", 0, |json| {
            json.push_str(&json_string("a\"q"));
            json.push_str(":null,");
            json.push_str(&json_string("b"));
            json.push_str(":{\"x\":1}");
        });
        assert_eq!(
            d.json,
            r#"{"path":"/p","stat":null,"data":null,"children":{"a\"q":null,"b":{"x":1}}}"#
        );
        let v: serde_json::Value = serde_json::from_str(&d.json).unwrap();
        assert_eq!(v.as_object().unwrap().len(), 4);
    }
}
