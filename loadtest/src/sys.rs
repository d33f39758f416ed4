//! The few operating-system facts wampbench needs: the open-file limit and the ephemeral port
//! range. (What it reads about processes, RSS and CPU time, is in `procinfo`.)

use std::fs;

use crate::error::BenchError;

/// File descriptors wampbench needs besides its sockets (stdio, epoll, wakers, timers,
/// listeners).
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
