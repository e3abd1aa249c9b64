//! Naming keys in the user's file: the dotted key an error points at, and a suggestion for an unknown
//! key taken from the keys the embedded defaults (and `[contexts.NAME]`) know.

use toml::de::{DeTable, DeValue};

/// Keys of `[contexts.NAME]` (not in the defaults: there is no default context).
const CONTEXT_KEYS: &[&str] = &["read_only", "production", "etcd"];

/// The dotted key (`intervals.api_probe_secs`, `keys.3.action`) whose key or value covers byte
/// `offset` of `text`, the innermost one.
pub fn key_at(text: &str, offset: usize) -> Option<String> {
    let table = DeTable::parse(text).ok()?;
    let mut best = None;
    walk_table(table.get_ref(), "", offset, &mut best);
    best
}

fn walk_table(t: &DeTable<'_>, prefix: &str, offset: usize, best: &mut Option<String>) {
    for (k, v) in t.iter() {
        let path = join(prefix, k.get_ref());
        if k.span().contains(&offset) || (v.span().contains(&offset) && !is_table(v.get_ref())) {
            *best = Some(path.clone());
        }
        walk_value(v.get_ref(), &path, offset, best);
    }
}

fn walk_value(v: &DeValue<'_>, path: &str, offset: usize, best: &mut Option<String>) {
    match v {
        DeValue::Table(t) => walk_table(t, path, offset, best),
        DeValue::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                let p = format!("{path}.{i}");
                if x.span().contains(&offset) && !is_table(x.get_ref()) {
                    *best = Some(p.clone());
                }
                walk_value(x.get_ref(), &p, offset, best);
            }
        }
        _ => {}
    }
}

fn is_table(v: &DeValue<'_>) -> bool {
    matches!(v, DeValue::Table(_))
}

fn join(prefix: &str, k: &str) -> String {
    if prefix.is_empty() {
        k.to_string()
    } else {
        format!("{prefix}.{k}")
    }
}

/// The keys allowed beside an unknown dotted key (`general.read_onyl` → the keys of `[general]`).
pub fn siblings(key: &str) -> Vec<String> {
    let Ok(defaults) = toml::from_str::<toml::Table>(super::DEFAULT_CONFIG) else {
        return Vec::new();
    };
    let parts: Vec<&str> = key.split('.').collect();
    let parent = &parts[..parts.len().saturating_sub(1)];
    match parent {
        [] => {
            let mut top: Vec<String> = defaults.keys().cloned().collect();
            top.push("contexts".into());
            top
        }
        ["contexts", _] => CONTEXT_KEYS.iter().map(|k| k.to_string()).collect(),
        _ => {
            let mut node = toml::Value::Table(defaults);
            for p in parent {
                node = match node {
                    toml::Value::Table(mut t) => {
                        t.remove(*p).unwrap_or(toml::Value::Boolean(false))
                    }
                    // an index into `[[keys]]`: every entry has the same fields
                    toml::Value::Array(mut a) if p.parse::<usize>().is_ok() && !a.is_empty() => {
                        a.swap_remove(0)
                    }
                    _ => return Vec::new(),
                };
            }
            match node {
                toml::Value::Table(t) => t.keys().cloned().collect(),
                _ => Vec::new(),
            }
        }
    }
}

/// The closest candidate to `word`, when it is close enough to be a typo.
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).clamp(1, 3);
    candidates
        .into_iter()
        .map(|c| (distance(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Optimal string alignment distance (an adjacent swap counts as one edit).
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

/// ` (did you mean `x`?)` for an unknown dotted key, or nothing.
pub fn did_you_mean(key: &str) -> String {
    let leaf = key.rsplit('.').next().unwrap_or(key);
    let siblings = siblings(key);
    match suggest(leaf, siblings.iter().map(String::as_str)) {
        Some(s) => format!(" (did you mean `{s}`?)"),
        None => String::new(),
    }
}

/// The same for serde's "unknown field `x`, expected one of `a`, `b`" (a section that refuses
/// unknown keys), from the candidates the message lists.
pub fn did_you_mean_in(message: &str) -> String {
    let Some(rest) = message.strip_prefix("unknown field `") else {
        return String::new();
    };
    let Some((word, expected)) = rest.split_once('`') else {
        return String::new();
    };
    let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    match suggest(word, candidates) {
        Some(s) => format!(" (did you mean `{s}`?)"),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_are_close_or_none() {
        assert_eq!(
            suggest("read_onyl", ["read_only", "production_contexts"]),
            Some("read_only")
        );
        assert_eq!(
            suggest("etcd_pol_secs", ["etcd_poll_secs", "api_probe_secs"]),
            Some("etcd_poll_secs")
        );
        assert_eq!(suggest("sparkle", ["critical", "warning"]), None);
        assert_eq!(distance("ab", "ba"), 1);
    }

    #[test]
    fn siblings_come_from_the_defaults() {
        assert!(siblings("general.read_onyl").contains(&"read_only".to_string()));
        assert!(siblings("keys.4.acton").contains(&"action".to_string()));
        assert!(siblings("intervalz").contains(&"intervals".to_string()));
        assert!(siblings("contexts.prod.read_onyl").contains(&"read_only".to_string()));
        assert!(siblings("top.metrics_sec").contains(&"metrics_secs".to_string()));
    }

    #[test]
    fn key_at_names_the_innermost_key() {
        let text = "[intervals]\napi_probe_secs = \"soon\"\n[[keys]]\nkey = \"x\"\naction = 3\n";
        let at = |needle: &str| key_at(text, text.find(needle).unwrap()).unwrap();
        assert_eq!(at("\"soon\""), "intervals.api_probe_secs");
        assert_eq!(at("3\n"), "keys.0.action");
        assert_eq!(at("api_probe"), "intervals.api_probe_secs");
    }

    #[test]
    fn suggestion_from_serde_message() {
        assert_eq!(
            did_you_mean_in("unknown field `cacrt`, expected one of `endpoints`, `cacert`, `cert`"),
            " (did you mean `cacert`?)"
        );
        assert_eq!(did_you_mean_in("invalid type"), "");
    }
}
