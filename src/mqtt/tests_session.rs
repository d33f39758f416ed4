//! The session state machine, driven as the shard will drive it: bytes in, router answers in,
//! packets and actions out, time passed in.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use mqtt5_protocol::packet::connect::ConnectPacket;
use mqtt5_protocol::packet::disconnect::DisconnectPacket;
use mqtt5_protocol::packet::puback::PubAckPacket;
use mqtt5_protocol::packet::pubcomp::PubCompPacket;
use mqtt5_protocol::packet::publish::PublishPacket;
use mqtt5_protocol::packet::pubrec::PubRecPacket;
use mqtt5_protocol::packet::pubrel::PubRelPacket;
use mqtt5_protocol::packet::subscribe::SubscribePacket;
use mqtt5_protocol::packet::unsubscribe::UnsubscribePacket;
use mqtt5_protocol::packet::FixedHeader;
use mqtt5_protocol::types::{ConnectOptions, WillMessage};
use mqtt5_protocol::{Packet, QoS, ReasonCode};

use super::codec::{encode, ProtocolVersion};
use super::flow::{DeliveryOutcome, DropReason, FlowLimits, Outbound};
use super::session::*;

const V3: ProtocolVersion = ProtocolVersion::V311;
const V5: ProtocolVersion = ProtocolVersion::V5;

fn connect(
    version: ProtocolVersion,
    client_id: &str,
    f: impl FnOnce(ConnectOptions) -> ConnectOptions,
) -> Packet {
    let o = f(ConnectOptions::new(client_id).with_keep_alive(Duration::from_secs(10)));
    Packet::Connect(Box::new(match version {
        V3 => ConnectPacket::new_v311(o),
        V5 => ConnectPacket::new(o),
    }))
}

fn bytes(p: &Packet) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode(p, &mut out).unwrap();
    out.to_vec()
}

/// Decodes what the server sent, as a client would.
fn received(s: &mut Session) -> Vec<Packet> {
    let mut out = Vec::new();
    let version = s.version().level();
    while let Some(mut b) = s.poll_transmit() {
        while !b.is_empty() {
            let fh = FixedHeader::decode(&mut b).unwrap();
            let mut body = b.split_to(fh.remaining_length as usize);
            out.push(
                Packet::decode_from_body_with_version(fh.packet_type, &fh, &mut body, version)
                    .unwrap(),
            );
        }
    }
    out
}

fn actions(s: &mut Session) -> Vec<Action> {
    std::iter::from_fn(|| s.poll_action()).collect()
}

/// The only element.
fn one<T: std::fmt::Debug>(v: Vec<T>) -> T {
    assert_eq!(v.len(), 1, "expected exactly one: {v:?}");
    v.into_iter().next().expect("one element")
}

fn send(s: &mut Session, now: u64, p: &Packet) {
    s.handle_input(now, &bytes(p));
}

fn session(config: SessionConfig) -> Session {
    Session::new(config, 0, 42)
}

/// A connected session (CONNACK consumed, Authenticate answered).
fn connected(
    version: ProtocolVersion,
    f: impl FnOnce(ConnectOptions) -> ConnectOptions,
) -> Session {
    let mut s = session(SessionConfig::default());
    send(&mut s, 0, &connect(version, "dev1", f));
    assert!(matches!(
        actions(&mut s).as_slice(),
        [Action::Authenticate(_)]
    ));
    s.accept(0, None);
    assert!(
        matches!(received(&mut s).as_slice(), [Packet::ConnAck(a)] if a.reason_code == ReasonCode::Success)
    );
    s
}

/// The `Closed` action, the last one out.
fn closed(s: &mut Session) -> Closed {
    match actions(s).pop() {
        Some(Action::Closed(c)) => *c,
        other => panic!("expected Closed, got {other:?}"),
    }
}

fn msg(topic: &str, payload: &'static [u8]) -> Arc<Outbound> {
    Arc::new(Outbound::new(topic.into(), Bytes::from_static(payload)))
}

#[test]
fn connect_hands_out_authentication_and_connack_follows_the_router() {
    for version in [V3, V5] {
        let mut s = session(SessionConfig::default());
        send(
            &mut s,
            0,
            &connect(version, "dev1", |o| o.with_credentials("alice", b"pw")),
        );
        let Action::Authenticate(req) = one(actions(&mut s)) else {
            panic!()
        };
        assert_eq!(req.version, version);
        assert_eq!(req.client_id, "dev1");
        assert_eq!(req.keep_alive_secs, 10);
        assert_eq!(
            req.auth,
            AuthRequest::Ticket {
                authid: "alice".into(),
                ticket: b"pw".to_vec()
            }
        );
        assert!(
            received(&mut s).is_empty(),
            "no CONNACK before the router decides"
        );
        s.accept(0, None);
        let Packet::ConnAck(ack) = one(received(&mut s)) else {
            panic!()
        };
        assert_eq!(ack.reason_code, ReasonCode::Success);
        assert!(!ack.session_present);
        assert!(s.is_connected());
    }
}

#[test]
fn without_credentials_the_client_id_is_the_anonymous_authid() {
    let mut s = session(SessionConfig::default());
    send(&mut s, 0, &connect(V3, "sensor-7", |o| o));
    let Action::Authenticate(req) = one(actions(&mut s)) else {
        panic!()
    };
    assert_eq!(
        req.auth,
        AuthRequest::Anonymous {
            authid: "sensor-7".into()
        }
    );
}

#[test]
fn refusals_get_the_right_connack_code_in_both_versions() {
    for (refusal, v3, v5) in [
        (Refusal::BadCredentials, 4, 0x86),
        (Refusal::NotAuthorized, 5, 0x87),
        (Refusal::ServerUnavailable, 3, 0x88),
        (Refusal::ClientIdRejected, 2, 0x85),
    ] {
        for (version, code) in [(V3, v3), (V5, v5)] {
            let mut s = session(SessionConfig::default());
            send(&mut s, 0, &connect(version, "d", |o| o));
            actions(&mut s);
            s.refuse(refusal);
            let out = s.poll_transmit().unwrap();
            // CONNACK: [0x20, len, flags, code, ...]
            assert_eq!((out[0], out[3]), (0x20, code), "{refusal:?} {version:?}");
            assert!(s.is_closed());
            let Action::Closed(c) = one(actions(&mut s)) else {
                panic!()
            };
            assert_eq!(c.reason, CloseReason::Refused(refusal));
            assert!(c.will.is_none() && c.parked.is_none());
        }
    }
}

#[test]
fn unsupported_protocol_levels_get_connack_1() {
    let mut s = session(SessionConfig::default());
    s.handle_input(
        0,
        &[
            0x10, 16, 0, 6, b'M', b'Q', b'I', b's', b'd', b'p', 3, 2, 0, 60, 0, 2, b'c', b'1',
        ],
    );
    assert_eq!(s.poll_transmit().unwrap().to_vec(), [0x20, 2, 0, 1]);
    assert!(s.is_closed());
}

#[test]
fn an_empty_client_id_is_assigned_or_refused_as_the_version_says() {
    let mut s = session(SessionConfig::default());
    send(&mut s, 0, &connect(V3, "", |o| o.with_clean_start(false)));
    assert_eq!(s.poll_transmit().unwrap().to_vec(), [0x20, 2, 0, 2]);
    assert!(s.is_closed());

    let mut s = session(SessionConfig::default());
    send(&mut s, 0, &connect(V5, "", |o| o));
    let Action::Authenticate(req) = one(actions(&mut s)) else {
        panic!()
    };
    assert!(req.assigned_client_id);
    assert_eq!(req.client_id, "ferrobar-000000000000002a");
    s.accept(0, None);
    let Packet::ConnAck(ack) = one(received(&mut s)) else {
        panic!()
    };
    assert!(ack
        .properties
        .get(mqtt5_protocol::PropertyId::AssignedClientIdentifier)
        .is_some());
}

#[test]
fn packets_before_connect_and_a_second_connect_close_the_connection() {
    let mut s = session(SessionConfig::default());
    s.handle_input(0, &[0xC0, 0]);
    assert!(s.is_closed());
    assert!(s.poll_transmit().is_none());
    let Action::Closed(c) = one(actions(&mut s)) else {
        panic!()
    };
    assert!(
        matches!(c.reason, CloseReason::Protocol(ref e) if e.code == ReasonCode::ProtocolError)
    );

    let mut s = connected(V5, |o| o);
    send(&mut s, 1, &connect(V5, "dev1", |o| o));
    let Packet::Disconnect(d) = one(received(&mut s)) else {
        panic!()
    };
    assert_eq!(d.reason_code, ReasonCode::ProtocolError);
    assert!(s.is_closed());
}

#[test]
fn oversized_packets_get_disconnect_0x95() {
    let mut s = session(SessionConfig {
        max_packet_size: 64,
        ..SessionConfig::default()
    });
    send(&mut s, 0, &connect(V5, "dev1", |o| o));
    actions(&mut s);
    s.accept(0, None);
    received(&mut s);
    let big = Packet::Publish(PublishPacket::new("a/b", vec![0u8; 100], QoS::AtMostOnce));
    send(&mut s, 1, &big);
    let Packet::Disconnect(d) = one(received(&mut s)) else {
        panic!()
    };
    assert_eq!(d.reason_code, ReasonCode::PacketTooLarge);
    let Action::Closed(c) = one(actions(&mut s)) else {
        panic!()
    };
    assert!(
        matches!(c.reason, CloseReason::Protocol(ref e) if e.code == ReasonCode::PacketTooLarge)
    );
}

#[test]
fn qos0_and_qos1_publications_go_to_the_router_and_are_acknowledged_after_it() {
    let mut s = connected(V3, |o| o);
    let mut p = PublishPacket::new_v311("home/kitchen/temp", &b"21.5"[..], QoS::AtMostOnce);
    send(&mut s, 1, &Packet::Publish(p.clone()));
    let Action::Publish(pub0) = one(actions(&mut s)) else {
        panic!()
    };
    assert_eq!(pub0.uri, "home.kitchen.temp");
    assert_eq!(&pub0.payload[..], b"21.5");
    assert!(received(&mut s).is_empty());

    p.qos = QoS::AtLeastOnce;
    p.packet_id = Some(5);
    send(&mut s, 2, &Packet::Publish(p));
    assert!(matches!(actions(&mut s).as_slice(), [Action::Publish(x)] if x.packet_id == Some(5)));
    assert!(received(&mut s).is_empty(), "PUBACK waits for the router");
    s.complete_publish(5, PublishOutcome::Accepted);
    assert!(matches!(received(&mut s).as_slice(), [Packet::PubAck(a)] if a.packet_id == 5));
}

#[test]
fn v5_publish_refusals_carry_reason_codes() {
    let mut s = connected(V5, |o| o);
    let mut p = PublishPacket::new("a/b", &b"x"[..], QoS::AtLeastOnce);
    p.packet_id = Some(1);
    send(&mut s, 1, &Packet::Publish(p.clone()));
    actions(&mut s);
    s.complete_publish(1, PublishOutcome::NotAuthorized);
    assert!(
        matches!(received(&mut s).as_slice(), [Packet::PubAck(a)] if a.reason_code == ReasonCode::NotAuthorized)
    );

    // A topic with no WAMP form: refused for this message only.
    p.topic_name = "a.b/c".into();
    p.packet_id = Some(2);
    send(&mut s, 2, &Packet::Publish(p));
    assert!(actions(&mut s).is_empty());
    assert!(
        matches!(received(&mut s).as_slice(), [Packet::PubAck(a)] if a.reason_code == ReasonCode::TopicNameInvalid)
    );
    assert!(s.is_connected());
}

#[test]
fn qos2_inbound_is_published_once_and_completed_with_pubrel() {
    let mut s = connected(V3, |o| o);
    let mut p = PublishPacket::new_v311("a/b", &b"x"[..], QoS::ExactlyOnce);
    p.packet_id = Some(9);
    send(&mut s, 1, &Packet::Publish(p.clone()));
    assert_eq!(actions(&mut s).len(), 1);
    s.complete_publish(9, PublishOutcome::Accepted);
    assert!(matches!(received(&mut s).as_slice(), [Packet::PubRec(r)] if r.packet_id == 9));
    // The client did not see PUBREC and sends again with DUP: not published twice.
    p.dup = true;
    send(&mut s, 2, &Packet::Publish(p));
    assert!(actions(&mut s).is_empty());
    assert!(matches!(received(&mut s).as_slice(), [Packet::PubRec(r)] if r.packet_id == 9));
    send(&mut s, 3, &Packet::PubRel(PubRelPacket::new(9)));
    assert!(matches!(received(&mut s).as_slice(), [Packet::PubComp(c)] if c.packet_id == 9));
    // After PUBCOMP the id is free again: a new message with it is published.
    let mut p = PublishPacket::new_v311("a/b", &b"y"[..], QoS::ExactlyOnce);
    p.packet_id = Some(9);
    send(&mut s, 4, &Packet::Publish(p));
    assert_eq!(actions(&mut s).len(), 1);
}

#[test]
fn v5_receive_maximum_is_enforced() {
    let mut s = session(SessionConfig {
        receive_maximum: 2,
        ..SessionConfig::default()
    });
    send(&mut s, 0, &connect(V5, "d", |o| o));
    actions(&mut s);
    s.accept(0, None);
    received(&mut s);
    for id in 1..=3u16 {
        let mut p = PublishPacket::new("a", &b"x"[..], QoS::AtLeastOnce);
        p.packet_id = Some(id);
        send(&mut s, 1, &Packet::Publish(p));
    }
    let out = received(&mut s);
    assert!(
        matches!(out.as_slice(), [Packet::Disconnect(d)] if d.reason_code == ReasonCode::ReceiveMaximumExceeded)
    );
}

#[test]
fn topic_aliases_resolve_and_bad_ones_disconnect() {
    let mut s = connected(V5, |o| o);
    let p = PublishPacket::new("a/b", &b"1"[..], QoS::AtMostOnce).with_topic_alias(1);
    send(&mut s, 1, &Packet::Publish(p));
    let p = PublishPacket::new("", &b"2"[..], QoS::AtMostOnce).with_topic_alias(1);
    send(&mut s, 2, &Packet::Publish(p));
    let uris: Vec<String> = actions(&mut s)
        .into_iter()
        .map(|a| match a {
            Action::Publish(p) => p.uri,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(uris, ["a.b", "a.b"]);
    let p = PublishPacket::new("", &b"3"[..], QoS::AtMostOnce).with_topic_alias(99);
    send(&mut s, 3, &Packet::Publish(p));
    assert!(
        matches!(received(&mut s).as_slice(), [Packet::Disconnect(d)] if d.reason_code == ReasonCode::TopicAliasInvalid)
    );
}

#[test]
fn v5_properties_reach_the_router() {
    let mut s = connected(V5, |o| o);
    let p = PublishPacket::new("a", &b"x"[..], QoS::AtMostOnce)
        .with_user_property("unit".into(), "C".into())
        .with_message_expiry_interval(30)
        .with_content_type("text/plain".into());
    send(&mut s, 1, &Packet::Publish(p));
    let Action::Publish(p) = one(actions(&mut s)) else {
        panic!()
    };
    assert_eq!(p.user_properties, [("unit".to_string(), "C".to_string())]);
    assert_eq!(p.message_expiry_secs, Some(30));
    assert_eq!(p.content_type.as_deref(), Some("text/plain"));
}

#[test]
fn subscribe_waits_for_the_router_and_maps_filters() {
    for version in [V3, V5] {
        let mut s = connected(version, |o| o);
        let sub = match version {
            V3 => SubscribePacket::new_v311(3),
            V5 => SubscribePacket::new(3),
        }
        .add_filter("a/+/c", QoS::ExactlyOnce)
        .add_filter("x/#", QoS::AtLeastOnce)
        .add_filter("bad.level", QoS::AtMostOnce)
        .add_filter("secret", QoS::AtLeastOnce);
        send(&mut s, 1, &Packet::Subscribe(sub));
        let Action::Subscribe {
            packet_id: 3,
            entries,
        } = one(actions(&mut s))
        else {
            panic!()
        };
        assert_eq!(entries.len(), 4);
        assert_eq!(entries[0].wamp.as_ref().unwrap().patterns[0].uri, "a..c");
        assert_eq!(entries[1].wamp.as_ref().unwrap().patterns.len(), 2);
        assert!(entries[2].wamp.is_err());
        assert!(received(&mut s).is_empty(), "SUBACK waits for the router");
        s.complete_subscribe(
            3,
            &[
                SubscribeGrant::Granted(QoS::ExactlyOnce),
                SubscribeGrant::Granted(QoS::ExactlyOnce),
                SubscribeGrant::Granted(QoS::ExactlyOnce),
                SubscribeGrant::NotAuthorized,
            ],
        );
        let Packet::SubAck(ack) = one(received(&mut s)) else {
            panic!()
        };
        let codes: Vec<u8> = ack.reason_codes.iter().map(|c| *c as u8).collect();
        match version {
            V3 => assert_eq!(codes, [2, 1, 0x80, 0x80]),
            V5 => assert_eq!(codes, [2, 1, 0x8F, 0x87]),
        }
        let filters: Vec<&str> = s
            .subscriptions()
            .iter()
            .map(|x| x.filter.as_str())
            .collect();
        assert_eq!(filters, ["a/+/c", "x/#"]);
    }
}

#[test]
fn unsubscribe_answers_at_once_and_tells_the_router() {
    let mut s = connected(V5, |o| o);
    send(
        &mut s,
        1,
        &Packet::Subscribe(SubscribePacket::new(1).add_filter("a/b", QoS::AtLeastOnce)),
    );
    actions(&mut s);
    s.complete_subscribe(1, &[SubscribeGrant::Granted(QoS::AtLeastOnce)]);
    received(&mut s);
    send(
        &mut s,
        2,
        &Packet::Unsubscribe(
            UnsubscribePacket::new(2)
                .add_filter("a/b")
                .add_filter("nope"),
        ),
    );
    let Packet::UnsubAck(ack) = one(received(&mut s)) else {
        panic!()
    };
    let codes: Vec<u8> = ack.reason_codes.iter().map(|c| *c as u8).collect();
    assert_eq!(codes, [0x00, 0x11]);
    let Action::Unsubscribe(gone) = one(actions(&mut s)) else {
        panic!()
    };
    assert_eq!(gone[0].filter, "a/b");
    assert!(s.subscriptions().is_empty());
}

#[test]
fn outbound_qos1_uses_a_bounded_window_and_queue() {
    let limits = FlowLimits {
        max_inflight: 2,
        max_queued: 2,
        max_queued_bytes: 1 << 20,
    };
    let mut s = session(SessionConfig {
        flow: limits,
        ..SessionConfig::default()
    });
    send(&mut s, 0, &connect(V3, "d", |o| o));
    actions(&mut s);
    s.accept(0, None);
    received(&mut s);
    let outcomes: Vec<DeliveryOutcome> = (0..5)
        .map(|_| s.deliver(1, &msg("a/b", b"x"), QoS::AtLeastOnce, false))
        .collect();
    assert_eq!(
        outcomes,
        [
            DeliveryOutcome::Sent,
            DeliveryOutcome::Sent,
            DeliveryOutcome::Queued { evicted: 0 },
            DeliveryOutcome::Queued { evicted: 0 },
            DeliveryOutcome::Queued { evicted: 1 },
        ]
    );
    let ids: Vec<u16> = received(&mut s)
        .iter()
        .map(|p| match p {
            Packet::Publish(p) => p.packet_id.unwrap(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(ids, [1, 2]);
    send(&mut s, 2, &Packet::PubAck(PubAckPacket::new(1)));
    assert!(matches!(received(&mut s).as_slice(), [Packet::Publish(p)] if p.packet_id == Some(3)));
    assert_eq!(s.flow().queue.len(), 1);
}

#[test]
fn outbound_qos2_runs_pubrec_pubrel_pubcomp() {
    let mut s = connected(V5, |o| o);
    assert_eq!(
        s.deliver(1, &msg("a", b"x"), QoS::ExactlyOnce, false),
        DeliveryOutcome::Sent
    );
    let Packet::Publish(p) = one(received(&mut s)) else {
        panic!()
    };
    let id = p.packet_id.unwrap();
    assert_eq!(p.qos, QoS::ExactlyOnce);
    send(&mut s, 2, &Packet::PubRec(PubRecPacket::new(id)));
    assert!(matches!(received(&mut s).as_slice(), [Packet::PubRel(r)] if r.packet_id == id));
    assert_eq!(s.flow().inflight.len(), 1);
    send(&mut s, 3, &Packet::PubComp(PubCompPacket::new(id)));
    assert!(s.flow().inflight.is_empty());
}

#[test]
fn qos0_is_written_at_once_and_expired_messages_are_not_sent() {
    let mut s = connected(V3, |o| o);
    assert_eq!(
        s.deliver(1, &msg("a/b", b"hi"), QoS::AtMostOnce, true),
        DeliveryOutcome::Sent
    );
    assert!(
        matches!(received(&mut s).as_slice(), [Packet::Publish(p)] if p.retain && p.topic_name == "a/b")
    );
    let mut m = Outbound::new("a".into(), Bytes::from_static(b"x"));
    m.expires_at = Some(5);
    assert_eq!(
        s.deliver(10, &Arc::new(m), QoS::AtLeastOnce, false),
        DeliveryOutcome::Dropped(DropReason::Expired)
    );
}

#[test]
fn keep_alive_is_one_and_a_half_times_and_fires_the_will() {
    let mut s = connected(V5, |o| {
        o.with_will(WillMessage::new("dev/status", b"offline".to_vec()))
    });
    assert_eq!(s.poll_timeout(), Some(15_000));
    send(&mut s, 10_000, &Packet::PingReq);
    assert!(matches!(received(&mut s).as_slice(), [Packet::PingResp]));
    assert_eq!(s.poll_timeout(), Some(25_000));
    s.handle_timeout(24_999);
    assert!(s.is_connected());
    s.handle_timeout(25_000);
    assert!(
        matches!(received(&mut s).as_slice(), [Packet::Disconnect(d)] if d.reason_code == ReasonCode::KeepAliveTimeout)
    );
    let c = closed(&mut s);
    assert_eq!(c.reason, CloseReason::KeepAliveTimeout);
    let will = c.will.expect("will on keep-alive timeout");
    assert_eq!(will.uri, "dev.status");
    assert_eq!(&will.payload[..], b"offline");
}

#[test]
fn the_will_is_discarded_on_disconnect_and_kept_on_connection_loss() {
    let will = |o: ConnectOptions| o.with_will(WillMessage::new("dev/status", b"gone".to_vec()));
    let mut s = connected(V3, will);
    send(&mut s, 1, &Packet::Disconnect(DisconnectPacket::normal()));
    let c = closed(&mut s);
    assert_eq!(c.reason, CloseReason::ClientDisconnect(ReasonCode::Success));
    assert!(c.will.is_none(), "MQTT-3.14.4-3: no will after DISCONNECT");

    let mut s = connected(V3, will);
    s.connection_lost(1);
    assert!(closed(&mut s).will.is_some());

    let mut s = connected(V5, will);
    send(
        &mut s,
        1,
        &Packet::Disconnect(DisconnectPacket::new(ReasonCode::DisconnectWithWillMessage)),
    );
    assert!(closed(&mut s).will.is_some());
}

#[test]
fn a_will_topic_without_a_wamp_form_refuses_the_connect() {
    let mut s = session(SessionConfig::default());
    send(
        &mut s,
        0,
        &connect(V5, "d", |o| {
            o.with_will(WillMessage::new("a.b/c", b"x".to_vec()))
        }),
    );
    let Packet::ConnAck(a) = one(received(&mut s)) else {
        panic!()
    };
    assert_eq!(a.reason_code, ReasonCode::TopicNameInvalid);
    assert!(s.is_closed());
}

#[test]
fn persistent_sessions_park_queue_and_resume_with_retransmission() {
    let limits = FlowLimits {
        max_inflight: 1,
        max_queued: 10,
        max_queued_bytes: 1 << 20,
    };
    let config = SessionConfig {
        flow: limits,
        ..SessionConfig::default()
    };
    let mut s = Session::new(config, 0, 1);
    send(
        &mut s,
        0,
        &connect(V3, "dev1", |o| o.with_clean_start(false)),
    );
    actions(&mut s);
    s.accept(0, None);
    received(&mut s);
    send(
        &mut s,
        1,
        &Packet::Subscribe(SubscribePacket::new_v311(1).add_filter("a/#", QoS::AtLeastOnce)),
    );
    actions(&mut s);
    s.complete_subscribe(1, &[SubscribeGrant::Granted(QoS::AtLeastOnce)]);
    received(&mut s);
    s.deliver(2, &msg("a/1", b"1"), QoS::AtLeastOnce, false);
    received(&mut s); // sent, never acknowledged
    s.connection_lost(3);
    let mut parked = closed(&mut s)
        .parked
        .expect("clean_session=0 parks the session");
    assert_eq!(parked.client_id, "dev1");
    assert_eq!(parked.subscriptions.len(), 1);
    assert_eq!(parked.expires_at, 3 + 24 * 3600 * 1000);
    // While away: QoS 1 queued, QoS 0 not kept.
    assert_eq!(
        parked.deliver(4, &msg("a/2", b"2"), QoS::AtLeastOnce, false),
        DeliveryOutcome::Queued { evicted: 0 }
    );
    assert_eq!(
        parked.deliver(4, &msg("a/3", b"3"), QoS::AtMostOnce, false),
        DeliveryOutcome::Dropped(DropReason::Offline)
    );

    let mut s = Session::new(config, 10, 2);
    send(
        &mut s,
        10,
        &connect(V3, "dev1", |o| o.with_clean_start(false)),
    );
    actions(&mut s);
    s.accept(10, Some(parked));
    let out = received(&mut s);
    let [Packet::ConnAck(ack), Packet::Publish(again)] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert!(ack.session_present);
    assert!(again.dup && again.topic_name == "a/1");
    assert_eq!(s.subscriptions().len(), 1);
    send(
        &mut s,
        11,
        &Packet::PubAck(PubAckPacket::new(again.packet_id.unwrap())),
    );
    assert!(
        matches!(received(&mut s).as_slice(), [Packet::Publish(p)] if p.topic_name == "a/2" && !p.dup)
    );
}

#[test]
fn clean_start_discards_a_parked_session_and_expiry_is_by_time() {
    let mut s = connected(V5, |o| o.with_session_expiry_interval(60));
    s.connection_lost(1_000);
    let parked = closed(&mut s).parked.unwrap();
    assert!(!parked.is_expired(60_999));
    assert!(parked.is_expired(61_000));
    let mut s = session(SessionConfig::default());
    send(
        &mut s,
        2_000,
        &connect(V5, "dev1", |o| o.with_clean_start(true)),
    );
    actions(&mut s);
    s.accept(2_000, Some(parked));
    assert!(matches!(received(&mut s).as_slice(), [Packet::ConnAck(a)] if !a.session_present));

    // Without session expiry (5.0) or with clean_session=1 (3.1.1) nothing is parked.
    let mut s = connected(V5, |o| o);
    s.connection_lost(1);
    assert!(closed(&mut s).parked.is_none());
}

#[test]
fn pipelined_packets_after_connect_wait_for_the_router() {
    let mut s = session(SessionConfig::default());
    let mut b = bytes(&connect(V3, "d", |o| o));
    b.extend(bytes(&Packet::Publish(PublishPacket::new_v311(
        "a",
        &b"x"[..],
        QoS::AtMostOnce,
    ))));
    s.handle_input(0, &b);
    assert!(matches!(
        actions(&mut s).as_slice(),
        [Action::Authenticate(_)]
    ));
    assert!(!s.wants_input());
    s.accept(1, None);
    assert!(matches!(actions(&mut s).as_slice(), [Action::Publish(p)] if p.uri == "a"));
}

#[test]
fn connect_timeout_closes_silently() {
    let mut s = session(SessionConfig {
        connect_timeout_ms: 500,
        ..SessionConfig::default()
    });
    assert_eq!(s.poll_timeout(), Some(500));
    s.handle_timeout(500);
    assert!(s.is_closed());
    assert!(s.poll_transmit().is_none());
    assert_eq!(closed(&mut s).reason, CloseReason::ConnectTimeout);
}

#[test]
fn takeover_sends_0x8e_and_parks() {
    let mut s = connected(V5, |o| o.with_session_expiry_interval(10));
    s.take_over(5);
    assert!(
        matches!(received(&mut s).as_slice(), [Packet::Disconnect(d)] if d.reason_code == ReasonCode::SessionTakenOver)
    );
    let c = closed(&mut s);
    assert_eq!(c.reason, CloseReason::TakenOver);
    assert!(c.parked.is_some());
}

#[test]
fn nothing_larger_than_the_clients_maximum_packet_size_is_sent() {
    let mut s = connected(V5, |mut o| {
        o.properties.maximum_packet_size = Some(20);
        o
    });
    assert_eq!(
        s.deliver(
            1,
            &msg("a", b"0123456789012345678901234567890"),
            QoS::AtLeastOnce,
            false
        ),
        DeliveryOutcome::Dropped(DropReason::TooLarge)
    );
    assert!(s.flow().inflight.is_empty(), "no packet id spent on it");
    assert_eq!(
        s.deliver(1, &msg("a", b"ok"), QoS::AtMostOnce, false),
        DeliveryOutcome::Sent
    );
    assert!(matches!(received(&mut s).as_slice(), [Packet::Publish(p)] if &p.payload[..] == b"ok"));
}

#[test]
fn a_flood_before_connack_gets_a_connack_and_no_will() {
    let config = SessionConfig {
        max_packet_size: 64,
        ..SessionConfig::default()
    };
    let mut s = session(config);
    send(
        &mut s,
        0,
        &connect(V5, "d", |o| {
            o.with_will(WillMessage::new("w", b"x".to_vec()))
        }),
    );
    actions(&mut s);
    for _ in 0..10 {
        s.handle_input(
            1,
            &[
                0xC0, 0, 0xC0, 0, 0xC0, 0, 0xC0, 0, 0xC0, 0, 0xC0, 0, 0xC0, 0, 0xC0, 0,
            ],
        );
    }
    let out = received(&mut s);
    assert!(
        matches!(out.as_slice(), [Packet::ConnAck(a)] if a.reason_code == ReasonCode::QuotaExceeded),
        "{out:?}"
    );
    let c = closed(&mut s);
    assert!(c.will.is_none(), "a connection never accepted has no will");
}

#[test]
fn outbound_expiry_is_sent_as_the_remaining_lifetime() {
    let mut s = connected(V5, |o| o);
    let mut m = Outbound::new("a".into(), Bytes::from_static(b"x"));
    m.expires_at = Some(10_000);
    s.deliver(2_500, &Arc::new(m), QoS::AtLeastOnce, false);
    let Packet::Publish(p) = one(received(&mut s)) else {
        panic!()
    };
    assert_eq!(p.message_expiry_interval(), Some(8));
}

#[test]
fn a_released_qos2_message_gets_pubrel_again_on_resume() {
    let mut s = connected(V5, |o| o.with_session_expiry_interval(60));
    s.deliver(1, &msg("a", b"x"), QoS::ExactlyOnce, false);
    let Packet::Publish(p) = one(received(&mut s)) else {
        panic!()
    };
    let id = p.packet_id.unwrap();
    send(&mut s, 2, &Packet::PubRec(PubRecPacket::new(id)));
    received(&mut s);
    s.connection_lost(3);
    let parked = closed(&mut s).parked.unwrap();
    let mut s = session(SessionConfig::default());
    send(
        &mut s,
        4,
        &connect(V5, "dev1", |o| o.with_clean_start(false)),
    );
    actions(&mut s);
    s.accept(4, Some(parked));
    let out = received(&mut s);
    assert!(
        matches!(out.as_slice(), [Packet::ConnAck(a), Packet::PubRel(r)] if a.session_present && r.packet_id == id),
        "{out:?}"
    );
}

#[test]
fn disconnect_may_not_set_an_expiry_when_connect_had_none() {
    let mut s = connected(V5, |o| o);
    send(
        &mut s,
        1,
        &Packet::Disconnect(DisconnectPacket::normal().with_session_expiry_interval(30)),
    );
    assert!(
        matches!(received(&mut s).as_slice(), [Packet::Disconnect(d)] if d.reason_code == ReasonCode::ProtocolError)
    );
    let c = closed(&mut s);
    assert!(c.parked.is_none());
    assert!(matches!(c.reason, CloseReason::Protocol(_)));
}

/// Found by the `mqtt_session` fuzz target (`fuzz/regressions/mqtt_session/
/// disconnect-reason-code-1`): a QoS 1 packet id reused before its PUBACK was answered with
/// DISCONNECT 0x91, a code DISCONNECT may not carry. Every DISCONNECT and CONNACK must carry a
/// code the spec allows there.
#[test]
fn a_reused_packet_id_is_a_protocol_error_with_a_valid_code() {
    let mut s = connected(V5, |o| o);
    let mut p = PublishPacket::new("a", &b"x"[..], QoS::AtLeastOnce);
    p.packet_id = Some(1);
    send(&mut s, 1, &Packet::Publish(p.clone()));
    send(&mut s, 2, &Packet::Publish(p));
    let Packet::Disconnect(d) = one(received(&mut s)) else {
        panic!()
    };
    assert_eq!(d.reason_code, ReasonCode::ProtocolError);
}
