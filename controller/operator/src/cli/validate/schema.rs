//! An object against the OpenAPI v3 schema of its generated CRD, with the CEL rules
//! (`x-kubernetes-validations`) the API server evaluates: the same rules, read from the
//! same CRDs, so a pull request is checked offline as the cluster will check it.

use cel_interpreter::{Context, ExecutionError, Program};
use serde_json::Value;

/// A schema or rule violation at a field.
#[derive(Clone, Debug, PartialEq)]
pub struct Violation {
    /// The field, as the API server names it (`spec.assignments[0].targets`).
    pub field: String,
    /// What is wrong, with the rule.
    pub message: String,
    /// A rule that could not be evaluated offline (a Kubernetes CEL extension): reported,
    /// never passed in silence.
    pub not_checked: bool,
}

fn violation(field: &str, message: impl Into<String>) -> Violation {
    Violation { field: field.to_string(), message: message.into(), not_checked: false }
}

fn child(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_string() } else { format!("{path}.{key}") }
}

/// Fills absent fields that have a schema default, as the API server does before it
/// validates (CEL rules see the defaults).
pub fn apply_defaults(schema: &Value, value: &mut Value) {
    match value {
        Value::Object(object) => {
            if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
                for (key, property) in properties {
                    if !object.contains_key(key)
                        && let Some(default) = property.get("default")
                    {
                        object.insert(key.clone(), default.clone());
                    }
                    if let Some(inner) = object.get_mut(key) {
                        apply_defaults(property, inner);
                    }
                }
            } else if let Some(values) = schema.get("additionalProperties").filter(|a| a.is_object()) {
                object.values_mut().for_each(|inner| apply_defaults(values, inner));
            }
        }
        Value::Array(items) => {
            if let Some(item) = schema.get("items") {
                items.iter_mut().for_each(|inner| apply_defaults(item, inner));
            }
        }
        _ => {}
    }
}

/// Removes explicit nulls of fields that are not nullable: the API server drops them.
pub fn drop_nulls(schema: &Value, value: &mut Value) {
    if let (Value::Object(object), Some(properties)) =
        (&mut *value, schema.get("properties").and_then(Value::as_object))
    {
        object.retain(|key, inner| {
            !inner.is_null()
                || properties.get(key).and_then(|p| p.get("nullable")).and_then(Value::as_bool) == Some(true)
        });
        for (key, inner) in object.iter_mut() {
            if let Some(property) = properties.get(key) {
                drop_nulls(property, inner);
            }
        }
    } else if let (Value::Array(items), Some(item)) = (&mut *value, schema.get("items")) {
        items.iter_mut().for_each(|inner| drop_nulls(item, inner));
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn shown(value: &Value) -> String {
    match value {
        Value::Object(_) => "\"object\"".into(),
        Value::Array(_) => "\"array\"".into(),
        other => other.to_string(),
    }
}

/// Checks `value` at `path` against `schema`, appending what is wrong.
pub fn check(schema: &Value, value: &Value, path: &str, out: &mut Vec<Violation>) {
    if value.is_null() {
        if schema.get("nullable").and_then(Value::as_bool) != Some(true) {
            out.push(violation(path, "Invalid value: null: must not be null"));
        }
        return;
    }
    if let Some(expected) = schema.get("type").and_then(Value::as_str) {
        let actual = type_name(value);
        let fits = actual == expected || (expected == "number" && actual == "integer");
        if !fits {
            out.push(violation(path, format!("Invalid value: {}: must be of type {expected}", shown(value))));
            return;
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
        out.push(violation(path, format!("Unsupported value: {value}: supported values: {}", list.join(", "))));
    }
    match value {
        Value::String(text) => check_string(schema, text, path, out),
        Value::Number(number) => check_number(schema, number.as_f64().unwrap_or_default(), value, path, out),
        Value::Array(items) => {
            let count = items.len() as u64;
            if let Some(max) = schema.get("maxItems").and_then(Value::as_u64).filter(|max| count > *max) {
                out.push(violation(path, format!("Too many: {count}: must have at most {max} items")));
            }
            if let Some(min) = schema.get("minItems").and_then(Value::as_u64).filter(|min| count < *min) {
                out.push(violation(path, format!("Invalid value: {count}: must have at least {min} items")));
            }
            if let Some(item) = schema.get("items") {
                for (index, inner) in items.iter().enumerate() {
                    check(item, inner, &format!("{path}[{index}]"), out);
                }
            }
        }
        Value::Object(object) => {
            let count = object.len() as u64;
            if let Some(max) = schema.get("maxProperties").and_then(Value::as_u64).filter(|max| count > *max) {
                out.push(violation(path, format!("Too many: {count}: must have at most {max} items")));
            }
            for required in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
                let name = required.as_str().unwrap_or_default();
                if !object.contains_key(name) {
                    out.push(violation(&child(path, name), "Required value"));
                }
            }
            let properties = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            let open = schema.get("x-kubernetes-preserve-unknown-fields").and_then(Value::as_bool) == Some(true);
            for (key, inner) in object {
                let field = child(path, key);
                match (properties.and_then(|p| p.get(key)), additional) {
                    (Some(property), _) => check(property, inner, &field, out),
                    (None, Some(values)) => check(values, inner, &field, out),
                    (None, None) if properties.is_some() && !open => {
                        out.push(violation(&field, "unknown field: the schema has no such field"))
                    }
                    _ => {}
                }
            }
        }
        _ => {}
    }
    for rule in schema.get("x-kubernetes-validations").and_then(Value::as_array).into_iter().flatten() {
        check_rule(rule, value, path, out);
    }
}

fn check_string(schema: &Value, text: &str, path: &str, out: &mut Vec<Violation>) {
    let length = text.chars().count() as u64;
    if let Some(max) = schema.get("maxLength").and_then(Value::as_u64).filter(|max| length > *max) {
        out.push(violation(path, format!("Too long: may not be more than {max} bytes")));
    }
    if let Some(min) = schema.get("minLength").and_then(Value::as_u64).filter(|min| length < *min) {
        out.push(violation(path, format!("Invalid value: {text:?}: should be at least {min} chars long")));
    }
    if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
        match regex::Regex::new(pattern) {
            Ok(re) if !re.is_match(text) => {
                out.push(violation(path, format!("Invalid value: {text:?}: should match '{pattern}'")))
            }
            Ok(_) => {}
            Err(error) => out.push(Violation {
                field: path.to_string(),
                message: format!("pattern '{pattern}' not checked offline: {error}"),
                not_checked: true,
            }),
        }
    }
}

fn check_number(schema: &Value, number: f64, value: &Value, path: &str, out: &mut Vec<Violation>) {
    if let Some(min) = schema.get("minimum").and_then(Value::as_f64) {
        let exclusive = schema.get("exclusiveMinimum").and_then(Value::as_bool) == Some(true);
        if number < min || (exclusive && number == min) {
            out.push(violation(path, format!("Invalid value: {value}: should be greater than or equal to {min}")));
        }
    }
    if let Some(max) = schema.get("maximum").and_then(Value::as_f64) {
        let exclusive = schema.get("exclusiveMaximum").and_then(Value::as_bool) == Some(true);
        if number > max || (exclusive && number == max) {
            out.push(violation(path, format!("Invalid value: {value}: should be less than or equal to {max}")));
        }
    }
}

/// One CEL rule, with `self` the value. Transition rules (`oldSelf`) only apply to
/// updates, and an offline check is a creation: they are skipped, as the API server skips
/// them on create.
fn check_rule(rule: &Value, value: &Value, path: &str, out: &mut Vec<Violation>) {
    let Some(expression) = rule.get("rule").and_then(Value::as_str) else { return };
    if expression.contains("oldSelf") {
        return;
    }
    let message = rule
        .get("message")
        .and_then(Value::as_str)
        .map_or_else(|| format!("failed rule: {expression}"), str::to_string);
    let not_checked = |why: String| Violation {
        field: path.to_string(),
        message: format!("rule not checked offline ({why}): {expression}"),
        not_checked: true,
    };
    let program = match Program::compile(expression) {
        Ok(program) => program,
        Err(error) => return out.push(not_checked(format!("it does not parse here: {error}"))),
    };
    let mut context = Context::default();
    match cel_interpreter::to_value(value) {
        Ok(this) => context.add_variable_from_value("self", this),
        Err(error) => return out.push(not_checked(error.to_string())),
    }
    match program.execute(&context) {
        Ok(cel_interpreter::Value::Bool(true)) => {}
        Ok(cel_interpreter::Value::Bool(false)) => {
            out.push(violation(path, format!("Invalid value: {}: {message}", shown(value))))
        }
        Ok(other) => out.push(not_checked(format!("it gave {other:?}, not a boolean"))),
        Err(ExecutionError::UndeclaredReference(name)) => {
            out.push(not_checked(format!("{name} is a Kubernetes extension this checker lacks")))
        }
        Err(ExecutionError::FunctionError { function, .. }) => {
            out.push(not_checked(format!("{function} is a Kubernetes extension this checker lacks")))
        }
        Err(error) => out.push(violation(path, format!("Invalid value: {}: {message} ({error})", shown(value)))),
    }
}
