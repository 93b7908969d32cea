//! JSON written as Python's `json.dumps(value, sort_keys=True, indent=4, separators=(',', ': '))`
//! writes it (non-ASCII escaped as \uXXXX).

use serde_json::Value;

/// Python's repr() of a float (shortest round-trip digits, exponent past 1e16 or below 1e-4).
pub fn python_float_repr(f: f64) -> String {
    if f == f.trunc() && f.abs() < 1e16 {
        return format!("{f:.1}");
    }
    let shortest = format!("{f:e}"); // e.g. "1.5e-7", shortest round-trip mantissa
    let (mantissa, exp) = shortest.split_once('e').unwrap_or((&shortest, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..16).contains(&exp) {
        format!("{f}")
    } else {
        format!(
            "{mantissa}e{}{:02}",
            if exp < 0 { '-' } else { '+' },
            exp.abs()
        )
    }
}

fn string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            c => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
        }
    }
    out.push('"');
}

fn write(out: &mut String, v: &Value, level: usize) {
    let pad = |n: usize| "    ".repeat(n);
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) if n.is_f64() => {
            out.push_str(&python_float_repr(n.as_f64().unwrap_or(0.0)))
        }
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => string(out, s),
        Value::Array(a) if a.is_empty() => out.push_str("[]"),
        Value::Object(m) if m.is_empty() => out.push_str("{}"),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                out.push_str(if i == 0 { "\n" } else { ",\n" });
                out.push_str(&pad(level + 1));
                write(out, x, level + 1);
            }
            out.push('\n');
            out.push_str(&pad(level));
            out.push(']');
        }
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                out.push_str(if i == 0 { "\n" } else { ",\n" });
                out.push_str(&pad(level + 1));
                string(out, k);
                out.push_str(": ");
                write(out, &m[k.as_str()], level + 1);
            }
            out.push('\n');
            out.push_str(&pad(level));
            out.push('}');
        }
    }
}

/// The text `json.dumps(v, sort_keys=True, indent=4, separators=(',', ': '))` returns.
pub fn dump(v: &Value) -> String {
    let mut out = String::new();
    write(&mut out, v, 0);
    out
}
