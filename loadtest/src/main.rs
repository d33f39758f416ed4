//! wampbench: a load generator for any WAMP router over WebSocket (JSON and MessagePack).
//!
//! Modes: `fanout` (pub/sub), `rpc`, `connect` (session capacity and memory), `ceiling` (a null
//! router inside wampbench: the best the machine and the load generator can do). See README.md.

mod ceiling;
mod cli;
mod clock;
mod common;
mod connect;
mod cpu;
mod enc;
mod error;
mod fanout;
mod net;
mod procinfo;
mod proto;
mod report;
mod rpc;
mod ser;
mod skim;
mod sys;
mod target;
mod ws;

use std::process::ExitCode;

use clap::Parser;
use serde_json::json;

use crate::cli::{Cli, ModeCmd};
use crate::error::BenchError;
use crate::report::Report;

fn run(mode: &ModeCmd) -> Result<Report, BenchError> {
    let fd_limit = sys::raise_nofile_limit()?;
    match mode {
        ModeCmd::Fanout(a) => {
            let p = a.params()?;
            sys::check_fd_budget(p.subscribers + p.publishers, fd_limit)?;
            fanout::run(&p, None)
        }
        ModeCmd::Rpc(a) => {
            let p = a.params()?;
            sys::check_fd_budget(p.callees + p.callers, fd_limit)?;
            rpc::run(&p)
        }
        ModeCmd::Connect(a) => {
            let p = a.params()?;
            connect::check_capacity(
                p.sessions,
                p.source_ips.len(),
                fd_limit,
                sys::ephemeral_ports(),
            )?;
            connect::run(&p)
        }
        ModeCmd::Ceiling(a) => {
            let p = a.params()?;
            // Both ends of every connection live in this process.
            sys::check_fd_budget(2 * p.subscribers, fd_limit)?;
            ceiling::run(&p)
        }
    }
}

fn main() -> ExitCode {
    clock::init();
    let cli = Cli::parse();
    let json = cli.mode.common().json;
    match run(&cli.mode) {
        Ok(report) => {
            if json {
                println!("{}", report.to_json_line());
            } else {
                print!("{}", report.to_human());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("wampbench {}: {e}", cli.mode.name());
            if json {
                println!(
                    "{}",
                    json!({"mode": cli.mode.name(), "error": e.to_string()})
                );
            }
            if matches!(e, BenchError::Usage(_)) {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// Counts heap allocations per thread, so a test can show the receive path makes none.
#[cfg(test)]
mod alloc_count {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    thread_local! {
        static COUNT: Cell<u64> = const { Cell::new(0) };
    }

    struct Counting;

    fn bump() {
        let _ = COUNT.try_with(|c| c.set(c.get() + 1));
    }

    // SAFETY: every call is forwarded unchanged to the system allocator.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            bump();
            // SAFETY: forwarded with the caller's guarantees.
            unsafe { System.alloc(layout) }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: forwarded with the caller's guarantees.
            unsafe { System.dealloc(ptr, layout) }
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            bump();
            // SAFETY: forwarded with the caller's guarantees.
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    #[global_allocator]
    static ALLOCATOR: Counting = Counting;

    /// Allocations made by this thread so far.
    pub fn count() -> u64 {
        COUNT.try_with(Cell::get).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use crate::ser::Serializer;

    use crate::alloc_count;
    use crate::enc::{self, BenchArgs};
    use crate::proto::{self, Incoming};
    use crate::report;
    use crate::ws::{self, Flow, Frame, FrameReader};

    /// The subscriber's hot path (frames -> EVENT -> fields -> histogram) allocates nothing.
    #[test]
    fn receive_path_does_not_allocate() {
        for ser in [Serializer::Json, Serializer::MsgPack] {
            let mut stream = Vec::new();
            let mut msg = Vec::new();
            for seq in 1..=1000u64 {
                msg.clear();
                let args = BenchArgs {
                    index: 0,
                    seq,
                    ts: seq * 1000,
                    size: 64,
                };
                enc::event(ser, &mut msg, 7, seq, args);
                ws::write_server_message(&mut stream, &msg, ser.is_binary());
            }
            let mut reader = FrameReader::default();
            let mut hist = report::new_histogram();
            let mut seen = 0u64;
            let before = alloc_count::count();
            let used = reader
                .process(&mut stream, 1 << 20, |f| {
                    if let Frame::Message(data) = f {
                        if let Ok(Incoming::Event { fields: Some(f) }) = proto::classify(ser, data)
                        {
                            report::record_ns(&mut hist, 2_000_000 - f.ts.min(1_000_000));
                            seen += f.seq;
                        }
                    }
                    Flow::Continue
                })
                .unwrap();
            let allocations = alloc_count::count() - before;
            assert_eq!(used, stream.len());
            assert_eq!(seen, 1000 * 1001 / 2, "{ser:?}");
            assert_eq!(allocations, 0, "{ser:?}: the receive path allocated");
        }
    }
}
