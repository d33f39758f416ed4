//! wampbench: a load generator for any WAMP router over WebSocket (JSON and MessagePack).
//!
//! Modes: `fanout` (pub/sub), `rpc`, `connect` (session capacity and memory), `ceiling` (a null
//! router inside wampbench: the best the machine and the load generator can do). See README.md.

mod ceiling;
mod cli;
mod clock;
mod common;
mod connect;
mod enc;
mod error;
mod fanout;
mod net;
mod proto;
mod report;
mod rpc;
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
            ExitCode::FAILURE
        }
    }
}
