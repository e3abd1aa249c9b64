//! Text helpers every layer may use (a leaf: it imports nothing of the crate): truncation, ages,
//! credential scrubbing, error chains.

use chrono::{DateTime, Utc};

const REDACTED: &str = "[redacted]";

/// Shorten `s` to `max` display columns with an ellipsis.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut t: String = s.chars().take(max - 1).collect();
    t.push('…');
    t
}

/// Human age like kubectl: `45s`, `12m`, `3h`, `2d`.
pub fn age(now: DateTime<Utc>, then: DateTime<Utc>) -> String {
    let s = (now - then).num_seconds().max(0);
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m", s / 60),
        7200..=172_799 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

/// An error and its sources on one line, without repeats ("a: b: c").
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        let s = err.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        cur = err.source();
    }
    parts.join(": ")
}

/// Replace whatever looks like a credential.
pub fn scrub(text: &str) -> String {
    text.lines().map(scrub_line).collect::<Vec<_>>().join("\n")
        + if text.ends_with('\n') { "\n" } else { "" }
}

/// A long opaque string: mixed-case base64-like (Kubernetes names are lowercase, so they pass), or a
/// long run of hex.
fn is_opaque(w: &str) -> bool {
    let core = w.trim_matches(|c: char| "\"'`,;()[]{}<>".contains(c));
    let b64 = core
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "+/=_-".contains(c));
    let mixed = core.chars().any(|c| c.is_ascii_uppercase())
        && core.chars().any(|c| c.is_ascii_lowercase())
        && core.chars().any(|c| c.is_ascii_digit());
    let hex = core.len() >= 40 && core.chars().all(|c| c.is_ascii_hexdigit());
    (core.len() >= 32 && b64 && mixed) || hex
}

fn secret_key(k: &str) -> bool {
    let k = k
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_ascii_lowercase();
    [
        "token", "password", "passwd", "secret", "apikey", "api_key", "api-key",
    ]
    .iter()
    .any(|s| k.ends_with(s))
}

fn scrub_line(line: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut hide_next = false;
    for w in line.split(' ') {
        if hide_next && !w.is_empty() {
            out.push(REDACTED.into());
            hide_next = false;
            continue;
        }
        let lower = w.to_ascii_lowercase();
        if lower == "bearer" || lower == "basic" {
            out.push(w.into());
            hide_next = true;
            continue;
        }
        // key=value / key:value with a secret-sounding key
        if let Some(pos) = w.find(['=', ':'])
            && secret_key(&w[..pos])
        {
            let value = &w[pos + 1..];
            if value.is_empty() {
                out.push(w.into());
                hide_next = true;
            } else {
                out.push(format!("{}{REDACTED}", &w[..=pos]));
            }
            continue;
        }
        if w.trim_start_matches(|c: char| !c.is_ascii_alphanumeric())
            .starts_with("eyJ")
            && w.len() > 20
            || is_opaque(w)
        {
            out.push(REDACTED.into());
            continue;
        }
        out.push(w.into());
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_like_kubectl() {
        let now = DateTime::parse_from_rfc3339("2026-01-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let ago = |s| now - chrono::Duration::seconds(s);
        assert_eq!(age(now, ago(5)), "5s");
        assert_eq!(age(now, ago(600)), "10m");
        assert_eq!(age(now, ago(3 * 3600)), "3h");
        assert_eq!(age(now, ago(3 * 86400)), "3d");
        assert_eq!(age(now, now + chrono::Duration::seconds(5)), "0s");
    }
}
