//! Targets `mqtt_codec` and `mqtt_session`: the MQTT framing decoder, and one MQTT session
//! driven by a program of reads, router answers, deliveries and clock ticks.
//!
//! `mqtt_codec` input: 1 byte max-packet-size choice, 1 byte chunking seed, then the client's
//! byte stream. Invariants: no panic; no packet exceeds the limit; the stream gives the same
//! packets and error read whole, in random reads or byte by byte; the decoder never holds more
//! than the limit plus one read; every decoded PUBLISH/SUBSCRIBE/UNSUBSCRIBE/ack re-encodes and
//! decodes back to the same packet.
//!
//! `mqtt_session` input: 1 byte of set-up (bit 0: prefix a valid 3.1.1 CONNECT, bit 1: 5.0
//! instead), then steps, each 1 op byte and its operands (see [`session_step`]). Invariants: no
//! panic; everything the session transmits decodes as MQTT packets of its version; nothing
//! follows the `Closed` action, which comes at most once; the in-flight window and the queue
//! stay within their bounds (count and bytes).

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use ferrobar::mqtt::codec::{encode, CodecError, Decoder, ProtocolVersion};
use ferrobar::mqtt::flow::{FlowLimits, Outbound};
use ferrobar::mqtt::session::{
    Action, PublishOutcome, Refusal, Session, SessionConfig, SubscribeGrant,
};
use ferrobar::mqtt::{Packet, QoS};

use super::Input;

const LIMITS: [u32; 4] = [16, 128, 4096, 1 << 20];

fn read_all(
    max: u32,
    stream: &[u8],
    chunks: &mut dyn FnMut() -> usize,
) -> (Vec<String>, Option<CodecError>) {
    let mut d = Decoder::new(max);
    let mut packets = Vec::new();
    let mut rest = stream;
    loop {
        let n = chunks().clamp(1, rest.len().max(1)).min(rest.len());
        let (now, later) = rest.split_at(n);
        rest = later;
        d.extend(now);
        loop {
            match d.next_packet() {
                Ok(Some(p)) => {
                    check_round_trip(&p, d.version());
                    packets.push(format!("{p:?}"));
                }
                Ok(None) => break,
                Err(e) => return (packets, Some(e)),
            }
        }
        assert!(
            d.buffered() as u64 <= u64::from(max) + n as u64 + 5,
            "decoder holds {} bytes with a {max} limit",
            d.buffered()
        );
        if rest.is_empty() {
            return (packets, None);
        }
    }
}

fn check_round_trip(p: &Packet, version: Option<ProtocolVersion>) {
    let Some(version) = version else { return };
    if !matches!(
        p,
        Packet::Publish(_)
            | Packet::Subscribe(_)
            | Packet::Unsubscribe(_)
            | Packet::PubAck(_)
            | Packet::PingReq
    ) {
        return;
    }
    let mut out = BytesMut::new();
    encode(p, &mut out).expect("a decoded packet re-encodes");
    let mut d = Decoder::with_version(u32::MAX, version);
    d.extend(&out);
    let back = d
        .next_packet()
        .expect("a re-encoded packet decodes")
        .expect("whole");
    assert_eq!(format!("{back:?}"), format!("{p:?}"));
}

/// Runs one `mqtt_codec` input.
pub fn run_codec(data: &[u8]) {
    let mut input = Input::new(data);
    let max = input.pick(&LIMITS);
    let seed = input.u8();
    let stream = input.rest();
    let whole = read_all(max, stream, &mut || usize::MAX);
    let mut x = u32::from(seed) | 1;
    let random = read_all(max, stream, &mut || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        (x % 7) as usize + 1
    });
    let bytewise = read_all(max, stream, &mut || 1);
    assert_eq!(whole, random, "random reads differ from one read");
    assert_eq!(whole, bytewise, "byte-by-byte reads differ from one read");
}

fn connect(version: ProtocolVersion) -> Vec<u8> {
    match version {
        ProtocolVersion::V311 => vec![
            0x10, 14, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x00, 0, 5, 0, 2, b'c', b'1',
        ],
        ProtocolVersion::V5 => {
            vec![
                0x10, 15, 0, 4, b'M', b'Q', b'T', b'T', 5, 0x00, 0, 5, 0, 0, 2, b'c', b'1',
            ]
        }
    }
}

struct Driver {
    s: Session,
    now: u64,
    closed: bool,
    pending_publishes: Vec<u16>,
    pending_subscribes: Vec<(u16, usize)>,
    limits: FlowLimits,
}

impl Driver {
    fn drain(&mut self) {
        let version = self.s.version();
        while let Some(out) = self.s.poll_transmit() {
            let mut d = Decoder::with_version(u32::MAX, version);
            d.extend(&out);
            loop {
                match d.next_packet() {
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(e) => panic!("the session sent an undecodable packet: {e}"),
                }
            }
            assert_eq!(d.buffered(), 0, "a partial packet was sent");
        }
        while let Some(a) = self.s.poll_action() {
            assert!(!self.closed, "an action after Closed: {a:?}");
            match a {
                Action::Publish(p) => {
                    if let Some(id) = p.packet_id {
                        self.pending_publishes.push(id);
                    }
                }
                Action::Subscribe { packet_id, entries } => {
                    self.pending_subscribes.push((packet_id, entries.len()))
                }
                Action::Closed(_) => self.closed = true,
                Action::Authenticate(_) | Action::Unsubscribe(_) => {}
            }
        }
        let f = self.s.flow();
        assert!(f.inflight.len() <= usize::from(self.limits.max_inflight));
        assert!(f.queue.len() <= self.limits.max_queued as usize);
        assert!(f.queued_bytes <= self.limits.max_queued_bytes);
    }
}

/// One step: `op % 10` picks read bytes (1 length byte, then that many), accept, refuse,
/// complete a publish, complete a subscribe, deliver (QoS, topic length), advance the clock
/// (2 bytes, ms) and fire the timeout, lose the connection, take over, shut down.
fn session_step(d: &mut Driver, input: &mut Input) {
    match input.u8() % 10 {
        0 | 1 => {
            let n = usize::from(input.u8());
            let bytes = input.take(n);
            d.s.handle_input(d.now, bytes);
        }
        2 => d.s.accept(d.now, None),
        3 => d.s.refuse(input.pick(&[
            Refusal::BadCredentials,
            Refusal::NotAuthorized,
            Refusal::ServerUnavailable,
        ])),
        4 => {
            if !d.pending_publishes.is_empty() {
                let id = d
                    .pending_publishes
                    .remove(input.below(d.pending_publishes.len()));
                let outcome = input.pick(&[
                    PublishOutcome::Accepted,
                    PublishOutcome::NotAuthorized,
                    PublishOutcome::Failed,
                ]);
                d.s.complete_publish(id, outcome);
            }
        }
        5 => {
            if !d.pending_subscribes.is_empty() {
                let (id, n) = d
                    .pending_subscribes
                    .remove(input.below(d.pending_subscribes.len()));
                let grants: Vec<SubscribeGrant> = (0..n)
                    .map(|_| {
                        input.pick(&[
                            SubscribeGrant::Granted(QoS::ExactlyOnce),
                            SubscribeGrant::Granted(QoS::AtLeastOnce),
                            SubscribeGrant::NotAuthorized,
                        ])
                    })
                    .collect();
                d.s.complete_subscribe(id, &grants);
            }
        }
        6 => {
            let qos = input.pick(&[QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce]);
            let len = input.below(40);
            let mut m = Outbound::new("a/b".into(), Bytes::from(vec![b'x'; len]));
            if input.bool() {
                m.expires_at = Some(d.now + u64::from(input.u8()) * 100);
            }
            let retain = input.bool();
            d.s.deliver(d.now, &Arc::new(m), qos, retain);
        }
        7 => {
            d.now += u64::from(input.u16());
            d.s.handle_timeout(d.now);
        }
        8 => d.s.connection_lost(d.now),
        _ => {
            if input.bool() {
                d.s.take_over(d.now);
            } else {
                d.s.shutdown(d.now);
            }
        }
    }
    d.drain();
}

/// Runs one `mqtt_session` input.
pub fn run_session(data: &[u8]) {
    let mut input = Input::new(data);
    let setup = input.u8();
    let limits = FlowLimits {
        max_inflight: 3,
        max_queued: 4,
        max_queued_bytes: 100,
    };
    let config = SessionConfig {
        max_packet_size: 512,
        flow: limits,
        receive_maximum: 4,
        topic_alias_maximum: 2,
        ..SessionConfig::default()
    };
    let mut d = Driver {
        s: Session::new(config, 0, 1),
        now: 0,
        closed: false,
        pending_publishes: Vec::new(),
        pending_subscribes: Vec::new(),
        limits,
    };
    if setup & 1 == 1 {
        let version = if setup & 2 == 2 {
            ProtocolVersion::V5
        } else {
            ProtocolVersion::V311
        };
        d.s.handle_input(0, &connect(version));
        d.drain();
        d.s.accept(0, None);
        d.drain();
    }
    let mut steps = 0;
    while !input.is_empty() && steps < 500 {
        session_step(&mut d, &mut input);
        steps += 1;
    }
}
