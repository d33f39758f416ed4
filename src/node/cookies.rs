//! The cookie stores of the node's WebSocket services (`cookie` blocks): made once at start,
//! shared by every shard. For a file store the node does the file I/O the store itself never
//! does: it reads the file into the store, rewrites it first when `purge_on_startup` is set,
//! and hands the store an append handle.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use crate::auth::cookie::CookieStore;
use crate::config::{CookieConfig, CookieStoreConfig, PathService, TransportKind, WebService};

use super::NodeError;

/// The cookie stores of one transport, one per `cookie` block of its WebSocket services.
pub(super) fn open_stores(
    kind: &TransportKind,
    seed: &mut impl FnMut() -> [u8; 32],
) -> Result<Vec<Arc<CookieStore>>, NodeError> {
    let mut configs = Vec::new();
    match kind {
        TransportKind::WebSocket(ws) => configs.extend(ws.cookie.as_ref()),
        TransportKind::Web(web) => collect(web, &mut configs),
        TransportKind::Universal(u) => collect(&u.web, &mut configs),
        TransportKind::RawSocket(_) | TransportKind::Mqtt(_) => {}
    }
    let now_ms = crate::timestamp::unix_millis(SystemTime::now());
    configs
        .into_iter()
        .map(|c| open_store(c, seed(), now_ms).map(Arc::new))
        .collect()
}

/// The `cookie` blocks of a web service tree, nested `path` services included.
fn collect<'a>(web: &'a WebService, out: &mut Vec<&'a CookieConfig>) {
    for service in web.root.iter().chain(web.paths.iter().map(|(_, s)| s)) {
        match service {
            PathService::WebSocket(ws) => out.extend(ws.cookie.as_ref()),
            PathService::Path(nested) => collect(nested, out),
            _ => {}
        }
    }
}

fn open_store(
    config: &CookieConfig,
    seed: [u8; 32],
    now_ms: u64,
) -> Result<CookieStore, NodeError> {
    let store = CookieStore::new(config.clone(), seed);
    let CookieStoreConfig::File {
        filename,
        purge_on_startup,
    } = &config.store
    else {
        tracing::info!(cookie = %config.path, "cookie tracking with a memory store");
        return Ok(store);
    };
    let io = |what: &str, path: &Path| {
        let what = format!(
            "{what} the cookie file {} ({})",
            path.display(),
            config.path
        );
        move |source| NodeError::Io { what, source }
    };
    let text = match std::fs::read(filename) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(io("reading", filename)(e)),
    };
    let report = store.load(&text, now_ms);
    tracing::info!(
        cookie = %config.path,
        "cookie file {}: {} authenticated cookie(s) loaded from {} record(s){}",
        filename.display(),
        report.live,
        report.records,
        if report.malformed > 0 {
            format!(", {} malformed line(s) skipped", report.malformed)
        } else {
            String::new()
        }
    );
    // The ids in it authenticate whoever presents them: readable by the node's user only.
    let open = |truncate: bool| {
        let mut o = OpenOptions::new();
        o.create(true).mode(0o600);
        if truncate {
            o.write(true).truncate(true);
        } else {
            o.append(true);
        }
        o.open(filename)
    };
    if *purge_on_startup {
        let compacted = store.compacted(now_ms);
        open(true)
            .and_then(|mut f| f.write_all(compacted.as_bytes()))
            .map_err(io("rewriting (purge_on_startup)", filename))?;
        tracing::info!(
            cookie = %config.path,
            "cookie file {} rewritten with its {} live cookie(s) (purge_on_startup)",
            filename.display(),
            report.live
        );
    }
    let file = open(false).map_err(io("opening", filename))?;
    store.set_log(Box::new(file));
    Ok(store)
}
