//! The `static` web service: files from a directory, Crossbar's `Static-Web-Service`.
//!
//! Safety first: the URL path is percent-decoded one segment at a time, `..` segments, NUL and
//! encoded slashes are refused, and the resolved path is canonicalized and must stay inside the
//! canonicalized directory (a symlink out of it is refused too). Every refusal is a 404, never a
//! 500, so the response says nothing about the file system outside the served tree.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::config::model::StaticService;
use crate::transport::http::Response;
use crate::transport::nodeinfo::{escape_html, page};

/// Largest file served. The reactor reads a file synchronously into memory on its shard
/// thread, which stalls every other connection of that shard for the duration; large
/// downloads belong behind a real web server (nginx, a CDN), not in the WAMP router.
pub const MAX_FILE_SIZE: u64 = 64 * 1024 * 1024;

/// Most entries shown in a directory listing (the rest are counted, not listed), so a huge
/// directory cannot make one request build a huge page.
pub const MAX_LISTING: usize = 10_000;

/// What the static service needs to know about the request.
#[derive(Debug, Clone, Copy)]
pub struct StaticRequest<'a> {
    /// The whole request path (percent-encoded, no query), used for redirects and titles.
    pub full_path: &'a str,
    /// The part of the path below the service's mount point: `""` or starting with `/`.
    pub rest: &'a str,
    /// The query string, kept on redirects.
    pub query: Option<&'a str>,
    /// A HEAD request: headers only, and the file is not read.
    pub head: bool,
}

/// Why a static request gets no file.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum StaticError {
    /// Missing, outside the directory, a traversal attempt, or an undecodable path.
    #[error("not found")]
    NotFound,
    /// The file exists but the process may not read it.
    #[error("forbidden")]
    Forbidden,
    /// The file is larger than [`MAX_FILE_SIZE`].
    #[error("file of {0} bytes is larger than the {MAX_FILE_SIZE} bytes ferrobar serves")]
    TooLarge(u64),
}

impl StaticError {
    fn response(&self) -> Response {
        match self {
            StaticError::NotFound => Response::text(404, "Not found."),
            StaticError::Forbidden => Response::text(403, "Forbidden."),
            StaticError::TooLarge(_) => Response::text(
                413,
                &format!("{self}: serve large files from a dedicated web server."),
            ),
        }
    }

    fn from_io(e: &io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::PermissionDenied => StaticError::Forbidden,
            _ => StaticError::NotFound,
        }
    }
}

/// Answers one request on a static service. Never panics; file system trouble is a 404/403.
pub fn serve(svc: &StaticService, req: &StaticRequest<'_>) -> Response {
    serve_inner(svc, req).unwrap_or_else(|e| e.response())
}

fn serve_inner(svc: &StaticService, req: &StaticRequest<'_>) -> Result<Response, StaticError> {
    let base = svc
        .directory
        .canonicalize()
        .map_err(|_| StaticError::NotFound)?;
    let target = resolve(&base, req.rest)?;
    let meta = fs::metadata(&target).map_err(|e| StaticError::from_io(&e))?;
    if !meta.is_dir() {
        // Only regular files: reading a FIFO or a device would block the shard forever.
        if !meta.is_file() || req.rest.ends_with('/') {
            return Err(StaticError::NotFound);
        }
        return file(svc, &target, meta.len(), req.head);
    }
    if !req.rest.ends_with('/') {
        // Relative links in the directory's page resolve against the slash form.
        let mut location = format!("/{}/", req.full_path.trim_start_matches('/'));
        if let Some(q) = req.query {
            location.push('?');
            location.push_str(q);
        }
        let location = encode_non_ascii(&location);
        return Ok(Response::text(301, "Moved permanently.").header("Location", location));
    }
    let default = svc.default_file.as_deref().unwrap_or("index.html");
    if let Ok(index) = resolve(&target, default) {
        if index.starts_with(&base) {
            if let Ok(m) = fs::metadata(&index) {
                if m.is_file() {
                    return file(svc, &index, m.len(), req.head);
                }
            }
        }
    }
    if svc.enable_directory_listing {
        return listing(&target, req.full_path);
    }
    Err(StaticError::NotFound)
}

/// Maps a URL path (percent-encoded, `/`-separated) to a canonical path inside `base`.
fn resolve(base: &Path, url_path: &str) -> Result<PathBuf, StaticError> {
    let mut path = base.to_path_buf();
    for raw in url_path.split('/').filter(|s| !s.is_empty()) {
        let seg = percent_decode(raw).ok_or(StaticError::NotFound)?;
        if seg == "." {
            continue;
        }
        if seg == ".." || seg.contains(['/', '\\', '\0']) {
            return Err(StaticError::NotFound);
        }
        path.push(seg);
    }
    let real = path.canonicalize().map_err(|e| StaticError::from_io(&e))?;
    if real.starts_with(base) {
        Ok(real)
    } else {
        Err(StaticError::NotFound)
    }
}

/// A file response; a HEAD declares the length from metadata without reading.
fn file(svc: &StaticService, path: &Path, len: u64, head: bool) -> Result<Response, StaticError> {
    if len > MAX_FILE_SIZE {
        return Err(StaticError::TooLarge(len));
    }
    let ctype = content_type(svc, path);
    let mut resp = if head {
        Response::new(200).head_only(&ctype, len)
    } else {
        let body = fs::read(path).map_err(|e| StaticError::from_io(&e))?;
        Response::new(200).body(&ctype, body)
    };
    if let Some(secs) = svc.cache_timeout {
        resp = resp.header("Cache-Control", format!("max-age={secs}"));
    }
    Ok(resp)
}

/// The `Content-Type` for a file: the service's `mime_types` first, then a built-in table,
/// else `application/octet-stream`.
pub fn content_type(svc: &StaticService, path: &Path) -> String {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    if let Some((_, mime)) = svc
        .mime_types
        .iter()
        .find(|(k, _)| k.trim_start_matches('.').eq_ignore_ascii_case(&ext))
    {
        return mime.clone();
    }
    builtin_mime(&ext)
        .unwrap_or("application/octet-stream")
        .to_string()
}

fn builtin_mime(ext: &str) -> Option<&'static str> {
    Some(match ext {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" | "map" => "application/json",
        "txt" => "text/plain; charset=utf-8",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        "ico" => "image/x-icon",
        "wasm" => "application/wasm",
        "pdf" => "application/pdf",
        "xml" => "application/xml",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        _ => return None,
    })
}

/// An HTML listing of `dir`: directories first, then files, each sorted by name.
fn listing(dir: &Path, full_path: &str) -> Result<Response, StaticError> {
    let entries = fs::read_dir(dir).map_err(|e| StaticError::from_io(&e))?;
    let mut items: Vec<(bool, String, u64)> = Vec::new();
    let mut skipped = 0usize;
    for entry in entries.flatten() {
        if items.len() >= MAX_LISTING {
            skipped += 1;
            continue;
        }
        let Ok(meta) = fs::metadata(entry.path()) else {
            continue;
        };
        let name = entry.file_name().to_string_lossy().into_owned();
        items.push((meta.is_dir(), name, meta.len()));
    }
    items.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let shown = percent_decode(full_path).unwrap_or_else(|| full_path.to_string());
    let title = format!("Index of {shown}");
    let mut body = format!(
        "<h1>{}</h1>\n<table>\n<tr><th>Name</th><th>Size</th></tr>\n",
        escape_html(&title)
    );
    if !full_path.trim_matches('/').is_empty() {
        body.push_str("<tr><td><a href=\"../\">../</a></td><td class=\"num\">-</td></tr>\n");
    }
    for (is_dir, name, len) in &items {
        let slash = if *is_dir { "/" } else { "" };
        let size = if *is_dir {
            "-".to_string()
        } else {
            human_size(*len)
        };
        body.push_str(&format!(
            "<tr><td><a href=\"{}{slash}\">{}{slash}</a></td><td class=\"num\">{}</td></tr>\n",
            escape_html(&percent_encode(name)),
            escape_html(name),
            escape_html(&size)
        ));
    }
    body.push_str("</table>\n");
    if skipped > 0 {
        body.push_str(&format!("<p>{skipped} more entries not shown.</p>\n"));
    }
    body.push_str("<p class=\"foot\">ferrobar</p>\n");
    Ok(Response::html(200, page(&title, &body)))
}

fn human_size(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// Decodes `%XX` escapes; `None` for a malformed escape or a result that is not UTF-8.
pub fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hi = (hex[0] as char).to_digit(16)?;
            let lo = (hex[1] as char).to_digit(16)?;
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Percent-encodes everything but RFC 3986 unreserved characters (for one path segment).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Percent-encodes bytes outside printable ASCII (for a `Location` built from the request).
fn encode_non_ascii(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_graphic() {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::transport::http::tests::{parse, Parsed};
    use std::sync::atomic::{AtomicU64, Ordering};

    /// A directory under the system temp dir, removed on drop.
    pub(crate) struct TempDir(PathBuf);

    impl TempDir {
        pub fn new(tag: &str) -> Self {
            static NEXT: AtomicU64 = AtomicU64::new(0);
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let dir = std::env::temp_dir()
                .join(format!("ferrobar-test-{tag}-{}-{n}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).expect("create temp dir");
            TempDir(dir)
        }
        pub fn path(&self) -> &Path {
            &self.0
        }
        pub fn write(&self, rel: &str, data: &[u8]) {
            let p = self.0.join(rel);
            if let Some(parent) = p.parent() {
                fs::create_dir_all(parent).expect("create parent");
            }
            fs::write(p, data).expect("write file");
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn svc(dir: &Path, listing: bool) -> StaticService {
        StaticService {
            directory: dir.to_path_buf(),
            enable_directory_listing: listing,
            default_file: None,
            cache_timeout: None,
            mime_types: vec![],
        }
    }

    /// Serves `rest` as mounted at `/`.
    fn get(s: &StaticService, path: &str, head: bool) -> Parsed {
        let (p, q) = path
            .split_once('?')
            .map_or((path, None), |(p, q)| (p, Some(q)));
        let req = StaticRequest {
            full_path: p,
            rest: p,
            query: q,
            head,
        };
        parse(&serve(s, &req).encode(head))
    }

    #[test]
    fn files_default_file_and_head() {
        let d = TempDir::new("files");
        d.write("index.html", b"<p>home</p>");
        d.write("css/site.css", b"body{}");
        d.write("docs/start.htm", b"start");
        let mut s = svc(d.path(), false);
        let p = get(&s, "/css/site.css", false);
        assert_eq!((p.status, p.text().as_str()), (200, "body{}"));
        assert_eq!(p.header("content-type"), Some("text/css; charset=utf-8"));
        assert_eq!(p.header("cache-control"), None);
        assert_eq!(get(&s, "/", false).text(), "<p>home</p>");
        assert_eq!(get(&s, "/%69ndex.html", false).text(), "<p>home</p>");
        assert_eq!(get(&s, "/index.html/", false).status, 404);
        // No index.html in docs/ and no listing: 404; with a default file: served.
        assert_eq!(get(&s, "/docs/", false).status, 404);
        s.default_file = Some("start.htm".into());
        s.cache_timeout = Some(3600);
        let p = get(&s, "/docs/", false);
        assert_eq!((p.status, p.text().as_str()), (200, "start"));
        assert_eq!(p.header("cache-control"), Some("max-age=3600"));
        let h = get(&s, "/docs/start.htm", true);
        assert_eq!(h.status, 200);
        assert_eq!(h.header("content-length"), Some("5"));
        assert!(h.body.is_empty());
        assert_eq!(h.header("connection"), Some("close"));
    }

    #[test]
    fn directory_without_slash_redirects() {
        let d = TempDir::new("redir");
        d.write("css/a.css", b"");
        let s = svc(d.path(), true);
        let p = get(&s, "/css?v=1", false);
        assert_eq!((p.status, p.header("location")), (301, Some("/css/?v=1")));
        // Protocol-relative open redirects are not possible.
        let p = get(&s, "//css", false);
        assert_eq!(p.header("location"), Some("/css/"));
        // A static service mounted below `/` sees an empty rest for its own mount point.
        let req = StaticRequest {
            full_path: "/static",
            rest: "",
            query: None,
            head: false,
        };
        let p = parse(&serve(&s, &req).encode(false));
        assert_eq!((p.status, p.header("location")), (301, Some("/static/")));
    }

    #[test]
    fn listing_is_sorted_and_escaped() {
        let d = TempDir::new("list");
        d.write("b.txt", b"12345");
        d.write("<img src=x>.txt", b"");
        d.write("a dir/x", b"");
        d.write("z/x", b"");
        let s = svc(d.path(), true);
        let p = get(&s, "/", false);
        assert_eq!(p.status, 200);
        let html = p.text();
        assert!(html.contains("&lt;img src=x&gt;.txt") && !html.contains("<img"));
        assert!(html.contains("href=\"%3Cimg%20src%3Dx%3E.txt\""));
        assert!(html.contains("href=\"a%20dir/\""));
        assert!(html.contains("5 B"));
        let pos = |s: &str| html.find(s).unwrap_or(usize::MAX);
        assert!(
            pos("a dir/") < pos("z/")
                && pos("z/") < pos("&lt;img")
                && pos("&lt;img") < pos("b.txt")
        );
        assert!(!html.contains("href=\"../\""));
        assert!(get(&s, "/z/", false).text().contains("href=\"../\""));
        assert_eq!(get(&svc(d.path(), false), "/", false).status, 404);
    }

    #[test]
    fn traversal_is_refused() {
        let outer = TempDir::new("trav");
        outer.write("secret.txt", b"secret");
        outer.write("web/ok.txt", b"ok");
        let s = svc(&outer.path().join("web"), true);
        assert_eq!(get(&s, "/ok.txt", false).status, 200);
        for path in [
            "/../secret.txt",
            "/../etc/passwd",
            "/%2e%2e/secret.txt",
            "/%2E%2E/secret.txt",
            "/..%2fsecret.txt",
            "/ok.txt%00",
            "/%zz",
            "/%ff",
            "/../../../../../../etc/passwd",
        ] {
            let p = get(&s, path, false);
            assert_eq!(p.status, 404, "{path}");
            assert!(!p.text().contains("secret"));
        }
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(
                outer.path().join("secret.txt"),
                outer.path().join("web/link"),
            )
            .expect("symlink");
            assert_eq!(get(&s, "/link", false).status, 404);
        }
    }

    #[test]
    fn too_large_and_special_files_are_refused() {
        let d = TempDir::new("large");
        let f = fs::File::create(d.path().join("big.bin")).expect("create");
        f.set_len(MAX_FILE_SIZE + 1).expect("sparse file");
        let s = svc(d.path(), true);
        let p = get(&s, "/big.bin", false);
        assert_eq!(p.status, 413);
        assert!(p.text().contains("larger than"));
        assert_eq!(get(&s, "/big.bin", true).status, 413);
        #[cfg(unix)]
        {
            let fifo = d.path().join("fifo");
            let made = std::process::Command::new("mkfifo").arg(&fifo).status();
            if made.map(|s| s.success()).unwrap_or(false) {
                assert_eq!(get(&s, "/fifo", false).status, 404);
            }
        }
    }

    #[test]
    fn missing_directory_is_404() {
        let s = svc(Path::new("/nonexistent/ferrobar/web"), true);
        for path in ["/", "/index.html", "/a/b/"] {
            assert_eq!(get(&s, path, false).status, 404);
        }
    }

    #[test]
    fn mime_types() {
        let mut s = svc(Path::new("/"), false);
        let ct = |s: &StaticService, f: &str| content_type(s, Path::new(f));
        assert_eq!(ct(&s, "a.HTML"), "text/html; charset=utf-8");
        assert_eq!(ct(&s, "a.js"), "text/javascript; charset=utf-8");
        assert_eq!(ct(&s, "a.mjs"), "text/javascript; charset=utf-8");
        assert_eq!(ct(&s, "a.wasm"), "application/wasm");
        assert_eq!(ct(&s, "a.woff2"), "font/woff2");
        assert_eq!(ct(&s, "a.svg"), "image/svg+xml");
        assert_eq!(ct(&s, "a.jpeg"), "image/jpeg");
        assert_eq!(ct(&s, "a.map"), "application/json");
        assert_eq!(ct(&s, "README"), "application/octet-stream");
        assert_eq!(ct(&s, "a.bin"), "application/octet-stream");
        s.mime_types = vec![
            (".bin".into(), "application/x-firmware".into()),
            ("js".into(), "application/x-js".into()),
        ];
        assert_eq!(ct(&s, "a.BIN"), "application/x-firmware");
        assert_eq!(ct(&s, "a.js"), "application/x-js");
    }

    #[test]
    fn helpers() {
        assert_eq!(percent_decode("a%20b%2Fc"), Some("a b/c".into()));
        assert_eq!(percent_decode("%"), None);
        assert_eq!(percent_decode("%4"), None);
        assert_eq!(percent_encode("a b/é"), "a%20b%2F%C3%A9");
        assert_eq!(encode_non_ascii("/é x"), "/%C3%A9%20x");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(3 * 1024 * 1024), "3.0 MiB");
    }
}
