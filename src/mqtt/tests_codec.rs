//! The framing decoder and the encoders, against bytes as the MQTT specs write them.

use bytes::BytesMut;
use mqtt5_protocol::packet::connack::ConnAckPacket;
use mqtt5_protocol::packet::puback::PubAckPacket;
use mqtt5_protocol::packet::publish::PublishPacket;
use mqtt5_protocol::packet::suback::{SubAckPacket, SubAckReasonCode};
use mqtt5_protocol::packet::unsuback::UnsubAckPacket;
use mqtt5_protocol::{Packet, QoS, ReasonCode};

use super::codec::*;

/// CONNECT, MQTT 3.1.1, client id "c1", clean session, keep-alive 60.
pub(crate) const CONNECT_V311: &[u8] = &[
    0x10, 14, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 60, 0, 2, b'c', b'1',
];
/// CONNECT, MQTT 5.0, client id "c1", clean start, keep-alive 60, no properties.
pub(crate) const CONNECT_V5: &[u8] = &[
    0x10, 15, 0, 4, b'M', b'Q', b'T', b'T', 5, 0x02, 0, 60, 0, 0, 2, b'c', b'1',
];

fn enc(p: &Packet) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode(p, &mut out).unwrap();
    out.to_vec()
}

#[test]
fn a_packet_split_anywhere_decodes_once_whole() {
    for split in 0..=CONNECT_V311.len() {
        let mut d = Decoder::new(1024);
        d.extend(&CONNECT_V311[..split]);
        if split < CONNECT_V311.len() {
            assert!(d.next_packet().unwrap().is_none(), "split {split}");
        }
        d.extend(&CONNECT_V311[split..]);
        let Some(Packet::Connect(c)) = d.next_packet().unwrap() else {
            panic!("no CONNECT at split {split}");
        };
        assert_eq!(c.client_id, "c1");
        assert_eq!(c.keep_alive, 60);
        assert!(d.next_packet().unwrap().is_none());
        assert_eq!(d.version(), Some(ProtocolVersion::V311));
    }
}

#[test]
fn two_packets_in_one_read_come_out_in_order() {
    let mut d = Decoder::new(1024);
    let mut bytes = CONNECT_V5.to_vec();
    bytes.extend_from_slice(&[0xC0, 0]); // PINGREQ
    d.extend(&bytes);
    assert!(matches!(d.next_packet().unwrap(), Some(Packet::Connect(_))));
    assert!(matches!(d.next_packet().unwrap(), Some(Packet::PingReq)));
    assert!(d.next_packet().unwrap().is_none());
    assert_eq!(d.version(), Some(ProtocolVersion::V5));
}

#[test]
fn oversized_packets_are_refused_from_their_header() {
    let mut d = Decoder::new(100);
    // Announces 200 bytes; only the header has arrived: refused before buffering the body.
    d.extend(&[0x10, 0xC8, 0x01]);
    assert_eq!(
        d.next_packet().err(),
        Some(CodecError::TooLarge {
            size: 203,
            max: 100
        })
    );
}

#[test]
fn a_five_byte_remaining_length_is_malformed() {
    let mut d = Decoder::new(u32::MAX);
    d.extend(&[0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]);
    assert_eq!(d.next_packet().err(), Some(CodecError::BadLength));
}

#[test]
fn the_first_packet_must_be_connect() {
    let mut d = Decoder::new(1024);
    d.extend(&[0xC0, 0]);
    assert_eq!(
        d.next_packet().err(),
        Some(CodecError::NotConnect("PINGREQ"))
    );
}

#[test]
fn mqtt_3_1_and_unknown_levels_are_unsupported_not_malformed() {
    let mut d = Decoder::new(1024);
    // MQTT 3.1: protocol name "MQIsdp", level 3.
    d.extend(&[
        0x10, 16, 0, 6, b'M', b'Q', b'I', b's', b'd', b'p', 3, 0x02, 0, 60, 0, 2, b'c', b'1',
    ]);
    assert!(matches!(
        d.next_packet(),
        Err(CodecError::UnsupportedProtocol { level: 3, .. })
    ));
    let mut d = Decoder::new(1024);
    let mut c = CONNECT_V311.to_vec();
    c[8] = 6;
    d.extend(&c);
    assert!(matches!(
        d.next_packet(),
        Err(CodecError::UnsupportedProtocol { level: 6, .. })
    ));
}

#[test]
fn trailing_bytes_inside_a_packet_are_malformed() {
    let mut d = Decoder::new(1024);
    d.extend(CONNECT_V311);
    d.next_packet().unwrap();
    // PINGREQ claiming one body byte.
    d.extend(&[0xC0, 1, 0]);
    assert!(matches!(d.next_packet(), Err(CodecError::Malformed { .. })));
}

#[test]
fn v311_packets_with_v5_fields_are_malformed() {
    let mut d = Decoder::new(1024);
    d.extend(CONNECT_V311);
    d.next_packet().unwrap();
    // DISCONNECT with a reason code.
    d.extend(&[0xE0, 1, 0x04]);
    assert!(matches!(d.next_packet(), Err(CodecError::Malformed { .. })));
}

#[test]
fn v311_acks_encode_as_the_spec_shows() {
    assert_eq!(
        enc(&Packet::ConnAck(ConnAckPacket::new_v311(
            false,
            ReasonCode::Success
        ))),
        [0x20, 2, 0, 0]
    );
    assert_eq!(
        enc(&Packet::ConnAck(ConnAckPacket::new_v311(
            true,
            ReasonCode::Success
        ))),
        [0x20, 2, 1, 0]
    );
    assert_eq!(
        enc(&Packet::ConnAck(ConnAckPacket::new_v311(
            false,
            ReasonCode::BadUsernameOrPassword
        ))),
        [0x20, 2, 0, 4]
    );
    assert_eq!(
        enc(&Packet::ConnAck(ConnAckPacket::new_v311(
            false,
            ReasonCode::NotAuthorized
        ))),
        [0x20, 2, 0, 5]
    );
    assert_eq!(
        enc(&Packet::ConnAck(ConnAckPacket::new_v311(
            false,
            ReasonCode::UnsupportedProtocolVersion
        ))),
        [0x20, 2, 0, 1]
    );
    let suback = SubAckPacket::new_v311(7)
        .add_reason_code(SubAckReasonCode::GrantedQoS1)
        .add_reason_code(SubAckReasonCode::UnspecifiedError);
    assert_eq!(enc(&Packet::SubAck(suback)), [0x90, 4, 0, 7, 1, 0x80]);
    assert_eq!(
        enc(&Packet::UnsubAck(UnsubAckPacket::new_v311(7))),
        [0xB0, 2, 0, 7]
    );
    assert_eq!(enc(&Packet::PubAck(PubAckPacket::new(9))), [0x40, 2, 0, 9]);
    assert_eq!(enc(&Packet::PingResp), [0xD0, 0]);
}

#[test]
fn publish_templates_patch_flags_and_packet_id() {
    let p = PublishPacket::new_v311("a/b", &b"hi"[..], QoS::AtLeastOnce);
    let t = PublishTemplate::new(&p).unwrap();
    let mut out = BytesMut::new();
    t.write(QoS::ExactlyOnce, 0x1234, true, true, &mut out);
    assert_eq!(
        out.to_vec(),
        [0x3D, 9, 0, 3, b'a', b'/', b'b', 0x12, 0x34, b'h', b'i']
    );
    // The same template, another subscriber: decodes with its own id.
    let mut d = Decoder::new(1024);
    d.extend(CONNECT_V311);
    d.next_packet().unwrap();
    let mut out = BytesMut::new();
    t.write(QoS::AtLeastOnce, 7, false, false, &mut out);
    d.extend(&out);
    let Some(Packet::Publish(p)) = d.next_packet().unwrap() else {
        panic!("no PUBLISH")
    };
    assert_eq!(
        (p.packet_id, p.qos, p.dup, p.retain),
        (Some(7), QoS::AtLeastOnce, false, false)
    );
    assert_eq!(&p.payload[..], b"hi");

    let q0 =
        PublishTemplate::new(&PublishPacket::new_v311("a", &b""[..], QoS::AtMostOnce)).unwrap();
    assert!(!q0.has_packet_id());
    assert_eq!(q0.bytes().to_vec(), [0x30, 3, 0, 1, b'a']);
}

mod props {
    use bytes::{Bytes, BytesMut};
    use mqtt5_protocol::packet::publish::PublishPacket;
    use mqtt5_protocol::{Packet, QoS};
    use proptest::prelude::*;

    use super::super::codec::*;

    proptest! {
        /// Any PUBLISH the session could send decodes back to itself, in both versions, read
        /// whole or split at any point.
        #[test]
        fn publish_round_trips(
            topic in "[a-z0-9/]{1,20}",
            payload in proptest::collection::vec(any::<u8>(), 0..300),
            qos in 0u8..3,
            id in 1u16..,
            retain in any::<bool>(),
            v5 in any::<bool>(),
            split in any::<prop::sample::Index>(),
        ) {
            let qos = QoS::from(qos);
            let (version, mut p) = if v5 {
                (ProtocolVersion::V5, PublishPacket::new(topic, Bytes::from(payload), qos))
            } else {
                (ProtocolVersion::V311, PublishPacket::new_v311(topic, Bytes::from(payload), qos))
            };
            p.retain = retain;
            p.packet_id = (qos != QoS::AtMostOnce).then_some(id);
            let mut out = BytesMut::new();
            encode_publish(&p, &mut out).unwrap();
            let at = split.index(out.len() + 1);
            let mut d = Decoder::with_version(u32::MAX, version);
            d.extend(&out[..at]);
            let first = d.next_packet().unwrap();
            d.extend(&out[at..]);
            let got = match first {
                Some(p) => p,
                None => d.next_packet().unwrap().unwrap(),
            };
            let Packet::Publish(back) = got else { panic!("not a PUBLISH") };
            prop_assert_eq!(back.topic_name, p.topic_name);
            prop_assert_eq!(back.payload, p.payload);
            prop_assert_eq!(back.qos, p.qos);
            prop_assert_eq!(back.packet_id, p.packet_id);
            prop_assert_eq!(back.retain, p.retain);
            prop_assert_eq!(d.buffered(), 0);
        }
    }
}
