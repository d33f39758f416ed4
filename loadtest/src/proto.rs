//! What a router sent, classified. The hot messages (EVENT, PUBLISHED, RESULT, INVOCATION) are
//! read with the allocation-free skimmer; the rest (rare: WELCOME, ABORT, GOODBYE, ERROR,
//! SUBSCRIBED, REGISTERED, ...) with ferrobar's full decoder.

use crate::ser::Serializer;
use ferrobar::wamp::{Message, Value};

use crate::error::ConnError;
use crate::skim::{self, Elem, ListReader};

/// The benchmark fields of an args list `[index, seq, ts, ...]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fields {
    /// Publisher or caller index.
    pub index: u64,
    /// Sequence number.
    pub seq: u64,
    /// Send time (ns, process clock).
    pub ts: u64,
}

/// One message from the router.
#[derive(Debug, PartialEq)]
pub enum Incoming<'a> {
    /// WELCOME.
    Welcome {
        /// Session id.
        session: u64,
    },
    /// ABORT (session refused).
    Abort {
        /// Reason URI (and message, if any).
        reason: String,
    },
    /// GOODBYE (the router closes, or answers ours).
    Goodbye {
        /// Reason URI.
        reason: String,
    },
    /// SUBSCRIBED.
    Subscribed {
        /// Our request id.
        request: u64,
    },
    /// REGISTERED.
    Registered {
        /// Our request id.
        request: u64,
    },
    /// ERROR answering one of our requests.
    Error {
        /// Type code of the request (16 PUBLISH, 48 CALL, ...).
        request_type: u64,
        /// Our request id.
        request: u64,
        /// Error URI.
        error: String,
    },
    /// PUBLISHED.
    Published {
        /// Our request id.
        request: u64,
    },
    /// EVENT; `fields` is `None` when the args do not carry benchmark fields.
    Event {
        /// Benchmark fields.
        fields: Option<Fields>,
    },
    /// RESULT.
    Result {
        /// Our request id.
        request: u64,
        /// Benchmark fields echoed back.
        fields: Option<Fields>,
    },
    /// INVOCATION, with the raw encoded args and kwargs to echo.
    Invocation {
        /// The router's request id.
        request: u64,
        /// Raw args list.
        args: Option<&'a [u8]>,
        /// Raw kwargs dict.
        kwargs: Option<&'a [u8]>,
    },
    /// Anything else (a valid message wampbench has no use for).
    Other {
        /// Its type code.
        code: u64,
    },
}

fn bad(what: &str) -> ConnError {
    ConnError::Wamp(format!("malformed {what}"))
}

/// Reads the benchmark fields from the start of a raw args list (the rest is not scanned).
pub fn fields(ser: Serializer, args: &[u8]) -> Option<Fields> {
    let mut r = ListReader::new(ser, args).ok()?;
    Some(Fields {
        index: r.next_uint().ok()??,
        seq: r.next_uint().ok()??,
        ts: r.next_uint().ok()??,
    })
}

/// Classifies one message. `data` may be modified (JSON decodes in place).
///
/// The hot messages are read only as far as their type needs: a trailing args list is read
/// from its start (three integers), never scanned to its end.
pub fn classify(ser: Serializer, data: &mut [u8]) -> Result<Incoming<'_>, ConnError> {
    let mut r = ListReader::new(ser, data)
        .map_err(|_| ConnError::Wamp(format!("not a {} WAMP message", ser.name())))?;
    let code = r
        .next_uint()
        .ok()
        .flatten()
        .ok_or_else(|| ConnError::Wamp("a message must start with its type code".into()))?;
    match code {
        17 => {
            let request = r
                .next_uint()
                .ok()
                .flatten()
                .ok_or_else(|| bad("PUBLISHED"))?;
            Ok(Incoming::Published { request })
        }
        36 => {
            let ids = (r.next_uint(), r.next_uint(), r.next_elem());
            let (Ok(Some(_)), Ok(Some(_)), Ok(Some(_))) = ids else {
                return Err(bad("EVENT"));
            };
            let fields = r.rest().and_then(|start| fields(ser, &data[start..]));
            Ok(Incoming::Event { fields })
        }
        50 => {
            let request = r.next_uint().ok().flatten().ok_or_else(|| bad("RESULT"))?;
            let Ok(Some(_details)) = r.next_elem() else {
                return Err(bad("RESULT"));
            };
            let fields = r.rest().and_then(|start| fields(ser, &data[start..]));
            Ok(Incoming::Result { request, fields })
        }
        68 => {
            let mut el = [Elem::default(); 6];
            let n = skim::list(ser, data, &mut el).map_err(|_| bad("INVOCATION"))?;
            if n < 4 || el[2].uint.is_none() {
                return Err(bad("INVOCATION"));
            }
            let request = el[1].uint.ok_or_else(|| bad("INVOCATION"))?;
            let (args, kwargs) = (el[4].start..el[4].end, el[5].start..el[5].end);
            let data: &[u8] = data;
            Ok(Incoming::Invocation {
                request,
                args: (n >= 5).then(|| &data[args]),
                kwargs: (n >= 6).then(|| &data[kwargs]),
            })
        }
        _ => decode_rare(ser, data),
    }
}

fn decode_rare(ser: Serializer, data: &mut [u8]) -> Result<Incoming<'static>, ConnError> {
    let msg = ser
        .decode(data)
        .map_err(|e| ConnError::Wamp(e.to_string()))?;
    Ok(match msg {
        Message::Welcome { session, .. } => Incoming::Welcome { session },
        Message::Abort { details, reason } => Incoming::Abort {
            reason: with_message(reason, details.get("message")),
        },
        Message::Goodbye { details, reason } => Incoming::Goodbye {
            reason: with_message(reason, details.get("message")),
        },
        Message::Subscribed { request, .. } => Incoming::Subscribed { request },
        Message::Registered { request, .. } => Incoming::Registered { request },
        Message::Error {
            request_type,
            request,
            error,
            payload,
            ..
        } => {
            let detail = payload
                .args
                .as_ref()
                .and_then(|a| a.first())
                .and_then(Value::as_str);
            Incoming::Error {
                request_type,
                request,
                error: with_message(error, detail.map(Value::from).as_ref()),
            }
        }
        other => Incoming::Other {
            code: other.message_type().code(),
        },
    })
}

fn with_message(uri: String, message: Option<&Value>) -> String {
    match message.and_then(Value::as_str) {
        Some(m) if !m.is_empty() => format!("{uri} ({m})"),
        _ => uri,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enc;
    use ferrobar::wamp::{Dict, Payload};

    const SERS: [Serializer; 2] = [Serializer::Json, Serializer::MsgPack];

    fn enc(ser: Serializer, m: &Message) -> Vec<u8> {
        let mut out = Vec::new();
        ser.encode(m, &mut out);
        out
    }

    #[test]
    fn hot_messages() {
        for ser in SERS {
            let a = enc::BenchArgs {
                index: 1,
                seq: 2,
                ts: 3,
                size: 64,
            };
            let mut b = Vec::new();
            enc::event(ser, &mut b, 10, 11, a);
            assert_eq!(
                classify(ser, &mut b).unwrap(),
                Incoming::Event {
                    fields: Some(Fields {
                        index: 1,
                        seq: 2,
                        ts: 3
                    })
                }
            );
            let mut b = enc(
                ser,
                &Message::Published {
                    request: 9,
                    publication: 99,
                },
            );
            assert_eq!(
                classify(ser, &mut b).unwrap(),
                Incoming::Published { request: 9 }
            );
            let mut b = enc(
                ser,
                &Message::Result {
                    request: 4,
                    details: Dict::new(),
                    payload: Payload::args(vec![Value::Int(5), Value::Int(6), Value::Int(7)]),
                },
            );
            assert_eq!(
                classify(ser, &mut b).unwrap(),
                Incoming::Result {
                    request: 4,
                    fields: Some(Fields {
                        index: 5,
                        seq: 6,
                        ts: 7
                    })
                }
            );
            let mut b = enc(
                ser,
                &Message::Result {
                    request: 4,
                    details: Dict::new(),
                    payload: Payload::empty(),
                },
            );
            assert_eq!(
                classify(ser, &mut b).unwrap(),
                Incoming::Result {
                    request: 4,
                    fields: None
                }
            );
            let mut b = enc(
                ser,
                &Message::Invocation {
                    request: 8,
                    registration: 1,
                    details: Dict::new(),
                    payload: Payload::empty(),
                },
            );
            assert_eq!(
                classify(ser, &mut b).unwrap(),
                Incoming::Invocation {
                    request: 8,
                    args: None,
                    kwargs: None
                }
            );
        }
    }

    #[test]
    fn rare_messages_and_errors() {
        for ser in SERS {
            let mut b = enc(ser, &enc::welcome(77));
            assert_eq!(
                classify(ser, &mut b).unwrap(),
                Incoming::Welcome { session: 77 }
            );
            let mut b = enc(
                ser,
                &Message::Abort {
                    details: Dict::new().with("message", "no such realm"),
                    reason: "wamp.error.no_such_realm".into(),
                },
            );
            assert_eq!(
                classify(ser, &mut b).unwrap(),
                Incoming::Abort {
                    reason: "wamp.error.no_such_realm (no such realm)".into()
                }
            );
            let mut b = enc(
                ser,
                &Message::Error {
                    request_type: 48,
                    request: 3,
                    details: Dict::new(),
                    error: "wamp.error.no_such_procedure".into(),
                    payload: Payload::empty(),
                },
            );
            assert!(matches!(
                classify(ser, &mut b).unwrap(),
                Incoming::Error {
                    request_type: 48,
                    request: 3,
                    ..
                }
            ));
            let mut b = enc(ser, &enc::subscribed(5, 6));
            assert_eq!(
                classify(ser, &mut b).unwrap(),
                Incoming::Subscribed { request: 5 }
            );
            let mut b = enc(ser, &enc::hello("realm1"));
            assert_eq!(classify(ser, &mut b).unwrap(), Incoming::Other { code: 1 });
        }
        assert!(classify(Serializer::Json, &mut b"[36]".to_vec()).is_err());
        assert!(classify(Serializer::Json, &mut b"[\"x\"]".to_vec()).is_err());
        assert!(classify(Serializer::Json, &mut b"[]".to_vec()).is_err());
        assert!(classify(Serializer::Json, &mut b"[999]".to_vec()).is_err());
        assert!(classify(Serializer::MsgPack, &mut [0x91, 0x11]).is_err());
        assert!(classify(Serializer::MsgPack, &mut [0xff]).is_err());
    }
}
