//! The program: what each input step does to the simulated connections and shards.

use super::*;

impl Sim {
    // ----- the program -----

    /// Runs the program in `input`.
    pub fn run_program(&mut self, input: &mut Input<'_>) {
        let mut steps = 0;
        while !input.is_empty() && steps < MAX_STEPS {
            steps += 1;
            let op = input.u8();
            if trace() {
                eprintln!("step {steps}: op {:#04x}", op);
            }
            let slot = usize::from(op >> 4) % SLOTS;
            match op & 0x0f {
                0 | 1 => {
                    if self.slots[slot].is_none() {
                        let shard = if op & 0x80 != 0 { 1 } else { slot % SHARDS };
                        let serializer = input.pick(&SERIALIZERS);
                        let auth = input.pick(&AUTHS);
                        self.slots[slot] = Some(self.open(shard, serializer, auth));
                    }
                }
                2 => {
                    if let Some(conn) = self.slots[slot].take() {
                        self.close(conn);
                    }
                }
                3 => {
                    let len = input.below(64);
                    let mut data = input.take(len).to_vec();
                    if let Some(conn) = self.slots[slot] {
                        self.bytes(conn, &mut data);
                    }
                }
                4..=9 => {
                    if let Some(conn) = self.slots[slot] {
                        let msg = self.build(input, conn);
                        self.send(conn, &msg);
                    }
                }
                10 | 11 => {
                    let from = input.below(SHARDS);
                    let to = input.below(SHARDS);
                    self.deliver(from, to);
                }
                12 => {
                    // Deliver everything, in an order drawn from one seed byte.
                    let mut state = u32::from(input.u8()) | 1;
                    self.settle_with(|n| {
                        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                        (state >> 16) as usize % n
                    });
                }
                13 => {
                    let by = input.pick(&[0u64, 1, 100, 999, 5_000, 10_001, 60_000, 3_600_000]);
                    self.advance(Duration::from_millis(by));
                }
                14 => {
                    if let Some(conn) = self.slots[slot] {
                        if let Some(c) = self.conns.get(&conn) {
                            if !c.closing {
                                let shard = c.shard;
                                self.cores[shard].handle_malformed(conn, "fuzz: malformed");
                                self.drain(shard);
                            }
                        }
                    }
                }
                _ => {
                    // Answer an invocation this slot received.
                    if let Some(conn) = self.slots[slot] {
                        let mine: Vec<u64> = self
                            .invocations
                            .iter()
                            .filter(|(c, _)| *c == conn)
                            .map(|(_, r)| *r)
                            .collect();
                        if let Some(&request) = mine.get(input.below(mine.len().max(1))) {
                            let msg = if input.bool() {
                                let mut options = Dict::new();
                                if input.bool() {
                                    options.insert("progress", true);
                                }
                                Message::Yield {
                                    request,
                                    options,
                                    payload: self.payload(input),
                                }
                            } else {
                                Message::Error {
                                    request_type: 68,
                                    request,
                                    details: Dict::new(),
                                    error: input.pick(&["com.err", "wamp.error.canceled"]).into(),
                                    payload: self.payload(input),
                                }
                            };
                            self.send(conn, &msg);
                        }
                    }
                }
            }
        }
    }

    fn id(&self, input: &mut Input<'_>) -> u64 {
        if !self.ids.is_empty() && input.bool() {
            self.ids[input.below(self.ids.len())]
        } else {
            input.pick(&[0, 1, 2, MAX_ID, 4_242])
        }
    }

    fn request(input: &mut Input<'_>) -> u64 {
        input.pick(&[1, 2, 3, 4, 5, 0, MAX_ID])
    }

    fn uri(input: &mut Input<'_>) -> String {
        let i = input.below(URIS.len() + 1);
        match URIS.get(i) {
            Some(u) => (*u).into(),
            None => {
                let len = input.below(12);
                String::from_utf8_lossy(input.take(len)).into_owned()
            }
        }
    }

    fn procedure(input: &mut Input<'_>) -> String {
        if input.bool() {
            input.pick(META).into()
        } else {
            Self::uri(input)
        }
    }

    fn value(&self, input: &mut Input<'_>, depth: usize) -> Value {
        match input.below(if depth > 1 { 9 } else { 11 }) {
            0 => Value::Null,
            1 => Value::Bool(input.bool()),
            2 => Value::Int(input.u64() as i64),
            3 => Value::UInt(input.u64() | (1 << 63)),
            4 => Value::Float(f64::from_bits(input.u64())),
            5 => Value::Str(
                input
                    .pick(&["", "a", "\0AQI=", "\0", "\u{fffd}", "com.a"])
                    .into(),
            ),
            6 => {
                let len = input.below(8);
                Value::Bytes(input.take(len).to_vec())
            }
            7 | 8 => Value::from(self.id(input)),
            9 => {
                let n = input.below(4);
                Value::List((0..n).map(|_| self.value(input, depth + 1)).collect())
            }
            _ => Value::Dict(self.dict(input, depth + 1)),
        }
    }

    fn dict(&self, input: &mut Input<'_>, depth: usize) -> Dict {
        let n = input.below(4);
        let mut d = Dict::new();
        for _ in 0..n {
            let key = input.pick(&["a", "b", "topic", "match", "", "\0x"]);
            d.insert(key, self.value(input, depth));
        }
        d
    }

    fn payload(&self, input: &mut Input<'_>) -> Payload {
        match input.below(4) {
            0 => Payload::empty(),
            1 => {
                let n = input.below(4);
                Payload::args((0..n).map(|_| self.value(input, 0)).collect())
            }
            2 => {
                let first = if input.bool() {
                    Value::from(self.id(input))
                } else {
                    Value::Str(Self::uri(input))
                };
                Payload::args(vec![first, self.value(input, 0)])
            }
            _ => Payload {
                args: Some(vec![self.value(input, 0)]),
                kwargs: Some(self.dict(input, 0)),
            },
        }
    }

    fn id_list(&self, input: &mut Input<'_>) -> Value {
        let n = input.below(3);
        Value::List((0..n).map(|_| Value::from(self.id(input))).collect())
    }

    /// A message for `conn` to send, built from the input.
    fn build(&mut self, input: &mut Input<'_>, conn: ConnId) -> Message {
        let request = Self::request(input);
        let bits = input.u8();
        let bit = |n: u8| bits & (1 << n) != 0;
        let policy = ["exact", "prefix", "wildcard", "bogus"][usize::from(bits >> 6)];
        match input.below(22) {
            0..=2 => {
                let mut details = Dict::new();
                if bit(0) || bit(1) {
                    let features = Dict::new()
                        .with("call_canceling", bit(0))
                        .with("progressive_call_results", bit(1));
                    let roles =
                        Dict::new().with("callee", Dict::new().with("features", features.clone()));
                    details.insert(
                        "roles",
                        roles.with("caller", Dict::new().with("features", features)),
                    );
                }
                if bit(2) {
                    let methods: Vec<Value> = match (bit(3), bit(5)) {
                        (false, false) => vec!["anonymous".into()],
                        (true, false) => vec!["ticket".into()],
                        (true, true) => vec!["ticket".into(), "anonymous".into()],
                        (false, true) => vec!["wampcra".into(), "cryptosign".into()],
                    };
                    details.insert("authmethods", Value::List(methods));
                }
                if bit(4) {
                    details.insert("authid", if bit(5) { "fuzzer" } else { "joe" });
                }
                let realm = ["realm1", "realm1", "realm2", "nope"][usize::from(bits >> 6)];
                Message::Hello {
                    realm: realm.into(),
                    details,
                }
            }
            3 => Message::Goodbye {
                details: Dict::new(),
                reason: ["wamp.close.normal", "wamp.close.goodbye_and_out", "x", ""]
                    [usize::from(bits & 3)]
                .into(),
            },
            4 => Message::Abort {
                details: Dict::new(),
                reason: "wamp.close.normal".into(),
            },
            5 | 6 => {
                let mut options = Dict::new();
                if bit(0) {
                    options.insert("match", policy);
                }
                if bit(1) {
                    options.insert("get_retained", true);
                }
                Message::Subscribe {
                    request,
                    options,
                    topic: Self::uri(input),
                }
            }
            7 => Message::Unsubscribe {
                request,
                subscription: self.id(input),
            },
            8..=10 => {
                let mut options = Dict::new();
                if bit(0) {
                    options.insert("acknowledge", true);
                }
                if bit(1) {
                    options.insert("exclude_me", bit(6));
                }
                if bit(2) {
                    options.insert("exclude", self.id_list(input));
                }
                if bit(3) {
                    options.insert("eligible", self.id_list(input));
                }
                if bit(4) {
                    options.insert("retain", true);
                }
                if bit(5) {
                    options.insert("disclose_me", true);
                }
                if bit(7) {
                    let key = input.pick(&[
                        "exclude_authrole",
                        "eligible_authrole",
                        "exclude_authid",
                        "eligible_authid",
                        "ppt_scheme",
                    ]);
                    let name = input.pick(&["anonymous", "trusted", "fuzzer"]);
                    options.insert(key, Value::List(vec![name.into()]));
                }
                Message::Publish {
                    request,
                    options,
                    topic: Self::uri(input),
                    payload: self.payload(input),
                }
            }
            11 | 12 => {
                let mut options = Dict::new();
                if bit(0) {
                    options.insert("match", policy);
                }
                if bit(1) {
                    let invoke =
                        input.pick(&["single", "roundrobin", "random", "first", "last", "x"]);
                    options.insert("invoke", invoke);
                }
                if bit(2) {
                    options.insert("force_reregister", true);
                }
                if bit(3) {
                    options.insert("disclose_caller", true);
                }
                Message::Register {
                    request,
                    options,
                    procedure: Self::uri(input),
                }
            }
            13 => Message::Unregister {
                request,
                registration: self.id(input),
            },
            14..=16 => {
                let mut options = Dict::new();
                if bit(0) {
                    let timeout = input.pick(&[0u64, 1, 100, 5_000, MAX_ID]);
                    options.insert("timeout", timeout);
                }
                if bit(1) {
                    options.insert("receive_progress", true);
                }
                if bit(2) {
                    options.insert("progress", true);
                }
                if bit(3) {
                    options.insert("disclose_me", true);
                }
                Message::Call {
                    request,
                    options,
                    procedure: Self::procedure(input),
                    payload: self.payload(input),
                }
            }
            17 => {
                let mut options = Dict::new();
                if bit(0) {
                    let mode = input.pick(&["skip", "kill", "killnowait", "x"]);
                    options.insert("mode", mode);
                }
                Message::Cancel { request, options }
            }
            18 => {
                let mut options = Dict::new();
                if bit(0) {
                    options.insert("progress", true);
                }
                Message::Yield {
                    request: self.invocation_or_id(input, conn),
                    options,
                    payload: self.payload(input),
                }
            }
            19 => Message::Error {
                request_type: input.pick(&[68, 48, 16, 32, 64, 3]),
                request: self.invocation_or_id(input, conn),
                details: Dict::new(),
                error: input.pick(&["com.err", "wamp.error.canceled", ""]).into(),
                payload: self.payload(input),
            },
            20 => Message::Authenticate {
                signature: if bit(0) { "secret" } else { "x" }.into(),
                extra: Dict::new(),
            },
            // Messages only a router sends: a protocol violation from a client.
            _ => match bits & 7 {
                0 => Message::Welcome {
                    session: 1,
                    details: Dict::new(),
                },
                1 => Message::Event {
                    subscription: self.id(input),
                    publication: 1,
                    details: Dict::new(),
                    payload: Payload::empty(),
                },
                2 => Message::Result {
                    request,
                    details: Dict::new(),
                    payload: Payload::empty(),
                },
                3 => Message::Invocation {
                    request,
                    registration: self.id(input),
                    details: Dict::new(),
                    payload: Payload::empty(),
                },
                4 => Message::Interrupt {
                    request,
                    options: Dict::new(),
                },
                5 => Message::Published {
                    request,
                    publication: 1,
                },
                6 => Message::Challenge {
                    method: "ticket".into(),
                    extra: Dict::new(),
                },
                _ => Message::Unsubscribed {
                    request,
                    details: Dict::new(),
                },
            },
        }
    }

    fn invocation_or_id(&self, input: &mut Input<'_>, conn: ConnId) -> u64 {
        let mine: Vec<u64> = self
            .invocations
            .iter()
            .filter(|(c, _)| *c == conn)
            .map(|(_, r)| *r)
            .collect();
        if !mine.is_empty() && input.bool() {
            mine[input.below(mine.len())]
        } else {
            self.id(input)
        }
    }
}
