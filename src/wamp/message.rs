//! WAMP messages, one variant per message type, in type-code order.

use super::value::{Dict, Value};

/// The application payload of a message: positional and keyword arguments.
/// On the wire `kwargs` without `args` is sent with an empty `args` list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Payload {
    /// Positional arguments.
    pub args: Option<Vec<Value>>,
    /// Keyword arguments.
    pub kwargs: Option<Dict>,
}

impl Payload {
    /// No arguments at all.
    pub const fn empty() -> Self {
        Payload {
            args: None,
            kwargs: None,
        }
    }

    /// Only positional arguments.
    pub fn args(args: Vec<Value>) -> Self {
        Payload {
            args: Some(args),
            kwargs: None,
        }
    }

    /// True when neither args nor kwargs are present.
    pub fn is_empty(&self) -> bool {
        self.args.is_none() && self.kwargs.is_none()
    }
}

/// WAMP message type codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum MessageType {
    Hello = 1,
    Welcome = 2,
    Abort = 3,
    Challenge = 4,
    Authenticate = 5,
    Goodbye = 6,
    Error = 8,
    Publish = 16,
    Published = 17,
    Subscribe = 32,
    Subscribed = 33,
    Unsubscribe = 34,
    Unsubscribed = 35,
    Event = 36,
    Call = 48,
    Cancel = 49,
    Result = 50,
    Register = 64,
    Registered = 65,
    Unregister = 66,
    Unregistered = 67,
    Invocation = 68,
    Interrupt = 69,
    Yield = 70,
}

impl MessageType {
    /// The type for a wire code, or `None` for a code WAMP does not define.
    pub fn from_code(code: u64) -> Option<Self> {
        use MessageType::*;
        Some(match code {
            1 => Hello,
            2 => Welcome,
            3 => Abort,
            4 => Challenge,
            5 => Authenticate,
            6 => Goodbye,
            8 => Error,
            16 => Publish,
            17 => Published,
            32 => Subscribe,
            33 => Subscribed,
            34 => Unsubscribe,
            35 => Unsubscribed,
            36 => Event,
            48 => Call,
            49 => Cancel,
            50 => Result,
            64 => Register,
            65 => Registered,
            66 => Unregister,
            67 => Unregistered,
            68 => Invocation,
            69 => Interrupt,
            70 => Yield,
            _ => return None,
        })
    }

    /// The wire code.
    pub fn code(self) -> u64 {
        self as u64
    }

    /// The message name as the spec writes it, for error messages and logs.
    pub fn name(self) -> &'static str {
        use MessageType::*;
        match self {
            Hello => "HELLO",
            Welcome => "WELCOME",
            Abort => "ABORT",
            Challenge => "CHALLENGE",
            Authenticate => "AUTHENTICATE",
            Goodbye => "GOODBYE",
            Error => "ERROR",
            Publish => "PUBLISH",
            Published => "PUBLISHED",
            Subscribe => "SUBSCRIBE",
            Subscribed => "SUBSCRIBED",
            Unsubscribe => "UNSUBSCRIBE",
            Unsubscribed => "UNSUBSCRIBED",
            Event => "EVENT",
            Call => "CALL",
            Cancel => "CANCEL",
            Result => "RESULT",
            Register => "REGISTER",
            Registered => "REGISTERED",
            Unregister => "UNREGISTER",
            Unregistered => "UNREGISTERED",
            Invocation => "INVOCATION",
            Interrupt => "INTERRUPT",
            Yield => "YIELD",
        }
    }
}

/// One WAMP message. Field names follow the spec's wire format (`rfc/text/basic/messages.md`).
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// `[1, Realm|uri, Details|dict]`
    Hello { realm: String, details: Dict },
    /// `[2, Session|id, Details|dict]`
    Welcome { session: u64, details: Dict },
    /// `[3, Details|dict, Reason|uri]`
    Abort { details: Dict, reason: String },
    /// `[4, AuthMethod|string, Extra|dict]`
    Challenge { method: String, extra: Dict },
    /// `[5, Signature|string, Extra|dict]`
    Authenticate { signature: String, extra: Dict },
    /// `[6, Details|dict, Reason|uri]`
    Goodbye { details: Dict, reason: String },
    /// `[8, REQUEST.Type|int, REQUEST.Request|id, Details|dict, Error|uri, (Args, (Kw))]`
    Error {
        request_type: u64,
        request: u64,
        details: Dict,
        error: String,
        payload: Payload,
    },
    /// `[16, Request|id, Options|dict, Topic|uri, (Args, (Kw))]`
    Publish {
        request: u64,
        options: Dict,
        topic: String,
        payload: Payload,
    },
    /// `[17, PUBLISH.Request|id, Publication|id]`
    Published { request: u64, publication: u64 },
    /// `[32, Request|id, Options|dict, Topic|uri]`
    Subscribe {
        request: u64,
        options: Dict,
        topic: String,
    },
    /// `[33, SUBSCRIBE.Request|id, Subscription|id]`
    Subscribed { request: u64, subscription: u64 },
    /// `[34, Request|id, SUBSCRIBED.Subscription|id]`
    Unsubscribe { request: u64, subscription: u64 },
    /// `[35, UNSUBSCRIBE.Request|id]`, or `[35, 0, Details|dict]` when the router revokes a
    /// subscription (`details`: `subscription`, `reason`; empty otherwise).
    Unsubscribed { request: u64, details: Dict },
    /// `[36, Subscription|id, Publication|id, Details|dict, (Args, (Kw))]`
    Event {
        subscription: u64,
        publication: u64,
        details: Dict,
        payload: Payload,
    },
    /// `[48, Request|id, Options|dict, Procedure|uri, (Args, (Kw))]`
    Call {
        request: u64,
        options: Dict,
        procedure: String,
        payload: Payload,
    },
    /// `[49, CALL.Request|id, Options|dict]`
    Cancel { request: u64, options: Dict },
    /// `[50, CALL.Request|id, Details|dict, (Args, (Kw))]`
    Result {
        request: u64,
        details: Dict,
        payload: Payload,
    },
    /// `[64, Request|id, Options|dict, Procedure|uri]`
    Register {
        request: u64,
        options: Dict,
        procedure: String,
    },
    /// `[65, REGISTER.Request|id, Registration|id]`
    Registered { request: u64, registration: u64 },
    /// `[66, Request|id, REGISTERED.Registration|id]`
    Unregister { request: u64, registration: u64 },
    /// `[67, UNREGISTER.Request|id]`, or `[67, 0, Details|dict]` when the router revokes a
    /// registration (`details`: `registration`, `reason`; empty otherwise).
    Unregistered { request: u64, details: Dict },
    /// `[68, Request|id, REGISTERED.Registration|id, Details|dict, (Args, (Kw))]`
    Invocation {
        request: u64,
        registration: u64,
        details: Dict,
        payload: Payload,
    },
    /// `[69, INVOCATION.Request|id, Options|dict]`
    Interrupt { request: u64, options: Dict },
    /// `[70, INVOCATION.Request|id, Options|dict, (Args, (Kw))]`
    Yield {
        request: u64,
        options: Dict,
        payload: Payload,
    },
}

impl Message {
    /// The message's type code.
    pub fn message_type(&self) -> MessageType {
        use MessageType as T;
        match self {
            Message::Hello { .. } => T::Hello,
            Message::Welcome { .. } => T::Welcome,
            Message::Abort { .. } => T::Abort,
            Message::Challenge { .. } => T::Challenge,
            Message::Authenticate { .. } => T::Authenticate,
            Message::Goodbye { .. } => T::Goodbye,
            Message::Error { .. } => T::Error,
            Message::Publish { .. } => T::Publish,
            Message::Published { .. } => T::Published,
            Message::Subscribe { .. } => T::Subscribe,
            Message::Subscribed { .. } => T::Subscribed,
            Message::Unsubscribe { .. } => T::Unsubscribe,
            Message::Unsubscribed { .. } => T::Unsubscribed,
            Message::Event { .. } => T::Event,
            Message::Call { .. } => T::Call,
            Message::Cancel { .. } => T::Cancel,
            Message::Result { .. } => T::Result,
            Message::Register { .. } => T::Register,
            Message::Registered { .. } => T::Registered,
            Message::Unregister { .. } => T::Unregister,
            Message::Unregistered { .. } => T::Unregistered,
            Message::Invocation { .. } => T::Invocation,
            Message::Interrupt { .. } => T::Interrupt,
            Message::Yield { .. } => T::Yield,
        }
    }
}
