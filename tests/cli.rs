//! The `ferrobar` binary as a user runs it: `check`, `version`, `init`, `status`, `stop`, and
//! `start` refusing a bad config.

#[path = "common/binary.rs"]
mod binary;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use binary::ferrobar_command;

const OK_LINE: &str = "Ok, node configuration looks good!";

fn ferrobar(args: &[&str]) -> Output {
    ferrobar_command()
        .args(args)
        .env_remove("CROSSBAR_DIR")
        .env_remove("RUST_LOG")
        .output()
        .expect("run ferrobar")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A fresh empty directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("ferrobar-cli-{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn s(&self) -> &str {
        self.0.to_str().expect("utf-8 temp path")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn example(name: &str) -> String {
    format!("{}/config/{name}/.crossbar", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn check_passes_on_every_example_node() {
    for name in ["default", "getting-started", "iot-fanout", "auth-example"] {
        let o = ferrobar(&["check", "--cbdir", &example(name)]);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        assert_eq!(stdout(&o).trim(), OK_LINE, "{name}");
    }
}

#[test]
fn check_finds_the_node_directory_through_crossbar_dir() {
    let o = ferrobar_command()
        .arg("check")
        .env("CROSSBAR_DIR", example("iot-fanout"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    // --cbdir may also name the config file itself.
    let file = format!("{}/config.json", example("default"));
    let o = ferrobar(&["check", "--cbdir", &file]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn check_reports_every_problem_with_its_path() {
    let dir = TempDir::new("broken");
    let config = r#"{
        "version": 2,
        "workers": [{
            "type": "router",
            "realms": [{"name": "realm1", "roles": [{"name": "backend", "allow-by-default": true}]}],
            "transports": [
                {"type": "websocket", "endpoint": {"type": "tcp", "port": "abc"}, "auth": {"scram": {"type": "static"}}},
                {"type": "mqtt", "endpoint": {"type": "tcp", "port": 8081}}
            ]
        }]
    }"#;
    fs::write(dir.path().join("config.json"), config).unwrap();
    let o = ferrobar(&["check", "--cbdir", dir.s()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).is_empty());
    let err = stderr(&o);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines,
        [
            format!("ferrobar: invalid configuration {}/config.json:", dir.s()).as_str(),
            "workers[0].realms[0].roles[0].allow-by-default: allow-by-default: true is not supported yet",
            r#"workers[0].transports[0].endpoint.port: expected an integer 1..65535 or "$ENV", found "abc""#,
            "workers[0].transports[0].auth.scram: authentication method 'scram' is not supported yet",
            "workers[0].transports[1].options: missing (an MQTT service needs options.realm)",
        ]
    );
}

#[test]
fn check_accepts_rawsocket_and_cbor() {
    let dir = TempDir::new("rawsocket");
    let config = r#"{
        "version": 2,
        "workers": [{
            "type": "router",
            "realms": [{"name": "realm1", "roles": [{"name": "anonymous", "permissions": []}]}],
            "transports": [
                {"type": "rawsocket", "endpoint": {"type": "tcp", "port": 8081},
                 "serializers": ["cbor", "msgpack", "json"], "options": {"max_message_size": 1048576}},
                {"type": "websocket", "endpoint": {"type": "tcp", "port": 8080}, "serializers": ["cbor"]}
            ]
        }]
    }"#;
    fs::write(dir.path().join("config.json"), config).unwrap();
    let o = ferrobar(&["check", "--cbdir", dir.s()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), OK_LINE);
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));

    let bad = config.replace("1048576", "100");
    fs::write(dir.path().join("config.json"), bad).unwrap();
    let o = ferrobar(&["check", "--cbdir", dir.s()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains(
            "workers[0].transports[0].options.max_message_size: expected an integer 512..16777216, found 100"
        ),
        "{}",
        stderr(&o)
    );
}

#[test]
fn check_accepts_a_universal_transport() {
    let dir = TempDir::new("universal");
    let config = r#"{
        "version": 2,
        "workers": [{
            "type": "router",
            "realms": [{"name": "realm1", "roles": [{"name": "anonymous", "permissions": []}]}],
            "transports": [{
                "type": "universal",
                "endpoint": {"type": "tcp", "port": 8080},
                "rawsocket": {"serializers": ["cbor", "json"]},
                "websocket": {"ws": {"serializers": ["cbor", "json"]}},
                "web": {"paths": {"info": {"type": "nodeinfo"}}}
            }]
        }]
    }"#;
    fs::write(dir.path().join("config.json"), config).unwrap();
    let o = ferrobar(&["check", "--cbdir", dir.s()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), OK_LINE);
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));
}

#[test]
fn check_names_a_missing_tls_file_and_notes_ignored_tls_knobs() {
    let dir = TempDir::new("tls");
    let config = r#"{
        "version": 2,
        "workers": [{
            "type": "router",
            "realms": [{"name": "realm1", "roles": [{"name": "anonymous", "permissions": []}]}],
            "transports": [{
                "type": "websocket",
                "endpoint": {"type": "tcp", "port": 8443,
                             "tls": {"key": "server.key", "certificate": "server.crt", "ciphers": "HIGH"}}
            }]
        }]
    }"#;
    fs::write(dir.path().join("config.json"), config).unwrap();
    // Any bytes will do: `check` only looks for the files, `start` parses the PEM.
    fs::write(dir.path().join("server.crt"), "certificate").unwrap();
    let o = ferrobar(&["check", "--cbdir", dir.s()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).is_empty());
    let err = stderr(&o);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines,
        [
            format!("ferrobar: invalid configuration {}/config.json:", dir.s()),
            format!(
                "workers[0].transports[0].endpoint.tls.key: file {}/server.key does not exist",
                dir.s()
            ),
        ]
    );

    fs::write(dir.path().join("server.key"), "key").unwrap();
    let o = ferrobar(&["check", "--cbdir", dir.s()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), OK_LINE);
    assert!(
        stderr(&o).contains(
            "info: workers[0].transports[0].endpoint.tls: ciphers has no effect in ferrobar"
        ),
        "{}",
        stderr(&o)
    );
}

#[test]
fn production_example_needs_only_its_key_and_certificate() {
    // A copy, so a key generated in the example directory (see its README) does not matter.
    let node = TempDir::new("production");
    let cbdir = node.path().join(".crossbar");
    fs::create_dir_all(&cbdir).unwrap();
    fs::create_dir_all(node.path().join("web")).unwrap();
    let config = format!("{}/config.json", example("production"));
    fs::copy(config, cbdir.join("config.json")).unwrap();
    let cbdir_s = cbdir.to_str().unwrap();
    let o = ferrobar(&["check", "--cbdir", cbdir_s]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines,
        [
            format!("ferrobar: invalid configuration {cbdir_s}/config.json:"),
            format!("workers[0].transports[0].endpoint.tls.key: file {cbdir_s}/server.key does not exist"),
            format!("workers[0].transports[0].endpoint.tls.certificate: file {cbdir_s}/server.crt does not exist"),
        ]
    );
    fs::write(cbdir.join("server.key"), "key").unwrap();
    fs::write(cbdir.join("server.crt"), "certificate").unwrap();
    let o = ferrobar(&["check", "--cbdir", cbdir_s]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), OK_LINE);
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));
}

#[test]
fn check_prints_notices_for_accepted_knobs() {
    let dir = TempDir::new("notices");
    let config = r#"{"version": 2, "controller": {"options": {"title": "node"}}, "workers": []}"#;
    fs::write(dir.path().join("config.json"), config).unwrap();
    let o = ferrobar(&["check", "--cbdir", dir.s()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("info: controller.options: title has no effect in ferrobar"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn missing_or_unreadable_config_is_one_clear_line() {
    let dir = TempDir::new("missing");
    let o = ferrobar(&["check", "--cbdir", dir.s(), "--config", "nope.json"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!("ferrobar: {}/nope.json: no such file\n", dir.s())
    );

    fs::create_dir(dir.path().join("config.json")).unwrap();
    let o = ferrobar(&["check", "--cbdir", dir.s(), "--config", "config.json"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!("ferrobar: {}/config.json: cannot read: ", dir.s())),
        "{err}"
    );
}

#[test]
fn check_without_any_config_says_so() {
    let dir = TempDir::new("empty");
    let o = ferrobar(&["check", "--cbdir", dir.s()]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!("ferrobar: no config.json in {} (`ferrobar start` would run the built-in default node)\n", dir.s())
    );
}

#[test]
fn yaml_only_node_directory_is_refused_clearly() {
    let dir = TempDir::new("yaml");
    fs::write(dir.path().join("config.yaml"), "version: 2\n").unwrap();
    let o = ferrobar(&["check", "--cbdir", dir.s()]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!(
            "ferrobar: {}/config.yaml: config.yaml is not supported yet: convert it to config.json (`crossbar convert`)\n",
            dir.s()
        )
    );
}

#[test]
fn json_syntax_error_names_line_and_column() {
    let dir = TempDir::new("syntax");
    fs::write(
        dir.path().join("config.json"),
        "{\"version\": 2,\n \"workers\": [,]}",
    )
    .unwrap();
    let o = ferrobar(&["check", "--cbdir", dir.s()]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!(
            "ferrobar: {}/config.json: invalid JSON at line 2, column 14: expected value\n",
            dir.s()
        )
    );
}

#[test]
fn start_refuses_an_mqtt_transport_it_parses_but_does_not_serve() {
    for transport in [
        r#"{"type": "mqtt", "endpoint": {"type": "tcp", "port": 0}, "options": {"realm": "realm1"}}"#,
        r#"{"type": "universal", "endpoint": {"type": "tcp", "port": 0}, "mqtt": {"options": {"realm": "realm1"}}}"#,
    ] {
        let dir = TempDir::new("start-mqtt");
        let config = format!(
            r#"{{"version": 2, "workers": [{{"type": "router",
                "realms": [{{"name": "realm1", "roles": [{{"name": "anonymous", "permissions": []}}]}}],
                "transports": [{transport}]}}]}}"#
        );
        fs::write(dir.path().join("config.json"), config).unwrap();
        let o = ferrobar(&["check", "--cbdir", dir.s()]);
        assert!(o.status.success(), "{}", stderr(&o));
        let o = ferrobar(&["start", "--cbdir", dir.s(), "--loglevel", "none"]);
        assert_eq!(o.status.code(), Some(1));
        assert!(
            stderr(&o).ends_with("the mqtt transport is parsed but not served yet\n"),
            "{}",
            stderr(&o)
        );
    }
}

#[test]
fn start_refuses_an_invalid_config_before_starting() {
    let dir = TempDir::new("start-bad");
    let config = r#"{"version": 2, "workers": [{"type": "guest", "executable": "node"}]}"#;
    fs::write(dir.path().join("config.json"), config).unwrap();
    let o = ferrobar(&["start", "--cbdir", dir.s(), "--loglevel", "none"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!(
            "ferrobar: invalid configuration {}/config.json:\nworkers[0].type: worker type 'guest' is not supported yet\n",
            dir.s()
        )
    );
}

/// The line of `ferrobar version` that starts with `label`, without the label.
fn version_line<'a>(out: &'a str, label: &str) -> &'a str {
    out.lines()
        .find_map(|l| {
            let (name, value) = l.split_once(" : ").or_else(|| l.split_once(": "))?;
            (name.trim() == label).then_some(value)
        })
        .unwrap_or_else(|| panic!("no {label} line in:\n{out}"))
}

#[test]
fn version_lists_what_the_build_offers() {
    let o = ferrobar(&["version"]);
    assert!(o.status.success());
    let out = stdout(&o);
    assert_eq!(
        out.lines().next(),
        Some(format!("ferrobar {}", env!("CARGO_PKG_VERSION")).as_str())
    );
    let serializers = version_line(&out, "Serializers");
    for s in ["wamp.2.json", "wamp.2.msgpack", "wamp.2.cbor"] {
        assert!(serializers.contains(s), "{serializers}");
    }
    let transports = version_line(&out, "Transports");
    for t in ["websocket", "rawsocket", "universal", "web"] {
        assert!(transports.contains(t), "{transports}");
    }
    let endpoints = version_line(&out, "Endpoints");
    for e in ["tcp", "unix", "TLS"] {
        assert!(endpoints.contains(e), "{endpoints}");
    }
    let auth = version_line(&out, "Auth");
    let (methods, dynamic) = auth.split_once(';').expect("methods; dynamic");
    let methods: Vec<&str> = methods.split(", ").collect();
    assert_eq!(
        methods,
        [
            "anonymous",
            "ticket",
            "wampcra",
            "cryptosign",
            "tls",
            "cookie"
        ]
    );
    assert!(dynamic.contains("dynamic"), "{auth}");
    let refused = version_line(&out, "Not offered");
    assert!(
        refused.contains("mqtt") && refused.contains("scram"),
        "{refused}"
    );
    let platform = version_line(&out, "Platform");
    assert!(
        platform.contains(std::env::consts::ARCH)
            && platform.contains(&format!("{}-bit", usize::BITS)),
        "{platform}"
    );
}

#[test]
fn init_then_check_passes_and_a_second_init_refuses() {
    let dir = TempDir::new("init");
    let o = ferrobar(&["init", "--appdir", dir.s()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let written = fs::read_to_string(dir.path().join(".crossbar/config.json")).unwrap();
    let shipped = fs::read_to_string(format!("{}/config.json", example("default"))).unwrap();
    assert_eq!(
        written, shipped,
        "init writes the same node as config/default"
    );
    assert!(dir.path().join("web/index.html").is_file());

    let cbdir = dir.path().join(".crossbar");
    let o = ferrobar(&["check", "--cbdir", cbdir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), OK_LINE);

    let o = ferrobar(&["init", "--appdir", dir.s()]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!("ferrobar: {}/.crossbar/config.json already exists: refusing to overwrite a node configuration\n", dir.s())
    );
}

#[test]
fn status_and_stop_without_a_node() {
    let dir = TempDir::new("status");
    let o = ferrobar(&["status", "--cbdir", dir.s()]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stdout(&o), "Status is STOPPED\n");
    let o = ferrobar(&["status", "--cbdir", dir.s(), "--assert", "running"]);
    assert_eq!(o.status.code(), Some(69));
    let o = ferrobar(&["status", "--cbdir", dir.s(), "--assert", "stopped"]);
    assert_eq!(o.status.code(), Some(0));
    let o = ferrobar(&["stop", "--cbdir", dir.s()]);
    assert_eq!(o.status.code(), Some(69));
    assert!(
        stdout(&o).starts_with("No node is running"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn stale_pid_file_counts_as_stopped_and_is_removed() {
    let dir = TempDir::new("stale");
    // A pid that cannot be a live process: the one of a child that already exited and was reaped.
    let mut child = Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    let pidfile = dir.path().join("node.pid");
    fs::write(&pidfile, format!("{{\"pid\": {pid}}}")).unwrap();
    let o = ferrobar(&["status", "--cbdir", dir.s()]);
    assert_eq!(stdout(&o), "Status is STOPPED\n");
    assert!(!pidfile.exists());
    fs::write(&pidfile, "not json").unwrap();
    let o = ferrobar(&["status", "--cbdir", dir.s(), "--assert", "stopped"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(!pidfile.exists());
}

#[test]
fn stop_signals_the_running_node() {
    let dir = TempDir::new("stop");
    // Stands in for a running node: a process whose command line says ferrobar.
    let mut node = Command::new("bash")
        .args(["-c", "exec -a ferrobar-fake-node sleep 30"])
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn bash");
    let pid = node.id();
    fs::write(
        dir.path().join("node.pid"),
        format!("{{\"pid\": {pid}, \"argv\": []}}"),
    )
    .unwrap();
    // exec may not have happened yet; wait until the command line shows it.
    for _ in 0..100 {
        let cmd = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmd).contains("ferrobar") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let o = ferrobar(&["status", "--cbdir", dir.s(), "--assert", "running"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert_eq!(
        stdout(&o),
        format!("Assert status RUNNING succeeded: status is RUNNING (pid {pid})\n")
    );

    let o = ferrobar(&["stop", "--cbdir", dir.s()]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("Node stopped (SIGINT)."),
        "{}",
        stdout(&o)
    );
    let status = node.wait().unwrap();
    assert!(!status.success());
    assert!(!dir.path().join("node.pid").exists());
}

#[test]
fn start_status_stop_a_real_node() {
    let dir = TempDir::new("lifecycle");
    let config = r#"{"version": 2, "workers": [{"type": "router",
        "realms": [{"name": "realm1", "roles": [{"name": "anonymous", "permissions": []}]}],
        "transports": [{"type": "websocket", "endpoint": {"type": "tcp", "port": 0, "interface": "127.0.0.1"}}]}]}"#;
    fs::write(dir.path().join("config.json"), config).unwrap();
    let node = ferrobar_command()
        .args([
            "start",
            "--cbdir",
            dir.s(),
            "--shards",
            "1",
            "--loglevel",
            "warn",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ferrobar start");
    let pidfile = dir.path().join("node.pid");
    for _ in 0..200 {
        if pidfile.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    let o = ferrobar(&["status", "--cbdir", dir.s(), "--assert", "running"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let o = ferrobar(&["stop", "--cbdir", dir.s()]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let out = node.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "node exit: {:?}\n{}",
        out.status,
        stderr(&out)
    );
    assert!(!pidfile.exists());
    let o = ferrobar(&["status", "--cbdir", dir.s(), "--assert", "stopped"]);
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn keygen_prints_an_ed25519_key_pair_in_hex() {
    let o = ferrobar(&["keygen"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    // Crossbar's keygen layout: "  private: <hex>" then "   public: <hex>".
    let private = lines[0].strip_prefix("  private: ").expect("private line");
    let public = lines[1].strip_prefix("   public: ").expect("public line");
    for key in [private, public] {
        assert_eq!(key.len(), 64, "{key}");
        assert!(key
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    }
    assert_eq!(
        ferrobar::auth::NodeKey::from_hex(private)
            .unwrap()
            .public_hex(),
        public
    );
    // A new pair every time.
    assert_ne!(stdout(&ferrobar(&["keygen"])), out);
}

#[test]
fn keygen_output_is_accepted_as_an_authorized_key() {
    let o = ferrobar(&["keygen"]);
    let public = stdout(&o)
        .lines()
        .nth(1)
        .unwrap()
        .trim_start()
        .strip_prefix("public: ")
        .unwrap()
        .to_owned();
    let dir = TempDir::new("cryptosign");
    let config = format!(
        r#"{{"version": 2, "workers": [{{"type": "router",
        "realms": [{{"name": "realm1", "roles": [{{"name": "device", "permissions": []}}]}}],
        "transports": [{{"type": "websocket", "endpoint": {{"type": "tcp", "port": 8080}},
            "auth": {{"cryptosign": {{"type": "static", "principals": {{
                "device1": {{"authorized_keys": ["{public}"], "role": "device"}}}}}}}}}}]}}]}}"#
    );
    fs::write(dir.path().join("config.json"), config).unwrap();
    let o = ferrobar(&["check", "--cbdir", dir.s()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), OK_LINE);
}

#[test]
fn check_reports_auth_problems_with_their_paths() {
    let dir = TempDir::new("auth");
    let config = r#"{"version": 2, "workers": [{"type": "router",
        "realms": [{"name": "realm1", "roles": [{"name": "frontend", "permissions": []}]}],
        "transports": [{"type": "websocket", "endpoint": {"type": "tcp", "port": 8080},
            "auth": {
                "ticket": {"type": "static", "principals": {"joe": {"ticket": "${FERROBAR_TEST_TICKET}", "role": "frontend"}}},
                "wampcra": {"type": "static", "users": {"ann": {"secret": "s", "role": "frontend", "keylen": 0}}},
                "cryptosign": {"type": "static", "principals": {"d": {"authorized_keys": ["abcd"], "role": "frontend"}}},
                "tls": {"type": "static", "principals": {"c": {"certificate-sha1": "00", "role": "frontend"}}},
                "scram": {"type": "static"}
            }}]}]}"#;
    fs::write(dir.path().join("config.json"), config).unwrap();
    let o = ferrobar(&["check", "--cbdir", dir.s()]);
    assert_eq!(o.status.code(), Some(1));
    let t = "workers[0].transports[0]";
    let expected = [
        format!("ferrobar: invalid configuration {}/config.json:", dir.s()),
        format!("{t}.auth.cryptosign.principals.d.authorized_keys[0]: expected an Ed25519 public key (64 hex digits)"),
        format!("{t}.auth.scram: authentication method 'scram' is not supported yet"),
        format!("{t}.auth.ticket.principals.joe.ticket: environment variable FERROBAR_TEST_TICKET is not set (referenced as \"${{FERROBAR_TEST_TICKET}}\")"),
        format!("{t}.auth.tls: TLS client-certificate authentication needs an endpoint that verifies client certificates: set {t}.endpoint.tls.ca_certificates"),
        format!("{t}.auth.tls.principals.c.certificate-sha1: expected a SHA-1 fingerprint (40 hex digits, colons allowed), found \"00\""),
        format!("{t}.auth.wampcra.users.ann.keylen: expected an integer 1..1024, found 0"),
    ];
    assert_eq!(stderr(&o).lines().collect::<Vec<_>>(), expected);
}

#[test]
fn ticket_secret_from_the_environment() {
    let dir = TempDir::new("auth-env");
    let config = r#"{"version": 2, "workers": [{"type": "router",
        "realms": [{"name": "realm1", "roles": [{"name": "frontend", "permissions": []}]}],
        "transports": [{"type": "websocket", "endpoint": {"type": "tcp", "port": 8080},
            "auth": {"ticket": {"type": "static", "principals": {
                "joe": {"ticket": "${FERROBAR_TEST_TICKET}", "role": "frontend"}}}}}]}]}"#;
    fs::write(dir.path().join("config.json"), config).unwrap();
    let o = ferrobar_command()
        .args(["check", "--cbdir", dir.s()])
        .env_remove("CROSSBAR_DIR")
        .env("FERROBAR_TEST_TICKET", "from-the-environment")
        .output()
        .expect("run ferrobar");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), OK_LINE);
}

#[test]
fn completions_are_generated_for_each_shell_and_bash_parses_them() {
    for shell in ["bash", "zsh", "fish"] {
        let o = ferrobar(&["completions", shell]);
        assert!(o.status.success(), "{shell}: {}", stderr(&o));
        let out = stdout(&o);
        for verb in [
            "start", "stop", "status", "check", "init", "version", "keygen",
        ] {
            assert!(out.contains(verb), "{shell} completion lacks {verb}");
        }
        assert!(out.contains("cbdir"), "{shell} completion lacks --cbdir");
    }
    let dir = TempDir::new("completions");
    let script = dir.path().join("ferrobar.bash");
    fs::write(&script, stdout(&ferrobar(&["completions", "bash"]))).unwrap();
    let check = std::process::Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .expect("run bash -n");
    assert!(check.status.success(), "{}", stderr(&check));
    let o = ferrobar(&["completions", "tcsh"]);
    assert!(!o.status.success());
}

#[test]
fn man_pages_document_every_command() {
    let o = ferrobar(&["man"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let page = stdout(&o);
    assert!(
        page.starts_with(".ie") || page.contains(".TH ferrobar 1"),
        "{page}"
    );
    assert!(page.contains(".TH ferrobar 1"), "{page}");
    for verb in [
        "start", "stop", "status", "check", "init", "version", "keygen",
    ] {
        assert!(page.contains(verb), "ferrobar(1) does not mention {verb}");
    }

    let dir = TempDir::new("man");
    let out = dir.path().join("man1");
    let o = ferrobar(&["man", "--out-dir", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    for page in [
        "ferrobar.1",
        "ferrobar-start.1",
        "ferrobar-stop.1",
        "ferrobar-check.1",
    ] {
        let text = fs::read_to_string(out.join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.contains(".TH"), "{page} is not a man page");
    }
    let start = fs::read_to_string(out.join("ferrobar-start.1")).unwrap();
    for flag in ["cbdir", "shards", "loglevel"] {
        assert!(start.contains(flag), "ferrobar-start(1) lacks --{flag}");
    }
}

#[test]
fn version_into_a_closed_pipe_exits_quietly() {
    // `ferrobar version | head -n1`: the reader is gone before ferrobar writes.
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let o = ferrobar_command()
        .arg("version")
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .expect("run ferrobar");
    assert!(o.status.success(), "{:?}: {}", o.status, stderr(&o));
    assert_eq!(stderr(&o), "");
}

/// A node whose stderr is closed under it (`ferrobar start | head`, a restarted journal) still
/// starts, runs and stops: writing its log must not panic a thread (which once left a node
/// that never stopped, its shutdown timer dead).
#[test]
fn a_closed_stderr_does_not_stop_the_node_from_starting_and_stopping() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cbdir = tmp.path().join(".crossbar");
    fs::create_dir_all(&cbdir).expect("node dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let config = format!(
        r#"{{"version": 2, "workers": [{{"type": "router",
            "realms": [{{"name": "realm1", "roles": [{{"name": "anonymous", "permissions": []}}]}}],
            "transports": [{{"type": "web",
                "endpoint": {{"type": "tcp", "port": {port}, "interface": "127.0.0.1"}},
                "paths": {{"ws": {{"type": "websocket"}}}}}}]}}]}}"#
    );
    fs::write(cbdir.join("config.json"), config).expect("config.json");
    let mut child = ferrobar_command()
        .arg("start")
        .arg("--cbdir")
        .arg(&cbdir)
        .args([
            "--shards",
            "2",
            "--shutdownafter",
            "1",
            "--loglevel",
            "debug",
        ])
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ferrobar");
    // Close the read end at once: every write to stderr from now on fails with EPIPE.
    drop(child.stderr.take());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            panic!("the node did not stop within 10 s of --shutdownafter 1 with stderr closed");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(status.success(), "exit status: {status}");
}
