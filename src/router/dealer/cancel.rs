//! How calls end early: CANCEL (skip, kill, killnowait), router-side timeouts, and the
//! caller or callee leaving.

use std::time::Instant;

use crate::config::CallTimeoutUnit;
use crate::router::session::Joined;
use crate::router::shard_msg::Inner;
use crate::router::{ConnId, Core};
use crate::wamp::error_uri as uris;
use crate::wamp::{Dict, Message, MessageType, Payload};

use super::msg::{CallRef, Callee, CancelMode, DealerMsg};

impl Core {
    /// CANCEL from a caller.
    pub(in crate::router) fn cancel(&mut self, conn: ConnId, request: u64, options: &Dict) {
        let Some(joined) = self.joined(conn) else {
            return;
        };
        let call = CallRef {
            shard: self.shard,
            session: joined.id,
            request,
        };
        let Some(pending) = joined
            .rpc
            .pending_calls
            .get(&request)
            .copied()
            .filter(|p| !p.answered)
        else {
            // Already answered: nothing to cancel (the spec says to ignore it).
            return;
        };
        let mode = match options.get_str("mode").map(CancelMode::parse) {
            None => CancelMode::KillNoWait,
            Some(Some(m)) => m,
            Some(None) => {
                let msg = "CANCEL mode must be skip, kill or killnowait".to_owned();
                return self.send_error(
                    conn,
                    MessageType::Cancel,
                    request,
                    uris::INVALID_ARGUMENT,
                    Some(msg),
                );
            }
        };
        if mode != CancelMode::Kill {
            // skip and killnowait answer the caller at once; a late result is dropped.
            if let Some(j) = self.joined_mut(conn) {
                j.end_call(request);
            }
            let msg = Message::Error {
                request_type: MessageType::Call.code(),
                request,
                details: Dict::new(),
                error: uris::CANCELED.into(),
                payload: Payload::args(vec![
                    format!("call canceled (mode {})", mode.as_str()).into()
                ]),
            };
            self.send(conn, &msg);
        }
        if mode != CancelMode::Skip {
            self.interrupt_callee(call, pending.callee, mode, uris::CANCELED);
        }
    }

    pub(super) fn interrupt_callee(
        &mut self,
        call: CallRef,
        callee: Option<Callee>,
        mode: CancelMode,
        reason: &'static str,
    ) {
        let mode = Some(mode);
        match callee {
            Some(c) => self.dealer_to_shard(
                c.shard,
                DealerMsg::Interrupt {
                    call,
                    callee: Some(c.session),
                    mode,
                    reason,
                },
            ),
            None => {
                for shard in 0..self.shards {
                    self.dealer_to_shard(
                        shard,
                        DealerMsg::Interrupt {
                            call,
                            callee: None,
                            mode,
                            reason,
                        },
                    );
                }
            }
        }
    }

    /// At the callee's shard: the call is canceled, timed out, or its caller left.
    pub(super) fn interrupt(
        &mut self,
        call: CallRef,
        callee: Option<u64>,
        mode: Option<CancelMode>,
        reason: &'static str,
    ) {
        let conns: Vec<ConnId> = match callee {
            Some(s) => self.conn_of(s).into_iter().collect(),
            None => self.sessions.joined_conns(),
        };
        for conn in conns {
            let Some(joined) = self.joined_mut(conn) else {
                continue;
            };
            let Some((&request, _)) = joined.rpc.invocations.iter().find(|(_, o)| o.call == call)
            else {
                continue;
            };
            let can_cancel = joined.features.call_canceling;
            let mode = mode.unwrap_or(CancelMode::KillNoWait);
            if mode == CancelMode::Kill && can_cancel {
                // The callee's ERROR (or late YIELD) ends the call for the caller.
            } else {
                joined.rpc.invocations.remove(&request);
            }
            if mode == CancelMode::Kill && !can_cancel {
                // The callee cannot be told: behave as skip, as the spec says.
                let payload = Box::new(Payload::args(vec![
                    "call canceled; the callee cannot be interrupted".into(),
                ]));
                let msg = DealerMsg::Error {
                    call,
                    error: uris::CANCELED.into(),
                    details: Dict::new(),
                    payload,
                };
                self.dealer_to_shard(call.shard, msg);
            }
            if can_cancel {
                let options = Dict::new()
                    .with("mode", mode.as_str())
                    .with("reason", reason);
                self.send(conn, &Message::Interrupt { request, options });
            }
            return;
        }
    }

    /// Ends calls whose router-side timeout passed: the caller gets `wamp.error.canceled`, the
    /// callee an INTERRUPT (`killnowait`) when it announced call canceling.
    pub(in crate::router) fn expire_calls(&mut self, now: Instant) {
        while let Some((deadline, session, request)) = self.timers.due_call(now) {
            if session == 0 {
                // The router's own call (a dynamic authenticator or authorizer) took too long.
                self.internal_call_done(request, Err((uris::TIMEOUT.to_owned(), None)));
                continue;
            }
            let Some(conn) = self.conn_of(session) else {
                continue;
            };
            let Some(joined) = self.joined_mut(conn) else {
                continue;
            };
            let Some(pending) = joined.rpc.pending_calls.get(&request).copied() else {
                continue;
            };
            if pending.answered || pending.deadline != Some(deadline) {
                continue;
            }
            joined.end_call(request);
            let realm = joined.realm;
            // Crossbar's seconds answer `canceled`; a realm on the spec's milliseconds answers
            // the spec's `timeout`.
            let error = match self.realms[realm].call_timeout_unit {
                CallTimeoutUnit::Seconds => uris::CANCELED,
                CallTimeoutUnit::Millis => uris::TIMEOUT,
            };
            let msg = Message::Error {
                request_type: MessageType::Call.code(),
                request,
                details: Dict::new(),
                error: error.into(),
                payload: Payload::args(vec!["call timed out".into()]),
            };
            self.send(conn, &msg);
            let call = CallRef {
                shard: self.shard,
                session,
                request,
            };
            self.interrupt_callee(call, pending.callee, CancelMode::KillNoWait, uris::TIMEOUT);
        }
    }

    /// A session left: the callees of its calls forget them, the callers of its invocations
    /// get `wamp.error.canceled`, its registrations are removed.
    pub(in crate::router) fn leave_dealer(&mut self, joined: &Joined) {
        for (&request, pending) in joined.rpc.pending_calls.iter().filter(|(_, p)| !p.answered) {
            let call = CallRef {
                shard: self.shard,
                session: joined.id,
                request,
            };
            self.interrupt_callee(call, pending.callee, CancelMode::KillNoWait, uris::CANCELED);
        }
        for origin in joined.rpc.invocations.values() {
            let payload = Box::new(Payload::args(vec![
                "the callee left before answering".into()
            ]));
            let msg = DealerMsg::Error {
                call: origin.call,
                error: uris::CANCELED.into(),
                details: Dict::new(),
                payload,
            };
            self.dealer_to_shard(origin.call.shard, msg);
        }
        let callee = Callee {
            shard: self.shard,
            session: joined.id,
        };
        for &id in &joined.rpc.registrations {
            let msg = DealerMsg::Unregister {
                realm: joined.realm,
                id,
                callee,
                reply: None,
            };
            self.send_to_home(joined.realm, Inner::Dealer(Box::new(msg)));
        }
    }
}

impl Core {
    /// `msg` (`len` bytes encoded) exceeds the `max` bytes its peer accepts. A RESULT or an
    /// ERROR for a caller becomes ERROR `wamp.error.invalid_argument`, and an INVOCATION fails
    /// its call the same way, so a large answer never costs the peer its connection. Returns
    /// false for any other message: the shell refuses those.
    pub(in crate::router) fn refuse_oversized(
        &mut self,
        conn: ConnId,
        msg: &Message,
        len: usize,
        max: usize,
    ) -> bool {
        match msg {
            Message::Result { request, .. } => {
                self.refuse_answer(conn, *request, "result", len, max)
            }
            Message::Error {
                request_type,
                request,
                ..
            } if *request_type == MessageType::Call.code() => {
                self.refuse_answer(conn, *request, "error", len, max)
            }
            Message::Invocation { request, .. } => {
                let Some(origin) = self
                    .joined_mut(conn)
                    .and_then(|j| j.rpc.invocations.remove(request))
                else {
                    return true;
                };
                tracing::info!(
                    conn = conn.0,
                    len,
                    max,
                    "invocation too large for its callee"
                );
                let message = format!(
                    "the invocation ({len} bytes) exceeds the {max} bytes the callee accepts"
                );
                self.fail_call(origin.call, uris::INVALID_ARGUMENT, message);
            }
            _ => return false,
        }
        true
    }

    fn refuse_answer(&mut self, conn: ConnId, request: u64, what: &str, len: usize, max: usize) {
        tracing::info!(
            conn = conn.0,
            len,
            max,
            "call {what} too large for its caller"
        );
        if let Some(joined) = self.joined_mut(conn) {
            let session = joined.id;
            // A progressive call ends here: the callee is told, its later results are dropped.
            if let Some(pending) = joined.end_call(request) {
                let call = CallRef {
                    shard: self.shard,
                    session,
                    request,
                };
                self.interrupt_callee(call, pending.callee, CancelMode::KillNoWait, uris::CANCELED);
            }
        }
        let message =
            format!("the call's {what} ({len} bytes) exceeds the {max} bytes this session accepts");
        self.send_error(
            conn,
            MessageType::Call,
            request,
            uris::INVALID_ARGUMENT,
            Some(message),
        );
    }
}
