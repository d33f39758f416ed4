//! wampbench: the load generator for WAMP routers (fan-out, RPC, connect, ceiling).
//! The full generator lands with the performance issue; this stub keeps the workspace building.

fn main() {
    eprintln!("wampbench: not implemented yet (see the performance issue)");
    std::process::exit(2);
}
