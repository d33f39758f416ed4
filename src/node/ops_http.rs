//! `ferrobar start --metrics ADDR:PORT`: a small HTTP listener for operators, apart from the
//! WAMP transports — `/metrics` (Prometheus), `/healthz` (readiness) and `/livez` (liveness).
//! One thread answers one request per connection, in turn; it never touches a shard.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use crate::shard::metrics::MetricsHub;
use crate::transport::http::{LivePages, METRICS_CONTENT_TYPE};

use super::{io_err, NodeError};

/// A request head larger than this is refused.
const MAX_HEAD: usize = 8 * 1024;
/// A client gets this long to send its request and read the answer.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(2);

pub(super) fn spawn(listener: TcpListener, hub: Arc<MetricsHub>) -> Result<(), NodeError> {
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                answer(stream, &*hub);
            }
        })
        .map_err(io_err("starting the metrics listener"))?;
    Ok(())
}

fn answer(mut stream: TcpStream, live: &dyn LivePages) {
    let _ = stream.set_read_timeout(Some(CLIENT_TIMEOUT));
    let _ = stream.set_write_timeout(Some(CLIENT_TIMEOUT));
    let mut head = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&chunk[..n]),
        }
        if head.len() > MAX_HEAD {
            return respond(&mut stream, 431, "text/plain", "request head too large\n");
        }
    }
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut request = httparse::Request::new(&mut headers);
    let path = match request.parse(&head) {
        Ok(httparse::Status::Complete(_)) => request.path.unwrap_or("/"),
        _ => return respond(&mut stream, 400, "text/plain", "bad request\n"),
    };
    if request.method != Some("GET") && request.method != Some("HEAD") {
        return respond(&mut stream, 405, "text/plain", "only GET and HEAD\n");
    }
    match path.split('?').next().unwrap_or("/") {
        "/metrics" => respond(&mut stream, 200, METRICS_CONTENT_TYPE, &live.metrics()),
        "/healthz" => {
            let (ready, body) = live.health();
            respond(
                &mut stream,
                if ready { 200 } else { 503 },
                "application/json",
                &body,
            )
        }
        "/livez" => {
            let ok = live.live();
            let body = if ok {
                "{\"status\":\"live\"}"
            } else {
                "{\"status\":\"stalled\"}"
            };
            respond(
                &mut stream,
                if ok { 200 } else { 503 },
                "application/json",
                body,
            )
        }
        _ => respond(
            &mut stream,
            404,
            "text/plain",
            "not found: try /metrics, /healthz or /livez\n",
        ),
    }
}

fn respond(stream: &mut TcpStream, status: u16, content_type: &str, body: &str) {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        _ => "Service Unavailable",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body.as_bytes());
}
