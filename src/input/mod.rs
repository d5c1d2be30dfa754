//! Bounded reading of what a person hands the binary: manifest files (`plan`/`apply -f`),
//! `--tenancy-file` and `--alexa-credentials` (README, "Bad input"). Every reader here ends in
//! bounded time and memory on any input, and refuses a file as a whole at its first problem,
//! naming the file and, for YAML, the line and column.
//!
//! The bounds, and why:
//! - a file is read up to [`MAX_FILE_BYTES`]; a larger one (or an endless one, `/dev/zero`) is
//!   refused after that many bytes;
//! - YAML is parsed by serde_yaml, which already stops at 128 levels of nesting and at 100 alias
//!   jumps per event. Its multi-document iterator, though, yields the same syntax error forever
//!   once one is met, so [`yaml_documents`] stops at the first error;
//! - its alias limit bounds the *count* of jumps, not what they expand to: a few aliases of a large
//!   list still multiply it. Each document is therefore built through a budget of
//!   [`MAX_DOCUMENT_BYTES`] (every scalar's length plus a fixed cost per node), counted while it is
//!   built, so an expansion stops at the budget, never after it.
//!
//! Documents become `serde_json::Value`s, the form the validator and the Kubernetes types read.
//! A mapping key must be a scalar (numbers and booleans become their text, as the API server's
//! YAML reader does) and may appear once: a duplicate key is refused, as `kubectl apply` refuses it.

use std::cell::Cell;
use std::fmt;
use std::io::Read;
use std::path::Path;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// The largest file read: far above any real manifest stream (a LambdaAliasSet is a few KiB, and
/// the API server stores objects of at most 1.5 MiB), far below what could hurt a CI runner.
pub const MAX_FILE_BYTES: u64 = 16 << 20;

/// The most one YAML document may expand to, aliases included: every scalar's bytes plus
/// [`NODE_COST`] per node. The API server refuses a request body over 3 MiB.
pub const MAX_DOCUMENT_BYTES: usize = 4 << 20;

/// What one node (scalar, sequence or mapping) counts against [`MAX_DOCUMENT_BYTES`] besides its
/// text: roughly what a `serde_json::Value` costs in memory.
pub const NODE_COST: usize = 32;

/// A problem with one file: `origin: problem` (the problem names the line and column, or the
/// document, where there is one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputError {
    pub origin: String,
    pub problem: String,
}

impl InputError {
    fn new(origin: &str, problem: impl Into<String>) -> Self {
        InputError { origin: origin.to_string(), problem: problem.into() }
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.origin, self.problem)
    }
}

impl std::error::Error for InputError {}

/// The whole file as UTF-8 text, at most [`MAX_FILE_BYTES`]. `origin` names it in errors (a path,
/// or `--tenancy-file PATH`).
pub fn read_text(path: &Path, origin: &str) -> Result<String, InputError> {
    let file = std::fs::File::open(path).map_err(|e| InputError::new(origin, e.to_string()))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| InputError::new(origin, e.to_string()))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(InputError::new(
            origin,
            format!(
                "larger than {} MiB, the most a file given to this command may hold",
                MAX_FILE_BYTES >> 20
            ),
        ));
    }
    String::from_utf8(bytes).map_err(|e| {
        InputError::new(
            origin,
            format!("not UTF-8 text (the first bad byte is at offset {})", e.utf8_error().valid_up_to()),
        )
    })
}

/// Every document of a YAML stream, with its 1-based index; empty documents (`---` alone) are
/// left out. The first syntax error, alias bomb, duplicate key or oversized document refuses the
/// whole stream: `origin: not valid YAML at line L column C: what`.
pub fn yaml_documents(text: &str, origin: &str) -> Result<Vec<(usize, Value)>, InputError> {
    // A byte order mark may open a stream (YAML 1.2, section 5.2); libyaml, handed text, reads it
    // as content.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut documents = Vec::new();
    // The iterator repeats a syntax error forever (see the module's doc): stop at the first.
    for (i, document) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let budget = Cell::new(MAX_DOCUMENT_BYTES);
        match (Node { budget: &budget }).deserialize(document) {
            Ok(Value::Null) => {}
            Ok(value) => documents.push((i + 1, value)),
            Err(e) => return Err(InputError::new(origin, describe(&e, text, i + 1))),
        }
    }
    Ok(documents)
}

/// A stream that must hold at most one document (an empty stream is `Null`).
pub fn yaml_document(text: &str, origin: &str) -> Result<Value, InputError> {
    let mut documents = yaml_documents(text, origin)?;
    match documents.len() {
        0 => Ok(Value::Null),
        1 => Ok(documents.remove(0).1),
        n => Err(InputError::new(origin, format!("holds {n} YAML documents, expected one"))),
    }
}

/// `not valid YAML at line L column C: problem`, or `document N: not valid YAML: problem` when the
/// parser knows no position.
fn describe(error: &serde_yaml::Error, text: &str, document: usize) -> String {
    let mut problem = error.to_string();
    let mut at = error.location().map(|at| (at.line(), at.column()));
    if let Some((line, column)) = at {
        // serde_yaml's message embeds the position; it is said once, in front.
        problem = problem.replacen(&format!(" at line {line} column {column}"), "", 1);
    }
    // libyaml's reader (a control character, bad UTF-8) gives a byte offset, not a position.
    let reader_offset = problem
        .rsplit_once(" at position ")
        .and_then(|(said, offset)| Some((said, offset.parse::<usize>().ok()?)))
        .filter(|&(_, offset)| offset <= text.len() && text.is_char_boundary(offset));
    if let Some((said, offset)) = reader_offset {
        let before = &text[..offset];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        at = Some((line, column));
        problem = said.to_string();
    }
    if problem == "recursion limit exceeded" {
        problem = "nested deeper than 128 levels, or an alias inside its own anchor".to_string();
    }
    if problem == "repetition limit exceeded" {
        problem = "its aliases expand too many times (an alias bomb?)".to_string();
    }
    match at {
        Some((line, column)) => format!("not valid YAML at line {line} column {column}: {problem}"),
        None => format!("document {document}: not valid YAML: {problem}"),
    }
}

/// Builds one node as a `serde_json::Value`, charging the shared budget as it goes.
struct Node<'b> {
    budget: &'b Cell<usize>,
}

impl Node<'_> {
    fn charge<E: de::Error>(&self, bytes: usize) -> Result<(), E> {
        let cost = bytes.saturating_add(NODE_COST);
        match self.budget.get().checked_sub(cost) {
            Some(left) => {
                self.budget.set(left);
                Ok(())
            }
            None => Err(E::custom(format_args!(
                "the document expands to more than {} MiB (aliases included); the API server refuses objects of that size",
                MAX_DOCUMENT_BYTES >> 20
            ))),
        }
    }
}

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a YAML value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        self.charge(0)?;
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        self.visit_unit()
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        self.charge(0)?;
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        self.charge(0)?;
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        self.charge(0)?;
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        self.charge(0)?;
        // The value is not echoed: this reader also reads credentials.
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("a number JSON cannot hold (.nan or .inf); quote it if it is text"))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        self.charge(v.len())?;
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        self.charge(v.len())?;
        Ok(Value::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.charge(0)?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(Node { budget: self.budget })? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        self.charge(0)?;
        let mut object = Map::new();
        while let Some(key) = map.next_key_seed(Key { budget: self.budget })? {
            if object.contains_key(&key) {
                return Err(de::Error::custom(format_args!("the key {key:?} appears twice in one mapping")));
            }
            let value = map.next_value_seed(Node { budget: self.budget })?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, _data: A) -> Result<Value, A::Error> {
        Err(de::Error::custom("a YAML tag (`!name`) is not supported here"))
    }
}

/// A mapping key: a scalar, as text.
struct Key<'b> {
    budget: &'b Cell<usize>,
}

impl<'de> DeserializeSeed<'de> for Key<'_> {
    type Value = String;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<String, D::Error> {
        let node = Node { budget: self.budget }.deserialize(deserializer)?;
        match node {
            Value::String(text) => Ok(text),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            Value::Null => Ok("null".to_string()),
            Value::Array(_) | Value::Object(_) => {
                Err(de::Error::custom("a mapping key must be a string, not a sequence or a mapping"))
            }
        }
    }
}

#[cfg(any(test, feature = "test-util"))]
pub mod mutate;
#[cfg(test)]
mod tests;
