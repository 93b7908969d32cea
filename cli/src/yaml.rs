//! A YAML emitter for JSON values that writes what PyYAML's
//! `yaml.safe_dump(value, default_flow_style=False)` writes (the Python original's `ndsr get`
//! output): block style, sorted keys, two-space indent, sequences in mappings not indented,
//! YAML 1.1 implicit types quoted, non-ASCII escaped, plain and single-quoted scalars folded past
//! 80 columns.

use once_cell::sync::Lazy;
use regex::Regex;
use serde_json::Value;

const WIDTH: usize = 80;

// The YAML 1.1 implicit resolvers of PyYAML: a string matching one must be quoted.
static IMPLICIT: Lazy<Vec<Regex>> = Lazy::new(|| {
    [
        r"^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$",
        r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$",
        r"^(?:<<)$",
        r"^(?:~|null|Null|NULL|)$",
        r"^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$",
        r"^(?:=)$",
    ]
    .iter()
    .map(|r| Regex::new(r).expect("valid regex"))
    .collect()
});

// PyYAML consults only the resolvers registered for the first character.
fn resolves_to_other_type(s: &str) -> bool {
    let first = s.chars().next();
    let candidates: &[usize] = match first {
        None => &[4],
        Some('y' | 'Y' | 'n' | 'N' | 't' | 'T' | 'f' | 'F' | 'o' | 'O') => &[0, 4],
        Some('-' | '+' | '0'..='9') => &[1, 2, 5],
        Some('.') => &[1],
        Some('<') => &[3],
        Some('~') => &[4],
        Some('=') => &[6],
        _ => &[],
    };
    // "null"/"Null"/"NULL" start with n/N, covered above; true/false with t/f.
    candidates.iter().any(|i| IMPLICIT[*i].is_match(s))
}

struct Analysis {
    multiline: bool,
    allow_block_plain: bool,
    allow_single_quoted: bool,
}

fn is_break(c: char) -> bool {
    matches!(c, '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn is_space_or_end(c: Option<char>) -> bool {
    matches!(
        c,
        None | Some('\0' | ' ' | '\t' | '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
    )
}

// PyYAML's Emitter.analyze_scalar, for allow_unicode=False.
fn analyze(s: &str) -> Analysis {
    if s.is_empty() {
        return Analysis {
            multiline: false,
            allow_block_plain: false,
            allow_single_quoted: true,
        };
    }
    let chars: Vec<char> = s.chars().collect();
    let (mut block_ind, mut line_breaks, mut special) = (false, false, false);
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) =
        (false, false, false, false);
    let (mut break_space, mut space_break) = (false, false);
    if s.starts_with("---") || s.starts_with("...") {
        block_ind = true;
    }
    let mut preceded_ws = true;
    let mut followed_ws = is_space_or_end(chars.get(1).copied());
    let (mut prev_space, mut prev_break) = (false, false);
    for (i, &c) in chars.iter().enumerate() {
        if i == 0 {
            if "#,[]{}&*!|>'\"%@`".contains(c) {
                block_ind = true;
            }
            if (c == '?' || c == ':' || c == '-') && followed_ws {
                block_ind = true;
            }
        } else {
            if c == ':' && followed_ws {
                block_ind = true;
            }
            if c == '#' && preceded_ws {
                block_ind = true;
            }
        }
        if is_break(c) {
            line_breaks = true;
        }
        if !(c == '\n' || (' '..='~').contains(&c)) {
            special = true; // non-ASCII or control: escaped in double quotes
        }
        if c == ' ' {
            if i == 0 {
                leading_space = true;
            }
            if i == chars.len() - 1 {
                trailing_space = true;
            }
            if prev_break {
                break_space = true;
            }
            prev_space = true;
            prev_break = false;
        } else if is_break(c) {
            if i == 0 {
                leading_break = true;
            }
            if i == chars.len() - 1 {
                trailing_break = true;
            }
            if prev_space {
                space_break = true;
            }
            prev_space = false;
            prev_break = true;
        } else {
            prev_space = false;
            prev_break = false;
        }
        preceded_ws = is_space_or_end(Some(c));
        followed_ws = is_space_or_end(chars.get(i + 2).copied());
    }
    let mut plain = true;
    let mut single = true;
    if leading_space || leading_break || trailing_space || trailing_break {
        plain = false;
    }
    if break_space {
        plain = false;
        single = false;
    }
    if space_break || special {
        plain = false;
        single = false;
    }
    if line_breaks || block_ind {
        plain = false;
    }
    Analysis {
        multiline: line_breaks,
        allow_block_plain: plain,
        allow_single_quoted: single,
    }
}

struct Emitter {
    out: String,
    column: usize,
}

impl Emitter {
    fn write(&mut self, s: &str) {
        self.out.push_str(s);
        match s.rfind('\n') {
            Some(i) => self.column = s[i + 1..].chars().count(),
            None => self.column += s.chars().count(),
        }
    }

    fn newline_indent(&mut self, indent: usize) {
        self.write("\n");
        self.write(&" ".repeat(indent));
    }

    // Writes text word by word, breaking at single spaces past the width (PyYAML's split).
    fn write_folded(&mut self, text: &str, indent: usize, split: bool) {
        let chars: Vec<char> = text.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            if chars[i] == ' ' {
                let mut j = i;
                while j < chars.len() && chars[j] == ' ' {
                    j += 1;
                }
                if j == i + 1 && self.column > WIDTH && split && i != 0 && j != chars.len() {
                    self.newline_indent(indent);
                } else {
                    self.write(&" ".repeat(j - i));
                }
                i = j;
            } else {
                let mut j = i;
                while j < chars.len() && chars[j] != ' ' {
                    j += 1;
                }
                let word: String = chars[i..j].iter().collect();
                self.write(&word);
                i = j;
            }
        }
    }

    fn string(&mut self, s: &str, indent: usize, simple_key: bool) {
        let a = analyze(s);
        let implicit_str = !resolves_to_other_type(s);
        if implicit_str && !(simple_key && (s.is_empty() || a.multiline)) && a.allow_block_plain {
            self.write_folded(s, indent, !simple_key);
        } else if a.allow_single_quoted && !(simple_key && a.multiline) {
            self.write("'");
            // A line break inside single quotes is written doubled, the text going on indented.
            let mut lines = s.split('\n').peekable();
            while let Some(line) = lines.next() {
                self.write_folded(&line.replace('\'', "''"), indent, !simple_key);
                if lines.peek().is_some() {
                    self.write("\n");
                    self.newline_indent(indent);
                }
            }
            self.write("'");
        } else {
            self.write(&double_quoted(s));
        }
    }

    fn scalar(&mut self, v: &Value, indent: usize, simple_key: bool) {
        match v {
            Value::Null => self.write("null"),
            Value::Bool(b) => self.write(if *b { "true" } else { "false" }),
            Value::Number(n) => {
                let text = if n.is_f64() {
                    python_float(n.as_f64().unwrap_or(0.0))
                } else {
                    n.to_string()
                };
                self.write(&text)
            }
            Value::String(s) => self.string(s, indent, simple_key),
            _ => unreachable!("not a scalar"),
        }
    }

    // A value after "key:" (or "- "), at nesting `indent` of its parent.
    fn node(&mut self, v: &Value, indent: usize, in_mapping: bool) {
        match v {
            Value::Object(m) if m.is_empty() => self.write(" {}"),
            Value::Array(a) if a.is_empty() => self.write(" []"),
            Value::Object(m) => {
                let inner = indent + 2;
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                for k in keys {
                    self.newline_indent(inner);
                    self.string(k, inner, true);
                    self.write(":");
                    self.node(&m[k.as_str()], inner, true);
                }
            }
            Value::Array(items) => {
                // Sequences in mappings are not indented.
                let seq_indent = if in_mapping { indent } else { indent + 2 };
                for item in items {
                    self.newline_indent(seq_indent);
                    self.write("-");
                    self.item(item, seq_indent);
                }
            }
            scalar => {
                self.write(" ");
                self.scalar(scalar, indent + 2, false);
            }
        }
    }

    // A sequence item after "-": a mapping starts on the same line.
    fn item(&mut self, v: &Value, seq_indent: usize) {
        match v {
            Value::Object(m) if !m.is_empty() => {
                let inner = seq_indent + 2;
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                for (i, k) in keys.into_iter().enumerate() {
                    if i == 0 {
                        self.write(" ");
                    } else {
                        self.newline_indent(inner);
                    }
                    self.string(k, inner, true);
                    self.write(":");
                    self.node(&m[k.as_str()], inner, true);
                }
            }
            Value::Array(a) if !a.is_empty() => {
                self.write(" -");
                self.item(&a[0], seq_indent + 2);
                for x in &a[1..] {
                    self.newline_indent(seq_indent + 2);
                    self.write("-");
                    self.item(x, seq_indent + 2);
                }
            }
            other => self.node(other, seq_indent, false),
        }
    }
}

fn double_quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\0' => out.push_str("\\0"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\x0b' => out.push_str("\\v"),
            '\x0c' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            '\x1b' => out.push_str("\\e"),
            '\u{85}' => out.push_str("\\N"),
            '\u{a0}' => out.push_str("\\_"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            ' '..='~' => out.push(c),
            c if (c as u32) <= 0xff => out.push_str(&format!("\\x{:02X}", c as u32)),
            c if (c as u32) <= 0xffff => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push_str(&format!("\\U{:08X}", c as u32)),
        }
    }
    out.push('"');
    out
}

// PyYAML's represent_float: repr() lower-cased, with ".0" added before an exponent.
fn python_float(f: f64) -> String {
    if f.is_nan() {
        return ".nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            ".inf".into()
        } else {
            "-.inf".into()
        };
    }
    let r = crate::json::python_float_repr(f).to_lowercase();
    if !r.contains('.') && r.contains('e') {
        r.replacen('e', ".0e", 1)
    } else {
        r
    }
}

/// The document `yaml.safe_dump(value, default_flow_style=False)` writes for a mapping.
pub fn dump(v: &Value) -> String {
    let mut e = Emitter {
        out: String::new(),
        column: 0,
    };
    match v {
        Value::Object(m) if m.is_empty() => e.write("{}"),
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    e.write("\n");
                }
                e.string(k, 0, true);
                e.write(":");
                e.node(&m[k.as_str()], 0, true);
            }
        }
        other => e.scalar(other, 0, false),
    }
    e.write("\n");
    e.out
}
