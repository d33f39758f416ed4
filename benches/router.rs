//! Router benchmarks without sockets: the subscription index (exact, prefix, wildcard over
//! 10 k patterns; hits and misses; insert/remove) and in-process fan-out through the core
//! (one PUBLISH delivered to 1000 local subscribers, EVENT encoded once per serializer), and
//! the per-publication cost of static permissions against a dynamic authorizer's cached
//! decision.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ferrobar::codec::Serializer;
mod common;

use common::{allow_everything, anonymous_realm, realm_with_roles};
use ferrobar::config::{RealmConfig, RoleConfig};
use ferrobar::router::index::PatternIndex;
use ferrobar::router::{ConnId, Core, CoreConfig, Output, TransportInfo};
use ferrobar::wamp::uri::MatchPolicy;
use ferrobar::wamp::{Dict, Message, Payload, Value};

const PATTERNS: usize = 10_000;

fn filled(policy: MatchPolicy) -> PatternIndex<u64> {
    let mut index = PatternIndex::default();
    for i in 0..PATTERNS as u64 {
        let site = i % 100;
        let device = i / 100;
        let pattern = match policy {
            MatchPolicy::Exact => format!("com.iot.site{site}.dev{device}.temperature"),
            MatchPolicy::Prefix => format!("com.iot.site{site}.dev{device}."),
            MatchPolicy::Wildcard => format!("com.iot.site{site}..dev{device}"),
        };
        index.insert(policy, &pattern, i);
    }
    index
}

fn bench_index(c: &mut Criterion) {
    let mut group = c.benchmark_group("index");
    for (name, policy, hit, miss) in [
        (
            "exact",
            MatchPolicy::Exact,
            "com.iot.site7.dev42.temperature",
            "com.iot.site7.dev42.humidity",
        ),
        (
            "prefix",
            MatchPolicy::Prefix,
            "com.iot.site7.dev42.temperature",
            "com.iot.site7.devX.temperature",
        ),
        (
            "wildcard",
            MatchPolicy::Wildcard,
            "com.iot.site7.any.dev42",
            "com.iot.site7.any.devX",
        ),
    ] {
        let index = filled(policy);
        group.bench_function(format!("{name}_hit_10k"), |b| {
            b.iter(|| {
                let mut n = 0u64;
                index.for_each_match(black_box(hit), |id| n += id);
                n
            })
        });
        group.bench_function(format!("{name}_miss_10k"), |b| {
            b.iter(|| {
                let mut n = 0u64;
                index.for_each_match(black_box(miss), |id| n += id);
                n
            })
        });
    }
    let mut index = filled(MatchPolicy::Wildcard);
    group.bench_function("wildcard_insert_remove_10k", |b| {
        b.iter(|| {
            index.insert(MatchPolicy::Wildcard, "com.iot.new..x", 1);
            index.remove(MatchPolicy::Wildcard, "com.iot.new..x")
        })
    });
    group.finish();
}

/// A one-shard core serving `realm`.
fn one_shard_core(realm: RealmConfig) -> Core {
    Core::new(CoreConfig {
        shard: 0,
        shards: 1,
        realms: vec![realm],
        node_id: "bench".into(),
        worker_id: "worker001".into(),
        pid: 1,
        seed: 1,
        start: std::time::Instant::now(),
        hello_timeout: std::time::Duration::from_secs(10),
        max_pending_calls: 1000,
        realm_sessions: Default::default(),
        crypto_seed: [7; 32],
        throttle: Arc::new(std::sync::Mutex::new(ferrobar::auth::FailureTracker::new(
            ferrobar::auth::ThrottleConfig::default(),
        ))),
        node_key: None,
    })
}

fn core_with_subscribers(subscribers: u64, serializers: &[Serializer]) -> (Core, ConnId) {
    let mut core = one_shard_core(anonymous_realm());
    let auth = Arc::new(ferrobar::config::AuthConfig::default());
    for i in 0..=subscribers {
        let serializer = serializers[i as usize % serializers.len()];
        let conn = ConnId(i);
        core.handle_open(
            conn,
            TransportInfo {
                serializer,
                peer: "bench".into(),
                auth: Arc::clone(&auth),
                client_cert_sha1: None,
                channel_id: None,
                kind: ferrobar::router::Framing::WebSocket,
                cookie: None,
                max_message_len: usize::MAX,
            },
        );
        core.handle_message(
            conn,
            Message::Hello {
                realm: "realm1".into(),
                details: Dict::new(),
            },
        );
        if i > 0 {
            core.handle_message(
                conn,
                Message::Subscribe {
                    request: 1,
                    options: Dict::new(),
                    topic: "com.myapp.hello".into(),
                },
            );
        }
    }
    while core.poll_output().is_some() {}
    (core, ConnId(0))
}

fn bench_fanout(c: &mut Criterion) {
    let mut group = c.benchmark_group("fanout_in_process");
    let payload = Payload::args(vec![Value::Str("x".repeat(64))]);
    for (name, serializers) in [
        ("msgpack_1000", &[Serializer::MsgPack][..]),
        ("json_1000", &[Serializer::Json][..]),
        ("mixed_1000", &[Serializer::Json, Serializer::MsgPack][..]),
    ] {
        let (mut core, publisher) = core_with_subscribers(1000, serializers);
        group.throughput(Throughput::Elements(1000));
        group.bench_function(name, |b| {
            b.iter_batched(
                || Message::Publish {
                    request: 2,
                    options: Dict::new(),
                    topic: "com.myapp.hello".into(),
                    payload: payload.clone(),
                },
                |publish| {
                    core.handle_message(publisher, publish);
                    let (mut bytes, mut deliveries) = (0usize, 0usize);
                    while let Some(out) = core.poll_output() {
                        match out {
                            Output::Send { frame, .. } => {
                                bytes += frame.len();
                                deliveries += 1;
                            }
                            Output::SendMany { frame, conns } => {
                                bytes += frame.len() * conns.len();
                                deliveries += conns.len();
                            }
                            _ => {}
                        }
                    }
                    assert_eq!(deliveries, 1000, "one EVENT per subscriber");
                    bytes
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

/// One publisher and one subscriber; the publisher's role is static (`anonymous`) or dynamic
/// (`user`, decided by an authorizer whose first answer is `{allow, cache: true}`).
fn core_with_publisher(dynamic: bool) -> (Core, ConnId) {
    let realm = realm_with_roles(vec![
        RoleConfig {
            name: "anonymous".into(),
            permissions: allow_everything(),
            authorizer: None,
        },
        RoleConfig {
            name: "user".into(),
            permissions: Vec::new(),
            authorizer: Some("com.auth".into()),
        },
    ]);
    let mut core = one_shard_core(realm);
    let role = if dynamic { "user" } else { "anonymous" };
    let as_role = |role: &str| {
        use ferrobar::config::{AnonymousAuth, AuthConfig, AuthMethodConfig, Authenticator};
        Arc::new(AuthConfig {
            methods: vec![AuthMethodConfig::Anonymous(Authenticator::Static(
                AnonymousAuth {
                    role: role.into(),
                    authid: None,
                },
            ))],
        })
    };
    let (authorizer, subscriber, publisher) = (ConnId(0), ConnId(1), ConnId(2));
    for (conn, role) in [
        (authorizer, "anonymous"),
        (subscriber, "anonymous"),
        (publisher, role),
    ] {
        let info = TransportInfo {
            serializer: Serializer::MsgPack,
            peer: "bench".into(),
            auth: as_role(role),
            client_cert_sha1: None,
            channel_id: None,
            kind: ferrobar::router::Framing::WebSocket,
            cookie: None,
            max_message_len: usize::MAX,
        };
        core.handle_open(conn, info);
        let hello = Message::Hello {
            realm: "realm1".into(),
            details: Dict::new(),
        };
        core.handle_message(conn, hello);
    }
    let register = Message::Register {
        request: 1,
        options: Dict::new(),
        procedure: "com.auth".into(),
    };
    core.handle_message(authorizer, register);
    let subscribe = Message::Subscribe {
        request: 1,
        options: Dict::new(),
        topic: "com.myapp.hello".into(),
    };
    core.handle_message(subscriber, subscribe);
    while core.poll_output().is_some() {}
    // The first publication asks the authorizer; its answer is cached for the rest.
    let publish = Message::Publish {
        request: 1,
        options: Dict::new(),
        topic: "com.myapp.hello".into(),
        payload: Payload::empty(),
    };
    core.handle_message(publisher, publish);
    let mut invocation = None;
    while let Some(out) = core.poll_output() {
        if let Output::Send { conn, frame } = out {
            let mut bytes = frame.to_vec();
            if let (true, Ok(Message::Invocation { request, .. })) =
                (conn == authorizer, Serializer::MsgPack.decode(&mut bytes))
            {
                invocation = Some(request);
            }
        }
    }
    if let Some(request) = invocation {
        let answer = Dict::new().with("allow", true).with("cache", true);
        let yield_ = Message::Yield {
            request,
            options: Dict::new(),
            payload: Payload::args(vec![Value::Dict(answer)]),
        };
        core.handle_message(authorizer, yield_);
    }
    assert_eq!(
        invocation.is_some(),
        dynamic,
        "the authorizer is asked only for a dynamic role"
    );
    while core.poll_output().is_some() {}
    (core, publisher)
}

/// The cost of authorization per publication: static permissions against a dynamic role's
/// cached decision (one subscriber, so routing the event is a small part).
fn bench_authorization(c: &mut Criterion) {
    let mut group = c.benchmark_group("publish_1_subscriber");
    for (name, dynamic) in [("static_role", false), ("dynamic_role_cached", true)] {
        let (mut core, publisher) = core_with_publisher(dynamic);
        group.throughput(Throughput::Elements(1));
        group.bench_function(name, |b| {
            b.iter_batched(
                || Message::Publish {
                    request: 2,
                    options: Dict::new(),
                    topic: "com.myapp.hello".into(),
                    payload: Payload::args(vec![Value::Str("x".repeat(64))]),
                },
                |publish| {
                    core.handle_message(publisher, publish);
                    let mut sent = 0usize;
                    while let Some(out) = core.poll_output() {
                        if let Output::Send { .. } | Output::SendMany { .. } = out {
                            sent += 1;
                        }
                    }
                    assert_eq!(sent, 1, "one EVENT to the subscriber");
                    sent
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, bench_index, bench_fanout, bench_authorization);
criterion_main!(benches);
