//! The session table of one shard: every connection's session, found by connection, by session
//! id and by tracking cookie. Sessions enter it when their transport opens and leave it when it
//! closes; a session's join and its end go through [`SessionTable::record_join`] and
//! [`SessionTable::end`], so the three maps never disagree.
//!
//! Sessions are stored densely, indexed by the low 32 bits of their [`ConnId`] (the shell's slab
//! key, see `ConnId`): no hash table per connection, and an idle session costs its own bytes
//! only — the table's unused capacity is never touched, so it is never resident.

use std::sync::Arc;

use hashbrown::HashMap;

use super::session::{Joined, Session, State};
use super::ConnId;

/// What becomes of a connection once its session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AfterSession {
    /// The transport stays open and the client may send HELLO again (after a GOODBYE exchange).
    ExpectHello,
    /// The connection is closing (ABORT, shutdown, slow consumer, logout).
    Closing,
    /// Killed through the meta API: GOODBYE sent, the client's GOODBYE is awaited.
    Killed,
    /// The transport is gone: the session leaves the table.
    Removed,
}

/// Every session of one shard.
#[derive(Debug, Default)]
pub(crate) struct SessionTable {
    /// By [`slot`]; a slot holds the session of the connection whose id it stores.
    by_conn: Vec<Option<Session>>,
    /// Joined sessions only.
    by_id: HashMap<u64, ConnId>,
    /// Connections by tracking-cookie id, so a logout closes its cookie's other connections
    /// without a scan of every session.
    by_cookie: HashMap<Arc<str>, Vec<ConnId>>,
}

impl SessionTable {
    /// The connection whose session holds `conn`'s slot: another one only if the shell reused
    /// its index without reporting the close (the caller ends that session first).
    pub(crate) fn occupant(&self, conn: ConnId) -> Option<ConnId> {
        Some(self.by_conn.get(slot(conn))?.as_ref()?.conn)
    }

    /// A connection's transport opened (its slot is free: see [`SessionTable::occupant`]).
    pub(crate) fn open(&mut self, session: Session) {
        let conn = session.conn;
        if let Some(cookie) = session.cookie() {
            self.by_cookie
                .entry(cookie.id_arc())
                .or_default()
                .push(conn);
        }
        let index = slot(conn);
        if self.by_conn.len() <= index {
            self.by_conn.resize_with(index + 1, || None);
        }
        self.by_conn[index] = Some(session);
    }

    /// The connection's session joined as `joined`.
    pub(crate) fn record_join(&mut self, conn: ConnId, joined: Joined) {
        let id = joined.id;
        if let Some(session) = self.get_mut(conn) {
            session.state = State::Established(Box::new(joined));
            self.by_id.insert(id, conn);
        }
    }

    /// Ends the connection's session: its state becomes `after` (or it leaves the table), and
    /// what it held as a joined session is returned for the router to release.
    pub(crate) fn end(&mut self, conn: ConnId, after: AfterSession) -> Option<Box<Joined>> {
        let state = match after {
            AfterSession::ExpectHello => State::ExpectHello,
            AfterSession::Closing => State::Closed,
            AfterSession::Killed => State::Killed,
            AfterSession::Removed => {
                self.get(conn)?;
                let session = self.by_conn.get_mut(slot(conn))?.take()?;
                self.forget_cookie(&session);
                return self.forget_joined(session.state);
            }
        };
        let session = self.get_mut(conn)?;
        let previous = std::mem::replace(&mut session.state, state);
        self.forget_joined(previous)
    }

    fn forget_joined(&mut self, state: State) -> Option<Box<Joined>> {
        match state {
            State::Established(joined) => {
                self.by_id.remove(&joined.id);
                Some(joined)
            }
            _ => None,
        }
    }

    fn forget_cookie(&mut self, session: &Session) {
        let Some(cookie) = session.cookie() else {
            return;
        };
        if let Some(conns) = self.by_cookie.get_mut(cookie.id()) {
            conns.retain(|&c| c != session.conn);
            if conns.is_empty() {
                self.by_cookie.remove(cookie.id());
            }
        }
    }

    pub(crate) fn get(&self, conn: ConnId) -> Option<&Session> {
        self.by_conn
            .get(slot(conn))?
            .as_ref()
            .filter(|s| s.conn == conn)
    }

    pub(crate) fn get_mut(&mut self, conn: ConnId) -> Option<&mut Session> {
        self.by_conn
            .get_mut(slot(conn))?
            .as_mut()
            .filter(|s| s.conn == conn)
    }

    pub(crate) fn joined(&self, conn: ConnId) -> Option<&Joined> {
        self.get(conn).and_then(Session::joined)
    }

    pub(crate) fn joined_mut(&mut self, conn: ConnId) -> Option<&mut Joined> {
        self.get_mut(conn).and_then(Session::joined_mut)
    }

    /// The connection of a joined session.
    pub(crate) fn conn_of(&self, session: u64) -> Option<ConnId> {
        self.by_id.get(&session).copied()
    }

    /// How many sessions have joined.
    pub(crate) fn joined_count(&self) -> usize {
        self.by_id.len()
    }

    /// The connections of every joined session.
    pub(crate) fn joined_conns(&self) -> Vec<ConnId> {
        self.by_id.values().copied().collect()
    }

    /// Every connection, in a stable order.
    pub(crate) fn conns_sorted(&self) -> Vec<ConnId> {
        let mut conns: Vec<ConnId> = self.by_conn.iter().flatten().map(|s| s.conn).collect();
        conns.sort();
        conns
    }

    /// Every connection the router is not closing yet, in a stable order.
    pub(crate) fn open_conns_sorted(&self) -> Vec<ConnId> {
        let mut conns: Vec<ConnId> = self
            .by_conn
            .iter()
            .flatten()
            .filter(|s| !matches!(s.state, State::Closed))
            .map(|s| s.conn)
            .collect();
        conns.sort();
        conns
    }

    /// The connections that carry the tracking cookie `id`.
    pub(crate) fn with_cookie(&self, id: &str) -> &[ConnId] {
        self.by_cookie.get(id).map_or(&[], Vec::as_slice)
    }
}

/// A connection's place in the table: its id's low 32 bits (the shell's slab key).
fn slot(conn: ConnId) -> usize {
    (conn.0 & u64::from(u32::MAX)) as usize
}
