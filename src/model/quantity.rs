//! Kubernetes resource quantities (`250m`, `1.5`, `128Mi`, `1G`, `1e3`) as integers: CPU in
//! millicores, memory in bytes. Unparseable values are `None`, never a guess.

/// CPU in millicores: `250m` → 250, `2` → 2000, `1.5` → 1500, `100u`/`100n` round up to 1.
pub fn cpu_milli(q: &str) -> Option<u64> {
    let q = q.trim();
    if let Some(n) = q.strip_suffix('m') {
        return n.parse::<f64>().ok().map(|v| v.max(0.0).round() as u64);
    }
    if let Some(n) = q.strip_suffix('u') {
        return n.parse::<f64>().ok().map(|v| (v / 1000.0).ceil() as u64);
    }
    if let Some(n) = q.strip_suffix('n') {
        return n
            .parse::<f64>()
            .ok()
            .map(|v| (v / 1_000_000.0).ceil() as u64);
    }
    q.parse::<f64>()
        .ok()
        .map(|v| (v.max(0.0) * 1000.0).round() as u64)
}

/// Memory in bytes: `128Mi`, `1Gi`, `500M`, `1000Ki`, `1e9`, `12345`.
pub fn bytes(q: &str) -> Option<u64> {
    const UNITS: &[(&str, f64)] = &[
        ("Ki", 1024.0),
        ("Mi", 1024.0 * 1024.0),
        ("Gi", 1024.0 * 1024.0 * 1024.0),
        ("Ti", 1024.0 * 1024.0 * 1024.0 * 1024.0),
        ("Pi", 1024.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0),
        ("k", 1e3),
        ("K", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
        ("m", 1e-3),
    ];
    let q = q.trim();
    for (suffix, mult) in UNITS {
        if let Some(n) = q.strip_suffix(suffix)
            && let Ok(v) = n.parse::<f64>()
        {
            return Some((v.max(0.0) * mult).round() as u64);
        }
    }
    q.parse::<f64>().ok().map(|v| v.max(0.0).round() as u64)
}

/// `1.5Gi`, `312Mi`, `900Ki` for display.
pub fn fmt_bytes(b: u64) -> String {
    let b = b as f64;
    let (k, m, g) = (1024.0, 1024.0 * 1024.0, 1024.0 * 1024.0 * 1024.0);
    if b >= g {
        format!("{:.1}Gi", b / g)
    } else if b >= m {
        format!("{:.0}Mi", b / m)
    } else {
        format!("{:.0}Ki", b / k)
    }
}

/// `250m`, `1.5` for display.
pub fn fmt_cpu(m: u64) -> String {
    if m >= 1000 {
        format!("{:.1}", m as f64 / 1000.0)
    } else {
        format!("{m}m")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_parse_like_kubernetes() {
        assert_eq!(cpu_milli("250m"), Some(250));
        assert_eq!(cpu_milli("2"), Some(2000));
        assert_eq!(cpu_milli("1.5"), Some(1500));
        assert_eq!(cpu_milli("1500000n"), Some(2));
        assert_eq!(cpu_milli("x"), None);
        assert_eq!(bytes("128Mi"), Some(128 * 1024 * 1024));
        assert_eq!(bytes("1Gi"), Some(1 << 30));
        assert_eq!(bytes("500M"), Some(500_000_000));
        assert_eq!(bytes("1000Ki"), Some(1_024_000));
        assert_eq!(bytes("1e3"), Some(1000));
        assert_eq!(bytes("12345"), Some(12345));
        assert_eq!(bytes("lots"), None);
        assert_eq!(fmt_bytes(1536 * 1024 * 1024), "1.5Gi");
        assert_eq!(fmt_cpu(250), "250m");
    }
}
