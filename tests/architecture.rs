//! The architecture map in `src/lib.rs` is the truth, checked here against the code:
//!
//! - **layers point down**: every `use crate::…`, `use super::…`, child-module `use`, and every
//!   fully qualified `crate::a::b` path in `src/**/*.rs` is resolved to the map's row that owns it;
//!   a module may name only its own row or rows on a lower layer (the simulator, `sim`, is on
//!   layer 0: it names nothing else of the crate). Unit tests (`#[cfg(test)]` items) may use any
//!   layer: they are fixtures, not structure.
//! - **the map is complete**: every module `src/lib.rs` declares is in the map, every path the map
//!   names exists.
//! - **functions read as named steps**: no function is longer than 100 lines, outside unit tests
//!   and the simulator's fixtures (canned log lines, server-side table columns, the scale
//!   generator's objects).
//!
//! The parser is a small text scan (comments and literals blanked, `use` trees expanded, `super`
//! and `self` resolved), so a failure names the file, the line and the path.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Files whose long functions are data, not logic (the simulator's fixtures).
const FIXTURES: &[&str] = &[
    "src/sim/table.rs",
    "src/sim/etcd/logs.rs",
    "src/sim/generator.rs",
];

const MAX_FN_LINES: usize = 100;

/// One row of the map: a layer number and the module paths it owns.
#[derive(Debug)]
struct Row {
    layer: u32,
    modules: Vec<String>,
    line: usize,
}

/// The rows of the layer table in `src/lib.rs`'s module doc: `//! | N | `a`, `b::c` | role |`.
fn layer_table(lib: &str) -> Vec<Row> {
    let mut rows = Vec::new();
    for (i, line) in lib.lines().enumerate() {
        let Some(rest) = line.strip_prefix("//! |") else {
            continue;
        };
        let cells: Vec<&str> = rest.split('|').map(str::trim).collect();
        let Some(layer) = cells.first().and_then(|c| c.parse::<u32>().ok()) else {
            continue;
        };
        let modules: Vec<String> = cells
            .get(1)
            .unwrap_or(&"")
            .split('`')
            .skip(1)
            .step_by(2)
            .map(|m| m.trim_start_matches("crate::").to_string())
            .collect();
        assert!(
            !modules.is_empty(),
            "src/lib.rs:{}: a layer row names no module",
            i + 1
        );
        rows.push(Row {
            layer,
            modules,
            line: i + 1,
        });
    }
    assert!(
        rows.len() > 5,
        "src/lib.rs has no layer table (`//! | N | `module` | role |` rows)"
    );
    rows
}

/// The row owning a module path (longest prefix), as an index into `rows`.
fn owner(rows: &[Row], path: &str) -> Option<usize> {
    let mut best: Option<(usize, usize)> = None;
    for (i, r) in rows.iter().enumerate() {
        for m in &r.modules {
            let hit = path == m || path.starts_with(&format!("{m}::"));
            if hit && best.is_none_or(|(len, _)| m.len() > len) {
                best = Some((m.len(), i));
            }
        }
    }
    best.map(|(_, i)| i)
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `src/a/b.rs` and `src/a/b/mod.rs` → `a::b`; `src/lib.rs` → `` (the root).
fn module_of(rel: &str) -> String {
    let p = rel.trim_start_matches("src/").trim_end_matches(".rs");
    let p = p.trim_end_matches("/mod");
    if p == "lib" {
        return String::new();
    }
    p.replace('/', "::")
}

/// The source with comments, string and char literals blanked (newlines kept, so line numbers
/// hold).
fn blank(src: &str) -> String {
    let b: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    let keep = |c: char| if c == '\n' { '\n' } else { ' ' };
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < b.len() && b[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(keep(b[i]));
                    i += 1;
                }
            }
        } else if c == 'r'
            && (next == Some('"') || next == Some('#'))
            && !ident(b.get(i.wrapping_sub(1)))
        {
            // raw string: r"…" or r#"…"#
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= b.len() {
                    break;
                }
                if b[j] == '"' && (0..hashes).all(|k| b.get(j + 1 + k) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            out.extend(b[i..j.min(b.len())].iter().map(|c| keep(*c)));
            i = j;
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < b.len() && b[i] != '"' {
                if b[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < b.len() {
                    out.push(keep(b[i]));
                    i += 1;
                }
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' {
            // a char literal ('a', '\n', '\u{1F600}') or a lifetime ('a)
            if next == Some('\\') {
                let mut j = i + 2;
                while j < b.len() && b[j] != '\'' {
                    j += 1;
                }
                out.extend(std::iter::repeat_n(' ', j + 1 - i));
                i = j + 1;
            } else if b.get(i + 2) == Some(&'\'') {
                out.push_str("   ");
                i += 3;
            } else {
                out.push(' ');
                i += 1;
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn ident(c: Option<&char>) -> bool {
    c.is_some_and(|c| c.is_alphanumeric() || *c == '_')
}

/// Blank the items after `#[cfg(test)]` (a `mod tests { … }`, a test-only `use` or `fn`), and
/// return the names of test modules kept in their own files (`#[cfg(test)] mod tests;`).
fn drop_test_items(src: &mut String) -> Vec<String> {
    let mut files = Vec::new();
    while let Some(at) = src.find("#[cfg(test)]") {
        let b: Vec<char> = src.chars().collect();
        // char index of `at` (the source may hold non-ASCII text)
        let start = src[..at].chars().count();
        let mut i = start + "#[cfg(test)]".len();
        let mut depth = 0;
        let mut end = b.len();
        while i < b.len() {
            match b[i] {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i + 1;
                        break;
                    }
                }
                ';' if depth == 0 => {
                    end = i + 1;
                    break;
                }
                _ => {}
            }
            i += 1;
        }
        let item: String = b[start..end].iter().collect();
        let words: Vec<&str> = item.split_whitespace().collect();
        if let Some(p) = words.iter().position(|w| *w == "mod")
            && item.trim_end().ends_with(';')
        {
            files.push(words[p + 1].trim_end_matches(';').to_string());
        }
        let blanked: String = item
            .chars()
            .map(|c| if c == '\n' { '\n' } else { ' ' })
            .collect();
        *src =
            b[..start].iter().collect::<String>() + &blanked + &b[end..].iter().collect::<String>();
    }
    files
}

/// Child modules a file declares (`mod x;`, `pub mod x;`, `mod x { … }`).
fn child_modules(code: &str) -> BTreeSet<String> {
    let words: Vec<&str> = code
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .collect();
    words
        .windows(2)
        .filter(|w| w[0] == "mod")
        .map(|w| w[1].to_string())
        .collect()
}

/// Expand a `use` tree (`a::{b, c::{self, d}}`) into full paths.
fn expand(prefix: &str, tree: &str, out: &mut Vec<String>) {
    let tree = tree.trim();
    // split at the first top-level `{`
    if let Some(open) = tree.find('{') {
        let head = tree[..open].trim().trim_end_matches("::").trim();
        let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
        let base = join(prefix, head);
        let mut depth = 0;
        let mut last = 0;
        for (i, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    expand(&base, &inner[last..i], out);
                    last = i + 1;
                }
                _ => {}
            }
        }
        expand(&base, &inner[last..], out);
        return;
    }
    let path = tree.split(" as ").next().unwrap_or("").trim();
    if path.is_empty() {
        return;
    }
    let path = path.trim_end_matches("::*").trim_end_matches('*');
    if path == "self" {
        out.push(prefix.to_string());
    } else {
        out.push(join(prefix, path));
    }
}

fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a}::{b}"),
    }
}

/// A path as written in module `module` → the crate path it names, or None for another crate.
fn resolve(module: &str, children: &BTreeSet<String>, path: &str) -> Option<String> {
    let segs: Vec<&str> = path
        .split("::")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let first = *segs.first()?;
    let (mut base, rest): (Vec<String>, &[&str]) = match first {
        "crate" => (Vec::new(), &segs[1..]),
        "self" => (split(module), &segs[1..]),
        "super" => {
            let mut m = split(module);
            let mut k = 0;
            while segs.get(k) == Some(&"super") {
                m.pop();
                k += 1;
            }
            (m, &segs[k..])
        }
        c if children.contains(c) => (split(module), &segs[..]),
        _ => return None,
    };
    base.extend(rest.iter().map(|s| s.to_string()));
    Some(base.join("::"))
}

fn split(module: &str) -> Vec<String> {
    if module.is_empty() {
        Vec::new()
    } else {
        module.split("::").map(str::to_string).collect()
    }
}

/// Every path a file names: (line, path as written).
fn named_paths(code: &str) -> BTreeSet<(usize, String)> {
    let mut out = BTreeSet::new();
    let line_of = |at: usize| code[..at].matches('\n').count() + 1;
    // `use` trees
    let bytes = code.as_bytes();
    let mut from = 0;
    while let Some(p) = code[from..].find("use") {
        let at = from + p;
        from = at + 3;
        let before_ok =
            at == 0 || !(bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_');
        let after_ok = bytes.get(at + 3).is_some_and(|c| c.is_ascii_whitespace());
        if !(before_ok && after_ok) {
            continue;
        }
        let Some(end) = code[at..].find(';') else {
            continue;
        };
        let tree = &code[at + 3..at + end];
        let mut paths = Vec::new();
        expand("", tree, &mut paths);
        out.extend(paths.into_iter().map(|p| (line_of(at), p)));
    }
    // qualified paths in code: `crate::a::b`, `super::a`
    for anchor in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(p) = code[from..].find(anchor) {
            let at = from + p;
            from = at + anchor.len();
            if at > 0
                && (bytes[at - 1].is_ascii_alphanumeric()
                    || bytes[at - 1] == b'_'
                    || bytes[at - 1] == b':')
            {
                continue;
            }
            let len = code[at..]
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(code.len() - at);
            let path = code[at..at + len].trim_end_matches(':').to_string();
            if path != "crate" && path != "super" {
                out.insert((line_of(at), path));
            }
        }
    }
    out
}

struct Source {
    rel: String,
    module: String,
    code: String,
}

fn sources() -> Vec<Source> {
    let mut files = Vec::new();
    rust_files(&Path::new(ROOT).join("src"), &mut files);
    files.sort();
    let mut test_files: BTreeSet<String> = BTreeSet::new();
    let mut out = Vec::new();
    for f in &files {
        let rel = f
            .strip_prefix(ROOT)
            .unwrap()
            .to_string_lossy()
            .trim_start_matches('/')
            .to_string();
        if rel == "src/main.rs" {
            continue; // the binary: it reaches the library as `ktriage::`, like any user
        }
        let module = module_of(&rel);
        let mut code = blank(&std::fs::read_to_string(f).unwrap());
        for t in drop_test_items(&mut code) {
            test_files.insert(join(&module, &t));
        }
        out.push(Source { rel, module, code });
    }
    out.retain(|s| !test_files.contains(&s.module));
    out
}

#[test]
fn layers_point_down() {
    let lib = std::fs::read_to_string(Path::new(ROOT).join("src/lib.rs")).unwrap();
    let rows = layer_table(&lib);
    let mut problems = Vec::new();
    for s in sources() {
        if s.module.is_empty() {
            continue; // lib.rs declares the modules and keeps the public paths
        }
        let Some(mine) = owner(&rows, &s.module) else {
            problems.push(format!(
                "{}: module `{}` is in no row of the layer table in src/lib.rs",
                s.rel, s.module
            ));
            continue;
        };
        let children = child_modules(&s.code);
        for (line, written) in named_paths(&s.code) {
            let Some(path) = resolve(&s.module, &children, &written) else {
                continue;
            };
            if path.is_empty() {
                continue; // `use crate::{…}` expands to its members; the root itself is no import
            }
            let Some(theirs) = owner(&rows, &path) else {
                problems.push(format!(
                    "{}:{line}: `{written}` names `{path}`, which is in no row of the layer table",
                    s.rel
                ));
                continue;
            };
            if theirs == mine {
                continue;
            }
            let (a, b) = (&rows[mine], &rows[theirs]);
            if b.layer >= a.layer {
                problems.push(format!(
                    "{}:{line}: `{written}`: {} (layer {}, src/lib.rs:{}) may not use {} (layer {}, src/lib.rs:{}): layers point down",
                    s.rel,
                    a.modules.join(", "),
                    a.layer,
                    a.line,
                    b.modules.join(", "),
                    b.layer,
                    b.line
                ));
            }
        }
    }
    assert!(problems.is_empty(), "\n{}\n", problems.join("\n"));
}

#[test]
fn the_map_names_every_module_and_only_modules_that_exist() {
    let lib = std::fs::read_to_string(Path::new(ROOT).join("src/lib.rs")).unwrap();
    let rows = layer_table(&lib);
    let modules: BTreeSet<String> = sources().into_iter().map(|s| s.module).collect();
    let mut problems = Vec::new();
    let code = blank(&lib);
    for m in child_modules(&code) {
        if owner(&rows, &m).is_none() {
            problems.push(format!(
                "src/lib.rs declares `{m}`, which no layer row names"
            ));
        }
    }
    let mut seen = BTreeMap::new();
    for r in &rows {
        for m in &r.modules {
            if !modules.contains(m) {
                problems.push(format!(
                    "src/lib.rs:{}: the map names `{m}`, which is no module",
                    r.line
                ));
            }
            if let Some(prev) = seen.insert(m.clone(), r.line) {
                problems.push(format!(
                    "src/lib.rs:{}: `{m}` is already on the row of line {prev}",
                    r.line
                ));
            }
        }
    }
    assert!(problems.is_empty(), "\n{}\n", problems.join("\n"));
}

#[test]
fn the_simulator_uses_nothing_else_of_the_crate() {
    let lib = std::fs::read_to_string(Path::new(ROOT).join("src/lib.rs")).unwrap();
    let rows = layer_table(&lib);
    let sim = owner(&rows, "sim").expect("the map has a row for `sim`");
    assert_eq!(
        rows[sim].layer, 0,
        "`sim` is on layer 0: the simulator stands alone"
    );
    assert_eq!(rows[sim].modules, ["sim"], "`sim` has a row of its own");
}

/// (line of `fn`, name, lines) for every function body in `code`.
fn functions(code: &str) -> Vec<(usize, String, usize)> {
    let lines: Vec<&str> = code.lines().collect();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let words: Vec<&str> = l
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .filter(|w| !w.is_empty())
            .collect();
        let Some(p) = words.iter().position(|w| *w == "fn") else {
            continue;
        };
        let Some(name) = words.get(p + 1) else {
            continue;
        };
        // an item `fn name(` or `fn name<`, not a `fn(…)` pointer type
        if !(l.contains(&format!("fn {name}(")) || l.contains(&format!("fn {name}<"))) {
            continue;
        }
        let mut depth = 0;
        let mut started = false;
        'body: for (j, body) in lines.iter().enumerate().skip(i) {
            for c in body.chars() {
                match c {
                    ';' if !started && depth == 0 => break 'body,
                    '{' => {
                        depth += 1;
                        started = true;
                    }
                    '}' => {
                        depth -= 1;
                        if started && depth == 0 {
                            out.push((i + 1, name.to_string(), j - i + 1));
                            break 'body;
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    out
}

#[test]
fn no_function_over_100_lines() {
    let mut long = Vec::new();
    for s in sources() {
        if FIXTURES.contains(&s.rel.as_str()) {
            continue;
        }
        for (line, name, n) in functions(&s.code) {
            if n > MAX_FN_LINES {
                long.push(format!("{}:{line}: fn {name} is {n} lines", s.rel));
            }
        }
    }
    assert!(
        long.is_empty(),
        "functions over {MAX_FN_LINES} lines (make them read as named steps):\n{}",
        long.join("\n")
    );
}

#[test]
fn the_scanner_reads_use_trees_and_paths() {
    let code = blank(
        "use crate::{a::{self, B}, c::d as e};\nuse super::x;\nlet s = \"crate::fake\"; // crate::no\nlet v = crate::f::g(1);\nuse child::Z;\nmod child;\n",
    );
    let got: BTreeSet<String> = named_paths(&code).into_iter().map(|(_, p)| p).collect();
    let got: Vec<String> = got.into_iter().collect();
    assert_eq!(
        got,
        [
            "child::Z",
            "crate::a",
            "crate::a::B",
            "crate::c::d",
            "crate::f::g",
            "super::x",
        ]
    );
    let children = child_modules(&code);
    assert_eq!(
        resolve("m::n", &children, "super::x").as_deref(),
        Some("m::x")
    );
    assert_eq!(
        resolve("m::n", &children, "child::Z").as_deref(),
        Some("m::n::child::Z")
    );
    assert_eq!(resolve("m::n", &children, "std::fmt"), None);
    let mut src = blank(
        "fn a() {}\n#[cfg(test)]\nmod tests {\n use crate::up;\n}\n#[cfg(test)]\nmod more;\n",
    );
    assert_eq!(drop_test_items(&mut src), ["more"]);
    assert!(!src.contains("crate::up"));
    assert_eq!(
        functions("fn a() {\n x;\n}\nfn b();\n"),
        [(1, "a".to_string(), 3)]
    );
}
