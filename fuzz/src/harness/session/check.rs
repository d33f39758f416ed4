//! The end-of-run check: nothing left on any shard once every connection closed.

use super::*;

impl Sim {
    // ----- the end-of-run check -----

    /// Closes every connection, delivers all mail, lets every timer fire, and checks that
    /// nothing was left behind (see the module docs).
    pub fn check_clean(&mut self) {
        let mut open: Vec<ConnId> = self.conns.keys().copied().collect();
        open.sort();
        for conn in open {
            self.close(conn);
        }
        self.slots = [None; SLOTS];
        self.settle();
        self.advance(Duration::from_secs(24 * 3600));
        self.settle();
        for (shard, core) in self.cores.iter().enumerate() {
            assert_eq!(
                core.stats().sessions,
                0,
                "sessions left on shard {shard} after every connection closed"
            );
        }

        self.record = true;
        self.invocations.clear();
        let a = self.join(0, Serializer::Json, "realm1", Auth::Trusted);
        let b = self.join(1, Serializer::MsgPack, "realm1", Auth::Trusted);

        let count = self.call(a, "wamp.session.count", vec![]);
        assert_eq!(
            count.first().and_then(Value::as_u64),
            Some(2),
            "wamp.session.count with two sessions joined: {count:?}"
        );
        for list in ["wamp.subscription.list", "wamp.registration.list"] {
            let result = self.call(a, list, vec![]);
            let empty = result.first().and_then(Value::as_dict).is_some_and(|d| {
                d.iter()
                    .all(|(_, v)| v.as_list().is_some_and(<[Value]>::is_empty))
            });
            assert!(empty, "{list} is not empty after everyone left: {result:?}");
        }

        // Alternate which shard subscribes and registers: both directions are covered, each
        // URI once (this check runs on every input, so it is kept short).
        for (i, uri) in CHECK_URIS.iter().enumerate() {
            if i % 2 == 0 {
                self.check_uri(a, b, uri);
            } else {
                self.check_uri(b, a, uri);
            }
        }

        // realm2 admits max_sessions = 2 sessions: its counter is back to zero.
        let c = self.join(0, Serializer::Cbor, "realm2", Auth::Anonymous);
        let d = self.join(1, Serializer::Json, "realm2", Auth::Anonymous);
        for conn in [a, b, c, d] {
            self.close(conn);
        }
        self.settle();
        for (shard, core) in self.cores.iter().enumerate() {
            assert_eq!(core.stats().sessions, 0, "checker sessions left on {shard}");
        }
    }

    fn join(&mut self, shard: usize, serializer: Serializer, realm: &str, auth: Auth) -> ConnId {
        let conn = self.open(shard, serializer, auth);
        let hello = Message::Hello {
            realm: realm.into(),
            details: Dict::new(),
        };
        self.send(conn, &hello);
        self.settle();
        match self.next(conn) {
            Some(Message::Welcome { .. }) => conn,
            other => panic!("a fresh session on shard {shard} could not join {realm}: {other:?}"),
        }
    }

    fn next(&mut self, conn: ConnId) -> Option<Message> {
        self.inbox.get_mut(&conn).and_then(VecDeque::pop_front)
    }

    fn expect_empty(&mut self, conn: ConnId, what: &str) {
        let left: Vec<Message> = self
            .inbox
            .get_mut(&conn)
            .map(|q| q.drain(..).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "{what}: unexpected {left:?}");
    }

    fn call(&mut self, conn: ConnId, procedure: &str, args: Vec<Value>) -> Vec<Value> {
        let msg = Message::Call {
            request: 1,
            options: Dict::new(),
            procedure: procedure.into(),
            payload: Payload::args(args),
        };
        self.send(conn, &msg);
        self.settle();
        match self.next(conn) {
            Some(Message::Result {
                request: 1,
                payload,
                ..
            }) => {
                self.expect_empty(conn, procedure);
                payload.args.unwrap_or_default()
            }
            other => panic!("{procedure}: expected RESULT, got {other:?}"),
        }
    }

    /// `sub` subscribes to and registers `uri`; `pubr` publishes to it and calls it. Exactly
    /// one EVENT and one INVOCATION arrive, at `sub`.
    fn check_uri(&mut self, sub: ConnId, pubr: ConnId, uri: &str) {
        let subscribe = Message::Subscribe {
            request: 2,
            options: Dict::new(),
            topic: uri.into(),
        };
        self.send(sub, &subscribe);
        self.settle();
        let subscription = match self.next(sub) {
            Some(Message::Subscribed {
                request: 2,
                subscription,
            }) => subscription,
            other => panic!("SUBSCRIBE {uri}: {other:?}"),
        };
        let publish = Message::Publish {
            request: 3,
            options: Dict::new().with("acknowledge", true),
            topic: uri.into(),
            payload: Payload::args(vec![Value::from("check")]),
        };
        self.send(pubr, &publish);
        self.settle();
        assert!(
            matches!(self.next(pubr), Some(Message::Published { request: 3, .. })),
            "PUBLISH {uri} not acknowledged"
        );
        self.expect_empty(pubr, "publisher after PUBLISHED");
        match self.next(sub) {
            Some(Message::Event {
                subscription: s, ..
            }) if s == subscription => {}
            other => panic!("EVENT on {uri}: {other:?}"),
        }
        self.expect_empty(sub, "subscriber after one EVENT");
        self.send(
            sub,
            &Message::Unsubscribe {
                request: 4,
                subscription,
            },
        );
        self.settle();
        assert!(
            matches!(
                self.next(sub),
                Some(Message::Unsubscribed { request: 4, .. })
            ),
            "UNSUBSCRIBE {uri}"
        );

        let register = Message::Register {
            request: 5,
            options: Dict::new(),
            procedure: uri.into(),
        };
        self.send(sub, &register);
        self.settle();
        let registration = match self.next(sub) {
            Some(Message::Registered {
                request: 5,
                registration,
            }) => registration,
            other => panic!("REGISTER {uri} after everyone left: {other:?}"),
        };
        let call = Message::Call {
            request: 6,
            options: Dict::new(),
            procedure: uri.into(),
            payload: Payload::empty(),
        };
        self.send(pubr, &call);
        self.settle();
        let invocation = match self.next(sub) {
            Some(Message::Invocation {
                request,
                registration: r,
                ..
            }) if r == registration => request,
            other => panic!("CALL {uri}: expected INVOCATION, got {other:?}"),
        };
        self.send(
            sub,
            &Message::Yield {
                request: invocation,
                options: Dict::new(),
                payload: Payload::empty(),
            },
        );
        self.settle();
        assert!(
            matches!(self.next(pubr), Some(Message::Result { request: 6, .. })),
            "CALL {uri}: no RESULT"
        );
        self.send(
            sub,
            &Message::Unregister {
                request: 7,
                registration,
            },
        );
        self.settle();
        assert!(
            matches!(
                self.next(sub),
                Some(Message::Unregistered { request: 7, .. })
            ),
            "UNREGISTER {uri}"
        );
        self.expect_empty(sub, "callee");
        self.expect_empty(pubr, "caller");
    }
}
