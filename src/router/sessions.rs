//! The session table of one shard: every connection's session, found by connection, by session
//! id and by tracking cookie. Sessions enter it when their transport opens and leave it when it
//! closes; a session's join and its end go through [`SessionTable::record_join`] and
//! [`SessionTable::end`], so the three maps never disagree.

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
    by_conn: HashMap<ConnId, Session>,
    /// Joined sessions only.
    by_id: HashMap<u64, ConnId>,
    /// Connections by tracking-cookie id, so a logout closes its cookie's other connections
    /// without a scan of every session.
    by_cookie: HashMap<Arc<str>, Vec<ConnId>>,
}

impl SessionTable {
    /// A connection's transport opened.
    pub(crate) fn open(&mut self, session: Session) {
        let conn = session.conn;
        if let Some(cookie) = &session.cookie {
            self.by_cookie
                .entry(cookie.id_arc())
                .or_default()
                .push(conn);
        }
        self.by_conn.insert(conn, session);
    }

    /// The connection's session joined as `joined`.
    pub(crate) fn record_join(&mut self, conn: ConnId, joined: Joined) {
        if let Some(session) = self.by_conn.get_mut(&conn) {
            self.by_id.insert(joined.id, conn);
            session.state = State::Established(Box::new(joined));
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
                let session = self.by_conn.remove(&conn)?;
                self.forget_cookie(&session);
                return self.forget_joined(session.state);
            }
        };
        let session = self.by_conn.get_mut(&conn)?;
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
        let Some(cookie) = &session.cookie else {
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
        self.by_conn.get(&conn)
    }

    pub(crate) fn get_mut(&mut self, conn: ConnId) -> Option<&mut Session> {
        self.by_conn.get_mut(&conn)
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
        let mut conns: Vec<ConnId> = self.by_conn.keys().copied().collect();
        conns.sort();
        conns
    }

    /// The connections that carry the tracking cookie `id`.
    pub(crate) fn with_cookie(&self, id: &str) -> &[ConnId] {
        self.by_cookie.get(id).map_or(&[], Vec::as_slice)
    }
}
