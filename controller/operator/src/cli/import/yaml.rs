//! YAML as `orgops import` writes it: every string that any YAML reader, 1.1 or 1.2,
//! could take for another type (a date like `2012-10-17`, an account id with leading
//! zeros, `on`, `no`, `~`, `.inf`, `1_000`, `1:20`) is double-quoted, so PyYAML, yamllint,
//! Go's and Rust's readers all get the same strings. A plain scalar is written only when
//! it cannot be anything but a string.

use serde_json::Value;

/// The document for a JSON value, in block style, ending with a newline.
pub fn to_string(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => mapping(map, 0, &mut out),
        Value::Array(items) if !items.is_empty() => sequence(items, 0, &mut out),
        scalar => {
            out += &inline(scalar);
            out.push('\n');
        }
    }
    out
}

fn mapping(map: &serde_json::Map<String, Value>, indent: usize, out: &mut String) {
    for (key, value) in map {
        out.push_str(&" ".repeat(indent));
        out.push_str(&string(key));
        out.push(':');
        after_key(value, indent, out);
    }
}

fn sequence(items: &[Value], indent: usize, out: &mut String) {
    for item in items {
        out.push_str(&" ".repeat(indent));
        out.push('-');
        match item {
            // The first key on the dash's line, the others under it.
            Value::Object(map) if !map.is_empty() => {
                let mut nested = String::new();
                mapping(map, indent + 2, &mut nested);
                out.push(' ');
                out.push_str(&nested[indent + 2..]);
            }
            other => rest(other, indent, out),
        }
    }
}

fn after_key(value: &Value, indent: usize, out: &mut String) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            out.push('\n');
            mapping(map, indent + 2, out);
        }
        other => rest(other, indent, out),
    }
}

/// What follows a key's colon or a dash, unless it is a mapping: a sequence on the next
/// lines, or a scalar on this one.
fn rest(value: &Value, indent: usize, out: &mut String) {
    match value {
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            sequence(items, indent + 2, out);
        }
        scalar => {
            out.push(' ');
            out.push_str(&inline(scalar));
            out.push('\n');
        }
    }
}

/// A scalar, or an empty collection, on one line.
fn inline(value: &Value) -> String {
    match value {
        Value::String(text) => string(text),
        Value::Object(_) => "{}".into(),
        Value::Array(_) => "[]".into(),
        other => other.to_string(),
    }
}

/// A string: plain when no reader could take it for anything else, else double-quoted
/// (JSON's escapes are YAML's).
fn string(text: &str) -> String {
    if is_plain_string(text) { text.to_string() } else { Value::String(text.to_string()).to_string() }
}

/// YAML 1.1's booleans and nulls (1.2's are among them), spelled as any reader takes them.
const RESERVED: [&str; 26] = [
    "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false", "False", "FALSE", "on",
    "On", "ON", "off", "Off", "OFF", "null", "Null", "NULL", "~",
];

/// Whether the text, written plain, reads back as this string in YAML 1.1 and 1.2. Kept
/// strict: a letter or one of `_ / $` first (never a digit, sign or dot, so no number,
/// date, time, sexagesimal or `.inf` form), then letters, digits and `_ . / @ + - $`
/// and single inner spaces (no `: `, ` #`, quotes, brackets or other indicators).
fn is_plain_string(text: &str) -> bool {
    let Some(first) = text.chars().next() else { return false };
    if !(first.is_ascii_alphabetic() || matches!(first, '_' | '/' | '$')) {
        return false;
    }
    if RESERVED.contains(&text) || text.ends_with(' ') || text.contains("  ") {
        return false;
    }
    text.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '@' | '+' | '-' | '$' | ' '))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Strings that YAML 1.1 readers (PyYAML, yamllint, go-yaml v2) or YAML 1.2 readers
    /// take for another type when written plain.
    const AMBIGUOUS: [&str; 24] = [
        "2012-10-17",
        "2001-12-14t21:59:43.10-05:00",
        "012345678901",
        "123456789012",
        "0o17",
        "0x1F",
        "0b101",
        "1_000",
        "1:20",
        "190:20:30.15",
        "+12",
        "-.inf",
        ".NaN",
        "1e3",
        "on",
        "Off",
        "yes",
        "N",
        "~",
        "null",
        "",
        "true",
        "<<",
        "=",
    ];

    #[test]
    fn every_string_a_reader_could_take_for_another_type_is_quoted_and_reads_back() {
        for text in AMBIGUOUS {
            let written = to_string(&json!({ "value": text, "list": [text], text: 1 }));
            assert!(written.contains(&format!("value: {}", Value::String(text.into()))), "{text}: {written}");
            let read: serde_json::Value = yaml_serde::from_str(&written).unwrap();
            assert_eq!(read["value"], text, "{written}");
            assert_eq!(read["list"][0], text, "{written}");
            assert_eq!(read[text], 1, "{written}");
        }
    }

    #[test]
    fn plain_strings_stay_plain_and_structure_is_block_style() {
        let value = json!({
            "apiVersion": "orgops.dev/v1alpha1",
            "kind": "AwsAccount",
            "metadata": {"name": "payroll-prod", "labels": {}},
            "spec": {
                "email": "aws+payroll@example.com",
                "accountId": "012345678901",
                "tags": {"team": "payroll", "cost center": "42"},
                "list": [{"a": "x", "b": ["why", "on"]}, "z", []],
                "ttl": 300,
                "enabled": true,
                "text": "two\nlines"
            }
        });
        let written = to_string(&value);
        let expected = "\
apiVersion: orgops.dev/v1alpha1
kind: AwsAccount
metadata:
  labels: {}
  name: payroll-prod
spec:
  accountId: \"012345678901\"
  email: aws+payroll@example.com
  enabled: true
  list:
    - a: x
      b:
        - why
        - \"on\"
    - z
    - []
  tags:
    cost center: \"42\"
    team: payroll
  text: \"two\\nlines\"
  ttl: 300
";
        assert_eq!(written, expected);
        let read: serde_json::Value = yaml_serde::from_str(&written).unwrap();
        assert_eq!(read, value);
    }
}
