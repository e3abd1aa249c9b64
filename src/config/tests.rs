//! Tests of the config file: merging, errors naming file, line and key, unknown keys.
use super::*;

fn apply(text: &str) -> Result<Config, ConfigError> {
    let mut cfg = Config::defaults()?;
    cfg.apply_text(Path::new("user.toml"), text)?;
    Ok(cfg)
}

#[test]
fn defaults_parse_and_bind_every_pane() {
    let cfg = Config::defaults().unwrap();
    assert!(cfg.warnings.is_empty());
    for p in crate::shared::pane::PaneId::ALL {
        assert!(
            cfg.keymap
                .bindings
                .iter()
                .any(|b| b.action == Action::Pane(*p)),
            "no key for pane {p:?}"
        );
    }
    assert_eq!(cfg.intervals.backoff_cap_secs, 30);
}

#[test]
fn user_file_overrides_and_unbinds() {
    let cfg = apply(
        "[theme]\ncritical = \"#ff0000\"\n[[keys]]\nkey = \"q\"\naction = \"none\"\n\n[[keys]]\nkey = \"x\"\naction = \"quit\"\n",
    )
    .unwrap();
    assert_eq!(cfg.theme.critical, Color::Rgb(255, 0, 0));
    let q = Key::parse("q").unwrap();
    let x = Key::parse("x").unwrap();
    assert_eq!(
        cfg.keymap
            .lookup(q, crate::shared::pane::PaneId::Overview, false),
        None
    );
    assert_eq!(
        cfg.keymap
            .lookup(x, crate::shared::pane::PaneId::Overview, false),
        Some(Action::Quit)
    );
}

#[test]
fn unknown_action_names_file_line_and_key() {
    let err = apply("\n\n[[keys]]\nkey = \"x\"\naction = \"explode\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("user.toml, line 5"), "{err}");
    assert!(
        err.contains("keys[0].action: unknown action \"explode\""),
        "{err}"
    );
}

#[test]
fn syntax_error_names_the_line() {
    let err = apply("[general]\nread_only = yes\n")
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("config file user.toml, line 2:"), "{err}");
}

#[test]
fn wrong_type_names_the_line() {
    let err = apply("[intervals]\napi_probe_secs = \"soon\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("line 2: `intervals.api_probe_secs`"), "{err}");
}

#[test]
fn unknown_keys_are_warnings() {
    let cfg = apply("[general]\nread_onyl = true\n[theme]\nsparkle = \"red\"\n").unwrap();
    assert_eq!(cfg.warnings.len(), 2, "{:?}", cfg.warnings);
    assert!(
        cfg.warnings[0].contains("line 2: unknown key `general.read_onyl`"),
        "{:?}",
        cfg.warnings
    );
    assert!(
        cfg.warnings[1].contains("theme.sparkle"),
        "{:?}",
        cfg.warnings
    );
    assert!(!cfg.read_only);
}

#[test]
fn unknown_keys_suggest_the_key_meant() {
    let cfg = apply(
        "[general]\nread_onyl = true\n[intervals]\netcd_pol_secs = 3\n[theme]\ncriticl = \"red\"\n[top]\nmetrics_sec = 5\n[contexts.audit]\nread_onyl = true\n[[keys]]\nkey = \"x\"\nacton = \"quit\"\naction = \"quit\"\n",
    )
    .unwrap();
    let all = cfg.warnings.join("\n");
    for (key, meant) in [
        ("general.read_onyl", "read_only"),
        ("intervals.etcd_pol_secs", "etcd_poll_secs"),
        ("theme.criticl", "critical"),
        ("top.metrics_sec", "metrics_secs"),
        ("contexts.audit.read_onyl", "read_only"),
        ("keys.0.acton", "action"),
    ] {
        assert!(
            all.contains(&format!(
                "unknown key `{key}` ignored (did you mean `{meant}`?)"
            )),
            "{key}: {all}"
        );
    }
    assert!(all.contains("user.toml, line 2:"), "{all}");
    // an unknown key changes nothing: the audit context is not read-only by a typo
    assert!(!cfg.context_read_only("audit"));
    assert_eq!(cfg.tuning.top.metrics_secs, 10);
}

#[test]
fn type_errors_name_the_key() {
    let err = apply("[top]\nnear_limit_pct = \"high\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("line 2: `top.near_limit_pct`: invalid type"),
        "{err}"
    );
    let err = apply("[contexts.prod.etcd]\ncacrt = \"/ca\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("line 2: `contexts.prod.etcd.cacrt`"), "{err}");
    assert!(err.contains("did you mean `cacert`?"), "{err}");
}

#[test]
fn zero_interval_rejected() {
    let err = apply("[intervals]\nbackoff_cap_secs = 0\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("line 2") && err.contains("at least 1"),
        "{err}"
    );
}

#[test]
fn context_settings() {
    let cfg =
        apply("[contexts.audit]\nread_only = true\n[contexts.dev-prod-like]\nproduction = false\n")
            .unwrap();
    assert!(cfg.context_read_only("audit"));
    assert!(!cfg.context_read_only("other"));
    assert!(cfg.is_production("eu-prod-1"));
    assert!(!cfg.is_production("dev-prod-like"));
    assert!(!cfg.is_production("staging"));
}

#[test]
fn context_etcd_section() {
    let cfg = apply(
        "[contexts.prod.etcd]\nendpoints = [\"https://10.0.0.1:2379\"]\ncacert = \"/ca.crt\"\n[intervals]\netcd_timeout_secs = 3\n",
    )
    .unwrap();
    let e = cfg.contexts["prod"].etcd.as_ref().unwrap();
    assert_eq!(e.endpoints.as_ref().unwrap()[0], "https://10.0.0.1:2379");
    assert_eq!(cfg.intervals.etcd_timeout_secs, 3);
    assert_eq!(cfg.intervals.etcd_poll_secs, 5);
}

#[test]
fn glob() {
    assert!(glob_match("*prod*", "prod"));
    assert!(glob_match("a*c", "abbbc"));
    assert!(!glob_match("a*c", "abbbd"));
    assert!(glob_match("exact", "exact"));
    assert!(!glob_match("exact", "exactly"));
}
