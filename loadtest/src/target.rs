//! The router's address: `ws://host[:port][/path]`, restricted to this machine.
//!
//! Workplace rule: a load test only ever targets loopback (127.0.0.0/8, ::1, `localhost`).
//! Anything else is refused before a single socket is opened.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};

use crate::error::BenchError;

/// A parsed, checked WebSocket target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Where to connect (always a loopback address).
    pub addr: SocketAddr,
    /// The `Host` header value (`host:port` as given).
    pub host_header: String,
    /// The request path (`/ws`).
    pub path: String,
    /// The URL as given, for reports.
    pub url: String,
}

/// True for the addresses a load test may target: 127.0.0.0/8 and ::1.
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.octets()[0] == 127,
        IpAddr::V6(v6) => v6 == Ipv6Addr::LOCALHOST,
    }
}

fn refuse(target: &str, why: impl Into<String>) -> BenchError {
    BenchError::NotLoopback {
        target: target.to_owned(),
        why: why.into(),
    }
}

/// Parses `ws://host[:port][/path]` and checks that the host is loopback. `localhost` is
/// resolved and only its loopback addresses are used; any other host name is refused (no
/// name lookup of arbitrary hosts). `wss://` is refused (no TLS client here).
pub fn parse_url(url: &str) -> Result<Target, BenchError> {
    let rest = if let Some(r) = url.strip_prefix("ws://") {
        r
    } else if url.starts_with("wss://") {
        return Err(BenchError::Usage(format!(
            "{url}: wss:// is not supported (loopback tests use plain ws://)"
        )));
    } else {
        return Err(BenchError::Usage(format!(
            "{url}: the URL must start with ws:// (e.g. ws://127.0.0.1:8080/ws)"
        )));
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return Err(BenchError::Usage(format!("{url}: no host")));
    }
    if authority.contains('@') {
        return Err(BenchError::Usage(format!(
            "{url}: user info is not supported"
        )));
    }
    let (host, port) = split_host_port(authority)
        .ok_or_else(|| BenchError::Usage(format!("{url}: bad host or port")))?;
    let ip = resolve_loopback(host, port).map_err(|why| refuse(host, why))?;
    Ok(Target {
        addr: SocketAddr::new(ip, port),
        host_header: authority.to_owned(),
        path: path.to_owned(),
        url: url.to_owned(),
    })
}

/// Splits `host:port`, `[v6]:port`, `host` (port 80).
fn split_host_port(authority: &str) -> Option<(&str, u16)> {
    if let Some(rest) = authority.strip_prefix('[') {
        let end = rest.find(']')?;
        let host = &rest[..end];
        let after = &rest[end + 1..];
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if after.is_empty() => 80,
            None => return None,
        };
        return Some((host, port));
    }
    match authority.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => Some((h, p.parse().ok()?)),
        Some(_) => None,
        None => Some((authority, 80)),
    }
}

/// The loopback address to use for `host`, or why it is refused.
pub fn resolve_loopback(host: &str, port: u16) -> Result<IpAddr, String> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return if is_loopback(ip) {
            Ok(ip)
        } else {
            Err("not a loopback address".into())
        };
    }
    if !host.eq_ignore_ascii_case("localhost") {
        return Err("only IP literals on loopback and `localhost` are accepted".into());
    }
    let resolved: Vec<IpAddr> = ("localhost", port)
        .to_socket_addrs()
        .map(|addrs| addrs.map(|a| a.ip()).collect())
        .unwrap_or_default();
    if resolved.is_empty() {
        return Ok(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    // Prefer IPv4 (routers usually listen on 127.0.0.1); use only loopback answers.
    resolved
        .into_iter()
        .filter(|ip| is_loopback(*ip))
        .min_by_key(|ip| ip.is_ipv6())
        .ok_or_else(|| "localhost does not resolve to a loopback address here".into())
}

/// Parses `--source-ips 127.0.0.1,127.0.0.2`: each a loopback address of the target's family.
pub fn parse_source_ips(list: &str, target: &Target) -> Result<Vec<IpAddr>, BenchError> {
    let mut out = Vec::new();
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let ip: IpAddr = part.parse().map_err(|_| {
            BenchError::Usage(format!("--source-ips: {part:?} is not an IP address"))
        })?;
        if !is_loopback(ip) {
            return Err(refuse(part, "source address is not loopback"));
        }
        if ip.is_ipv4() != target.addr.is_ipv4() {
            return Err(BenchError::Usage(format!(
                "--source-ips: {part} is not of the target's address family ({})",
                target.addr
            )));
        }
        out.push(ip);
    }
    if out.is_empty() {
        return Err(BenchError::Usage("--source-ips: no address given".into()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_loopback_targets() {
        let t = parse_url("ws://127.0.0.1:8080/ws").unwrap();
        assert_eq!(t.addr, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(t.path, "/ws");
        assert_eq!(t.host_header, "127.0.0.1:8080");
        let t = parse_url("ws://127.9.8.7:9000").unwrap();
        assert_eq!(t.path, "/");
        let t = parse_url("ws://[::1]:8080/ws").unwrap();
        assert_eq!(t.addr, "[::1]:8080".parse().unwrap());
        let t = parse_url("ws://localhost:8080/ws").unwrap();
        assert!(is_loopback(t.addr.ip()));
        let t = parse_url("ws://LOCALHOST/x").unwrap();
        assert_eq!(t.addr.port(), 80);
    }

    #[test]
    fn refuses_everything_else() {
        for url in [
            "ws://10.0.0.1:8080/ws",
            "ws://192.168.1.2/ws",
            "ws://8.8.8.8:80/ws",
            "ws://[::2]:8080/ws",
            "ws://[fe80::1]:8080/ws",
            "ws://example.com:8080/ws",
            "ws://localhost.example.com/ws",
            "ws://0.0.0.0:8080/ws",
            "ws://128.0.0.1:8080/ws",
        ] {
            match parse_url(url) {
                Err(BenchError::NotLoopback { .. }) => {}
                other => panic!("{url}: {other:?}"),
            }
        }
        for url in [
            "http://127.0.0.1/ws",
            "wss://127.0.0.1/ws",
            "ws://",
            "ws://127.0.0.1:notaport/ws",
            "ws://127.0.0.1:70000/ws",
            "ws://u@127.0.0.1/ws",
            "ws://[::1/ws",
        ] {
            assert!(matches!(parse_url(url), Err(BenchError::Usage(_))), "{url}");
        }
    }

    #[test]
    fn source_ips_must_be_loopback_of_the_same_family() {
        let t = parse_url("ws://127.0.0.1:8080/ws").unwrap();
        let ips = parse_source_ips("127.0.0.1, 127.0.0.2,127.0.0.3", &t).unwrap();
        assert_eq!(ips.len(), 3);
        assert!(matches!(
            parse_source_ips("127.0.0.1,10.0.0.1", &t),
            Err(BenchError::NotLoopback { .. })
        ));
        assert!(matches!(
            parse_source_ips("::1", &t),
            Err(BenchError::Usage(_))
        ));
        assert!(matches!(
            parse_source_ips("", &t),
            Err(BenchError::Usage(_))
        ));
        assert!(matches!(
            parse_source_ips("abc", &t),
            Err(BenchError::Usage(_))
        ));
    }
}
