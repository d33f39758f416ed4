//! The wampbench binary's answers to bad input: exit status and the `--json` error line. None
//! of these runs opens a connection (they fail before any is attempted).

use std::process::{Command, Output};

fn wampbench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wampbench"))
        .args(args)
        .output()
        .expect("run wampbench")
}

fn json_line(out: &Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().next().expect("one JSON line on stdout");
    serde_json::from_str(line).expect("valid JSON")
}

#[test]
fn bad_values_are_usage_errors() {
    for args in [
        &["fanout", "--topics", "0", "--json"][..],
        &["fanout", "--rate=-5", "--json"],
        &["fanout", "--router-pid", "0", "--json"],
        &["rpc", "--router-pid", "0", "--json"],
    ] {
        let out = wampbench(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let v = json_line(&out);
        assert_eq!(v["mode"], args[0]);
        assert!(v["error"].is_string(), "{args:?}: {v}");
    }
}

#[test]
fn a_router_pid_that_cannot_be_read_fails_before_connecting() {
    // Far above any pid_max (at most 2^22 on Linux): no such process.
    for mode in ["fanout", "rpc"] {
        let out = wampbench(&[
            mode,
            "--router-pid",
            "2147483647",
            "--url",
            "ws://127.0.0.1:9/ws",
            "--json",
        ]);
        assert_eq!(out.status.code(), Some(1), "{mode}");
        let v = json_line(&out);
        let error = v["error"].as_str().unwrap_or_default();
        assert!(error.contains("--router-pid 2147483647"), "{mode}: {error}");
    }
}
