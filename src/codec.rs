//! Node data format shared with the Python original (nd_service_registry).
//!
//! A write stores compact JSON of the user's object merged over `{"pid", "created"}` (user keys
//! win); a JSON string `s` is stored as `{"string_value": s}`. Non-ASCII characters are escaped
//! as `\uXXXX`, as Python's `json.dumps` does, so both implementations write the same bytes.

use serde_json::{Map, Value};

use crate::status::{Error, Result, NDSR_E_TOO_LARGE, NDSR_MAX_DATA_LEN};

/// Parses the caller's JSON text into the value to store: an object, a string, or null.
pub fn parse_user_data(json: &str) -> Result<Value> {
    if json.trim().is_empty() {
        return Ok(Value::Null);
    }
    let value: Value = serde_json::from_str(json)
        .map_err(|e| Error::invalid(format!("invalid JSON data: {e}")))?;
    match value {
        Value::Object(_) | Value::String(_) | Value::Null => Ok(value),
        other => Err(Error::invalid(format!(
            "data must be a JSON object, a string or null, not {}",
            type_name(&other)
        ))),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Encodes user data (as returned by [`parse_user_data`]) for `pid` and local time `created`.
pub fn encode(data: &Value, pid: u32, created: &str) -> Result<Vec<u8>> {
    encode_with(data, Some((pid, created)))
}

/// `data` as [`encode`] stores it, without the `pid` and `created` stamp (a configuration node
/// written as its owner wants it, `ndsr set --raw`).
pub fn encode_raw(data: &Value) -> Result<Vec<u8>> {
    encode_with(data, None)
}

fn encode_with(data: &Value, stamp: Option<(u32, &str)>) -> Result<Vec<u8>> {
    let mut obj = Map::new();
    if let Some((pid, created)) = stamp {
        obj.insert("pid".into(), Value::from(pid));
        obj.insert("created".into(), Value::from(created));
    }
    match data {
        Value::Null => {}
        Value::String(s) => {
            obj.insert("string_value".into(), Value::from(s.as_str()));
        }
        Value::Object(user) => {
            for (k, v) in user {
                obj.insert(k.clone(), v.clone());
            }
        }
        _ => {
            return Err(Error::invalid(
                "data must be a JSON object, a string or null",
            ))
        }
    }
    let bytes = ascii_json(&Value::Object(obj)).into_bytes();
    if bytes.len() > NDSR_MAX_DATA_LEN {
        return Err(Error::new(
            NDSR_E_TOO_LARGE,
            format!(
                "encoded data is {} bytes, the limit is {NDSR_MAX_DATA_LEN}",
                bytes.len()
            ),
        ));
    }
    Ok(bytes)
}

/// The local time in the original's `created` format, `YYYY-MM-DD HH:MM:SS`.
pub fn now_created() -> String {
    // Formatted once a second per thread: a burst of registrations would otherwise spend more
    // on the time zone and the formatting than on everything else the call does itself.
    thread_local! {
        static LAST: std::cell::RefCell<(u64, String)> = const { std::cell::RefCell::new((u64::MAX, String::new())) };
    }
    let now = std::time::SystemTime::now();
    let second = now
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    LAST.with_borrow_mut(|(at, text)| {
        if *at != second {
            let local: chrono::DateTime<chrono::Local> = now.into();
            *text = local.format("%Y-%m-%d %H:%M:%S").to_string();
            *at = second;
        }
        text.clone()
    })
}

/// Compact JSON with every non-ASCII character escaped as `\uXXXX` (surrogate pairs above the
/// BMP). serde_json emits non-ASCII characters only inside strings, so escaping them after
/// serialisation is exact.
pub fn ascii_json(value: &Value) -> String {
    let compact = value.to_string();
    if compact.is_ascii() {
        return compact;
    }
    let mut out = String::with_capacity(compact.len() + 16);
    for c in compact.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{:04x}", u));
            }
        }
    }
    out
}

/// Decodes node bytes: empty -> `null`; whitespace only -> `{}`; text that starts with `{`, ends
/// with `}` and parses -> that object; anything else (invalid UTF-8 included, read lossily) ->
/// `{"string_value": "<text, whitespace stripped>"}`.
pub fn decode(raw: &[u8]) -> Value {
    if raw.is_empty() {
        return Value::Null;
    }
    let text = String::from_utf8_lossy(raw);
    let text = text.trim();
    if text.is_empty() {
        return Value::Object(Map::new());
    }
    if text.starts_with('{') && text.ends_with('}') {
        if let Ok(v @ Value::Object(_)) = serde_json::from_str::<Value>(text) {
            return v;
        }
    }
    let mut m = Map::new();
    m.insert("string_value".into(), Value::from(text));
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn created_is_the_local_time_to_the_second() {
        let fmt = |t: chrono::DateTime<chrono::Local>| t.format("%Y-%m-%d %H:%M:%S").to_string();
        for _ in 0..3 {
            let before = fmt(chrono::Local::now());
            let got = now_created();
            let after = fmt(chrono::Local::now());
            // Cached within a second, never stale: between the two readings around it.
            assert!(
                before <= got && got <= after,
                "{before} <= {got} <= {after}"
            );
            assert_eq!(got.len(), 19, "{got}");
            std::thread::sleep(std::time::Duration::from_millis(600));
        }
    }

    #[test]
    fn encode_merges_user_keys_over_defaults_in_python_order() {
        let v = parse_user_data(r#"{"foo":"bar","pid":9}"#).unwrap();
        let e = encode(&v, 7, "2014-06-03 13:37:53").unwrap();
        assert_eq!(
            String::from_utf8(e).unwrap(),
            r#"{"pid":9,"created":"2014-06-03 13:37:53","foo":"bar"}"#
        );
    }

    #[test]
    fn encode_string_null_and_unicode() {
        let e = encode(&json!("hi"), 1, "c").unwrap();
        assert_eq!(e, br#"{"pid":1,"created":"c","string_value":"hi"}"#);
        let e = encode(&Value::Null, 1, "c").unwrap();
        assert_eq!(e, br#"{"pid":1,"created":"c"}"#);
        let e = encode(&json!({"k": "café \u{1F600}"}), 1, "c").unwrap();
        assert_eq!(
            e,
            br#"{"pid":1,"created":"c","k":"caf\u00e9 \ud83d\ude00"}"#
        );
        assert_eq!(decode(&e)["k"], json!("café \u{1F600}"));
    }

    #[test]
    fn parse_rejects_arrays_numbers_and_garbage() {
        assert_eq!(
            parse_user_data("[1]").unwrap_err().code,
            crate::status::NDSR_E_INVALID_ARGUMENT
        );
        assert!(parse_user_data("3").is_err());
        assert!(parse_user_data("{bad").is_err());
        assert_eq!(parse_user_data("").unwrap(), Value::Null);
        assert_eq!(parse_user_data("null").unwrap(), Value::Null);
    }

    #[test]
    fn numbers_are_kept_exactly() {
        // Beyond 64 bits, and decimals, as written (the Python original keeps them too).
        let text =
            r#"{"n":123456789012345678901234567890,"f":0.1000000000000000055511151231257827}"#;
        let v = parse_user_data(text).unwrap();
        let e = encode(&v, 1, "c").unwrap();
        assert_eq!(
            String::from_utf8(e.clone()).unwrap(),
            r#"{"pid":1,"created":"c","n":123456789012345678901234567890,"f":0.1000000000000000055511151231257827}"#
        );
        assert_eq!(
            decode(&e)["n"].to_string(),
            "123456789012345678901234567890"
        );
    }

    #[test]
    fn too_large_is_refused() {
        let big = "x".repeat(NDSR_MAX_DATA_LEN);
        assert_eq!(
            encode(&json!({ "b": big }), 1, "c").unwrap_err().code,
            NDSR_E_TOO_LARGE
        );
    }

    #[test]
    fn decode_rules() {
        assert_eq!(decode(b""), Value::Null);
        assert_eq!(decode(b"  \n"), json!({}));
        assert_eq!(decode(b" {\"a\":1} "), json!({"a":1}));
        assert_eq!(decode(b"{not json}"), json!({"string_value":"{not json}"}));
        assert_eq!(decode(b"[1,2]"), json!({"string_value":"[1,2]"}));
        assert_eq!(decode(b" plain "), json!({"string_value":"plain"}));
        assert_eq!(
            decode(b"\xff\xfeok"),
            json!({"string_value":"\u{FFFD}\u{FFFD}ok"})
        );
    }
}
