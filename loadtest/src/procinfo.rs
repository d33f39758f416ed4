//! What wampbench reads about processes: another process's resident memory (`connect`) and CPU
//! time (`fanout`, `rpc`), both for `--router-pid`, and its own CPU time. One module, so every
//! mode reads /proc the same way.
//!
//! CPU time of another process comes from two places, read together:
//! - the kernel's CPU-time clock of that process (`clock_getcpuclockid` + `clock_gettime`):
//!   nanoseconds, all threads, including threads that already exited. This is the precise one
//!   and the one reported when it is available.
//! - `utime + stime` of `/proc/PID/stat`: the same threads, but in clock ticks
//!   (`sysconf(_SC_CLK_TCK)`, 100 per second here: 10 ms resolution). Always read, as a
//!   cross-check and as the fallback where the clock is refused (some sandboxes).
//!
//! `getrusage` cannot read another process, only this one; it gives wampbench's own CPU.

use std::fs;
use std::mem::MaybeUninit;

use crate::error::BenchError;

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

/// `utime + stime` in clock ticks from a `/proc/PID/stat` text (all threads of the process).
pub fn parse_stat_ticks(stat: &str) -> Option<u64> {
    // Field 2, the command name, is in parentheses and may itself contain spaces and ')':
    // the fixed fields start after the last ')'. There, field 3 (state) is index 0, so
    // utime (field 14) is index 11 and stime (field 15) index 12.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    utime.checked_add(stime)
}

/// Clock ticks per second of `/proc/PID/stat` (`sysconf(_SC_CLK_TCK)`; 100 if unknown).
pub fn ticks_per_second() -> u64 {
    // SAFETY: sysconf only reads a system constant.
    let v = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(v).ok().filter(|&t| t > 0).unwrap_or(100)
}

/// `utime + stime` of process `pid` from `/proc/PID/stat`, in ns (clock-tick resolution).
pub fn read_stat_cpu_ns(pid: u32) -> Result<u64, BenchError> {
    let path = format!("/proc/{pid}/stat");
    let text = fs::read_to_string(&path).map_err(|e| BenchError::io(format!("read {path}"), e))?;
    let ticks = parse_stat_ticks(&text)
        .ok_or_else(|| BenchError::Setup(format!("{path}: no utime/stime fields")))?;
    Ok(ticks.saturating_mul(1_000_000_000 / ticks_per_second()))
}

fn timespec_ns(ts: &libc::timespec) -> Option<u64> {
    let s = u64::try_from(ts.tv_sec).ok()?;
    let ns = u64::try_from(ts.tv_nsec).ok()?;
    s.checked_mul(1_000_000_000)?.checked_add(ns)
}

/// CPU time of process `pid` from the kernel's CPU-time clock of that process, in ns; `None`
/// when the kernel refuses it (or `pid` is 0, which would name this process).
pub fn read_clock_cpu_ns(pid: u32) -> Option<u64> {
    let pid = libc::pid_t::try_from(pid).ok().filter(|&p| p > 0)?;
    let mut clock = MaybeUninit::<libc::clockid_t>::uninit();
    // SAFETY: clock_getcpuclockid writes one clockid_t into memory we own.
    if unsafe { libc::clock_getcpuclockid(pid, clock.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: the call succeeded, so it wrote the clock id.
    let clock = unsafe { clock.assume_init() };
    let mut ts = MaybeUninit::<libc::timespec>::uninit();
    // SAFETY: clock_gettime writes one timespec into memory we own.
    if unsafe { libc::clock_gettime(clock, ts.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: the call succeeded, so it wrote the timespec.
    timespec_ns(&unsafe { ts.assume_init() })
}

/// One reading of another process's CPU time, from both sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuReading {
    /// The process CPU-time clock, ns (`None` if refused).
    pub clock_ns: Option<u64>,
    /// `/proc/PID/stat` utime + stime, ns, in whole clock ticks.
    pub stat_ns: u64,
}

/// Reads the CPU time of process `pid` (fails if `/proc/PID/stat` cannot be read).
pub fn read_cpu(pid: u32) -> Result<CpuReading, BenchError> {
    // /proc first: it fails for a process that does not exist, which the clock would not
    // always say as clearly.
    let stat_ns = read_stat_cpu_ns(pid)?;
    Ok(CpuReading {
        clock_ns: read_clock_cpu_ns(pid),
        stat_ns,
    })
}

/// Where a CPU figure came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpuSource {
    /// The kernel's CPU-time clock of the process (ns).
    Clock,
    /// `/proc/PID/stat` (clock ticks).
    ProcStat,
}

impl CpuSource {
    /// Name in reports.
    pub fn name(self) -> &'static str {
        match self {
            CpuSource::Clock => "cpu_clock",
            CpuSource::ProcStat => "proc_stat",
        }
    }

    /// Resolution of a reading, ns.
    pub fn resolution_ns(self) -> u64 {
        match self {
            CpuSource::Clock => 1,
            CpuSource::ProcStat => 1_000_000_000 / ticks_per_second(),
        }
    }
}

/// CPU time used between two readings of the same process: the clock's if both readings
/// have it, else `/proc` stat's. Also the stat delta, as a cross-check.
pub fn cpu_between(a: CpuReading, b: CpuReading) -> (u64, CpuSource, u64) {
    let stat = b.stat_ns.saturating_sub(a.stat_ns);
    match (a.clock_ns, b.clock_ns) {
        (Some(x), Some(y)) => (y.saturating_sub(x), CpuSource::Clock, stat),
        _ => (stat, CpuSource::ProcStat, stat),
    }
}

fn timeval_ns(tv: &libc::timeval) -> u64 {
    let s = u64::try_from(tv.tv_sec).unwrap_or(0);
    let us = u64::try_from(tv.tv_usec).unwrap_or(0);
    s.saturating_mul(1_000_000_000)
        .saturating_add(us.saturating_mul(1000))
}

/// This process's own CPU time (user + system, all threads), ns, from `getrusage`.
pub fn own_cpu_ns() -> Option<u64> {
    let mut ru = MaybeUninit::<libc::rusage>::uninit();
    // SAFETY: getrusage writes one rusage into memory we own.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, ru.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: the call succeeded, so it wrote the struct.
    let ru = unsafe { ru.assume_init() };
    Some(timeval_ns(&ru.ru_utime).saturating_add(timeval_ns(&ru.ru_stime)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keeps the CPU busy a little, without looking at any clock.
    fn burn() -> u64 {
        let mut x = 1u64;
        for i in 0..2_000_000u64 {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
        }
        x
    }

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
    fn stat_ticks_are_utime_plus_stime() {
        // A command name with spaces and parentheses must not shift the fields.
        let stat = "4242 (my (odd) router) S 1 4242 4242 0 -1 4194560 100 0 0 0 \
                    1234 567 0 0 20 0 3 0 100 1000000 500 18446744073709551615";
        assert_eq!(parse_stat_ticks(stat), Some(1234 + 567));
        assert_eq!(parse_stat_ticks("4242 (x) S 1 2 3"), None);
        assert_eq!(parse_stat_ticks("no parenthesis at all"), None);
        let bad = "1 (x) S 1 1 1 0 -1 0 0 0 0 0 many 5 0";
        assert_eq!(parse_stat_ticks(bad), None);
    }

    #[test]
    fn own_cpu_is_readable_from_proc_and_clock() {
        let pid = std::process::id();
        let a = read_cpu(pid).unwrap();
        std::hint::black_box(burn());
        let b = read_cpu(pid).unwrap();
        assert!(b.stat_ns >= a.stat_ns);
        assert_eq!(a.stat_ns % CpuSource::ProcStat.resolution_ns(), 0);
        // The clock is what the kernel offers here; where it does, it only moves forward and
        // /proc's truncated ticks never run ahead of a later clock reading by a whole tick.
        if let (Some(x), Some(y)) = (a.clock_ns, b.clock_ns) {
            assert!(y >= x);
            assert!(x > 0);
            assert!(a.stat_ns <= y + CpuSource::ProcStat.resolution_ns());
            let (used, source, stat) = cpu_between(a, b);
            assert_eq!(source, CpuSource::Clock);
            assert_eq!(used, y - x);
            assert_eq!(stat, b.stat_ns - a.stat_ns);
        }
        let own = own_cpu_ns().unwrap();
        assert!(own > 0);
    }

    #[test]
    fn unreadable_processes_are_errors_not_panics() {
        // Pid 0 is not a process in /proc, and the clock must not read this process for it.
        assert!(read_cpu(0).is_err());
        assert_eq!(read_clock_cpu_ns(0), None);
        assert!(read_rss(0).is_err());
        // Above pid_max (at most 2^22 on Linux).
        assert!(read_cpu(u32::MAX).is_err());
        assert_eq!(read_clock_cpu_ns(u32::MAX), None);
    }

    #[test]
    fn falls_back_to_stat_without_the_clock() {
        let a = CpuReading {
            clock_ns: None,
            stat_ns: 10_000_000,
        };
        let b = CpuReading {
            clock_ns: Some(5),
            stat_ns: 50_000_000,
        };
        assert_eq!(
            cpu_between(a, b),
            (40_000_000, CpuSource::ProcStat, 40_000_000)
        );
        assert_eq!(CpuSource::Clock.resolution_ns(), 1);
        assert!(CpuSource::ProcStat.resolution_ns() >= 1_000_000);
    }
}
