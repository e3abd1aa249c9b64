//! The one YAML stack: scenario files, YAML request bodies of the simulator and the YAML view all
//! parse and print through here, so the parser and its settings are chosen in one place.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// A YAML error with the 1-based line it points at, when the parser knows it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    pub line: Option<usize>,
    pub message: String,
}

impl From<serde_yaml::Error> for Error {
    fn from(e: serde_yaml::Error) -> Self {
        Error {
            line: e.location().map(|l| l.line()),
            message: e.to_string(),
        }
    }
}

/// One document.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, Error> {
    Ok(serde_yaml::from_str(text)?)
}

/// One document from bytes (UTF-8).
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    Ok(serde_yaml::from_slice(bytes)?)
}

/// Every document of a `---`-separated stream, empty documents left out.
pub fn documents(text: &str) -> Result<Vec<serde_json::Value>, Error> {
    use serde::Deserialize as _;
    let mut out = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(text) {
        let v = serde_json::Value::deserialize(doc)?;
        if !v.is_null() {
            out.push(v);
        }
    }
    Ok(out)
}

/// YAML text of a value.
pub fn to_string<T: Serialize>(value: &T) -> Result<String, Error> {
    Ok(serde_yaml::to_string(value)?)
}
