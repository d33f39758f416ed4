//! The node controller: reads config, binds listeners, starts one shard thread per core,
//! handles signals (SIGTERM/SIGINT: graceful shutdown), writes the pid file.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use mio::{Poll, Waker};
use rand::SeedableRng;
use thiserror::Error;

use crate::config::{Endpoint, NodeConfig, PathService, TransportKind, UniversalService};
use crate::router::{Core, CoreConfig};
use crate::shard::listener::{self, BoundListener};
use crate::shard::{self, mailbox, NodeLimits, ShardSetup, TransportRuntime, WAKER_TOKEN};
use crate::transport::http::NodeInfo;
use crate::transport::tls;

mod cookies;
pub mod init;
mod systemd;

/// Options of `ferrobar start` that are not part of the Crossbar config.
#[derive(Debug, Clone, Default)]
pub struct StartOptions {
    /// `--shards N`: overrides `options.shards` of every router worker.
    pub shards: Option<usize>,
    /// `--shutdownafter SECS`: stop by itself after this many seconds.
    pub shutdown_after: Option<u64>,
}

/// Why the node could not start or run.
#[derive(Debug, Error)]
pub enum NodeError {
    /// A listening endpoint could not be bound.
    #[error("cannot listen on {endpoint}: {source}")]
    Bind {
        /// The endpoint as text (`tcp 0.0.0.0:8080`).
        endpoint: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A TLS key or certificate could not be used.
    #[error("transport {transport}: {source}")]
    Tls {
        /// The transport id.
        transport: String,
        /// What was wrong.
        source: tls::TlsSetupError,
    },
    /// Another node is running in this node directory.
    #[error("a node is already running in {0} (pid file {1})")]
    AlreadyRunning(PathBuf, PathBuf),
    /// Any other I/O failure at start-up.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
}

fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> NodeError {
    let what = what.into();
    move |source| NodeError::Io { what, source }
}

/// Runs the node until SIGTERM/SIGINT (or `shutdown_after`), then shuts down gracefully:
/// every session gets GOODBYE `wamp.close.system_shutdown`.
pub fn start(config: NodeConfig, options: StartOptions) -> Result<(), NodeError> {
    let realms: Vec<_> = config
        .routers
        .iter()
        .flat_map(|r| r.realms.iter().cloned())
        .collect();
    let transports: Vec<_> = config
        .routers
        .iter()
        .flat_map(|r| r.transports.iter().cloned())
        .collect();
    let shards = options
        .shards
        .or_else(|| config.routers.iter().find_map(|r| r.shards))
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let pid = std::process::id();
    let node_id = config.node_id.clone().unwrap_or_else(hostname);
    let worker_id = config
        .routers
        .first()
        .map_or_else(|| "worker001".to_owned(), |r| r.id.clone());

    raise_file_limit();

    // Bind everything before any thread starts, so a port in use is one clear error.
    let mut per_shard: Vec<Vec<(BoundListener, usize)>> = (0..shards).map(|_| Vec::new()).collect();
    let mut labels = Vec::new();
    for (t, transport) in transports.iter().enumerate() {
        match &transport.endpoint {
            ep @ Endpoint::Tcp { backlog, .. } => {
                let addr = listener::tcp_addr(ep).map_err(|e| NodeError::Bind {
                    endpoint: format!("{ep:?}"),
                    source: e,
                })?;
                let bind = |addr| {
                    listener::bind_tcp(addr, *backlog).map_err(|e| NodeError::Bind {
                        endpoint: format!("tcp {addr}"),
                        source: e,
                    })
                };
                let first = bind(addr)?;
                let actual = first
                    .local_addr()
                    .map_err(io_err("reading the bound address"))?;
                per_shard[0].push((BoundListener::Tcp(first), t));
                for listeners in per_shard.iter_mut().skip(1) {
                    listeners.push((BoundListener::Tcp(bind(actual)?), t));
                }
                labels.push(format!(
                    "{} ({}) on tcp {actual}",
                    transport.id,
                    describe(&transport.kind)
                ));
            }
            Endpoint::Unix { path, .. } => {
                let l = listener::bind_unix(path).map_err(|e| NodeError::Bind {
                    endpoint: format!("unix {}", path.display()),
                    source: e,
                })?;
                per_shard[0].push((BoundListener::Unix(l), t));
                labels.push(format!(
                    "{} ({}) on unix {}",
                    transport.id,
                    describe(&transport.kind),
                    path.display()
                ));
            }
        }
    }

    let pid_file = write_pid_file(&config.cbdir)?;
    let node = Arc::new(NodeInfo {
        version: env!("CARGO_PKG_VERSION"),
        node_id: node_id.clone(),
        started: SystemTime::now(),
        pid,
        shards,
        workers: config.routers.iter().map(|r| r.id.clone()).collect(),
        realms: realms.iter().map(|r| r.name.clone()).collect(),
        transports: labels.clone(),
    });
    // Read keys and certificates before any thread starts: an unreadable key is a start-up error.
    let mut tls_configs = Vec::new();
    for transport in &transports {
        let config = match &transport.endpoint {
            Endpoint::Tcp { tls: Some(t), .. } => Some(
                tls::server_config(
                    &t.key,
                    &t.certificate,
                    &t.chain_certificates,
                    &t.ca_certificates,
                )
                .map_err(|e| NodeError::Tls {
                    transport: transport.id.clone(),
                    source: e,
                })?,
            ),
            _ => None,
        };
        tls_configs.push(config);
    }
    // Cookie files are read (and opened for appending) before any thread starts, too.
    let mut cookie_stores = Vec::new();
    for transport in &transports {
        cookie_stores.push(cookies::open_stores(&transport.kind, &mut random_bytes)?);
    }
    let runtimes: Arc<Vec<TransportRuntime>> = Arc::new(
        transports
            .iter()
            .enumerate()
            .map(|(i, t)| TransportRuntime {
                kind: t.kind.clone(),
                auth: Arc::new(t.auth.clone()),
                rawsocket: match &t.kind {
                    TransportKind::RawSocket(r) => Some(r.clone()),
                    TransportKind::Universal(u) => u.rawsocket.clone(),
                    _ => None,
                },
                tls: tls_configs[i].clone(),
                handshake_timeout: handshake_timeout(&t.kind),
                auto_ping: websocket_services(&t.kind)
                    .any(|ws| ws.options.auto_ping_interval_ms.is_some()),
                max_connections: t.max_connections,
                open: std::sync::atomic::AtomicUsize::new(0),
                close_timeout: websocket_services(&t.kind)
                    .find_map(|ws| ws.options.close_handshake_timeout_ms)
                    .map_or(Duration::from_secs(2), Duration::from_millis),
                cookie_stores: std::mem::take(&mut cookie_stores[i]),
            })
            .collect(),
    );

    let mut polls = Vec::new();
    let mut wakers = Vec::new();
    for _ in 0..shards {
        let poll = Poll::new().map_err(io_err("creating the event loop"))?;
        let waker =
            Waker::new(poll.registry(), WAKER_TOKEN).map_err(io_err("creating a shard waker"))?;
        polls.push(poll);
        wakers.push(Arc::new(waker));
    }
    let (outboxes, inboxes) = mailbox::mesh(&wakers);
    let shutdown = Arc::new(AtomicBool::new(false));
    let limits = config.routers.first().map(|r| r.limits).unwrap_or_default();
    let node_limits = Arc::new(NodeLimits {
        max_connections: limits.max_connections,
        open: std::sync::atomic::AtomicUsize::new(0),
        max_output_bytes: limits.max_output_bytes,
        slow_consumer: limits.slow_consumer,
        write_stall_secs: u32::try_from(limits.write_stall_timeout_ms.div_ceil(1000))
            .unwrap_or(u32::MAX),
    });
    let throttle = Arc::new(std::sync::Mutex::new(crate::auth::FailureTracker::new(
        crate::auth::ThrottleConfig::default(),
    )));
    let node_key = load_node_key(&config.cbdir);
    let realm_sessions: Arc<[std::sync::atomic::AtomicUsize]> = realms
        .iter()
        .map(|_| std::sync::atomic::AtomicUsize::new(0))
        .collect();
    let seed_base = random_seed();

    tracing::info!(
        "ferrobar {} starting: node {node_id}, pid {pid}, {shards} shard(s)",
        env!("CARGO_PKG_VERSION")
    );
    for realm in &realms {
        tracing::info!(
            "realm \"{}\" started ({} role(s))",
            realm.name,
            realm.roles.len()
        );
    }
    for label in &labels {
        tracing::info!("transport {label}");
    }

    let heartbeats: Vec<Arc<AtomicU32>> = (0..shards).map(|_| Arc::default()).collect();
    let mut threads = Vec::new();
    let per_shard_io = polls
        .into_iter()
        .zip(per_shard)
        .zip(outboxes)
        .zip(inboxes)
        .enumerate();
    for (id, (((poll, listeners), outboxes), inboxes)) in per_shard_io {
        let setup = ShardSetup {
            id,
            poll,
            listeners,
            transports: Arc::clone(&runtimes),
            node: Arc::clone(&node),
            core: Core::new(CoreConfig {
                shard: id,
                shards,
                realms: realms.clone(),
                node_id: node_id.clone(),
                worker_id: worker_id.clone(),
                pid,
                seed: seed_base ^ (id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                start: std::time::Instant::now(),
                hello_timeout: Duration::from_millis(limits.hello_timeout_ms),
                max_pending_calls: limits.max_pending_calls,
                realm_sessions: Arc::clone(&realm_sessions),
                crypto_seed: random_bytes(),
                throttle: Arc::clone(&throttle),
                node_key: node_key.clone(),
            }),
            outboxes,
            inboxes,
            shutdown: Arc::clone(&shutdown),
            heartbeat: Arc::clone(&heartbeats[id]),
            limits: Arc::clone(&node_limits),
        };
        let thread = std::thread::Builder::new()
            .name(format!("shard-{id}"))
            .spawn(move || shard::run(setup))
            .map_err(io_err("starting a shard thread"))?;
        threads.push(thread);
    }

    spawn_signal_watcher(
        Arc::clone(&shutdown),
        wakers.clone(),
        options.shutdown_after,
    )?;

    // systemd (Type=notify): ready once every shard has entered its loop, its listeners
    // registered; the listening sockets were bound (and listen(2)ed) before any thread started.
    if wait_shards_running(&heartbeats, &threads, &shutdown) {
        systemd::ready(&format!("{shards} shard(s); {}", labels.join(", ")));
    }
    let stopped = Arc::new(AtomicBool::new(false));
    systemd::spawn_watchdog(heartbeats.clone(), wakers.clone(), Arc::clone(&stopped))
        .map_err(io_err("starting the systemd watchdog"))?;

    let mut failed = false;
    for (id, thread) in threads.into_iter().enumerate() {
        match thread.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::error!("shard {id} failed: {e}");
                failed = true;
            }
            Err(_) => {
                tracing::error!("shard {id} panicked");
                failed = true;
            }
        }
    }
    stopped.store(true, Ordering::Release);
    // What the shards recorded since their last housekeeping.
    for store in runtimes.iter().flat_map(|t| &t.cookie_stores) {
        store.flush();
    }
    if let Some(p) = pid_file {
        let _ = std::fs::remove_file(p);
    }
    if failed {
        return Err(NodeError::Io {
            what: "a shard failed".into(),
            source: std::io::Error::other("see the log above"),
        });
    }
    tracing::info!("ferrobar stopped");
    Ok(())
}

/// Waits until every shard has started its loop (its heartbeat moved). False when a shard
/// thread ended first (it failed; the caller's join reports why) or a shutdown was asked for.
fn wait_shards_running(
    heartbeats: &[Arc<AtomicU32>],
    threads: &[std::thread::JoinHandle<std::io::Result<()>>],
    shutdown: &AtomicBool,
) -> bool {
    loop {
        if heartbeats.iter().all(|h| h.load(Ordering::Acquire) > 0) {
            return true;
        }
        if threads.iter().any(std::thread::JoinHandle::is_finished)
            || shutdown.load(Ordering::Acquire)
        {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// How long a connection may take to finish its handshake: the WebSocket service's
/// `open_handshake_timeout` when set, else 10 s (Crossbar has none by default; a production
/// router must not hold half-open handshakes forever).
fn handshake_timeout(kind: &TransportKind) -> Duration {
    const DEFAULT: Duration = Duration::from_secs(10);
    let ms = websocket_services(kind).find_map(|ws| ws.options.open_handshake_timeout_ms);
    ms.map_or(DEFAULT, Duration::from_millis)
}

/// The WebSocket services a transport offers.
fn websocket_services(
    kind: &TransportKind,
) -> impl Iterator<Item = &crate::config::WebSocketService> {
    let (single, paths) = match kind {
        TransportKind::WebSocket(ws) => (Some(ws), None),
        TransportKind::Web(web) | TransportKind::Universal(UniversalService { web, .. }) => {
            (None, Some(web))
        }
        TransportKind::RawSocket(_) => (None, None),
    };
    let from_paths = paths.into_iter().flat_map(|web| {
        web.root
            .iter()
            .chain(web.paths.iter().map(|(_, p)| p))
            .filter_map(|p| match p {
                PathService::WebSocket(ws) => Some(ws),
                _ => None,
            })
    });
    single.into_iter().chain(from_paths)
}

fn describe(kind: &TransportKind) -> String {
    match kind {
        TransportKind::WebSocket(_) => "websocket".into(),
        TransportKind::RawSocket(_) => "rawsocket".into(),
        TransportKind::Universal(u) => {
            let raw = if u.rawsocket.is_some() {
                "rawsocket + "
            } else {
                ""
            };
            format!(
                "universal: {raw}{}",
                describe(&TransportKind::Web(u.web.clone()))
            )
        }
        TransportKind::Web(web) => {
            let mut paths: Vec<String> = Vec::new();
            if web.root.is_some() {
                paths.push("/".into());
            }
            for (name, service) in &web.paths {
                let what = match service {
                    PathService::WebSocket(_) => "websocket",
                    PathService::Static(_) => "static",
                    PathService::NodeInfo => "nodeinfo",
                    PathService::Path(_) => "path",
                    PathService::Json(_) => "json",
                    PathService::Redirect(_) => "redirect",
                    PathService::NotFound => "none",
                };
                paths.push(format!("/{name}={what}"));
            }
            format!("web: {}", paths.join(" "))
        }
    }
}

/// Watches SIGTERM/SIGINT (and the optional self-stop timer) and asks every shard to stop.
fn spawn_signal_watcher(
    shutdown: Arc<AtomicBool>,
    wakers: Vec<Arc<Waker>>,
    after: Option<u64>,
) -> Result<(), NodeError> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT])
        .map_err(io_err("installing signal handlers"))?;
    let stop = move |why: &str| {
        tracing::info!("{why}: shutting down");
        systemd::stopping();
        shutdown.store(true, Ordering::Release);
        for w in &wakers {
            let _ = w.wake();
        }
    };
    if let Some(secs) = after {
        let stop = stop.clone();
        std::thread::Builder::new()
            .name("shutdown-timer".into())
            .spawn(move || {
                std::thread::sleep(Duration::from_secs(secs));
                stop("--shutdownafter elapsed");
            })
            .map_err(io_err("starting the shutdown timer"))?;
    }
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                let name = if signal == SIGTERM {
                    "SIGTERM"
                } else {
                    "SIGINT"
                };
                stop(&format!("{name} received"));
            }
        })
        .map_err(io_err("starting the signal watcher"))?;
    Ok(())
}

/// Writes `cbdir/node.pid` (`{"pid": N}`, as Crossbar) when the node directory exists; refuses
/// to start when it names a live process.
fn write_pid_file(cbdir: &Path) -> Result<Option<PathBuf>, NodeError> {
    if !cbdir.is_dir() {
        return Ok(None);
    }
    let path = cbdir.join("node.pid");
    if let Ok(text) = std::fs::read_to_string(&path) {
        let pid = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("pid").and_then(serde_json::Value::as_u64));
        if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
            // SAFETY: kill with signal 0 only checks that the process exists.
            let alive = unsafe { libc::kill(pid, 0) } == 0;
            if alive && pid as u32 != std::process::id() {
                return Err(NodeError::AlreadyRunning(cbdir.to_path_buf(), path));
            }
        }
    }
    let text = serde_json::json!({ "pid": std::process::id(), "argv": std::env::args().collect::<Vec<_>>() });
    std::fs::write(&path, text.to_string())
        .map_err(io_err(format!("writing {}", path.display())))?;
    Ok(Some(path))
}

/// Raises the soft limit on open files to the hard limit: every connection is a descriptor.
fn raise_file_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed by pointer.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    tracing::info!(
        "open file limit: {} (each connection needs one)",
        limit.rlim_cur
    );
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "ferrobar".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// The node's Ed25519 key (Crossbar's `key.priv` in the node directory), which signs
/// cryptosign clients' own challenges; a fresh one for this run when there is none.
fn load_node_key(cbdir: &Path) -> Option<Arc<crate::auth::NodeKey>> {
    let path = cbdir.join("key.priv");
    if let Ok(text) = std::fs::read_to_string(&path) {
        match crate::auth::NodeKey::from_keyfile(&text) {
            Ok(key) => {
                tracing::info!(
                    "node key loaded from {} (public {})",
                    path.display(),
                    key.public_hex()
                );
                return Some(Arc::new(key));
            }
            Err(e) => tracing::warn!("{}: {e}; using a key made for this run", path.display()),
        }
    }
    let mut rng = rand::rngs::StdRng::from_seed(random_bytes());
    let key = crate::auth::NodeKey::generate(&mut rng);
    tracing::info!("node key made for this run (public {})", key.public_hex());
    Some(Arc::new(key))
}

/// 32 bytes from the OS for a shard's cryptographic RNG.
fn random_bytes() -> [u8; 32] {
    use rand::TryRng;
    let mut seed = [0u8; 32];
    if rand::rngs::SysRng.try_fill_bytes(&mut seed).is_err() {
        // No OS randomness: refuse to run with guessable challenges.
        tracing::error!("the operating system gave no random bytes; refusing to start");
        std::process::exit(1);
    }
    seed
}

fn random_seed() -> u64 {
    use rand::TryRng;
    let mut rng = rand::rngs::SysRng;
    rng.try_next_u64().unwrap_or_else(|_| {
        let t = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        t ^ u64::from(std::process::id()) << 32
    })
}
