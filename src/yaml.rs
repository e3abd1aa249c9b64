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

impl From<serde_saphyr::Error> for Error {
    fn from(e: serde_saphyr::Error) -> Self {
        Error {
            line: e
                .location()
                .and_then(|l| usize::try_from(l.line()).ok())
                .filter(|l| *l > 0),
            message: e.to_string(),
        }
    }
}

/// Parser settings. serde-saphyr defaults to YAML 1.1 inference in places where the project's
/// files and requests have always been read as YAML 1.2 core (what `serde_yaml` did): `yes`/`no`/
/// `on`/`off` stay strings, `0755` and `1_000` stay strings. `.inf`/`.nan` become null (JSON has no
/// such numbers). Merge keys (`<<: *anchor`) are merged, as kubectl does. The budget is raised from
/// the library's defaults so large scenario files load; nesting stays bounded.
fn options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_events: 50_000_000,
            max_nodes: 20_000_000,
            max_depth: 128,
        },
        strict_booleans: true,
        leading_zero_numbers_as_strings: true,
        underscored_numbers_as_strings: true,
        non_finite_float_policy: serde_saphyr::NonFiniteFloatPolicy::PassThrough,
        with_snippet: false,
    }
}

/// One document.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, Error> {
    Ok(serde_saphyr::from_str_with_options(text, options())?)
}

/// One document from bytes (UTF-8).
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    Ok(serde_saphyr::from_slice_with_options(bytes, options())?)
}

/// Every document of a `---`-separated stream, empty documents left out.
pub fn documents(text: &str) -> Result<Vec<serde_json::Value>, Error> {
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple_with_options(text, options())?;
    Ok(docs.into_iter().filter(|v| !v.is_null()).collect())
}

/// YAML text of a value, as kubectl prints it: block style, list items at their key's indent,
/// multi-line strings as literal blocks, long lines never folded (the view is searched and copied),
/// strings that would read back as another type quoted.
pub fn to_string<T: Serialize>(value: &T) -> Result<String, Error> {
    let opts = serde_saphyr::ser_options! {
        folded_wrap_chars: usize::MAX,
    };
    serde_saphyr::to_string_with_options(value, opts).map_err(|e| Error {
        line: None,
        message: e.to_string(),
    })
}
