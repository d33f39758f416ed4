//! The few operating-system facts wampbench needs: the open-file limit, a process's RSS, the
//! ephemeral port range.

use std::fs;

use crate::error::BenchError;

/// File descriptors wampbench needs besides its sockets (stdio, epoll, wakers, listeners).
pub const FD_RESERVE: u64 = 64;

/// Raises this process's RLIMIT_NOFILE soft limit to the hard limit. Returns the limit now in
/// force.
pub fn raise_nofile_limit() -> Result<u64, BenchError> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own; no other memory is touched.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(BenchError::io(
            "getrlimit(RLIMIT_NOFILE)",
            std::io::Error::last_os_error(),
        ));
    }
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: setrlimit only reads the struct we pass.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim.rlim_cur = lim.rlim_max;
        }
    }
    // rlim_t is 32 bits on some targets (armhf).
    #[allow(clippy::unnecessary_cast)]
    Ok(lim.rlim_cur as u64)
}

/// Checks that `sockets` client sockets fit under `limit` open files.
pub fn check_fd_budget(sockets: usize, limit: u64) -> Result<(), BenchError> {
    let needed = sockets as u64 + FD_RESERVE;
    if needed > limit {
        return Err(BenchError::TooManyFiles {
            wanted: sockets,
            needed,
            limit,
        });
    }
    Ok(())
}

/// Parses the `VmRSS:` line of a `/proc/PID/status` text, in bytes.
pub fn parse_vmrss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut parts = line["VmRSS:".len()..].split_whitespace();
    let value: u64 = parts.next()?.parse().ok()?;
    let unit = parts.next().unwrap_or("kB");
    let mult = match unit {
        "kB" | "KB" | "kb" => 1024,
        "mB" | "MB" => 1024 * 1024,
        "B" => 1,
        _ => return None,
    };
    value.checked_mul(mult)
}

/// The resident set size of process `pid` in bytes.
pub fn read_rss(pid: u32) -> Result<u64, BenchError> {
    let path = format!("/proc/{pid}/status");
    let text = fs::read_to_string(&path).map_err(|e| BenchError::io(format!("read {path}"), e))?;
    parse_vmrss(&text).ok_or_else(|| BenchError::Setup(format!("{path} has no VmRSS line")))
}

/// How many ephemeral ports one source address offers (`ip_local_port_range`), if known.
pub fn ephemeral_ports() -> Option<u64> {
    let text = fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let mut it = text.split_whitespace().map(|v| v.parse::<u64>());
    let lo = it.next()?.ok()?;
    let hi = it.next()?.ok()?;
    (hi >= lo).then(|| hi - lo + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vmrss_is_read_in_bytes() {
        let status = "Name:\tferrobar\nVmPeak:\t  2000 kB\nVmRSS:\t    5120 kB\nThreads:\t3\n";
        assert_eq!(parse_vmrss(status), Some(5120 * 1024));
        assert_eq!(parse_vmrss("Name: x\n"), None);
        assert_eq!(parse_vmrss("VmRSS: lots kB\n"), None);
    }

    #[test]
    fn own_rss_is_readable() {
        let rss = read_rss(std::process::id()).unwrap();
        assert!(rss > 0);
    }

    #[test]
    fn fd_budget() {
        assert!(check_fd_budget(15_000, 20_000).is_ok());
        assert!(matches!(
            check_fd_budget(19_990, 20_000),
            Err(BenchError::TooManyFiles { needed: 20_054, .. })
        ));
        let limit = raise_nofile_limit().unwrap();
        assert!(limit > 0);
    }
}
