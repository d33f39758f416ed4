//! Listening sockets: TCP bound with `SO_REUSEPORT` on every shard, so the kernel spreads
//! accepted connections over the shards; Unix sockets on shard 0 only.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;

use socket2::{Domain, Protocol, Socket, Type};

use crate::config::{Endpoint, IpVersion};

/// A bound, listening, non-blocking socket not yet owned by a shard.
#[derive(Debug)]
pub enum BoundListener {
    /// TCP.
    Tcp(std::net::TcpListener),
    /// Unix domain socket.
    Unix(std::os::unix::net::UnixListener),
}

/// Resolves the bind address of a TCP endpoint.
pub fn tcp_addr(endpoint: &Endpoint) -> io::Result<SocketAddr> {
    let Endpoint::Tcp {
        port,
        interface,
        version,
        ..
    } = endpoint
    else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a TCP endpoint",
        ));
    };
    let ip: IpAddr = match interface {
        Some(i) => i.parse().map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("interface \"{i}\" is not an IP address"),
            )
        })?,
        None => match version {
            IpVersion::V4 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpVersion::V6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        },
    };
    Ok(SocketAddr::new(ip, *port))
}

/// Binds a TCP listener with `SO_REUSEPORT` (every shard binds the same address).
pub fn bind_tcp(addr: SocketAddr, backlog: u32) -> io::Result<std::net::TcpListener> {
    let domain = if addr.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let socket = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// Binds a Unix listener, replacing a stale socket file nobody listens on.
pub fn bind_unix(path: &Path) -> io::Result<std::os::unix::net::UnixListener> {
    if path.exists() && std::os::unix::net::UnixStream::connect(path).is_err() {
        std::fs::remove_file(path)?;
    }
    let listener = std::os::unix::net::UnixListener::bind(path)?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}
