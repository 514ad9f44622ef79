//! The README's metrics table (Operations, "Metrics") lists every metric the code emits, with
//! its type, and nothing the code no longer emits. The code's metrics are read from the
//! sources: every `counter!`, `gauge!` and `histogram!` (and `describe_*!`) of `server/src` and
//! `sync/src`, whose first argument must be a literal name so that it can be checked here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const MACROS: [(&str, &str); 6] = [
    ("describe_counter!(", "counter"),
    ("describe_gauge!(", "gauge"),
    ("describe_histogram!(", "histogram"),
    ("counter!(", "counter"),
    ("gauge!(", "gauge"),
    ("histogram!(", "histogram"),
];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Metric name → (type, where first seen), from the sources; the invocations whose name is
/// not a string literal, by place.
fn emitted() -> (BTreeMap<String, (String, String)>, Vec<String>) {
    let mut files = Vec::new();
    for dir in ["server/src", "sync/src"] {
        rust_files(&workspace().join(dir), &mut files);
    }
    let mut metrics = BTreeMap::new();
    let mut dynamic = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let mut at = 0;
        while let Some((offset, macro_, kind)) = MACROS
            .iter()
            .filter_map(|(m, k)| text[at..].find(m).map(|o| (at + o, *m, *k)))
            .min_by_key(|(o, m, _)| (*o, std::cmp::Reverse(m.len())))
        {
            at = offset + macro_.len();
            // `counter!(` inside `describe_counter!(` was found as the longer one already;
            // skip identifiers that only end with a macro's name (`my_counter!(`).
            let before = text[..offset].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let place = format!(
                "{}:{}",
                file.strip_prefix(workspace()).unwrap().display(),
                text[..offset].lines().count()
            );
            let rest = text[at..].trim_start();
            let name = rest
                .strip_prefix('"')
                .and_then(|r| r.split('"').next())
                .filter(|n| !n.is_empty());
            match name {
                Some(name) => {
                    let (seen, _) = metrics
                        .entry(name.to_string())
                        .or_insert_with(|| (kind.to_string(), place.clone()));
                    assert_eq!(seen, kind, "{name} is emitted as two types ({place})");
                }
                None => dynamic.push(place),
            }
        }
    }
    (metrics, dynamic)
}

/// Metric name → type, from the table under the README's `### Metrics` heading.
fn documented() -> BTreeMap<String, String> {
    let readme = std::fs::read_to_string(workspace().join("README.md")).unwrap();
    let section = readme
        .split("\n### Metrics\n")
        .nth(1)
        .expect("README has a `### Metrics` section");
    let section = section.split("\n#").next().unwrap();
    let mut table = BTreeMap::new();
    for row in section.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let name = cells[1].trim_matches('`').to_string();
        let kind = cells[2].to_string();
        assert!(
            table.insert(name.clone(), kind).is_none(),
            "{name} is listed twice in the README"
        );
    }
    table
}

#[test]
fn every_metric_the_code_emits_is_in_the_readme_table() {
    let (emitted, dynamic) = emitted();
    assert!(
        dynamic.is_empty(),
        "metric macros whose name is not a string literal (cannot be checked): {dynamic:?}"
    );
    // The scan itself works: metrics known to exist were found.
    for known in ["payments_total", "sms_sent_total", "db_statements_total"] {
        assert!(emitted.contains_key(known), "{known} not found in the code");
    }
    let documented = documented();
    let mut problems = Vec::new();
    for (name, (kind, place)) in &emitted {
        match documented.get(name) {
            None => problems.push(format!(
                "{name} ({kind}, {place}) is not in the README table"
            )),
            Some(listed) if listed != kind => problems.push(format!(
                "{name} is a {kind} ({place}) but the README says {listed}"
            )),
            Some(_) => {}
        }
    }
    for name in documented.keys() {
        if !emitted.contains_key(name) {
            problems.push(format!(
                "{name} is in the README table but no longer emitted"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
