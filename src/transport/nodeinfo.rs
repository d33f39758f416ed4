//! The HTML pages about the node. The `nodeinfo` web service renders one self-contained page
//! modelled on Crossbar's `cb_node_info.html` (version, start time, pid, workers, the
//! requester's address) plus what ferrobar adds (shards, realms, transports); a plain GET on a
//! WebSocket endpoint renders the status page. The page chrome (`page`, `escape_html`) is
//! shared with the static directory listing. Every interpolated value is escaped.

use std::time::{Duration, SystemTime};

use crate::timestamp::rfc3339;

use crate::config::model::WebSocketService;
use crate::transport::http::NodeInfo;

/// Renders the page for `node` as seen by `peer` at `now` (a parameter, so tests are exact).
pub fn render(node: &NodeInfo, peer: &str, now: SystemTime) -> String {
    let uptime = now.duration_since(node.started).unwrap_or(Duration::ZERO);
    let mut rows = String::new();
    let mut row = |name: &str, value_html: String| {
        rows.push_str(&format!(
            "<tr><th>{}</th><td>{}</td></tr>\n",
            escape_html(name),
            value_html
        ));
    };
    row("Version", format!("ferrobar {}", escape_html(node.version)));
    row(
        "Node ID",
        format!("<code>{}</code>", escape_html(&node.node_id)),
    );
    row("Started", escape_html(&rfc3339(node.started)));
    row("Uptime", escape_html(&format_uptime(uptime)));
    row("Process ID", node.pid.to_string());
    row("Shards", node.shards.to_string());
    row("Router workers", list(&node.workers));
    row("Realms", list(&node.realms));
    row("Transports", list(&node.transports));
    row(
        "Your address",
        format!("<code>{}</code>", escape_html(peer)),
    );
    let live = node.live.as_ref().map(|l| live_section(&l.summary()));
    let body = format!(
        "<h1>Node info</h1>\n<p>This WAMP router is ferrobar, a Crossbar.io-compatible \
         router.</p>\n<table>\n{rows}</table>\n{}<p class=\"foot\">Rendered {}{}. \
         <a href=\"?format=json\">JSON</a></p>\n",
        live.as_deref().unwrap_or(""),
        escape_html(&rfc3339(now)),
        if node.live.is_some() {
            "; it reloads itself every 5 s"
        } else {
            ""
        },
    );
    let page = page(&format!("ferrobar node {}", node.node_id), &body);
    match node.live {
        // No script and no build step: the browser reloads the page.
        Some(_) => page.replacen(
            "<meta charset=\"utf-8\">",
            "<meta charset=\"utf-8\">\n<meta http-equiv=\"refresh\" content=\"5\">",
            1,
        ),
        None => page,
    }
}

/// The live part of the page: realms with their counts, and the node's totals.
fn live_section(s: &crate::transport::http::LiveSummary) -> String {
    let mut html = String::from(
        "<h2>Realms</h2>\n<table>\n<tr><th>Realm</th><th>Sessions</th><th>Subscriptions</th>\
         <th>Registrations</th></tr>\n",
    );
    for (name, sessions, subscriptions, registrations) in &s.realms {
        html.push_str(&format!(
            "<tr><td><code>{}</code></td><td>{sessions}</td><td>{subscriptions}</td>\
             <td>{registrations}</td></tr>\n",
            escape_html(name)
        ));
    }
    html.push_str(&format!(
        "</table>\n<h2>Traffic</h2>\n<table>\n<tr><th>Connections</th><td>{}</td></tr>\n\
         <tr><th>Publications</th><td>{}</td></tr>\n<tr><th>Deliveries</th><td>{}</td></tr>\n\
         <tr><th>Calls answered</th><td>{}</td></tr>\n\
         <tr><th>Events dropped</th><td>{}</td></tr>\n\
         <tr><th>Slow consumers closed</th><td>{}</td></tr>\n</table>\n",
        s.connections, s.publications, s.deliveries, s.calls, s.events_dropped, s.slow_consumers
    ));
    html
}

/// The page's JSON twin (`?format=json`): the same facts, and the live figures when the node
/// has them.
pub fn render_json(node: &NodeInfo, now: SystemTime) -> String {
    let uptime = now.duration_since(node.started).unwrap_or(Duration::ZERO);
    let mut v = serde_json::json!({
        "version": node.version,
        "node_id": node.node_id,
        "started": rfc3339(node.started),
        "uptime_seconds": uptime.as_secs(),
        "pid": node.pid,
        "shards": node.shards,
        "workers": node.workers,
        "realms": node.realms,
        "transports": node.transports,
    });
    if let Some(live) = &node.live {
        let s = live.summary();
        v["live"] = serde_json::json!({
            "realms": s.realms.iter().map(|(name, sessions, subscriptions, registrations)| {
                serde_json::json!({
                    "name": name,
                    "sessions": sessions,
                    "subscriptions": subscriptions,
                    "registrations": registrations,
                })
            }).collect::<Vec<_>>(),
            "connections": s.connections,
            "publications": s.publications,
            "deliveries": s.deliveries,
            "calls": s.calls,
            "events_dropped": s.events_dropped,
            "slow_consumers": s.slow_consumers,
        });
    }
    v.to_string()
}

/// The page a plain GET on a WebSocket endpoint shows (`enable_webstatus`), Crossbar's
/// `cb_ws_status.html`.
pub fn status_page(svc: &WebSocketService, node: &NodeInfo) -> String {
    let mut body = String::from(
        "<h1>This is a WAMP WebSocket endpoint</h1>\n<p>Connect with a WAMP client (for \
         example Autobahn) using one of these WebSocket subprotocols:</p>\n<ul>\n",
    );
    for s in &svc.serializers {
        body.push_str(&format!(
            "<li><code>{}</code></li>\n",
            escape_html(s.subprotocol())
        ));
    }
    body.push_str(&format!(
        "</ul>\n<p class=\"foot\">Served by ferrobar {}.</p>\n",
        escape_html(node.version)
    ));
    page("WAMP WebSocket endpoint", &body)
}

/// Wraps a body in a self-contained HTML page with the shared inline style.
pub(crate) fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>\n{}</style>\n</head>\n<body>\n{}</body>\n</html>\n",
        escape_html(title),
        PAGE_CSS,
        body
    )
}

/// One small stylesheet for every generated page.
const PAGE_CSS: &str = "body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;\
margin:2em auto;max-width:56em;padding:0 1em;color:#222;background:#fafafa}\n\
h1{font-size:1.5em;border-bottom:2px solid #c33;padding-bottom:.3em}\n\
table{border-collapse:collapse;width:100%}\n\
th,td{text-align:left;padding:.35em .7em;border-bottom:1px solid #ddd;vertical-align:top}\n\
th{background:#eee;white-space:nowrap}\ntd.num{text-align:right;white-space:nowrap}\n\
code{background:#eee;padding:0 .25em;border-radius:3px}\na{color:#06c}\n\
.foot{color:#777;font-size:.9em;margin-top:2em}\n";

/// Escapes text for HTML element content and quoted attribute values.
pub(crate) fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// An HTML list of escaped items, or "none".
fn list(items: &[String]) -> String {
    if items.is_empty() {
        return "<em>none</em>".into();
    }
    let mut out = String::from("<ul style=\"margin:0;padding-left:1.2em\">");
    for item in items {
        out.push_str(&format!("<li><code>{}</code></li>", escape_html(item)));
    }
    out.push_str("</ul>");
    out
}

/// `3d 04h 05m 06s`, dropping leading zero units.
pub fn format_uptime(d: Duration) -> String {
    let s = d.as_secs();
    let (days, h, m, sec) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60, s % 60);
    if days > 0 {
        format!("{days}d {h:02}h {m:02}m {sec:02}s")
    } else if h > 0 {
        format!("{h}h {m:02}m {sec:02}s")
    } else if m > 0 {
        format!("{m}m {sec:02}s")
    } else {
        format!("{sec}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::http::tests::node;

    use std::time::UNIX_EPOCH;

    #[test]
    fn dates() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
            "2023-11-14T22:13:20Z"
        );
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00Z"
        );
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(4_102_444_799)),
            "2099-12-31T23:59:59Z"
        );
        assert_eq!(format_uptime(Duration::from_secs(5)), "5s");
        assert_eq!(
            format_uptime(Duration::from_secs(3 * 86_400 + 4 * 3600 + 5 * 60 + 6)),
            "3d 04h 05m 06s"
        );
        assert_eq!(format_uptime(Duration::from_secs(3600)), "1h 00m 00s");
    }

    #[test]
    fn page_shows_everything_escaped() {
        let mut n = node();
        n.realms.push("<script>alert(1)</script>".into());
        let now = n.started + Duration::from_secs(90);
        let html = render(&n, "[::1]:6000 <b>", now);
        for needle in [
            "ferrobar 0.1.0",
            "node&lt;1&gt;",
            "2023-11-14T22:13:20Z",
            "1m 30s",
            "4242",
            "<td>4</td>",
            "worker001",
            "realm1",
            "&lt;script&gt;alert(1)&lt;/script&gt;",
            "transport001 web tcp/8080",
            "[::1]:6000 &lt;b&gt;",
        ] {
            assert!(html.contains(needle), "missing {needle}");
        }
        assert!(!html.contains("<script>"));
        let mut empty = node();
        empty.workers.clear();
        assert!(render(&empty, "p", now).contains("<em>none</em>"));
    }
}
