//! Text helpers every layer may use (a leaf: it imports nothing of the crate): truncation and
//! headlines fitted to a width, ages, credential scrubbing, error chains.

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

/// Words of a headline shortened no further than this (`vali…r.sh`).
const HEADLINE_WORD_MIN: usize = 8;

/// `word` shortened to `keep` characters, its middle replaced by `…` (both ends stay readable: a
/// URL keeps its scheme and its last path segment).
fn elide_middle(word: &str, keep: usize) -> String {
    let chars: Vec<char> = word.chars().collect();
    if chars.len() <= keep || keep < 3 {
        return word.to_string();
    }
    let tail = (keep - 1) / 2;
    let head = keep - 1 - tail;
    let mut out: String = chars[..head].iter().collect();
    out.push('…');
    out.extend(&chars[chars.len() - tail..]);
    out
}

/// A finding's title fitted to `max` columns without losing what it claims: the headline (the title
/// up to its first `": "`, or all of it) keeps every word, its longest words (names, URLs) shortened
/// in the middle as far as needed (down to 8 characters); only the detail after the colon is cut.
/// `API server https://rancher.example:6443/k8s/clusters/c-m-a is unreachable` at 58 columns reads
/// `API server https://ranc…s/c-m-a is unreachable`, where a plain cut lost "is unreachable".
pub fn fit_headline(title: &str, max: usize) -> String {
    if title.chars().count() <= max {
        return title.to_string();
    }
    let (head, detail) = match title.split_once(": ") {
        Some((h, d)) => (h, Some(d)),
        None => (title, None),
    };
    // with a detail, one column stays for the `…` that says more follows
    let budget = if detail.is_some() {
        max.saturating_sub(1)
    } else {
        max
    };
    let mut words: Vec<String> = head.split(' ').map(str::to_string).collect();
    let len = |w: &[String]| w.iter().map(|x| x.chars().count()).sum::<usize>() + w.len() - 1;
    while len(&words) > budget {
        let excess = len(&words) - budget;
        let Some((i, n)) = words
            .iter()
            .enumerate()
            .map(|(i, w)| (i, w.chars().count()))
            .filter(|(_, n)| *n > HEADLINE_WORD_MIN)
            .max_by_key(|(_, n)| *n)
        else {
            break;
        };
        let keep = n.saturating_sub(excess).max(HEADLINE_WORD_MIN);
        words[i] = elide_middle(&words[i], keep);
    }
    let mut out = words.join(" ");
    if let Some(d) = detail {
        out.push_str(": ");
        out.push_str(d);
    }
    truncate(&out, max)
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

    #[test]
    fn headlines_keep_their_claim() {
        let api =
            "API server https://rancher.example:6443/k8s/clusters/c-m-abcd1234 is unreachable";
        let fit = fit_headline(api, 58);
        assert!(fit.chars().count() <= 58, "{fit}");
        assert!(fit.starts_with("API server https://"), "{fit}");
        assert!(fit.ends_with("c-m-abcd1234 is unreachable"), "{fit}");
        // the detail after the colon is what gives way
        let ns = "namespace cattle-monitoring-system is stuck Terminating: finalizer:controller.cattle.io/namespace-auth";
        let fit = fit_headline(ns, 58);
        assert!(
            fit.starts_with("namespace cattle-monitoring-system is stuck Terminating: "),
            "{fit}"
        );
        assert!(fit.ends_with('…') && fit.chars().count() == 58, "{fit}");
        // a headline that just fits is not eaten by the detail's ellipsis
        let wh = "webhook validation.gatekeeper.sh (gatekeeper-validating-webhook-configuration) fails closed with no backend: blocks pod creation in 9 namespace(s)";
        let fit = fit_headline(wh, 58);
        assert!(fit.contains(" fails closed with no backend…"), "{fit}");
        assert!(fit.starts_with("webhook "), "{fit}");
        // a title that fits is left alone
        assert_eq!(
            fit_headline("etcd has lost quorum", 58),
            "etcd has lost quorum"
        );
        // short words are never shortened: a headline of short words is cut at the end
        let fit = fit_headline("aaaa bbbb cccc dddd", 10);
        assert_eq!(fit, "aaaa bbbb…");
    }
}
