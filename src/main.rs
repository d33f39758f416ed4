//! The `ferrobar` command line: Crossbar's verbs and flags (`start`, `stop`, `status`,
//! `check`, `init`, `version`) so scripts and systemd units written for `crossbar` keep
//! working. Every failure ends as one `ferrobar: <cause>` line and a non-zero exit code.

use std::fs;
use std::io::{IsTerminal, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use thiserror::Error;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::EnvFilter;

use ferrobar::codec::Serializer;
use ferrobar::config::{self, NoticeLevel};
use ferrobar::node::{self, init, StartOptions};

/// `EX_UNAVAILABLE` from sysexits.h: what Crossbar's `stop`/`status --assert` exit with when
/// the node is not in the expected state.
const EX_UNAVAILABLE: u8 = 69;

#[derive(Parser, Debug)]
#[command(
    name = "ferrobar",
    version,
    about = "A WAMP v2 router: a drop-in replacement for the Crossbar.io router"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Accepted for compatibility with `crossbar`; no effect.
    #[arg(long, global = true, hide = true)]
    debug_lifecycle: bool,
    /// Accepted for compatibility with `crossbar`; no effect.
    #[arg(long, global = true, hide = true)]
    debug_programflow: bool,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Start a node from a node directory (the built-in default node if it has no config).
    Start(StartArgs),
    /// Stop the node running from a node directory (SIGINT, then SIGTERM, then SIGKILL).
    Stop(CbdirArgs),
    /// Make the node running from a node directory read its configuration again (SIGHUP):
    /// realms, roles and permissions change without dropping a session.
    Reload(CbdirArgs),
    /// Print whether a node is running from a node directory.
    Status(StatusArgs),
    /// Check a node configuration without starting anything.
    Check(ConfigArgs),
    /// Create an application directory with the default node configuration.
    Init(InitArgs),
    /// Print versions and what this build offers.
    Version,
    /// Print a new Ed25519 key pair (hex) for WAMP-cryptosign principals.
    Keygen,
    /// Print the shell completion script for SHELL (made from this CLI's definition).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page ferrobar(1), or write it and one page per command into a directory.
    Man(ManArgs),
}

#[derive(Args, Debug)]
struct ManArgs {
    /// Write ferrobar.1 and ferrobar-<command>.1 here instead of printing ferrobar(1).
    #[arg(long)]
    out_dir: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct CbdirArgs {
    /// Node directory (default: $CROSSBAR_DIR, else ./.crossbar).
    #[arg(long)]
    cbdir: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct ConfigArgs {
    #[command(flatten)]
    dir: CbdirArgs,
    /// Config file, relative to the node directory (default: config.yaml, else config.json).
    #[arg(long)]
    config: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct StartArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Log level.
    #[arg(long, value_enum, default_value_t = LogLevel::Info)]
    loglevel: LogLevel,
    /// Log line format.
    #[arg(long, value_enum, default_value_t = LogFormat::Standard)]
    logformat: LogFormat,
    /// Colored log output.
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    color: Color,
    /// Directory for the log file written with --logtofile (default: the node directory).
    #[arg(long)]
    logdir: Option<PathBuf>,
    /// Log to `node.log` in --logdir instead of stderr.
    #[arg(long)]
    logtofile: bool,
    /// Stop by itself after this many seconds.
    #[arg(long)]
    shutdownafter: Option<u64>,
    /// On SIGTERM/SIGINT, spread the sessions' GOODBYEs over this many seconds (ferrobar
    /// extension); a second signal stops at once
    #[arg(long, default_value_t = 1.0, value_parser = drain_seconds)]
    drain_seconds: f64,
    /// Serve /metrics (Prometheus), /healthz and /livez on this address, e.g. 127.0.0.1:9100
    /// (ferrobar extension)
    #[arg(long, value_name = "ADDR:PORT")]
    metrics: Option<std::net::SocketAddr>,
    /// Reactor threads (ferrobar extension); overrides workers[].options.shards.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
    shards: Option<u16>,
    /// I/O backend of the shards (ferrobar extension): epoll, io_uring or auto; overrides
    /// workers[].options.reactor. Where neither says, the FERROBAR_REACTOR environment
    /// variable does (else auto).
    #[arg(long, value_parser = parse_reactor)]
    reactor: Option<config::ReactorKind>,
}

fn parse_reactor(name: &str) -> Result<config::ReactorKind, String> {
    config::ReactorKind::parse(name)
        .ok_or_else(|| format!("expected {}", config::ReactorKind::NAMES))
}

#[derive(Args, Debug)]
struct StatusArgs {
    #[command(flatten)]
    dir: CbdirArgs,
    /// Exit with code 69 unless the node is in this state.
    #[arg(long = "assert", value_enum)]
    expect: Option<Expect>,
}

#[derive(Args, Debug)]
struct InitArgs {
    /// Application directory to initialize.
    #[arg(long, default_value = ".")]
    appdir: PathBuf,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum LogLevel {
    None,
    Critical,
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum LogFormat {
    /// Crossbar's default: one line of text per event (`text` is the same).
    #[value(alias = "text")]
    Standard,
    /// Text without timestamps (syslogd adds its own).
    Syslogd,
    /// One JSON object per line (ferrobar extension), for log shippers.
    Json,
    /// No log.
    None,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Color {
    True,
    False,
    Auto,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    Running,
    Stopped,
}

/// A failure of the CLI itself; printed as `ferrobar: <cause>`.
#[derive(Debug, Error)]
enum CliError {
    #[error("{0}")]
    Config(#[from] config::ConfigError),
    #[error("invalid configuration {path}:\n{errors}")]
    Invalid {
        path: String,
        errors: config::ConfigErrors,
    },
    #[error("no config.json in {0} (`ferrobar start` would run the built-in default node)")]
    NoConfig(PathBuf),
    #[error("{0}")]
    Node(#[from] node::NodeError),
    #[error("{0}")]
    Init(#[from] init::InitError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("cannot signal pid {pid}: {source}")]
    Signal { pid: i32, source: std::io::Error },
    #[error("the node (pid {0}) is still running after SIGKILL")]
    Unkillable(i32),
    #[error("FERROBAR_REACTOR: expected {names}, found {0:?}", names = config::ReactorKind::NAMES)]
    ReactorEnv(String),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Start(a) => cmd_start(a),
        Command::Stop(a) => quiet_logging().and_then(|()| cmd_stop(&a)),
        Command::Reload(a) => quiet_logging().and_then(|()| cmd_reload(&a)),
        Command::Status(a) => quiet_logging().and_then(|()| cmd_status(&a)),
        Command::Check(a) => quiet_logging().and_then(|()| cmd_check(&a)),
        Command::Init(a) => quiet_logging().and_then(|()| cmd_init(&a)),
        Command::Version => cmd_version(),
        Command::Keygen => cmd_keygen(),
        Command::Completions { shell } => cmd_completions(shell),
        Command::Man(a) => cmd_man(&a),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "ferrobar: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Warnings only, to stderr: for the commands that are not the node itself.
fn quiet_logging() -> Result<(), CliError> {
    init_logging(LogLevel::Warn, LogFormat::Standard, Color::Auto, None)
}

fn init_logging(
    level: LogLevel,
    format: LogFormat,
    color: Color,
    file: Option<&Path>,
) -> Result<(), CliError> {
    if level == LogLevel::None || format == LogFormat::None {
        return Ok(());
    }
    let level = match level {
        LogLevel::None => "off",
        LogLevel::Critical | LogLevel::Error => "error",
        LogLevel::Warn => "warn",
        LogLevel::Info => "info",
        LogLevel::Debug => "debug",
        LogLevel::Trace => "trace",
    };
    // RUST_LOG, when set, gives finer control (per module) than --loglevel.
    let filter = match std::env::var("RUST_LOG") {
        Ok(s) if !s.is_empty() => EnvFilter::new(s),
        _ => EnvFilter::new(level),
    };
    let (writer, terminal) = match file {
        Some(path) => {
            let f = fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|source| CliError::Io {
                    what: format!("cannot open log file {}", path.display()),
                    source,
                })?;
            (BoxMakeWriter::new(Arc::new(f)), false)
        }
        None => (
            BoxMakeWriter::new(std::io::stderr),
            std::io::stderr().is_terminal(),
        ),
    };
    let ansi = match color {
        Color::True => true,
        Color::False => false,
        Color::Auto => terminal && std::env::var_os("NO_COLOR").is_none(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(ansi)
        .with_target(false)
        // A log the node cannot write (stderr closed under it: `ferrobar start | head`, a
        // restarted journal) must not stop it: tracing-subscriber would report the failure
        // with eprintln!, which panics on that same closed stderr, in whichever thread logged.
        .log_internal_errors(false);
    // syslogd adds its own timestamps.
    let _ = match format {
        LogFormat::Syslogd => builder.without_time().try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
        _ => builder.try_init(),
    };
    Ok(())
}

/// Crossbar's rule: `--cbdir`, else `$CROSSBAR_DIR`, else `./.crossbar`; a `--cbdir` that
/// names a file means that file's directory.
fn resolve_cbdir(arg: &CbdirArgs) -> PathBuf {
    let dir = match (&arg.cbdir, std::env::var_os("CROSSBAR_DIR")) {
        (Some(d), _) => d.clone(),
        (None, Some(d)) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(".crossbar"),
    };
    let dir = std::path::absolute(&dir).unwrap_or(dir);
    if dir.is_file() {
        if let Some(parent) = dir.parent() {
            return parent.to_path_buf();
        }
    }
    dir
}

/// The config file to read: `--config` (relative to the node directory, as in Crossbar), else
/// the one found in the node directory, else `None`.
fn locate_config(cbdir: &Path, config_arg: &Option<PathBuf>) -> Result<Option<PathBuf>, CliError> {
    match config_arg {
        Some(c) => Ok(Some(cbdir.join(c))),
        None => Ok(config::find_config(cbdir)?),
    }
}

fn invalid(path: &Path, errors: config::ConfigErrors) -> CliError {
    let path = path.display().to_string();
    // A file-level problem (missing, unreadable, not JSON) already names the file: one line.
    if let [only] = errors.0.as_slice() {
        if only.path == path {
            return CliError::Config(only.clone());
        }
    }
    CliError::Invalid { path, errors }
}

fn cmd_start(a: StartArgs) -> Result<u8, CliError> {
    let cbdir = resolve_cbdir(&a.config.dir);
    let log_file = a.logtofile.then(|| {
        a.logdir
            .clone()
            .unwrap_or_else(|| cbdir.clone())
            .join("node.log")
    });
    if !cbdir.is_dir() {
        fs::create_dir_all(&cbdir).map_err(|source| CliError::Io {
            what: format!("cannot create node directory {}", cbdir.display()),
            source,
        })?;
        // Not eprintln!: a closed stderr must not stop the node from starting.
        let _ = writeln!(
            std::io::stderr(),
            "Auto-created node directory {}",
            cbdir.display()
        );
    }
    init_logging(a.loglevel, a.logformat, a.color, log_file.as_deref())?;
    let config_path = locate_config(&cbdir, &a.config.config)?;
    let config = match &config_path {
        Some(path) => {
            tracing::info!("node configuration: {}", path.display());
            config::load_file_in(path, &cbdir).map_err(|e| invalid(path, e))?
        }
        None => {
            tracing::info!(
                "no config.json in {}: starting the built-in default node (realm1, anonymous \
                 allowed everything, web transport on port 8080 with /ws and /info)",
                cbdir.display()
            );
            config::default_node(&cbdir)
        }
    };
    let reactor_default = match std::env::var("FERROBAR_REACTOR") {
        Ok(v) if v.is_empty() => None,
        Ok(v) => Some(config::ReactorKind::parse(&v).ok_or(CliError::ReactorEnv(v))?),
        Err(_) => None,
    };
    let options = StartOptions {
        shards: a.shards.map(usize::from),
        shutdown_after: a.shutdownafter,
        drain: std::time::Duration::from_secs_f64(a.drain_seconds),
        metrics: a.metrics,
        config_path,
        reactor: a.reactor,
        reactor_default,
    };
    node::start(config, options)?;
    Ok(0)
}

fn cmd_check(a: &ConfigArgs) -> Result<u8, CliError> {
    let cbdir = resolve_cbdir(&a.dir);
    let path =
        locate_config(&cbdir, &a.config)?.ok_or_else(|| CliError::NoConfig(cbdir.clone()))?;
    let checked = config::check_file(&path, &cbdir);
    // With errors, only the errors: the notices would bury them and come back once fixed.
    let notices = if checked.result.is_ok() {
        checked.notices.as_slice()
    } else {
        &[]
    };
    for n in notices {
        let level = match n.level {
            NoticeLevel::Info => "info",
            NoticeLevel::Warn => "warning",
        };
        let _ = writeln!(std::io::stderr(), "{level}: {n}");
    }
    match checked.result {
        Ok(_) => {
            println!("Ok, node configuration looks good!");
            Ok(0)
        }
        Err(errors) => Err(invalid(&path, errors)),
    }
}

fn cmd_init(a: &InitArgs) -> Result<u8, CliError> {
    let done = init::init(&a.appdir)?;
    for p in &done.created {
        println!("created {}", p.display());
    }
    for p in &done.kept {
        println!("kept existing {}", p.display());
    }
    println!(
        "Initialized. Start the node with: ferrobar start --cbdir {}",
        done.cbdir.display()
    );
    Ok(0)
}

/// `version`: the versions and what this build offers, by the names a Crossbar config uses
/// (the lists come from [`config::capabilities`], which its tests check against the loader).
fn cmd_version() -> Result<u8, CliError> {
    use config::capabilities as caps;
    let serializers = Serializer::ALL
        .iter()
        .map(|s| format!("{} ({})", s.name(), s.subprotocol()))
        .collect::<Vec<_>>()
        .join(", ");
    let mut lines = Vec::new();
    let build = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    lines.push(format!("ferrobar {}", env!("CARGO_PKG_VERSION")));
    lines.push(
        "  WAMP        : v2, broker and dealer, Advanced Profile (docs/features.md)".to_owned(),
    );
    lines.push(format!("  Serializers : {serializers}"));
    lines.push(format!(
        "  Transports  : {} (web paths: {})",
        caps::TRANSPORTS.join(", "),
        caps::WEB_SERVICES.join(", ")
    ));
    lines.push(format!(
        "  Endpoints   : {}; TLS 1.2/1.3 on tcp (rustls, ring), client certificates",
        caps::ENDPOINTS.join(", ")
    ));
    lines.push(format!(
        "  Auth        : {}; dynamic authenticators for {}",
        caps::AUTH_METHODS.join(", "),
        caps::DYNAMIC_AUTH_METHODS.join(", ")
    ));
    lines.push("  Permissions : static role permissions, dynamic authorizers".to_owned());
    lines.push(format!(
        "  Not offered : transports {}, {} (parsed, not served yet); auth {}",
        caps::REFUSED_TRANSPORTS.join(", "),
        caps::PARSED_NOT_SERVED_TRANSPORTS.join(", "),
        caps::REFUSED_AUTH_METHODS.join(", ")
    ));
    lines.push("  Config      : Crossbar node config version 2 (config.json)".to_owned());
    lines.push(
        "  Reactor     : mio, one shard per core, SO_REUSEPORT listeners (socket2); sends \
         batched through io_uring where the kernel allows (reactor: epoll | io_uring | auto)"
            .to_owned(),
    );
    lines.push(
        "  Codecs      : simd-json (messages), serde_json (config), rmp, minicbor".to_owned(),
    );
    lines.push(format!(
        "  Platform    : {} {}, {}-bit, {build} build",
        std::env::consts::OS,
        std::env::consts::ARCH,
        usize::BITS
    ));
    lines.push(String::new());
    write_stdout(lines.join("\n").as_bytes())
}

/// `completions SHELL`: the completion script, generated from the clap definition.
fn cmd_completions(shell: clap_complete::Shell) -> Result<u8, CliError> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "ferrobar", &mut out);
    write_stdout(&out)
}

/// `man [--out-dir DIR]`: ferrobar(1) in roff on stdout, or every page into DIR.
fn cmd_man(a: &ManArgs) -> Result<u8, CliError> {
    match &a.out_dir {
        Some(dir) => {
            let io = |source| CliError::Io {
                what: format!("cannot write man pages into {}", dir.display()),
                source,
            };
            fs::create_dir_all(dir).map_err(io)?;
            clap_mangen::generate_to(Cli::command(), dir).map_err(io)?;
            Ok(0)
        }
        None => {
            let mut out = Vec::new();
            clap_mangen::Man::new(Cli::command())
                .render(&mut out)
                .map_err(|source| CliError::Io {
                    what: "cannot render the man page".into(),
                    source,
                })?;
            write_stdout(&out)
        }
    }
}

fn write_stdout(bytes: &[u8]) -> Result<u8, CliError> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(bytes)
        .and_then(|()| stdout.flush())
        .or_else(|e| match e.kind() {
            // `ferrobar version | head -n1`: the reader has what it wanted.
            std::io::ErrorKind::BrokenPipe => Ok(()),
            _ => Err(e),
        })
        .map_err(|source| CliError::Io {
            what: "cannot write to stdout".into(),
            source,
        })?;
    Ok(0)
}

/// `keygen`: a new Ed25519 key pair in hex, laid out as Crossbar's `keygen` prints its key
/// pair. The public key goes into a cryptosign principal's `authorized_keys`; the private key
/// (the 32-byte seed) is what Autobahn's `AuthCryptoSign(privkey=...)` takes.
fn cmd_keygen() -> Result<u8, CliError> {
    let mut rng = rand::rand_core::UnwrapErr(rand::rngs::SysRng);
    let (private, public) = ferrobar::auth::keygen(&mut rng);
    println!("  private: {private}");
    println!("   public: {public}");
    Ok(0)
}

fn cmd_status(a: &StatusArgs) -> Result<u8, CliError> {
    let cbdir = resolve_cbdir(&a.dir);
    let running = running_node(&cbdir)?;
    let state = match running {
        Some(pid) => format!("RUNNING (pid {pid})"),
        None => "STOPPED".to_string(),
    };
    let ok = match a.expect {
        None => {
            println!("Status is {state}");
            return Ok(0);
        }
        Some(Expect::Running) => running.is_some(),
        Some(Expect::Stopped) => running.is_none(),
    };
    let wanted = if a.expect == Some(Expect::Running) {
        "RUNNING"
    } else {
        "STOPPED"
    };
    let verdict = if ok { "succeeded" } else { "failed" };
    println!("Assert status {wanted} {verdict}: status is {state}");
    Ok(if ok { 0 } else { EX_UNAVAILABLE })
}

fn cmd_stop(a: &CbdirArgs) -> Result<u8, CliError> {
    let cbdir = resolve_cbdir(a);
    let Some(pid) = running_node(&cbdir)? else {
        println!("No node is running from node directory {}", cbdir.display());
        return Ok(EX_UNAVAILABLE);
    };
    println!(
        "Stopping the node running from {} (pid {pid}) ...",
        cbdir.display()
    );
    let steps = [
        (libc::SIGINT, "SIGINT"),
        (libc::SIGTERM, "SIGTERM"),
        (libc::SIGKILL, "SIGKILL"),
    ];
    // The first, graceful step may take the node's drain window on top.
    let mut wait = Duration::from_secs(5) + drain_window_of(&cbdir);
    for (signal, name) in steps {
        send_signal(pid, signal)?;
        let gone = wait_gone(pid, wait);
        wait = Duration::from_secs(5);
        if gone {
            // A node killed by SIGKILL could not remove its pid file.
            let _ = fs::remove_file(pid_path(&cbdir));
            println!("Node stopped ({name}).");
            return Ok(0);
        }
        println!("pid {pid} still running after {name}");
    }
    Err(CliError::Unkillable(pid))
}

fn cmd_reload(a: &CbdirArgs) -> Result<u8, CliError> {
    let cbdir = resolve_cbdir(a);
    let Some(pid) = running_node(&cbdir)? else {
        println!("No node is running from node directory {}", cbdir.display());
        return Ok(EX_UNAVAILABLE);
    };
    send_signal(pid, libc::SIGHUP)?;
    println!(
        "Asked the node running from {} (pid {pid}) to reload its configuration; its log says \
         what changed, or why the running configuration was kept.",
        cbdir.display()
    );
    Ok(0)
}

/// The `--drain-seconds` the node running from `cbdir` was started with (its pid file keeps
/// its command line), else the default.
fn drain_window_of(cbdir: &Path) -> Duration {
    let argv: Vec<String> = fs::read_to_string(pid_path(cbdir))
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|v| serde_json::from_value(v.get("argv")?.clone()).ok())
        .unwrap_or_default();
    let value = argv.iter().enumerate().find_map(|(i, arg)| {
        arg.strip_prefix("--drain-seconds=")
            .map(str::to_owned)
            .or_else(|| (arg == "--drain-seconds").then(|| argv.get(i + 1).cloned())?)
    });
    value
        .and_then(|v| drain_seconds(&v).ok())
        .map_or(Duration::from_secs(1), Duration::from_secs_f64)
}

fn pid_path(cbdir: &Path) -> PathBuf {
    cbdir.join("node.pid")
}

/// The pid of the node running from `cbdir`, from `node.pid` (`{"pid": ...}` as Crossbar
/// writes it). A pid file that is corrupt, or names a process that is gone or is not a
/// ferrobar/crossbar node (the pid was reused), is stale: removed, as Crossbar does.
fn running_node(cbdir: &Path) -> Result<Option<i32>, CliError> {
    let path = pid_path(cbdir);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(CliError::Io {
                what: format!("cannot read {}", path.display()),
                source,
            })
        }
    };
    let pid = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.get("pid").and_then(serde_json::Value::as_i64))
        .and_then(|p| i32::try_from(p).ok())
        .filter(|p| *p > 0);
    match pid {
        Some(pid) if is_alive(pid) && is_node_process(pid) => Ok(Some(pid)),
        _ => {
            tracing::warn!("removing stale pid file {}", path.display());
            let _ = fs::remove_file(&path);
            Ok(None)
        }
    }
}

/// True if a process with this pid exists and is not a zombie (a node that exited but was
/// not reaped yet by its parent counts as stopped).
fn is_alive(pid: i32) -> bool {
    // SAFETY: kill with signal 0 sends nothing; it only checks that the pid exists and may be
    // signalled. It has no memory-safety preconditions.
    let rc = unsafe { libc::kill(pid, 0) };
    let exists = rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    if !exists {
        return false;
    }
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name, which may itself contain spaces.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_none_or(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => true,
    }
}

/// True if the process looks like a ferrobar (or crossbar) node. Where `/proc` cannot tell,
/// trust the pid file.
fn is_node_process(pid: i32) -> bool {
    match fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(cmd) => cmd.split(|b| *b == 0).any(|arg| {
            let arg = String::from_utf8_lossy(arg);
            arg.contains("ferrobar") || arg.contains("crossbar")
        }),
        Err(_) => true,
    }
}

fn send_signal(pid: i32, signal: libc::c_int) -> Result<(), CliError> {
    // SAFETY: kill has no memory-safety preconditions; the pid was read from the node's pid
    // file and checked to be a live node process just before.
    if unsafe { libc::kill(pid, signal) } == 0 {
        return Ok(());
    }
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::ESRCH) {
        return Ok(()); // already gone
    }
    Err(CliError::Signal { pid, source: err })
}

fn wait_gone(pid: i32, timeout: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if !is_alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    !is_alive(pid)
}

/// `--drain-seconds`: 0 to 3600 seconds.
fn drain_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if (0.0..=3600.0).contains(&s) => Ok(s),
        _ => Err(format!(
            "{text:?} is not a number of seconds from 0 to 3600"
        )),
    }
}
