//! The command line: four modes, their flags, and their validation into run parameters.

use std::time::Duration;

use crate::ser::Serializer;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::ceiling::CeilingParams;
use crate::connect::ConnectParams;
use crate::enc;
use crate::error::BenchError;
use crate::fanout::FanoutParams;
use crate::rpc::RpcParams;
use crate::target;

/// Most threads wampbench will start.
pub const MAX_THREADS: usize = 256;
/// Largest payload size accepted (bytes).
pub const MAX_PAYLOAD: usize = 1 << 20;

/// wampbench: a load generator for WAMP routers over WebSocket (JSON and MessagePack).
///
/// Targets only this machine (127.0.0.0/8, ::1, localhost).
#[derive(Debug, Parser)]
#[command(name = "wampbench", version, about, long_about = None)]
pub struct Cli {
    /// What to measure.
    #[command(subcommand)]
    pub mode: ModeCmd,
}

/// The modes.
#[derive(Debug, Subcommand)]
pub enum ModeCmd {
    /// Pub/sub fan-out: N subscribers, P publishers, M events with acknowledgement.
    Fanout(FanoutArgs),
    /// RPC: K callees echo, C callers keep W calls outstanding, M calls in total.
    Rpc(RpcArgs),
    /// Sessions: open K at R per second, hold, close; router RSS per session.
    Connect(ConnectArgs),
    /// The ceiling: a null router inside wampbench flooding N subscribers.
    Ceiling(CeilingArgs),
}

impl ModeCmd {
    /// The mode's name.
    pub fn name(&self) -> &'static str {
        match self {
            ModeCmd::Fanout(_) => "fanout",
            ModeCmd::Rpc(_) => "rpc",
            ModeCmd::Connect(_) => "connect",
            ModeCmd::Ceiling(_) => "ceiling",
        }
    }

    /// The common flags.
    pub fn common(&self) -> &Common {
        match self {
            ModeCmd::Fanout(a) => &a.common,
            ModeCmd::Rpc(a) => &a.common,
            ModeCmd::Connect(a) => &a.common,
            ModeCmd::Ceiling(a) => &a.common,
        }
    }
}

/// The serializers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SerArg {
    /// wamp.2.json
    Json,
    /// wamp.2.msgpack
    Msgpack,
}

impl From<SerArg> for Serializer {
    fn from(s: SerArg) -> Self {
        match s {
            SerArg::Json => Serializer::Json,
            SerArg::Msgpack => Serializer::MsgPack,
        }
    }
}

/// Flags every mode has.
#[derive(Debug, Clone, Args)]
pub struct Common {
    /// Worker threads (default: the number of cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Seconds allowed for setup and, separately, for the measured phase.
    #[arg(long, default_value_t = 60.0)]
    pub timeout: f64,
    /// Print one JSON object line to stdout instead of the human summary.
    #[arg(long)]
    pub json: bool,
    /// Never show the progress line (it is shown only on a terminal anyway).
    #[arg(long)]
    pub quiet: bool,
    /// Sessions in their opening handshake at once, over all threads (keeps a router's
    /// listen backlog from overflowing).
    #[arg(long, default_value_t = 64)]
    pub max_pending: usize,
}

/// Flags of the modes that talk to a router.
#[derive(Debug, Clone, Args)]
pub struct RouterArgs {
    /// The router's WebSocket URL (loopback only).
    #[arg(long, default_value = "ws://127.0.0.1:8080/ws")]
    pub url: String,
    /// Realm to join.
    #[arg(long, default_value = "realm1")]
    pub realm: String,
    /// Serializer.
    #[arg(long, value_enum, default_value_t = SerArg::Json)]
    pub serializer: SerArg,
}

/// `fanout` flags.
#[derive(Debug, Clone, Args)]
pub struct FanoutArgs {
    #[command(flatten)]
    pub router: RouterArgs,
    #[command(flatten)]
    pub common: Common,
    /// Subscriber sessions.
    #[arg(long, default_value_t = 100)]
    pub subscribers: usize,
    /// Publisher sessions.
    #[arg(long, default_value_t = 1)]
    pub publishers: usize,
    /// Events in total, over all publishers.
    #[arg(long, default_value_t = 10_000)]
    pub events: u64,
    /// Encoded size of each event's args in bytes (`[publisher, seq, time, padding]`).
    #[arg(long, default_value_t = 64)]
    pub payload_size: usize,
    /// Unacknowledged publishes each publisher may have in flight.
    #[arg(long, default_value_t = 64)]
    pub window: u64,
    /// Topic (with --topics K > 1, the base of `<topic>.0` … `<topic>.<K-1>`).
    #[arg(long, default_value = "com.bench.fanout")]
    pub topic: String,
    /// Topics to spread the subscribers over: subscriber j on topic j % K; each publisher
    /// goes round-robin over all K.
    #[arg(long, default_value_t = 1)]
    pub topics: usize,
    /// Publishes per second per publisher, paced (0: as fast as the window allows).
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,
    /// The router's process id: report its CPU time per delivery over the measured phase.
    #[arg(long)]
    pub router_pid: Option<u32>,
    /// Stop publishing after this many seconds (events become an upper bound).
    #[arg(long)]
    pub duration: Option<f64>,
    /// After publishing ended, stop if nothing arrived for this many seconds.
    #[arg(long, default_value_t = 5.0)]
    pub idle_timeout: f64,
}

/// `rpc` flags.
#[derive(Debug, Clone, Args)]
pub struct RpcArgs {
    #[command(flatten)]
    pub router: RouterArgs,
    #[command(flatten)]
    pub common: Common,
    /// Callee sessions (more than one: each registers `<procedure>.<i>`).
    #[arg(long, default_value_t = 1)]
    pub callees: usize,
    /// Caller sessions.
    #[arg(long, default_value_t = 1)]
    pub callers: usize,
    /// Calls each caller keeps outstanding.
    #[arg(long, default_value_t = 1)]
    pub outstanding: u64,
    /// Calls in total, over all callers.
    #[arg(long, default_value_t = 10_000)]
    pub calls: u64,
    /// Encoded size of each call's args in bytes.
    #[arg(long, default_value_t = 64)]
    pub payload_size: usize,
    /// Procedure name.
    #[arg(long, default_value = "com.bench.echo")]
    pub procedure: String,
    /// Stop calling after this many seconds (calls become an upper bound).
    #[arg(long)]
    pub duration: Option<f64>,
    /// The router's process id: report its CPU time per call over the measured phase.
    #[arg(long)]
    pub router_pid: Option<u32>,
}

/// `connect` flags.
#[derive(Debug, Clone, Args)]
pub struct ConnectArgs {
    #[command(flatten)]
    pub router: RouterArgs,
    #[command(flatten)]
    pub common: Common,
    /// Sessions to open.
    #[arg(long, default_value_t = 1000)]
    pub sessions: usize,
    /// Sessions started per second.
    #[arg(long, default_value_t = 1000.0)]
    pub rate: f64,
    /// Seconds to hold the sessions open.
    #[arg(long, default_value_t = 5.0)]
    pub hold: f64,
    /// Source addresses for client sockets, round-robin (e.g. 127.0.0.1,127.0.0.2).
    #[arg(long)]
    pub source_ips: Option<String>,
    /// The router's process id: report its RSS before, held and after.
    #[arg(long)]
    pub router_pid: Option<u32>,
}

/// `ceiling` flags.
#[derive(Debug, Clone, Args)]
pub struct CeilingArgs {
    #[command(flatten)]
    pub common: Common,
    /// Subscriber connections.
    #[arg(long, default_value_t = 100)]
    pub subscribers: usize,
    /// Events every subscriber gets.
    #[arg(long, default_value_t = 10_000)]
    pub events: u64,
    /// Encoded size of each event's args in bytes.
    #[arg(long, default_value_t = 64)]
    pub payload_size: usize,
    /// Serializer.
    #[arg(long, value_enum, default_value_t = SerArg::Json)]
    pub serializer: SerArg,
    /// The null router's port on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Null router threads (default: same as --threads).
    #[arg(long)]
    pub server_threads: Option<usize>,
    /// After the router finished, stop if nothing arrived for this many seconds.
    #[arg(long, default_value_t = 5.0)]
    pub idle_timeout: f64,
}

fn usage(msg: impl Into<String>) -> BenchError {
    BenchError::Usage(msg.into())
}

/// Seconds as given on the command line to a duration (positive, finite, at most a day).
pub fn seconds(flag: &str, v: f64) -> Result<Duration, BenchError> {
    if !v.is_finite() || v <= 0.0 || v > 86_400.0 {
        return Err(usage(format!(
            "--{flag} must be a number of seconds in (0, 86400], not {v}"
        )));
    }
    Ok(Duration::from_secs_f64(v))
}

fn in_range(flag: &str, v: u64, lo: u64, hi: u64) -> Result<(), BenchError> {
    if v < lo || v > hi {
        return Err(usage(format!("--{flag} must be in [{lo}, {hi}], not {v}")));
    }
    Ok(())
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Threads to use: as asked (or the core count), never more than `work` items.
pub fn threads(common: &Common, work: usize) -> Result<usize, BenchError> {
    let t = common.threads.unwrap_or_else(cores);
    in_range("threads", t as u64, 1, MAX_THREADS as u64)?;
    Ok(t.min(work.max(1)))
}

fn check_common(c: &Common) -> Result<Duration, BenchError> {
    in_range("max-pending", c.max_pending as u64, 1, 100_000)?;
    seconds("timeout", c.timeout)
}

fn check_uri(flag: &str, uri: &str) -> Result<(), BenchError> {
    if enc::is_plain_uri(uri) {
        Ok(())
    } else {
        Err(usage(format!(
            "--{flag} {uri:?}: use a plain URI of letters, digits, '_', '-' and dots"
        )))
    }
}

fn check_realm(realm: &str) -> Result<(), BenchError> {
    check_uri("realm", realm)
}

/// A process id as given to `--router-pid` (0 would name the caller in some interfaces).
fn check_pid(pid: Option<u32>) -> Result<Option<u32>, BenchError> {
    if let Some(p) = pid {
        in_range("router-pid", u64::from(p), 1, i32::MAX as u64)?;
    }
    Ok(pid)
}

impl FanoutArgs {
    /// Validated parameters.
    pub fn params(&self) -> Result<FanoutParams, BenchError> {
        let timeout = check_common(&self.common)?;
        let target = target::parse_url(&self.router.url)?;
        check_realm(&self.router.realm)?;
        check_uri("topic", &self.topic)?;
        in_range("subscribers", self.subscribers as u64, 1, 1_000_000)?;
        in_range("publishers", self.publishers as u64, 1, 100_000)?;
        in_range("events", self.events, 1, 1 << 40)?;
        in_range("window", self.window, 1, 1 << 20)?;
        in_range("topics", self.topics as u64, 1, 1_000_000)?;
        if !self.rate.is_finite() || self.rate < 0.0 || self.rate > 10_000_000.0 {
            return Err(usage(format!(
                "--rate must be publishes per second in [0, 10000000] (0: unpaced), not {}",
                self.rate
            )));
        }
        in_range(
            "payload-size",
            self.payload_size as u64,
            0,
            MAX_PAYLOAD as u64,
        )?;
        let duration = self.duration.map(|d| seconds("duration", d)).transpose()?;
        Ok(FanoutParams {
            target,
            realm: self.router.realm.clone(),
            topic: self.topic.clone(),
            topics: self.topics,
            rate: self.rate,
            router_pid: check_pid(self.router_pid)?,
            ser: self.router.serializer.into(),
            subscribers: self.subscribers,
            publishers: self.publishers,
            events: self.events,
            window: self.window,
            payload_size: self.payload_size,
            threads: threads(&self.common, self.subscribers + self.publishers)?,
            timeout,
            duration,
            idle_timeout: seconds("idle-timeout", self.idle_timeout)?,
            max_pending: self.common.max_pending,
            progress: !self.common.quiet,
        })
    }
}

impl RpcArgs {
    /// Validated parameters.
    pub fn params(&self) -> Result<RpcParams, BenchError> {
        let timeout = check_common(&self.common)?;
        let target = target::parse_url(&self.router.url)?;
        check_realm(&self.router.realm)?;
        check_uri("procedure", &self.procedure)?;
        in_range("callees", self.callees as u64, 1, 100_000)?;
        in_range("callers", self.callers as u64, 1, 100_000)?;
        in_range("outstanding", self.outstanding, 1, 1 << 20)?;
        in_range("calls", self.calls, 1, 1 << 40)?;
        in_range(
            "payload-size",
            self.payload_size as u64,
            0,
            MAX_PAYLOAD as u64,
        )?;
        let duration = self.duration.map(|d| seconds("duration", d)).transpose()?;
        Ok(RpcParams {
            target,
            realm: self.router.realm.clone(),
            procedure: self.procedure.clone(),
            router_pid: check_pid(self.router_pid)?,
            ser: self.router.serializer.into(),
            callees: self.callees,
            callers: self.callers,
            outstanding: self.outstanding,
            calls: self.calls,
            payload_size: self.payload_size,
            threads: threads(&self.common, self.callees + self.callers)?,
            timeout,
            duration,
            max_pending: self.common.max_pending,
            progress: !self.common.quiet,
        })
    }
}

impl ConnectArgs {
    /// Validated parameters.
    pub fn params(&self) -> Result<ConnectParams, BenchError> {
        let timeout = check_common(&self.common)?;
        let target = target::parse_url(&self.router.url)?;
        check_realm(&self.router.realm)?;
        in_range("sessions", self.sessions as u64, 1, 10_000_000)?;
        if !self.rate.is_finite() || self.rate <= 0.0 || self.rate > 10_000_000.0 {
            return Err(usage(format!(
                "--rate must be sessions per second in (0, 10000000], not {}",
                self.rate
            )));
        }
        let hold = seconds("hold", self.hold)?;
        let source_ips = match &self.source_ips {
            Some(list) => target::parse_source_ips(list, &target)?,
            None => Vec::new(),
        };
        Ok(ConnectParams {
            target,
            realm: self.router.realm.clone(),
            ser: self.router.serializer.into(),
            sessions: self.sessions,
            rate: self.rate,
            hold,
            source_ips,
            router_pid: check_pid(self.router_pid)?,
            threads: threads(&self.common, self.sessions)?,
            timeout,
            max_pending: self.common.max_pending,
            progress: !self.common.quiet,
        })
    }
}

impl CeilingArgs {
    /// Validated parameters.
    pub fn params(&self) -> Result<CeilingParams, BenchError> {
        let timeout = check_common(&self.common)?;
        in_range("subscribers", self.subscribers as u64, 1, 1_000_000)?;
        in_range("events", self.events, 1, 1 << 40)?;
        in_range(
            "payload-size",
            self.payload_size as u64,
            0,
            MAX_PAYLOAD as u64,
        )?;
        let threads = threads(&self.common, self.subscribers)?;
        let server_threads = self.server_threads.unwrap_or(threads);
        in_range(
            "server-threads",
            server_threads as u64,
            1,
            MAX_THREADS as u64,
        )?;
        Ok(CeilingParams {
            subscribers: self.subscribers,
            events: self.events,
            payload_size: self.payload_size,
            ser: self.serializer.into(),
            port: self.port,
            threads,
            server_threads,
            timeout,
            idle_timeout: seconds("idle-timeout", self.idle_timeout)?,
            max_pending: self.common.max_pending,
            progress: !self.common.quiet,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("wampbench").chain(args.iter().copied()))
    }

    #[test]
    fn fanout_defaults_and_flags() {
        let cli = parse(&[
            "fanout",
            "--subscribers",
            "1000",
            "--publishers",
            "10",
            "--events",
            "500",
            "--serializer",
            "msgpack",
            "--threads",
            "4",
            "--json",
        ])
        .unwrap();
        let ModeCmd::Fanout(a) = &cli.mode else {
            panic!()
        };
        assert!(a.common.json);
        let p = a.params().unwrap();
        assert_eq!(p.subscribers, 1000);
        assert_eq!(p.publishers, 10);
        assert_eq!(p.window, 64);
        assert_eq!(p.payload_size, 64);
        assert_eq!(p.threads, 4);
        assert_eq!(p.ser, Serializer::MsgPack);
        assert_eq!(p.timeout, Duration::from_secs(60));
        assert_eq!(p.target.addr.to_string(), "127.0.0.1:8080");
        assert_eq!(cli.mode.name(), "fanout");
        assert_eq!(p.topics, 1);
        assert_eq!(p.rate, 0.0);
        assert_eq!(p.router_pid, None);
    }

    #[test]
    fn sparse_paced_and_cpu_flags() {
        let cli = parse(&[
            "fanout",
            "--subscribers",
            "1000",
            "--topics",
            "1000",
            "--publishers",
            "4",
            "--rate",
            "250.5",
            "--router-pid",
            "4242",
        ])
        .unwrap();
        let ModeCmd::Fanout(a) = &cli.mode else {
            panic!()
        };
        let p = a.params().unwrap();
        assert_eq!(p.topics, 1000);
        assert_eq!(p.rate, 250.5);
        assert_eq!(p.router_pid, Some(4242));
        let cli = parse(&["rpc", "--router-pid", "77"]).unwrap();
        let ModeCmd::Rpc(a) = &cli.mode else { panic!() };
        assert_eq!(a.params().unwrap().router_pid, Some(77));
    }

    #[test]
    fn invalid_values_are_refused() {
        let bad: &[&[&str]] = &[
            &["fanout", "--subscribers", "0"],
            &["fanout", "--window", "0"],
            &["fanout", "--events", "0"],
            &["fanout", "--timeout", "0"],
            &["fanout", "--timeout=-3"],
            &["fanout", "--duration", "inf"],
            &["fanout", "--topic", "bad topic"],
            &["fanout", "--threads", "0"],
            &["fanout", "--payload-size", "99999999"],
            &["fanout", "--topics", "0"],
            &["fanout", "--topics", "1000001"],
            &["fanout", "--rate=-1"],
            &["fanout", "--rate", "nan"],
            &["fanout", "--rate", "inf"],
            &["fanout", "--router-pid", "0"],
            &["fanout", "--router-pid", "4294967295"],
            &["rpc", "--router-pid", "0"],
            &["connect", "--router-pid", "0"],
            &["rpc", "--outstanding", "0"],
            &["rpc", "--procedure", "a\"b"],
            &["connect", "--rate", "0"],
            &["connect", "--hold", "0"],
            &["connect", "--source-ips", "10.0.0.2"],
            &["ceiling", "--server-threads", "0"],
        ];
        for args in bad {
            let cli = parse(args).unwrap();
            let r = match &cli.mode {
                ModeCmd::Fanout(a) => a.params().map(|_| ()),
                ModeCmd::Rpc(a) => a.params().map(|_| ()),
                ModeCmd::Connect(a) => a.params().map(|_| ()),
                ModeCmd::Ceiling(a) => a.params().map(|_| ()),
            };
            assert!(r.is_err(), "{args:?} was accepted");
        }
        assert!(parse(&["fanout", "--serializer", "cbor"]).is_err());
        assert!(parse(&["nosuchmode"]).is_err());
    }

    #[test]
    fn non_loopback_urls_are_refused() {
        for url in [
            "ws://10.1.2.3:8080/ws",
            "ws://example.org/ws",
            "ws://[2001:db8::1]/ws",
        ] {
            let cli = parse(&["rpc", "--url", url]).unwrap();
            let ModeCmd::Rpc(a) = &cli.mode else { panic!() };
            assert!(
                matches!(a.params(), Err(BenchError::NotLoopback { .. })),
                "{url}"
            );
        }
    }

    #[test]
    fn threads_never_exceed_the_work() {
        let cli = parse(&["rpc", "--threads", "8"]).unwrap();
        let ModeCmd::Rpc(a) = &cli.mode else { panic!() };
        assert_eq!(a.params().unwrap().threads, 2);
        let cli = parse(&[
            "connect",
            "--sessions",
            "5",
            "--source-ips",
            "127.0.0.1,127.0.0.2",
        ])
        .unwrap();
        let ModeCmd::Connect(a) = &cli.mode else {
            panic!()
        };
        let p = a.params().unwrap();
        assert_eq!(p.source_ips.len(), 2);
        assert!(p.threads <= 5);
    }
}
