//! The node controller: reads config, binds listeners, starts one shard thread per core,
//! handles signals (SIGTERM/SIGINT: graceful shutdown), writes the pid file.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use mio::{Poll, Waker};
use rand::SeedableRng;
use thiserror::Error;

use crate::config::{
    Endpoint, NodeConfig, PathService, ReactorKind, TransportKind, UniversalService,
};
use crate::router::{Core, CoreConfig};
use crate::shard::listener::{self, BoundListener};
use crate::shard::uring::SendRing;
use crate::shard::{self, mailbox, NodeLimits, ShardSetup, TransportRuntime, WAKER_TOKEN};
use crate::transport::http::NodeInfo;
use crate::transport::tls;

mod cookies;
pub mod init;
mod ops_http;
pub mod reload;
mod systemd;

/// Options of `ferrobar start` that are not part of the Crossbar config.
#[derive(Debug, Clone, Default)]
pub struct StartOptions {
    /// `--shards N`: overrides `options.shards` of every router worker.
    pub shards: Option<usize>,
    /// `--shutdownafter SECS`: stop by itself after this many seconds.
    pub shutdown_after: Option<u64>,
    /// `--drain-seconds`: a graceful shutdown spreads its GOODBYEs over this long.
    pub drain: Duration,
    /// `--metrics ADDR:PORT`: serve `/metrics`, `/healthz` and `/livez` there.
    pub metrics: Option<std::net::SocketAddr>,
    /// The config file the node was started from, read again on SIGHUP (`None`: the built-in
    /// default node, which has nothing to reload).
    pub config_path: Option<PathBuf>,
    /// `--reactor`: overrides `options.reactor` of every router worker.
    pub reactor: Option<ReactorKind>,
    /// `FERROBAR_REACTOR`: the backend where neither `--reactor` nor `options.reactor` says.
    pub reactor_default: Option<ReactorKind>,
}

/// What `reactor: auto` picks where the kernel offers io_uring: the backend measured faster
/// (`docs/performance.md`, "io_uring reactor backend").
const AUTO_REACTOR: ReactorKind = ReactorKind::IoUring;

/// The backend the shards run, and one send ring per shard when it is io_uring. Where the
/// kernel refuses io_uring (`make_ring` fails) every shard runs epoll and the returned notice
/// says why, to be logged once.
fn reactor_backend(
    wanted: ReactorKind,
    shards: usize,
    mut make_ring: impl FnMut() -> std::io::Result<SendRing>,
) -> (ReactorKind, Vec<Option<SendRing>>, Option<String>) {
    let epoll = |n| (0..n).map(|_| None).collect();
    let chosen = match wanted {
        ReactorKind::Auto => AUTO_REACTOR,
        other => other,
    };
    if chosen != ReactorKind::IoUring {
        return (ReactorKind::Epoll, epoll(shards), None);
    }
    let mut rings = Vec::with_capacity(shards);
    for _ in 0..shards {
        match make_ring() {
            Ok(ring) => rings.push(Some(ring)),
            Err(e) => {
                let notice = format!(
                    "reactor {}: the kernel refuses io_uring ({e}); using epoll",
                    wanted.name()
                );
                return (ReactorKind::Epoll, epoll(shards), Some(notice));
            }
        }
    }
    (ReactorKind::IoUring, rings, None)
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
    /// A transport the config loader accepts but the shards do not serve yet.
    #[error("transport {transport}: {what}")]
    Unserved {
        /// The transport id (`transport001`, or `transport001.mqtt` for a universal part).
        transport: String,
        /// What is not served.
        what: &'static str,
    },
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
    refuse_unserved_transports(&config)?;
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

    let metrics_listener = match options.metrics {
        Some(addr) => Some(
            std::net::TcpListener::bind(addr).map_err(|e| NodeError::Bind {
                endpoint: format!("--metrics {addr}"),
                source: e,
            })?,
        ),
        None => None,
    };
    let hub = Arc::new(shard::metrics::MetricsHub::new(
        shards,
        transports.iter().map(|t| t.id.clone()).collect(),
    ));
    let pid_file = write_pid_file(&config.cbdir)?;
    let node = Arc::new(NodeInfo {
        live: Some(Arc::clone(&hub) as Arc<dyn crate::transport::http::LivePages>),
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
    let mut expiries = Vec::new();
    for transport in &transports {
        if let Endpoint::Tcp { tls: Some(t), .. } = &transport.endpoint {
            match tls::certificate_expiry(&t.certificate) {
                Ok(at) => expiries.push((transport.id.clone(), at)),
                // server_config below refuses an unusable file with the same message.
                Err(e) => tracing::debug!("transport {}: {e}", transport.id),
            }
        }
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

    hub.set_transports(Arc::clone(&runtimes));
    hub.set_certificate_expiries(expiries);
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
        drain_window: options.drain,
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
    let realm_sessions = Arc::new(crate::router::RealmSessionCounts::default());
    let seed_base = random_seed();
    let wanted = options
        .reactor
        .or_else(|| config.routers.iter().find_map(|r| r.reactor))
        .or(options.reactor_default)
        .unwrap_or_default();
    let (reactor, rings, notice) = reactor_backend(wanted, shards, SendRing::new);
    if let Some(notice) = notice {
        if wanted == ReactorKind::IoUring {
            tracing::warn!("{notice}");
        } else {
            tracing::info!("{notice}");
        }
    }

    tracing::info!(
        "ferrobar {} starting: node {node_id}, pid {pid}, {shards} shard(s), reactor {}",
        env!("CARGO_PKG_VERSION"),
        reactor.name()
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

    let controls: Vec<Arc<shard::control::Control>> = (0..shards).map(|_| Arc::default()).collect();
    let reloader = reload::Reloader::new(
        options.config_path.clone(),
        config.clone(),
        controls.clone(),
        wakers.clone(),
    );
    let heartbeats: Vec<Arc<AtomicU32>> = (0..shards).map(|_| Arc::default()).collect();
    let mut threads = Vec::new();
    let per_shard_io = polls
        .into_iter()
        .zip(per_shard)
        .zip(outboxes)
        .zip(inboxes)
        .zip(rings)
        .enumerate();
    for (id, ((((poll, listeners), outboxes), inboxes), send_ring)) in per_shard_io {
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
            control: Arc::clone(&controls[id]),
            metrics: Arc::clone(&hub),
            heartbeat: Arc::clone(&heartbeats[id]),
            limits: Arc::clone(&node_limits),
            send_ring,
        };
        let thread = std::thread::Builder::new()
            .name(format!("shard-{id}"))
            .spawn(move || shard::run(setup))
            .map_err(io_err("starting a shard thread"))?;
        threads.push(thread);
    }

    hub.set_started();
    if let Some(listener) = metrics_listener {
        ops_http::spawn(listener, Arc::clone(&hub))?;
    }
    spawn_signal_watcher(
        Arc::clone(&shutdown),
        wakers.clone(),
        options.shutdown_after,
        reloader,
        Arc::clone(&hub),
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

/// The one place that refuses what the config loader parses but the shards do not serve yet:
/// MQTT (an `mqtt` transport, or the `mqtt{}` part of a universal transport). `src/mqtt` has the
/// protocol layer; until a shard drives it, starting would silently drop MQTT clients, so the
/// node does not start. Remove a case here when its transport is wired into the shards.
pub fn refuse_unserved_transports(config: &NodeConfig) -> Result<(), NodeError> {
    const MQTT: &str = "the mqtt transport is parsed but not served yet";
    for transport in config.routers.iter().flat_map(|r| r.transports.iter()) {
        let id = match &transport.kind {
            TransportKind::Mqtt(_) => transport.id.clone(),
            TransportKind::Universal(u) if u.mqtt.is_some() => format!("{}.mqtt", transport.id),
            _ => continue,
        };
        return Err(NodeError::Unserved {
            transport: id,
            what: MQTT,
        });
    }
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
        TransportKind::RawSocket(_) | TransportKind::Mqtt(_) => (None, None),
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
        TransportKind::Mqtt(m) => format!("mqtt: realm {}", m.realm),
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
                paths.push(format!("/{name}={}", service.type_name()));
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
    mut reloader: reload::Reloader,
    hub: Arc<shard::metrics::MetricsHub>,
) -> Result<(), NodeError> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP])
        .map_err(io_err("installing signal handlers"))?;
    let stopping_hub = Arc::clone(&hub);
    let stop = move |why: &str| {
        tracing::info!("{why}: shutting down");
        stopping_hub.set_stopping();
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
            let mut stopping = false;
            for signal in signals.forever() {
                if signal == SIGHUP {
                    hub.count_reload(reload_now(&mut reloader));
                    continue;
                }
                let name = if signal == SIGTERM {
                    "SIGTERM"
                } else {
                    "SIGINT"
                };
                if stopping {
                    tracing::warn!("{name} received again: stopping at once");
                    std::process::exit(1);
                }
                stopping = true;
                stop(&format!("{name} received"));
            }
        })
        .map_err(io_err("starting the signal watcher"))?;
    Ok(())
}

/// SIGHUP: reloads the configuration and says in one line what happened.
fn reload_now(reloader: &mut reload::Reloader) -> bool {
    tracing::info!("SIGHUP received: reloading the configuration");
    systemd::reloading();
    let outcome = reloader.reload();
    systemd::ready("running");
    match outcome {
        Ok(done) => {
            tracing::info!(
                added = ?done.added,
                removed = ?done.removed,
                sessions_without_their_role = done.orphaned_sessions,
                "configuration reloaded: realms, roles and permissions apply from now on"
            );
            true
        }
        Err(e) => {
            tracing::warn!("reload refused, the running configuration is kept: {e}");
            false
        }
    }
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

#[cfg(test)]
mod reactor_tests {
    use super::*;

    fn refused() -> std::io::Result<SendRing> {
        Err(std::io::Error::from_raw_os_error(libc::EPERM))
    }

    #[test]
    fn a_refused_io_uring_falls_back_to_epoll_with_one_notice() {
        for wanted in [ReactorKind::IoUring, ReactorKind::Auto] {
            let (kind, rings, notice) = reactor_backend(wanted, 3, refused);
            assert_eq!(kind, ReactorKind::Epoll);
            assert_eq!(rings.len(), 3);
            assert!(rings.iter().all(Option::is_none));
            let notice = notice.expect("the fallback is logged");
            assert!(notice.contains("refuses io_uring"), "{notice}");
            assert!(notice.contains("using epoll"), "{notice}");
        }
    }

    #[test]
    fn a_ring_failing_on_a_later_shard_gives_epoll_everywhere() {
        let mut left = 1;
        let (kind, rings, notice) = reactor_backend(ReactorKind::IoUring, 2, || {
            if left == 0 {
                return refused();
            }
            left -= 1;
            SendRing::new()
        });
        // Where this kernel has no io_uring, the first ring fails already: same outcome.
        assert_eq!(kind, ReactorKind::Epoll);
        assert!(rings.iter().all(Option::is_none));
        assert!(notice.is_some());
    }

    #[test]
    fn epoll_asks_nothing_of_the_kernel() {
        let (kind, rings, notice) = reactor_backend(ReactorKind::Epoll, 2, || {
            panic!("epoll must not set up a ring")
        });
        assert_eq!(kind, ReactorKind::Epoll);
        assert_eq!(rings.len(), 2);
        assert!(rings.iter().all(Option::is_none));
        assert!(notice.is_none());
    }
}
