//! A small JSON Schema checker for the schemas in `tests/schemas/`: the keywords they use
//! (`type`, `properties`, `required`, `additionalProperties`, `items`, `prefixItems`,
//! `minItems`, `maxItems`, `enum`, `const`, `minimum`, `maximum`, `pattern`, `propertyNames`,
//! `allOf`, `anyOf`, `oneOf`, `not`, and `$ref` to `#/$defs/...`), with the meanings JSON Schema
//! 2020-12 gives them. A
//! schema using any other keyword is refused, so that no rule is silently left unchecked.

use regex::Regex;
use serde_json::Value;
use std::path::Path;

const KEYWORDS: [&str; 24] = [
    "$schema",
    "$id",
    "$defs",
    "$comment",
    "title",
    "description",
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "prefixItems",
    "minItems",
    "maxItems",
    "enum",
    "const",
    "minimum",
    "maximum",
    "pattern",
    "propertyNames",
    "allOf",
    "anyOf",
    "oneOf",
    "not",
];

/// A schema read from `tests/schemas/NAME.json`.
pub struct Schema {
    root: Value,
}

impl Schema {
    /// Reads `tests/schemas/<name>.json`.
    pub fn load(name: &str) -> Self {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas").join(format!("{name}.json"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let root: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        Self { root }
    }

    /// Every way `value` breaks the schema (or its definition `def`, `#/$defs/<def>`), each with
    /// where in the value; empty when it holds.
    pub fn errors(&self, def: Option<&str>, value: &Value) -> Vec<String> {
        let mut errors = Vec::new();
        let schema = match def {
            Some(name) => self.root["$defs"].get(name).unwrap_or_else(|| panic!("no $defs/{name}")),
            None => &self.root,
        };
        self.check(schema, value, "$", &mut errors);
        errors
    }

    /// Fails the test, saying why, when `value` breaks the schema (or its definition `def`).
    pub fn assert_valid(&self, def: Option<&str>, value: &Value, what: &str) {
        let errors = self.errors(def, value);
        assert!(errors.is_empty(), "{what} breaks the schema:\n  {}\n{value}", errors.join("\n  "));
    }

    fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        match schema.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix("#/$defs/")) {
            Some(name) => self.root["$defs"].get(name).unwrap_or_else(|| panic!("no $defs/{name}")),
            None => schema,
        }
    }

    fn check(&self, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
        let schema = self.resolve(schema);
        if schema == &Value::Bool(true) {
            return;
        }
        if schema == &Value::Bool(false) {
            errors.push(format!("{at}: not allowed"));
            return;
        }
        let Some(rules) = schema.as_object() else { panic!("{at}: a schema must be an object or a boolean") };
        for key in rules.keys() {
            assert!(KEYWORDS.contains(&key.as_str()) || key == "$ref", "{at}: the checker does not know {key:?}");
        }
        let mut fail = |message: String| errors.push(format!("{at}: {message}"));
        if let Some(kinds) = rules.get("type") {
            let kinds: Vec<&str> = match kinds {
                Value::String(k) => vec![k.as_str()],
                Value::Array(ks) => ks.iter().filter_map(Value::as_str).collect(),
                _ => panic!("{at}: bad type"),
            };
            if !kinds.iter().any(|k| is_type(value, k)) {
                fail(format!("{value} is not {}", kinds.join(" or ")));
                return;
            }
        }
        if let Some(options) = rules.get("enum").and_then(Value::as_array) {
            if !options.contains(value) {
                fail(format!("{value} is none of {}", Value::Array(options.clone())));
            }
        }
        if let Some(constant) = rules.get("const") {
            if constant != value {
                fail(format!("{value} is not {constant}"));
            }
        }
        if let (Some(n), Some(min)) = (value.as_f64(), rules.get("minimum").and_then(Value::as_f64)) {
            if n < min {
                fail(format!("{n} is below {min}"));
            }
        }
        if let (Some(n), Some(max)) = (value.as_f64(), rules.get("maximum").and_then(Value::as_f64)) {
            if n > max {
                fail(format!("{n} is above {max}"));
            }
        }
        if let (Some(text), Some(pattern)) = (value.as_str(), rules.get("pattern").and_then(Value::as_str)) {
            if !Regex::new(pattern).expect("pattern").is_match(text) {
                fail(format!("{text:?} does not match {pattern}"));
            }
        }
        if let Some(object) = value.as_object() {
            for name in rules.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str)
            {
                if !object.contains_key(name) {
                    errors.push(format!("{at}: {name} is missing"));
                }
            }
            let properties = rules.get("properties").and_then(Value::as_object);
            if let Some(rule) = rules.get("propertyNames") {
                for name in object.keys() {
                    self.check(rule, &Value::String(name.clone()), &format!("{at} key {name:?}"), errors);
                }
            }
            for (name, inner) in object {
                let path = format!("{at}.{name}");
                match properties.and_then(|p| p.get(name)) {
                    Some(rule) => self.check(rule, inner, &path, errors),
                    None => {
                        if let Some(rule) = rules.get("additionalProperties") {
                            self.check(rule, inner, &path, errors);
                        }
                    }
                }
            }
        }
        if let Some(items) = value.as_array() {
            let prefix = rules.get("prefixItems").and_then(Value::as_array);
            let skip = prefix.map_or(0, Vec::len);
            for (i, (rule, item)) in prefix.into_iter().flatten().zip(items).enumerate() {
                self.check(rule, item, &format!("{at}[{i}]"), errors);
            }
            if let Some(rule) = rules.get("items") {
                for (i, item) in items.iter().enumerate().skip(skip) {
                    self.check(rule, item, &format!("{at}[{i}]"), errors);
                }
            }
            if rules.get("minItems").and_then(Value::as_u64).is_some_and(|n| (items.len() as u64) < n) {
                errors.push(format!("{at}: too few items"));
            }
            if rules.get("maxItems").and_then(Value::as_u64).is_some_and(|n| items.len() as u64 > n) {
                errors.push(format!("{at}: too many items"));
            }
        }
        let passes = |rule: &Value| {
            let mut inner = Vec::new();
            self.check(rule, value, at, &mut inner);
            inner.is_empty()
        };
        if let Some(all) = rules.get("allOf").and_then(Value::as_array) {
            for rule in all {
                self.check(rule, value, at, errors);
            }
        }
        if let Some(options) = rules.get("anyOf").and_then(Value::as_array) {
            if !options.iter().any(passes) {
                errors.push(format!("{at}: matches none of anyOf"));
            }
        }
        if let Some(options) = rules.get("oneOf").and_then(Value::as_array) {
            let n = options.iter().filter(|rule| passes(rule)).count();
            if n != 1 {
                errors.push(format!("{at}: matches {n} of oneOf, not exactly one"));
            }
        }
        if let Some(rule) = rules.get("not") {
            if passes(rule) {
                errors.push(format!("{at}: matches what `not` forbids: {rule}"));
            }
        }
    }
}

fn is_type(value: &Value, kind: &str) -> bool {
    match kind {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "number" => value.is_number(),
        "integer" => value.is_i64() || value.is_u64(),
        _ => panic!("unknown type {kind}"),
    }
}

/// Checks events against Frigate 0.16's event schema (`tests/schemas/frigate-event.json`) and
/// the rules between their fields that a schema cannot say: `before` and `after` are one
/// object; a `new` comes from an object that was a false positive and no longer is; only an
/// `end` has an `end_time`; no event is a false positive's.
pub fn assert_frigate_events(events: &[Value]) {
    let schema = Schema::load("frigate-event");
    for event in events {
        schema.assert_valid(None, event, "an event");
        let (kind, before, after) = (&event["type"], &event["before"], &event["after"]);
        assert_eq!(before["id"], after["id"], "one object: {event}");
        assert_eq!(after["false_positive"], false, "a false positive publishes nothing: {event}");
        assert_eq!(
            kind == "new",
            before["false_positive"] == true,
            "new, and only new, comes from a false positive: {event}"
        );
        assert_eq!(kind == "end", !after["end_time"].is_null(), "only an end has an end_time: {event}");
        assert!(after["top_score"].as_f64() >= Some(0.7) || kind != "new", "a new object's median passed 0.7: {event}");
    }
}
