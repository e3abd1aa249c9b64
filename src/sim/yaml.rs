//! The one YAML stack: scenario files, YAML request bodies of the simulator and the YAML view all
//! parse and print through here, so the parser and its settings are chosen in one place. It lives in
//! the simulator, which uses nothing else of the crate, so every layer may use it (`ktriage::yaml`).

use serde::Serialize;
use serde::de::DeserializeOwned;

/// A YAML error with the 1-based line it points at, when the parser knows it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    pub line: Option<usize>,
    pub message: String,
}

impl Error {
    /// serde-saphyr's error on `text`, with the mapping keys that lead to its line in front (serde-saphyr
    /// names the line and column, not the key: `objects: expected sequence start at line 2, column 10`).
    fn on(text: &str, e: serde_saphyr::Error) -> Error {
        let line = e
            .location()
            .and_then(|l| usize::try_from(l.line()).ok())
            .filter(|l| *l > 0);
        let message = e.to_string();
        let message = match line.and_then(|l| key_path_at(text, l)) {
            Some(path) if !message.starts_with(&path) => format!("{path}: {message}"),
            _ => message,
        };
        Error { line, message }
    }
}

/// The mapping keys leading to line `line` (1-based) of block-style YAML, by indentation:
/// `users.rules` for a line inside a rule of a user (list items add no index). `None` at the top.
fn key_path_at(text: &str, line: usize) -> Option<String> {
    let mut keys = Vec::new();
    let mut limit = usize::MAX;
    for (i, l) in text
        .lines()
        .take(line)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .enumerate()
    {
        let body = l.trim_start();
        if body.is_empty() || body.starts_with('#') {
            continue;
        }
        let mut indent = l.len() - body.len();
        let mut body = body;
        if i == 0 {
            limit = indent + 1;
        }
        // `- key: v`: the key stands two columns right of its dash
        while let Some(rest) = body.strip_prefix("- ") {
            indent += 2 + (rest.len() - rest.trim_start().len());
            body = rest.trim_start();
        }
        if indent >= limit {
            continue;
        }
        limit = indent;
        if let Some(k) = key_of(body) {
            keys.push(k);
        }
        if indent == 0 {
            break;
        }
    }
    keys.reverse();
    (!keys.is_empty()).then(|| keys.join("."))
}

/// `key` of `key: value` or `key:` (plain or quoted), else `None`.
fn key_of(body: &str) -> Option<&str> {
    if let Some(q @ ('"' | '\'')) = body.chars().next() {
        let end = body[1..].find(q)? + 1;
        return body[end + 1..].starts_with(':').then(|| &body[1..end]);
    }
    if body.starts_with(['{', '[', '-', '?', '&', '*', '!', '|', '>']) {
        return None;
    }
    let colon = body
        .find(": ")
        .or_else(|| body.ends_with(':').then(|| body.len() - 1))?;
    Some(body[..colon].trim_end())
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
    serde_saphyr::from_str_with_options(text, options()).map_err(|e| Error::on(text, e))
}

/// One document from bytes (UTF-8).
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    serde_saphyr::from_slice_with_options(bytes, options())
        .map_err(|e| Error::on(&String::from_utf8_lossy(bytes), e))
}

/// Every document of a `---`-separated stream, empty documents left out.
pub fn documents(text: &str) -> Result<Vec<serde_json::Value>, Error> {
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple_with_options(text, options())
        .map_err(|e| Error::on(text, e))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_paths_by_indentation() {
        let text = "name: x\nusers:\n  - name: jane\n    rules:\n      - verbs: [get]\n        apiGroups: 5\nobjects:\n  - apiVersion: v1\n    kind: Pod\n  - {\"kind\":\n";
        assert_eq!(key_path_at(text, 1).as_deref(), Some("name"));
        assert_eq!(
            key_path_at(text, 6).as_deref(),
            Some("users.rules.apiGroups")
        );
        assert_eq!(key_path_at(text, 10).as_deref(), Some("objects"));
        assert_eq!(key_path_at(text, 9).as_deref(), Some("objects.kind"));
        assert_eq!(key_of("\"a b\": 1"), Some("a b"));
        assert_eq!(key_of("{a: 1}"), None);
    }

    #[test]
    fn errors_name_the_key_and_line() {
        let e = from_str::<serde_json::Value>("a: 1\nb:\n  c: [1, 2\n").unwrap_err();
        assert!(e.message.starts_with("b.c: "), "{e:?}");
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct S {
            objects: Vec<u8>,
        }
        let e = from_str::<S>("objects: 5\n").unwrap_err();
        assert_eq!(e.line, Some(1));
        assert!(e.message.starts_with("objects: "), "{e:?}");
    }
}
