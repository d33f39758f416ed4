//! The serializer-neutral half of the codecs: which WAMP message has which list elements.
//!
//! Every serializer sees a WAMP message as a list `[code, field, field, ..., args?, kwargs?]`.
//! This module owns that mapping once, in both directions, so the JSON and MessagePack modules
//! only deal with their own value syntax:
//!
//! - decoding: a serializer implements [`ElementSource`] (hands out the top-level list's
//!   elements one at a time as [`Value`]s) and [`decode_message`] checks each element's type
//!   and builds the [`Message`];
//! - encoding: a serializer implements [`ListSink`] (writes a list header and typed elements)
//!   and [`encode_message`] / [`encode_event`] drive it from references, with no intermediate
//!   allocation.

use crate::codec::DecodeError;
use crate::wamp::id::is_valid_request_id;
use crate::wamp::{Dict, Message, MessageType, Payload, Value};

/// The elements of a message's top-level list, handed out in order by a serializer's decoder.
///
/// Elements are decoded on demand: [`decode_message`] reads only the ones the message type
/// defines, and the serializer decides what to do with any that follow.
pub(crate) trait ElementSource {
    /// True while the top-level list has elements left.
    fn has_next(&self) -> bool;
    /// Decodes the next element of the top-level list; only called when [`Self::has_next`].
    fn next_element(&mut self) -> Result<Value, DecodeError>;
}

/// A serializer's writer for one top-level message list.
///
/// [`encode_message`] calls `begin_list` once with the exact element count (MessagePack needs it
/// up front), then one element method per element, then `end_list`.
pub(crate) trait ListSink {
    /// Starts the top-level list of `len` elements.
    fn begin_list(&mut self, len: usize);
    /// Writes a non-negative integer element (type code, id).
    fn uint(&mut self, v: u64);
    /// Writes a string element (URI, auth method, signature).
    fn string(&mut self, s: &str);
    /// Writes a dict element (details, options, extra, kwargs).
    fn dict(&mut self, d: &Dict);
    /// Writes a list element (args).
    fn list(&mut self, l: &[Value]);
    /// Ends the top-level list.
    fn end_list(&mut self);
}

// Expected-element descriptions used in `DecodeError::BadElement`.
const EXPECT_ID: &str = "an id (integer in [0, 2^53])";
const EXPECT_TYPE: &str = "a message type code (non-negative integer)";
const EXPECT_DICT: &str = "a dict";
const EXPECT_URI: &str = "a URI (string)";
const EXPECT_STRING: &str = "a string";
const EXPECT_ARGS: &str = "a list (Arguments)";
const EXPECT_KWARGS: &str = "a dict (ArgumentsKw)";

/// Reads typed fields of one message, numbering them for error reports.
struct Fields<'s, S> {
    src: &'s mut S,
    message: &'static str,
    index: usize,
}

impl<S: ElementSource> Fields<'_, S> {
    fn bad(&self, expected: &'static str) -> DecodeError {
        DecodeError::BadElement {
            message: self.message,
            index: self.index,
            expected,
        }
    }

    /// The next element, or `BadElement` naming `expected` when the list ended early.
    fn required(&mut self, expected: &'static str) -> Result<Value, DecodeError> {
        if self.src.has_next() {
            self.src.next_element()
        } else {
            Err(self.bad(expected))
        }
    }

    fn finish<T>(&mut self, r: Result<T, &'static str>) -> Result<T, DecodeError> {
        match r {
            Ok(v) => {
                self.index += 1;
                Ok(v)
            }
            Err(expected) => Err(self.bad(expected)),
        }
    }

    /// An id: an integer in [0, 2^53], or a float with such an integral value (JavaScript
    /// clients on cbor-x write ids above 2^32 as float64; refusing them would leave wampy.js on
    /// CBOR unable to unsubscribe or unregister).
    fn id(&mut self) -> Result<u64, DecodeError> {
        let v = self.required(EXPECT_ID)?;
        let r = match v.as_id() {
            Some(id) if is_valid_request_id(id) => Ok(id),
            _ => Err(EXPECT_ID),
        };
        self.finish(r)
    }

    fn type_code(&mut self) -> Result<u64, DecodeError> {
        let v = self.required(EXPECT_TYPE)?;
        let r = v.as_u64().ok_or(EXPECT_TYPE);
        self.finish(r)
    }

    fn string(&mut self, expected: &'static str) -> Result<String, DecodeError> {
        let r = match self.required(expected)? {
            Value::Str(s) => Ok(s),
            _ => Err(expected),
        };
        self.finish(r)
    }

    fn uri(&mut self) -> Result<String, DecodeError> {
        self.string(EXPECT_URI)
    }

    /// A trailing dict that may be left out (an empty one when it is). Anything else there is
    /// an element a later spec may define, ignored like every element past the known ones.
    fn optional_dict(&mut self) -> Result<Dict, DecodeError> {
        if !self.src.has_next() {
            return Ok(Dict::new());
        }
        self.index += 1;
        match self.src.next_element()? {
            Value::Dict(d) => Ok(d),
            _ => Ok(Dict::new()),
        }
    }

    fn dict(&mut self) -> Result<Dict, DecodeError> {
        let r = match self.required(EXPECT_DICT)? {
            Value::Dict(d) => Ok(d),
            _ => Err(EXPECT_DICT),
        };
        self.finish(r)
    }

    /// The optional trailing `(Arguments|list, (ArgumentsKw|dict))`.
    fn payload(&mut self) -> Result<Payload, DecodeError> {
        if !self.src.has_next() {
            return Ok(Payload::empty());
        }
        let args = match self.src.next_element()? {
            Value::List(l) => l,
            _ => return Err(self.bad(EXPECT_ARGS)),
        };
        self.index += 1;
        if !self.src.has_next() {
            return Ok(Payload {
                args: Some(args),
                kwargs: None,
            });
        }
        let kwargs = match self.src.next_element()? {
            Value::Dict(d) => Some(d),
            _ => return Err(self.bad(EXPECT_KWARGS)),
        };
        Ok(Payload {
            args: Some(args),
            kwargs,
        })
    }
}

/// Builds a [`Message`] from the elements of a top-level list.
///
/// The caller has already checked that the top level is a list. Elements after the ones the
/// message type defines are left unread (the spec lets newer peers append fields); the caller
/// decides whether to validate them. Arguments sent with ABORT are ignored since
/// [`Message::Abort`] has no payload.
pub(crate) fn decode_message<S: ElementSource>(src: &mut S) -> Result<Message, DecodeError> {
    if !src.has_next() {
        return Err(DecodeError::NotAMessage);
    }
    let code = src
        .next_element()?
        .as_u64()
        .ok_or(DecodeError::NotAMessage)?;
    let ty = MessageType::from_code(code).ok_or(DecodeError::UnknownType(code))?;
    let mut f = Fields {
        src,
        message: ty.name(),
        index: 1,
    };
    // Struct expressions evaluate their fields in the order written, which is wire order here.
    let msg = match ty {
        MessageType::Hello => Message::Hello {
            realm: f.uri()?,
            details: f.dict()?,
        },
        MessageType::Welcome => Message::Welcome {
            session: f.id()?,
            details: f.dict()?,
        },
        MessageType::Abort => Message::Abort {
            details: f.dict()?,
            reason: f.uri()?,
        },
        MessageType::Challenge => Message::Challenge {
            method: f.string(EXPECT_STRING)?,
            extra: f.dict()?,
        },
        MessageType::Authenticate => Message::Authenticate {
            signature: f.string(EXPECT_STRING)?,
            extra: f.dict()?,
        },
        MessageType::Goodbye => Message::Goodbye {
            details: f.dict()?,
            reason: f.uri()?,
        },
        MessageType::Error => Message::Error {
            request_type: f.type_code()?,
            request: f.id()?,
            details: f.dict()?,
            error: f.uri()?,
            payload: f.payload()?,
        },
        MessageType::Publish => Message::Publish {
            request: f.id()?,
            options: f.dict()?,
            topic: f.uri()?,
            payload: f.payload()?,
        },
        MessageType::Published => Message::Published {
            request: f.id()?,
            publication: f.id()?,
        },
        MessageType::Subscribe => Message::Subscribe {
            request: f.id()?,
            options: f.dict()?,
            topic: f.uri()?,
        },
        MessageType::Subscribed => Message::Subscribed {
            request: f.id()?,
            subscription: f.id()?,
        },
        MessageType::Unsubscribe => Message::Unsubscribe {
            request: f.id()?,
            subscription: f.id()?,
        },
        MessageType::Unsubscribed => Message::Unsubscribed {
            request: f.id()?,
            details: f.optional_dict()?,
        },
        MessageType::Event => Message::Event {
            subscription: f.id()?,
            publication: f.id()?,
            details: f.dict()?,
            payload: f.payload()?,
        },
        MessageType::Call => Message::Call {
            request: f.id()?,
            options: f.dict()?,
            procedure: f.uri()?,
            payload: f.payload()?,
        },
        MessageType::Cancel => Message::Cancel {
            request: f.id()?,
            options: f.dict()?,
        },
        MessageType::Result => Message::Result {
            request: f.id()?,
            details: f.dict()?,
            payload: f.payload()?,
        },
        MessageType::Register => Message::Register {
            request: f.id()?,
            options: f.dict()?,
            procedure: f.uri()?,
        },
        MessageType::Registered => Message::Registered {
            request: f.id()?,
            registration: f.id()?,
        },
        MessageType::Unregister => Message::Unregister {
            request: f.id()?,
            registration: f.id()?,
        },
        MessageType::Unregistered => Message::Unregistered {
            request: f.id()?,
            details: f.optional_dict()?,
        },
        MessageType::Invocation => Message::Invocation {
            request: f.id()?,
            registration: f.id()?,
            details: f.dict()?,
            payload: f.payload()?,
        },
        MessageType::Interrupt => Message::Interrupt {
            request: f.id()?,
            options: f.dict()?,
        },
        MessageType::Yield => Message::Yield {
            request: f.id()?,
            options: f.dict()?,
            payload: f.payload()?,
        },
    };
    Ok(msg)
}

/// One fixed (non-payload) element of an outgoing message.
#[derive(Clone, Copy)]
enum Field<'a> {
    Id(u64),
    Str(&'a str),
    Dict(&'a Dict),
}

/// How many list elements a payload takes: none, `[args]`, or `[args, kwargs]` (with an empty
/// args list standing in when only kwargs are present).
fn payload_len(p: &Payload) -> usize {
    match (&p.args, &p.kwargs) {
        (_, Some(_)) => 2,
        (Some(_), None) => 1,
        (None, None) => 0,
    }
}

/// Writes `[code, fields..., args?, kwargs?]`.
fn write<S: ListSink>(s: &mut S, ty: MessageType, fields: &[Field<'_>], payload: Option<&Payload>) {
    let extra = payload.map_or(0, payload_len);
    s.begin_list(1 + fields.len() + extra);
    s.uint(ty.code());
    for f in fields {
        match *f {
            Field::Id(v) => s.uint(v),
            Field::Str(v) => s.string(v),
            Field::Dict(v) => s.dict(v),
        }
    }
    if let Some(p) = payload {
        match (&p.args, &p.kwargs) {
            (args, Some(kw)) => {
                s.list(args.as_deref().unwrap_or(&[]));
                s.dict(kw);
            }
            (Some(args), None) => s.list(args),
            (None, None) => {}
        }
    }
    s.end_list();
}

/// Writes `msg` as its wire list. Absent args/kwargs are omitted; kwargs without args get an
/// empty args list, as the spec requires.
pub(crate) fn encode_message<S: ListSink>(msg: &Message, s: &mut S) {
    use Field::{Dict as D, Id, Str};
    let ty = msg.message_type();
    match msg {
        Message::Hello { realm, details } => write(s, ty, &[Str(realm), D(details)], None),
        Message::Welcome { session, details } => write(s, ty, &[Id(*session), D(details)], None),
        Message::Abort { details, reason } | Message::Goodbye { details, reason } => {
            write(s, ty, &[D(details), Str(reason)], None)
        }
        Message::Challenge { method, extra } => write(s, ty, &[Str(method), D(extra)], None),
        Message::Authenticate { signature, extra } => {
            write(s, ty, &[Str(signature), D(extra)], None)
        }
        Message::Error {
            request_type,
            request,
            details,
            error,
            payload,
        } => write(
            s,
            ty,
            &[Id(*request_type), Id(*request), D(details), Str(error)],
            Some(payload),
        ),
        Message::Publish {
            request,
            options,
            topic,
            payload,
        } => write(
            s,
            ty,
            &[Id(*request), D(options), Str(topic)],
            Some(payload),
        ),
        Message::Published {
            request,
            publication,
        } => write(s, ty, &[Id(*request), Id(*publication)], None),
        Message::Subscribe {
            request,
            options,
            topic,
        } => write(s, ty, &[Id(*request), D(options), Str(topic)], None),
        Message::Subscribed {
            request,
            subscription,
        }
        | Message::Unsubscribe {
            request,
            subscription,
        } => write(s, ty, &[Id(*request), Id(*subscription)], None),
        Message::Unsubscribed { request, details } | Message::Unregistered { request, details } => {
            if details.is_empty() {
                write(s, ty, &[Id(*request)], None)
            } else {
                write(s, ty, &[Id(*request), Field::Dict(details)], None)
            }
        }
        Message::Event {
            subscription,
            publication,
            details,
            payload,
        } => encode_event(s, *subscription, *publication, details, payload),
        Message::Call {
            request,
            options,
            procedure,
            payload,
        } => write(
            s,
            ty,
            &[Id(*request), D(options), Str(procedure)],
            Some(payload),
        ),
        Message::Cancel { request, options } | Message::Interrupt { request, options } => {
            write(s, ty, &[Id(*request), D(options)], None)
        }
        Message::Result {
            request,
            details,
            payload,
        } => write(s, ty, &[Id(*request), D(details)], Some(payload)),
        Message::Register {
            request,
            options,
            procedure,
        } => write(s, ty, &[Id(*request), D(options), Str(procedure)], None),
        Message::Registered {
            request,
            registration,
        }
        | Message::Unregister {
            request,
            registration,
        } => write(s, ty, &[Id(*request), Id(*registration)], None),
        Message::Invocation {
            request,
            registration,
            details,
            payload,
        } => write(
            s,
            ty,
            &[Id(*request), Id(*registration), D(details)],
            Some(payload),
        ),
        Message::Yield {
            request,
            options,
            payload,
        } => write(s, ty, &[Id(*request), D(options)], Some(payload)),
    }
}

/// Writes `[36, subscription, publication, details, args?, kwargs?]` from references: the
/// fan-out path encodes an EVENT once per serializer without building a [`Message`].
pub(crate) fn encode_event<S: ListSink>(
    s: &mut S,
    subscription: u64,
    publication: u64,
    details: &Dict,
    payload: &Payload,
) {
    write(
        s,
        MessageType::Event,
        &[
            Field::Id(subscription),
            Field::Id(publication),
            Field::Dict(details),
        ],
        Some(payload),
    )
}

#[cfg(test)]
#[path = "wire_tests.rs"]
pub(crate) mod testing;
