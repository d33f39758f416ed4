//! The layering rule of `src/lib.rs` as a check: data flows one way, and a module uses only the
//! layers below it. A `crate::<module>` path in a file of a lower layer, pointing at a higher
//! (or the same-rank sibling) layer, fails this test with the file and the line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Top-level modules by rank: a module may use only modules of a lower rank. `router` and
/// `transport` share a rank: the sans-IO core never imports I/O code, and the transports know
/// nothing of the core.
const RANKS: &[(&str, u8)] = &[
    ("wamp", 0),
    ("timestamp", 0),
    ("codec", 1),
    ("credentials", 1),
    ("config", 2),
    ("auth", 3),
    // The sans-IO MQTT layer: wamp, codec and config types; never router, shard or transport.
    ("mqtt", 3),
    ("router", 4),
    ("transport", 4),
    ("shard", 5),
    ("node", 6),
];

fn rank(module: &str) -> Option<u8> {
    RANKS.iter().find(|(m, _)| *m == module).map(|(_, r)| *r)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules a line names through `crate::`: `crate::a::...` and each first-level
/// name of `crate::{a::x, b}`.
fn named_modules(line: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = line;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let mut segment_start = true;
            let mut name = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 1 => segment_start = true,
                    _ if depth == 1 && segment_start && (c.is_alphanumeric() || c == '_') => {
                        name.push(c)
                    }
                    _ if !name.is_empty() => {
                        found.push(std::mem::take(&mut name));
                        segment_start = false;
                    }
                    _ => {}
                }
                if depth == 0 {
                    break;
                }
            }
            if !name.is_empty() {
                found.push(name);
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.push(name);
            }
        }
    }
    found
}

#[test]
fn no_module_imports_a_higher_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut violations = Vec::new();
    let mut checked: BTreeMap<&str, usize> = BTreeMap::new();
    for (module, own_rank) in RANKS {
        let mut files = Vec::new();
        rust_files(&src.join(module), &mut files);
        let single = src.join(format!("{module}.rs"));
        if single.is_file() {
            files.push(single);
        }
        assert!(!files.is_empty(), "no source files for module {module}");
        *checked.entry(module).or_default() += files.len();
        for file in files {
            let text = std::fs::read_to_string(&file).expect("readable source");
            for (n, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                for used in named_modules(code) {
                    if used == *module {
                        continue;
                    }
                    match rank(&used) {
                        Some(r) if r < *own_rank => {}
                        Some(_) => violations.push(format!(
                            "{}:{}: {module} uses {used}",
                            file.strip_prefix(&src).unwrap_or(&file).display(),
                            n + 1
                        )),
                        // Not a top-level module (e.g. a macro path): not a layer.
                        None => {}
                    }
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "lower layers import higher ones:\n{}",
        violations.join("\n")
    );
    // Every top-level module of lib.rs is ranked, so a new one cannot slip past this check.
    let lib = std::fs::read_to_string(src.join("lib.rs")).expect("lib.rs");
    for line in lib.lines() {
        if let Some(name) = line.trim().strip_prefix("pub mod ") {
            let name = name.trim_end_matches(';');
            assert!(
                rank(name).is_some(),
                "module {name} of lib.rs has no rank here"
            );
        }
    }
}

#[test]
fn the_scanner_reads_grouped_and_nested_paths() {
    assert_eq!(named_modules("use crate::wamp::Dict;"), vec!["wamp"]);
    assert_eq!(
        named_modules("use crate::{config::{A, B}, wamp::Value, codec};"),
        vec!["config", "wamp", "codec"]
    );
    assert_eq!(
        named_modules("let x = crate::auth::f(crate::router::g());"),
        vec!["auth", "router"]
    );
    assert!(named_modules("use super::shard;").is_empty());
}
