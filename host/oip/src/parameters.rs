//! `parameters`: the protocol's open map of name → string, number or boolean, on a request, an input, an
//! output and a response. The binary tensor data extension defines three of them (`binary_data_size`,
//! `binary_data`, `binary_data_output`); others are the server's to define, and this node ignores those it
//! does not know — except the ones that ask for a Triton extension it lacks (shared memory, classification),
//! which are refused rather than silently dropped.

use serde_json::{Map, Value};

/// A `parameters` object.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Parameters(pub Map<String, Value>);

/// Parameters of Triton extensions this node does not implement: asking for them is an error.
const UNSUPPORTED: [(&str, &str); 4] = [
    ("shared_memory_region", "the shared-memory extension"),
    ("shared_memory_byte_size", "the shared-memory extension"),
    ("shared_memory_offset", "the shared-memory extension"),
    ("classification", "the classification extension"),
];

impl Parameters {
    /// Checks that every value is a string, number or boolean (the protocol's `$parameter`) and that no
    /// unsupported extension is asked for; `owner` names the object in messages (`input "x"`, `the request`).
    pub(crate) fn check(&self, owner: &str) -> Result<(), String> {
        for (name, value) in &self.0 {
            if !matches!(value, Value::String(_) | Value::Number(_) | Value::Bool(_)) {
                return Err(format!(
                    "{owner}: parameter \"{name}\" must be a string, number or boolean, got {}",
                    kind(value)
                ));
            }
            if let Some((_, extension)) = UNSUPPORTED.iter().find(|(p, _)| p == name) {
                return Err(format!(
                    "{owner}: parameter \"{name}\" asks for {extension}, which this node does not offer"
                ));
            }
        }
        Ok(())
    }

    /// A boolean parameter; absent is `None`, any other type an error.
    pub(crate) fn bool(&self, owner: &str, name: &str) -> Result<Option<bool>, String> {
        match self.0.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(format!("{owner}: parameter \"{name}\" must be a boolean, got {}", kind(other))),
        }
    }

    /// A non-negative integer parameter; absent is `None`, any other type or a negative number an error.
    pub(crate) fn size(&self, owner: &str, name: &str) -> Result<Option<u64>, String> {
        match self.0.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) if n.as_u64().is_some() => Ok(n.as_u64()),
            Some(other) => {
                Err(format!("{owner}: parameter \"{name}\" must be a non-negative integer, got {}", short(other)))
            }
        }
    }

    /// A parameter set: `{"binary_data_size": n}` and the like.
    pub(crate) fn with(name: &str, value: impl Into<Value>) -> Self {
        let mut map = Map::new();
        map.insert(name.to_string(), value.into());
        Self(map)
    }
}

/// The JSON type of a value, for messages.
pub(crate) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A value for a message: itself when short, else its type.
pub(crate) fn short(value: &Value) -> String {
    match value {
        Value::Array(_) | Value::Object(_) => kind(value).to_string(),
        Value::String(s) if s.len() > 40 => "a long string".to_string(),
        _ => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(value: Value) -> Parameters {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn values_must_be_scalars_and_known_extensions_are_refused() {
        assert!(params(json!({"a": 1, "b": "x", "c": true, "priority": 3})).check("the request").is_ok());
        let err = params(json!({"a": [1]})).check("input \"x\"").unwrap_err();
        assert_eq!(err, "input \"x\": parameter \"a\" must be a string, number or boolean, got an array");
        let err = params(json!({"shared_memory_region": "r"})).check("input \"x\"").unwrap_err();
        assert!(err.contains("shared-memory extension"), "{err}");
        let err = params(json!({"classification": 3})).check("output \"y\"").unwrap_err();
        assert!(err.contains("classification extension"), "{err}");
    }

    #[test]
    fn typed_reads_name_the_owner_and_the_parameter() {
        let p = params(json!({"binary_data": "yes", "binary_data_size": -4, "ok": 16}));
        assert_eq!(
            p.bool("output \"y\"", "binary_data").unwrap_err(),
            "output \"y\": parameter \"binary_data\" must be a boolean, got a string"
        );
        assert_eq!(
            p.size("input \"x\"", "binary_data_size").unwrap_err(),
            "input \"x\": parameter \"binary_data_size\" must be a non-negative integer, got -4"
        );
        assert_eq!(p.size("input \"x\"", "ok"), Ok(Some(16)));
        assert_eq!(p.bool("input \"x\"", "absent"), Ok(None));
    }
}
