//! The `ferrobar` binary under test as a `Command`. With `FERROBAR_TEST_RUNNER` set (by
//! `make cross`: `qemu-aarch64`, `qemu-arm`), the binary is started through that program, as
//! cargo starts the test binaries through `CARGO_TARGET_<TRIPLE>_RUNNER`: a binary built for
//! another architecture cannot be run directly without binfmt_misc.

use std::process::Command;

/// `ferrobar` (or `$FERROBAR_TEST_RUNNER ferrobar`), with no arguments yet.
pub fn ferrobar_command() -> Command {
    let bin = env!("CARGO_BIN_EXE_ferrobar");
    let runner = std::env::var("FERROBAR_TEST_RUNNER").unwrap_or_default();
    let mut words = runner.split_whitespace();
    match words.next() {
        Some(program) => {
            let mut c = Command::new(program);
            c.args(words).arg(bin);
            c
        }
        None => Command::new(bin),
    }
}
