//! Cookie tracking and cookie authentication, as Crossbar does them
//! (`crossbar/router/cookiestore.py`, `router/protocol.py` `onConnect`): sans-IO, the caller
//! passes the time and the shell opens any file.
//!
//! A WebSocket service with a `cookie` block has one [`CookieStore`], shared by every shard
//! (`Arc`, one `Mutex` inside, locked only on a WebSocket upgrade and while a session
//! authenticates or logs out, never per message):
//!
//! - **Upgrade** ([`CookieStore::upgrade`]): the `Cookie` request header is searched for the
//!   configured name. A value the store knows (and that has not outlived `max_age`) is the
//!   connection's cookie. Anything else, a missing cookie or an id the store never handed out,
//!   gets a new id from the store's CSPRNG (`length` characters of `[A-Za-z0-9]`) and the 101
//!   response carries `Set-Cookie: <name>=<id>;max-age=<max_age>` plus `;Secure`, `;HttpOnly`
//!   and `;SameSite=<v>` as configured. A client-chosen id is never adopted (session
//!   fixation: otherwise an attacker could plant an id in a victim's browser and ride the
//!   victim's later login).
//! - **Join** ([`CookieSession::remember`]): a session that joins by any method but cookie
//!   leaves its authid, authrole, authmethod, realm and authextra on the connection's cookie.
//! - **HELLO** ([`CookieSession::for_hello`]): the cookie's remembered authentication, which
//!   [`super::hello`] welcomes at once when the client offers `cookie`; a client that does not
//!   offer it revokes it (Crossbar: the session is then authenticated anew).
//! - **Logout** ([`CookieSession::forget`]): GOODBYE `wamp.close.logout` deletes it.
//!
//! **Bounded memory.** The store keeps an entry only once a session on that cookie has
//! *joined*: an id handed out at an upgrade is not stored, so connections without a cookie,
//! or with made-up ones, cost the store nothing. Entries expire `max_age` after the cookie was
//! handed out (as the browser's copy does), and expired ones are swept whenever an entry is
//! added. At most [`MAX_ENTRIES`] are kept: past it, the entry that expires first is evicted
//! (its owner authenticates again, by another method, next time). Crossbar keeps every cookie
//! it ever made, authenticated or not, until restart.
//!
//! **File store** (`store.type: file`): the node opens the file, feeds its text to
//! [`CookieStore::load`] and gives the store the append handle ([`CookieStore::set_log`]);
//! every change is one JSON line in Crossbar's format (`cbtid`, `status`
//! `created`/`modified`/`deleted`, `created`, `modified`, `deleted`, `max_age`, `authid`,
//! `authrole`, `authmethod`, `authrealm`, `authextra`), so Crossbar's own cookie file loads and
//! ferrobar's loads in Crossbar. The records are written by [`CookieStore::flush`], which the
//! shell calls at the end of each reactor turn and when the node stops: the core, which makes
//! the records when sessions join or log out, never does the I/O. A write error is logged; the
//! store goes on in memory.

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use rand::rngs::StdRng;
use rand::{RngExt as _, SeedableRng as _};

use crate::config::{AuthConfig, CookieConfig};
use crate::wamp::{Dict, Value};

use super::{Identity, KNOWN_METHODS};
use crate::timestamp::parse_utc_timestamp;

/// Authenticated cookies one store keeps at most (a few hundred bytes each).
pub const MAX_ENTRIES: usize = 100_000;

/// Changes recorded for the file store and not written yet, at most.
const MAX_JOURNAL: usize = MAX_ENTRIES;

/// The alphabet of new cookie ids: what any browser and proxy passes through unquoted.
const ID_CHARS: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// The longest cookie value looked up: ferrobar's ids have at most 64 characters, Crossbar's
/// too; anything longer cannot be one.
const MAX_VALUE_LEN: usize = 128;

/// The authentication remembered on a cookie.
#[derive(Debug, Clone, PartialEq)]
pub struct CookieAuth {
    pub authid: String,
    pub authrole: String,
    /// The method the session originally authenticated with (`ticket`, `wampcra`, ...): a
    /// cookie-authenticated WELCOME names it, with authprovider `cookie`.
    pub authmethod: String,
    /// The realm the session joined; a cookie-authenticated session joins it again.
    pub authrealm: String,
    /// WELCOME's authextra (without the router's `x_cb_*` keys, which each WELCOME adds anew).
    pub authextra: Dict,
}

impl CookieAuth {
    /// The identity a cookie-authenticated session gets.
    pub fn identity(&self) -> Identity {
        // Identity keeps the method as a static name; a file written by another Crossbar
        // version could name one this router does not know, which then reads as `cookie`.
        let authmethod = KNOWN_METHODS
            .iter()
            .copied()
            .find(|m| *m == self.authmethod)
            .unwrap_or("cookie");
        Identity {
            authid: self.authid.clone(),
            authrole: self.authrole.clone(),
            authmethod,
            authprovider: "cookie",
            authextra: self.authextra.clone(),
            realm: Some(self.authrealm.clone()),
        }
    }
}

/// The cookie of one WebSocket connection, as the shell hands it to the core.
#[derive(Clone)]
pub struct CookieSession {
    id: Arc<str>,
    /// When the browser got this id (for a known id: when it was first handed out), in Unix
    /// milliseconds: an entry made for it expires `max_age` later, as the browser's copy does.
    issued_ms: u64,
    store: Arc<CookieStore>,
}

impl std::fmt::Debug for CookieSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The id is a bearer credential once authenticated: never in a log line.
        f.debug_struct("CookieSession")
            .field("name", &self.store.config.name)
            .field("id", &"<redacted>")
            .field("issued_ms", &self.issued_ms)
            .finish()
    }
}

impl CookieSession {
    /// The cookie's value.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The cookie's value, shared.
    pub fn id_arc(&self) -> Arc<str> {
        Arc::clone(&self.id)
    }

    /// The store the cookie belongs to.
    pub fn store(&self) -> &Arc<CookieStore> {
        &self.store
    }

    /// The remembered authentication, if any.
    pub fn authentication(&self, now_ms: u64) -> Option<CookieAuth> {
        self.store.authentication(&self.id, now_ms)
    }

    /// The remembered authentication a HELLO may use. Crossbar's rule: on a transport that
    /// offers cookie authentication, a client whose `authmethods` (default `["anonymous"]`)
    /// leave out `cookie` revokes it, and is authenticated anew.
    pub fn for_hello(
        &self,
        config: &AuthConfig,
        authmethods: &[&str],
        now_ms: u64,
    ) -> Option<CookieAuth> {
        let auth = self.authentication(now_ms)?;
        if config.method("cookie").is_some() && !authmethods.contains(&"cookie") {
            self.forget(now_ms);
            return None;
        }
        Some(auth)
    }

    /// Remembers how a session on this cookie authenticated.
    pub fn remember(&self, auth: CookieAuth, now_ms: u64) {
        self.store.remember(&self.id, self.issued_ms, auth, now_ms);
    }

    /// Forgets the cookie's authentication (logout, revocation). True if there was one.
    pub fn forget(&self, now_ms: u64) -> bool {
        self.store.forget(&self.id, now_ms)
    }
}

/// What an upgrade gets from the store.
#[derive(Debug)]
pub struct Upgrade {
    /// The connection's cookie.
    pub session: CookieSession,
    /// The `Set-Cookie` value to send with the 101, when the id is new.
    pub set_cookie: Option<String>,
}

/// What [`CookieStore::load`] found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// JSON lines read (blank lines not counted).
    pub records: usize,
    /// Lines that were not a cookie record (skipped).
    pub malformed: usize,
    /// Authenticated, unexpired cookies now in the store.
    pub live: usize,
}

struct Entry {
    created_ms: u64,
    modified_ms: Option<u64>,
    /// Seconds, as recorded (a file may hold cookies made with another `max_age`).
    max_age: u64,
    expires_ms: u64,
    auth: CookieAuth,
}

struct Inner {
    entries: HashMap<String, Entry>,
    /// `(expires_ms, id)` of every entry: the sweep and the eviction take from the front.
    expiry: BTreeSet<(u64, String)>,
    rng: StdRng,
    log: Option<Box<dyn Write + Send>>,
    /// Records not written to `log` yet: the shell writes them ([`CookieStore::flush`]), so a
    /// session joining on a reactor thread never waits for the disk.
    journal: Vec<String>,
    write_errors: u64,
}

/// The cookies of one WebSocket service. See the module documentation.
pub struct CookieStore {
    config: CookieConfig,
    max_entries: usize,
    inner: Mutex<Inner>,
    /// Set when `inner.journal` has records: the shell checks it every reactor turn without
    /// taking the lock.
    unwritten: AtomicBool,
}

impl std::fmt::Debug for CookieStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CookieStore")
            .field("config", &self.config)
            .field("entries", &self.len())
            .finish()
    }
}

impl CookieStore {
    /// An empty store for `config`; `seed` (from the OS) seeds the CSPRNG new ids come from.
    pub fn new(config: CookieConfig, seed: [u8; 32]) -> Self {
        Self::with_limit(config, seed, MAX_ENTRIES)
    }

    /// As [`CookieStore::new`], keeping at most `max_entries` (at least one).
    pub fn with_limit(config: CookieConfig, seed: [u8; 32], max_entries: usize) -> Self {
        CookieStore {
            config,
            max_entries: max_entries.max(1),
            inner: Mutex::new(Inner {
                entries: HashMap::new(),
                expiry: BTreeSet::new(),
                rng: StdRng::from_seed(seed),
                log: None,
                journal: Vec::new(),
                write_errors: 0,
            }),
            unwritten: AtomicBool::new(false),
        }
    }

    /// The `cookie` block this store serves.
    pub fn config(&self) -> &CookieConfig {
        &self.config
    }

    /// Authenticated cookies held now (expired ones not swept yet included).
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// True when no cookie is authenticated.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// From now on every change is recorded for `log` as one JSON line (the file store), and
    /// written by [`CookieStore::flush`].
    pub fn set_log(&self, log: Box<dyn Write + Send>) {
        self.lock().log = Some(log);
    }

    /// Writes the records made since the last flush to the log. The shell calls it at the end
    /// of every reactor turn (before the turn's output is sent, so a client's WELCOME never
    /// precedes its cookie's record) and once more when the node stops; with nothing to write
    /// it costs one atomic swap. Errors are logged (the first one and then at powers of two, so
    /// a full disk does not flood the log), never fatal: the cookies stay in memory.
    pub fn flush(&self) {
        if !self.unwritten.swap(false, Ordering::AcqRel) {
            return;
        }
        let mut inner = self.lock();
        if inner.journal.is_empty() {
            return;
        }
        let text = std::mem::take(&mut inner.journal).concat();
        let Some(log) = inner.log.as_mut() else {
            return;
        };
        if let Err(e) = log.write_all(text.as_bytes()).and_then(|()| log.flush()) {
            inner.write_errors += 1;
            if inner.write_errors.is_power_of_two() {
                tracing::warn!(
                    errors = inner.write_errors,
                    "cannot write to the cookie file ({e}); cookies are kept in memory"
                );
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere while holding the lock leaves the map consistent (every change is
        // one insert or remove): keep serving rather than poison every later upgrade.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A WebSocket upgrade with these `Cookie` header values (several headers, if the client
    /// sent several, in order).
    pub fn upgrade(self: &Arc<Self>, cookie_headers: &[&str], now_ms: u64) -> Upgrade {
        let mut inner = self.lock();
        let presented = cookie_headers
            .iter()
            .find_map(|h| parse_cookie(h, &self.config.name));
        if let Some(id) = presented {
            let known = inner
                .entries
                .get(id)
                .map(|e| (e.expires_ms > now_ms, e.created_ms));
            match known {
                Some((true, created_ms)) => {
                    let session = CookieSession {
                        id: id.into(),
                        issued_ms: created_ms,
                        store: Arc::clone(self),
                    };
                    return Upgrade {
                        session,
                        set_cookie: None,
                    };
                }
                Some((false, _)) => inner.remove(id),
                None => {}
            }
        }
        let id = loop {
            let id = new_id(&mut inner.rng, self.config.length);
            // 62^6 at the shortest: a collision is all but impossible, but never share one.
            if !inner.entries.contains_key(&id) {
                break id;
            }
        };
        drop(inner);
        let set_cookie = set_cookie_value(&self.config, &id);
        Upgrade {
            session: CookieSession {
                id: id.into(),
                issued_ms: now_ms,
                store: Arc::clone(self),
            },
            set_cookie: Some(set_cookie),
        }
    }

    /// The authentication remembered on cookie `id`, unless it expired.
    pub fn authentication(&self, id: &str, now_ms: u64) -> Option<CookieAuth> {
        let mut inner = self.lock();
        let e = inner.entries.get(id)?;
        if e.expires_ms > now_ms {
            return Some(e.auth.clone());
        }
        inner.remove(id);
        None
    }

    /// Remembers `auth` on cookie `id`, handed out at `issued_ms`.
    fn remember(&self, id: &str, issued_ms: u64, auth: CookieAuth, now_ms: u64) {
        let max_age = self.config.max_age;
        let mut inner = self.lock();
        inner.sweep(now_ms);
        if let Some(e) = inner.entries.get_mut(id) {
            if same_auth(&e.auth, &auth) {
                return;
            }
            e.auth = auth;
            e.modified_ms = Some(now_ms);
            let line = record(id, "modified", e, None);
            inner.append(&line);
            self.note_unwritten(&inner);
            return;
        }
        let expires_ms = expiry(issued_ms, max_age);
        if expires_ms <= now_ms {
            // The browser has dropped this cookie already.
            return;
        }
        let entry = Entry {
            created_ms: issued_ms,
            modified_ms: None,
            max_age,
            expires_ms,
            auth,
        };
        let line = record(id, "created", &entry, None);
        inner.insert(id.to_owned(), entry);
        inner.append(&line);
        while inner.entries.len() > self.max_entries {
            let Some((_, oldest)) = inner.expiry.first().cloned() else {
                break;
            };
            if let Some(e) = inner.entries.get(&oldest) {
                let line = record(&oldest, "deleted", e, Some(now_ms));
                inner.append(&line);
            }
            inner.remove(&oldest);
        }
        self.note_unwritten(&inner);
    }

    /// Forgets cookie `id`'s authentication. True if there was one.
    fn forget(&self, id: &str, now_ms: u64) -> bool {
        let mut inner = self.lock();
        let Some(e) = inner.entries.get(id) else {
            return false;
        };
        let line = record(id, "deleted", e, Some(now_ms));
        inner.remove(id);
        inner.append(&line);
        self.note_unwritten(&inner);
        true
    }

    /// Tells [`CookieStore::flush`] there is something to write (called with the lock held,
    /// after the records were added, so a concurrent flush never misses one).
    fn note_unwritten(&self, inner: &Inner) {
        if !inner.journal.is_empty() {
            self.unwritten.store(true, Ordering::Release);
        }
    }

    /// Reads a cookie file's text (Crossbar's JSON lines): per `cbtid` the records are merged
    /// in order, later keys over earlier ones (a `modified` record need not repeat `created`),
    /// and a `deleted` record drops the cookie. Kept: cookies with an authentication that have
    /// not expired (`max_age` counts from `created`; the configured `max_age` caps a longer
    /// recorded one). Malformed lines are counted and skipped.
    pub fn load(&self, text: &str, now_ms: u64) -> LoadReport {
        let mut report = LoadReport::default();
        let mut merged: HashMap<String, serde_json::Map<String, serde_json::Value>> =
            HashMap::new();
        let mut order: Vec<String> = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            report.records += 1;
            let Ok(serde_json::Value::Object(rec)) = serde_json::from_str(line) else {
                report.malformed += 1;
                continue;
            };
            let Some(id) = rec.get("cbtid").and_then(|v| v.as_str()).map(str::to_owned) else {
                report.malformed += 1;
                continue;
            };
            let deleted = rec.get("status").and_then(|s| s.as_str()) == Some("deleted")
                || !matches!(rec.get("deleted"), None | Some(serde_json::Value::Null));
            if deleted {
                merged.remove(&id);
                continue;
            }
            match merged.get_mut(&id) {
                Some(m) => m.extend(rec),
                None => {
                    order.push(id.clone());
                    merged.insert(id, rec);
                }
            }
        }
        let mut inner = self.lock();
        for id in order {
            let Some(rec) = merged.remove(&id) else {
                continue;
            };
            let Some(entry) = entry_from_record(&rec, self.config.max_age) else {
                continue;
            };
            if entry.expires_ms <= now_ms {
                continue;
            }
            inner.remove(&id);
            inner.insert(id, entry);
        }
        while inner.entries.len() > self.max_entries {
            let Some((_, oldest)) = inner.expiry.first().cloned() else {
                break;
            };
            inner.remove(&oldest);
        }
        report.live = inner.entries.len();
        report
    }

    /// The live cookies as a cookie file (one `created` record each, oldest first): what
    /// `purge_on_startup` rewrites the file with.
    pub fn compacted(&self, now_ms: u64) -> String {
        let inner = self.lock();
        let mut live: Vec<(&String, &Entry)> = inner
            .entries
            .iter()
            .filter(|(_, e)| e.expires_ms > now_ms)
            .collect();
        live.sort_by(|a, b| (a.1.created_ms, a.0).cmp(&(b.1.created_ms, b.0)));
        let mut out = String::new();
        for (id, e) in live {
            out.push_str(&record(id, "created", e, None));
        }
        out
    }
}

impl Inner {
    fn insert(&mut self, id: String, entry: Entry) {
        self.expiry.insert((entry.expires_ms, id.clone()));
        self.entries.insert(id, entry);
    }

    fn remove(&mut self, id: &str) {
        if let Some(e) = self.entries.remove(id) {
            self.expiry.remove(&(e.expires_ms, id.to_owned()));
        }
    }

    /// Drops the entries that expired by `now_ms`. Nothing is written for them: a loader
    /// drops expired records by itself.
    fn sweep(&mut self, now_ms: u64) {
        while let Some((expires, id)) = self.expiry.first().cloned() {
            if expires > now_ms {
                break;
            }
            self.remove(&id);
        }
    }

    /// Records one change for the file store, if there is one (written by
    /// [`CookieStore::flush`]; the caller sets [`CookieStore::unwritten`]). Bounded: past
    /// [`MAX_JOURNAL`] unwritten records (the shell stopped flushing) further ones are dropped
    /// from the file, never from memory.
    fn append(&mut self, line: &str) {
        if self.log.is_none() {
            return;
        }
        if self.journal.len() >= MAX_JOURNAL {
            self.write_errors += 1;
            if self.write_errors.is_power_of_two() {
                tracing::warn!(
                    errors = self.write_errors,
                    "cookie file records are not being written; cookies are kept in memory"
                );
            }
            return;
        }
        self.journal.push(line.to_owned());
    }
}

/// Equal authentications; authextra compared as JSON objects are (key order does not count:
/// a file written by Python, or reloaded here, may order the keys differently).
fn same_auth(a: &CookieAuth, b: &CookieAuth) -> bool {
    a.authid == b.authid
        && a.authrole == b.authrole
        && a.authmethod == b.authmethod
        && a.authrealm == b.authrealm
        && dict_to_json(&a.authextra) == dict_to_json(&b.authextra)
}

/// `max_age` seconds after `from_ms`.
fn expiry(from_ms: u64, max_age: u64) -> u64 {
    from_ms.saturating_add(max_age.saturating_mul(1000))
}

/// A new cookie id.
fn new_id(rng: &mut StdRng, length: usize) -> String {
    (0..length)
        .map(|_| char::from(ID_CHARS[rng.random_range(0..ID_CHARS.len())]))
        .collect()
}

/// The `Set-Cookie` header value for a new id, as Crossbar writes it (no spaces, lower-case
/// `max-age`, then the configured attributes).
pub fn set_cookie_value(config: &CookieConfig, id: &str) -> String {
    let mut v = format!("{}={id};max-age={}", config.name, config.max_age);
    if config.secure {
        v.push_str(";Secure");
    }
    if config.http_strict {
        v.push_str(";HttpOnly");
    }
    if let Some(s) = config.same_site {
        v.push_str(";SameSite=");
        v.push_str(s.as_str());
    }
    v
}

/// The value of cookie `name` in a `Cookie` request header (`a=1; cbtid=xyz`), the first one
/// when it appears several times; surrounding double quotes are removed. `None` when absent,
/// empty, longer than any cookie id or holding characters a cookie value may not have (RFC
/// 6265 `cookie-octet`): such a value is never one the store handed out.
pub fn parse_cookie<'h>(header: &'h str, name: &str) -> Option<&'h str> {
    header.split(';').find_map(|pair| {
        let (n, v) = pair.split_once('=')?;
        if n.trim() != name {
            return None;
        }
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|q| q.strip_suffix('"'))
            .unwrap_or(v);
        let valid = !v.is_empty()
            && v.len() <= MAX_VALUE_LEN
            && v.bytes()
                .all(|b| b.is_ascii_graphic() && b != b'"' && b != b',' && b != b';' && b != b'\\');
        valid.then_some(v)
    })
}

// ----- the file format -----

/// One JSON line of the cookie file. `deleted_ms` is set on `deleted` records.
fn record(id: &str, status: &str, e: &Entry, deleted_ms: Option<u64>) -> String {
    let ts = |ms: Option<u64>| match ms {
        Some(ms) => serde_json::Value::String(crate::timestamp::utc_timestamp(ms)),
        None => serde_json::Value::Null,
    };
    let v = serde_json::json!({
        "cbtid": id,
        "status": status,
        "created": ts(Some(e.created_ms)),
        "modified": ts(e.modified_ms),
        "deleted": ts(deleted_ms),
        "max_age": e.max_age,
        "authid": e.auth.authid,
        "authrole": e.auth.authrole,
        "authmethod": e.auth.authmethod,
        "authrealm": e.auth.authrealm,
        "authextra": dict_to_json(&e.auth.authextra),
    });
    let mut line = v.to_string();
    line.push('\n');
    line
}

/// The entry of a merged record, if it is an authenticated cookie with a known age.
fn entry_from_record(
    rec: &serde_json::Map<String, serde_json::Value>,
    config_max_age: u64,
) -> Option<Entry> {
    let text = |key: &str| rec.get(key).and_then(|v| v.as_str());
    let time = |key: &str| text(key).and_then(parse_utc_timestamp);
    // Crossbar stores a cookie at creation, before any authentication: such a record has a
    // null authid and is no use to cookie authentication.
    let auth = CookieAuth {
        authid: text("authid")?.to_owned(),
        authrole: text("authrole")?.to_owned(),
        authmethod: text("authmethod").unwrap_or("cookie").to_owned(),
        authrealm: text("authrealm")?.to_owned(),
        authextra: match rec.get("authextra") {
            Some(serde_json::Value::Object(m)) => json_to_dict(m),
            _ => Dict::new(),
        },
    };
    // Without a creation time the age is unknown: a record that cannot expire is not kept.
    let created_ms = time("created").or_else(|| time("modified"))?;
    let max_age = rec
        .get("max_age")
        .and_then(serde_json::Value::as_u64)
        .filter(|&a| a > 0)
        .map_or(config_max_age, |a| a.min(config_max_age));
    Some(Entry {
        created_ms,
        modified_ms: time("modified"),
        max_age,
        expires_ms: expiry(created_ms, max_age),
        auth,
    })
}

fn dict_to_json(d: &Dict) -> serde_json::Value {
    serde_json::Value::Object(
        d.iter()
            .map(|(k, v)| (k.to_owned(), value_to_json(v)))
            .collect(),
    )
}

/// A WAMP value as JSON, as Autobahn's JSON serializer writes it (bytes as `"\0"` + base64).
fn value_to_json(v: &Value) -> serde_json::Value {
    use base64::Engine as _;
    match v {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => (*b).into(),
        Value::Int(i) => (*i).into(),
        Value::UInt(u) => (*u).into(),
        Value::Float(f) => {
            serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, Into::into)
        }
        Value::Str(s) => s.clone().into(),
        Value::Bytes(b) => {
            format!("\0{}", base64::engine::general_purpose::STANDARD.encode(b)).into()
        }
        Value::List(l) => l.iter().map(value_to_json).collect(),
        Value::Dict(d) => dict_to_json(d),
    }
}

fn json_to_dict(m: &serde_json::Map<String, serde_json::Value>) -> Dict {
    Dict(
        m.iter()
            .map(|(k, v)| (k.clone(), json_to_value(v)))
            .collect(),
    )
}

fn json_to_value(v: &serde_json::Value) -> Value {
    use base64::Engine as _;
    match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Value::Int(i),
            (None, Some(u)) => Value::UInt(u),
            _ => Value::Float(n.as_f64().unwrap_or(0.0)),
        },
        serde_json::Value::String(s) => match s
            .strip_prefix('\0')
            .map(|b64| base64::engine::general_purpose::STANDARD_PAD_INDIFFERENT.decode(b64))
        {
            Some(Ok(bytes)) => Value::Bytes(bytes),
            _ => Value::Str(s.clone()),
        },
        serde_json::Value::Array(a) => Value::List(a.iter().map(json_to_value).collect()),
        serde_json::Value::Object(m) => Value::Dict(json_to_dict(m)),
    }
}
