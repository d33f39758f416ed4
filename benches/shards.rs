//! Routing between shards, in process (no sockets): the router CPU per delivery when
//! publications are spread over many topics with one subscriber each ("topic-sparse"), for 1, 4
//! and 16 shards. With interest-routed shards a publication crosses only to the shard of its
//! subscriber, so the cost per delivery should not grow with the number of shards.

use std::collections::VecDeque;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ferrobar::codec::Serializer;
mod common;

use common::anonymous_realm;
use ferrobar::router::{ConnId, Core, CoreConfig, Output, ShardMsg, TransportInfo};
use ferrobar::wamp::{Dict, Message, Payload, Value};

const TOPICS: usize = 1000;
const PUBLISHERS: usize = 4;

/// Every core of a node, run to quiescence in one thread.
struct Node {
    cores: Vec<Core>,
    mail: VecDeque<(usize, ShardMsg)>,
}

impl Node {
    fn new(shards: usize) -> Self {
        let realm = anonymous_realm();
        let sessions = Arc::new(ferrobar::router::RealmSessionCounts::default());
        let throttle = Arc::new(std::sync::Mutex::new(ferrobar::auth::FailureTracker::new(
            ferrobar::auth::ThrottleConfig::default(),
        )));
        let cores = (0..shards)
            .map(|shard| {
                Core::new(CoreConfig {
                    shard,
                    shards,
                    realms: vec![realm.clone()],
                    node_id: "bench".into(),
                    worker_id: "worker001".into(),
                    pid: 1,
                    seed: shard as u64 + 1,
                    start: std::time::Instant::now(),
                    hello_timeout: std::time::Duration::from_secs(10),
                    max_pending_calls: 1000,
                    realm_sessions: Arc::clone(&sessions),
                    crypto_seed: [7; 32],
                    throttle: Arc::clone(&throttle),
                    node_key: None,
                })
            })
            .collect();
        Node {
            cores,
            mail: VecDeque::new(),
        }
    }

    /// Hands `msg` to a connection's core and runs every core until nothing is left to do.
    /// Returns the EVENTs, RESULTs and other frames sent to connections.
    fn handle(&mut self, shard: usize, conn: ConnId, msg: Message) -> usize {
        self.cores[shard].handle_message(conn, msg);
        let mut sent = self.drain(shard);
        while let Some((to, msg)) = self.mail.pop_front() {
            self.cores[to].handle_shard(msg);
            sent += self.drain(to);
        }
        sent
    }

    fn drain(&mut self, shard: usize) -> usize {
        let mut sent = 0;
        while let Some(out) = self.cores[shard].poll_output() {
            match out {
                Output::Send { .. } => sent += 1,
                Output::SendMany { conns, .. } => sent += conns.len(),
                Output::ToShard { shard, msg } => self.mail.push_back((shard, msg)),
                Output::Close { .. } => {}
            }
        }
        sent
    }

    fn join(&mut self, shard: usize, conn: ConnId) {
        let info = TransportInfo {
            serializer: Serializer::MsgPack,
            peer: "bench".into(),
            auth: Arc::new(ferrobar::config::AuthConfig::default()),
            client_cert_sha1: None,
            channel_id: None,
            kind: ferrobar::router::Framing::WebSocket,
            cookie: None,
            max_message_len: usize::MAX,
        };
        self.cores[shard].handle_open(conn, info);
        let hello = Message::Hello {
            realm: "realm1".into(),
            details: Dict::new(),
        };
        self.handle(shard, conn, hello);
    }
}

fn topic(i: usize) -> String {
    format!("com.iot.dev{i}.temperature")
}

/// `TOPICS` subscribers, one per topic, spread over the shards; `PUBLISHERS` publishers on the
/// first shards.
fn topic_sparse(shards: usize) -> (Node, Vec<(usize, ConnId)>) {
    let mut node = Node::new(shards);
    for i in 0..TOPICS {
        let (shard, conn) = (i % shards, ConnId(i as u64 + 1));
        node.join(shard, conn);
        let subscribe = Message::Subscribe {
            request: 1,
            options: Dict::new(),
            topic: topic(i),
        };
        assert_eq!(node.handle(shard, conn, subscribe), 1, "SUBSCRIBED");
    }
    let publishers = (0..PUBLISHERS)
        .map(|p| {
            let (shard, conn) = (p % shards, ConnId((TOPICS + p) as u64 + 1));
            node.join(shard, conn);
            (shard, conn)
        })
        .collect();
    (node, publishers)
}

/// One publication through every core it touches. Not inlined, so that an instruction count
/// (`valgrind --tool=callgrind --toggle-collect='*route_one*'`) can be read per call.
#[inline(never)]
fn route_one(node: &mut Node, shard: usize, publisher: ConnId, publish: Message) -> usize {
    node.handle(shard, publisher, publish)
}

fn bench_topic_sparse(c: &mut Criterion) {
    let mut group = c.benchmark_group("topic_sparse_in_process");
    let payload = Payload::args(vec![Value::Str("x".repeat(64))]);
    for shards in [1, 4, 16] {
        let (mut node, publishers) = topic_sparse(shards);
        let mut next = 0usize;
        group.throughput(Throughput::Elements(1));
        group.bench_function(format!("{shards}_shards"), |b| {
            b.iter(|| {
                let (shard, publisher) = publishers[next % PUBLISHERS];
                let publish = Message::Publish {
                    request: 2,
                    options: Dict::new(),
                    topic: topic(next % TOPICS),
                    payload: payload.clone(),
                };
                next = next.wrapping_add(7);
                let sent = route_one(&mut node, shard, publisher, publish);
                assert_eq!(sent, 1, "one EVENT to the topic's subscriber");
                sent
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_topic_sparse);
criterion_main!(benches);
