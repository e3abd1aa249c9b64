//! README.md's keymap table is generated from `assets/default-config.toml`: they must agree.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use ktriage::config::Config;

const START: &str = "<!-- keymap:start (generated from assets/default-config.toml; tests/readme.rs checks it) -->\n";
const END: &str = "<!-- keymap:end -->";

#[test]
fn readme_keymap_table_matches_the_assets() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let table = Config::defaults().unwrap().keymap.markdown_table();
    let start = readme
        .find(START)
        .expect("README.md lacks the keymap start marker");
    let end = readme
        .find(END)
        .expect("README.md lacks the keymap end marker");
    let current = &readme[start + START.len()..end];
    if current != table {
        if std::env::var_os("KTRIAGE_BLESS").is_some() {
            let fixed = format!("{}{START}{table}{}", &readme[..start], &readme[end..]);
            std::fs::write(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"), fixed).unwrap();
        }
        panic!(
            "README.md keymap table is out of date; run `KTRIAGE_BLESS=1 cargo test --test readme`\nexpected:\n{table}"
        );
    }
}
