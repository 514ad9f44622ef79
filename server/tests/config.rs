//! Configuration errors name the key at fault, and secrets never reach the output.

use std::process::Command;

fn run_server(env: &[(&str, &str)]) -> (bool, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_server"));
    command.arg("serve").env_clear();
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().expect("run server");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[test]
fn a_bad_value_is_reported_with_its_key() {
    let (ok, out) = run_server(&[("APP__HTTP__PORT", "eighty")]);
    assert!(!ok);
    assert!(out.contains("http.port"), "{out}");

    let (ok, out) = run_server(&[("APP__DATABASE__URL", "mysql://root:topsecret@db/x")]);
    assert!(!ok);
    assert!(out.contains("database.url"), "{out}");
    assert!(!out.contains("topsecret"), "a secret leaked: {out}");

    let (ok, out) = run_server(&[("APP__HTTP__PROT", "8080")]);
    assert!(!ok, "unknown keys are refused");
    assert!(out.contains("prot"), "{out}");
}

#[test]
fn the_committed_sdl_matches_the_code() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    for (flag, file) in [(None, "schema.graphql"), (Some("--admin"), "admin.graphql")] {
        let mut command = Command::new(env!("CARGO_BIN_EXE_server"));
        command
            .arg("export-schema")
            .args(flag)
            .arg("--check")
            .arg(format!("{root}/{file}"));
        let output = command.output().unwrap();
        assert!(
            output.status.success(),
            "{file}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
