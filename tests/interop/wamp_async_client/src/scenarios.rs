//! The scenarios, one per process (see main.rs for the output format).

use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{json, Value};
use tokio::sync::mpsc::UnboundedReceiver;
use wamp_async::{WampArgs, WampError, WampId, WampKwArgs};

use crate::out::{emit, error_json, payload};
use crate::session::{self, id_u64, Session, Target};
use crate::{wire, Opts};

type Payload = (Option<WampArgs>, Option<WampKwArgs>);
/// What `Client::subscribe` returns (wamp_async does not export its name).
type SubscriptionQueue = UnboundedReceiver<(WampId, Option<WampArgs>, Option<WampKwArgs>)>;

fn fail(msg: impl Into<String>) -> Value {
    json!({"exception": msg.into()})
}

fn fail_wamp(what: &str, e: &WampError) -> Value {
    let mut v = error_json(e);
    v["exception"] = json!(format!("{what}: {e}"));
    v
}

pub async fn run(o: &Opts) -> Result<(), Value> {
    match o.scenario.as_str() {
        "join" => join(o).await,
        "subscribe" => subscribe(o).await,
        "publish" => publish(o).await,
        "callee" => callee(o).await,
        "call" => call(o).await,
        "burst" => burst(o).await,
        "register" => register(o).await,
        "exclude-me" => exclude_me(o).await,
        "lifecycle" => lifecycle(o).await,
        "meta" => meta(o).await,
        "bad-uri" => bad_uri(o).await,
        other => Err(fail(format!("unknown scenario {other}"))),
    }
}

/// Opens a session that the scenario needs (a refusal is a failure here).
async fn open(t: &Target) -> Result<Session, Value> {
    let s = session::open(t).await.map_err(|mut v| {
        v["exception"] = json!("could not open the session");
        v
    })?;
    emit(
        "JOINED",
        json!({"session": s.id, "serializer": s.serializer, "url": t.url, "realm": t.realm}),
    );
    Ok(s)
}

async fn close(o: &Opts, s: Session) {
    emit("LEFT", session::leave(s, o.step()).await);
}

/// A string of `n` octets: "abc...xyz0123456789" repeated (the test builds the same).
fn big(n: usize) -> String {
    const PATTERN: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..n).map(|i| PATTERN[i % PATTERN.len()] as char).collect()
}

/// A payload file's values as wamp_async sends them: `{"__bytes__": hex}` becomes the
/// WAMP JSON binary convention, a string of "\0" + base64 (wamp_async's payloads are
/// serde_json values: it has no binary type of its own).
fn from_tagged(v: &Value) -> Result<Value, String> {
    Ok(match v {
        Value::Object(m) if m.len() == 1 && m.contains_key("__bytes__") => {
            let h = m["__bytes__"].as_str().ok_or("__bytes__ is not a string")?;
            let bytes = (0..h.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(h.get(i..i + 2).unwrap_or("x"), 16))
                .collect::<Result<Vec<u8>, _>>()
                .map_err(|_| format!("bad hex {h}"))?;
            Value::String(format!("\0{}", B64.encode(bytes)))
        }
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| Ok((k.clone(), from_tagged(x)?)))
                .collect::<Result<_, String>>()?,
        ),
        Value::Array(a) => Value::Array(a.iter().map(from_tagged).collect::<Result<_, _>>()?),
        other => other.clone(),
    })
}

/// The payload to send: `--payload FILE` (args and kwargs of a tagged JSON file),
/// `--args JSON` / `--kwargs JSON`, or `--big N` (one string of N octets).
fn load_payload(o: &Opts) -> Result<Payload, Value> {
    let parse = |s: &str| serde_json::from_str::<Value>(s).map_err(|e| fail(format!("{e}: {s}")));
    let (mut args, mut kwargs) = (None, None);
    if let Some(path) = o.get("payload") {
        let text = std::fs::read_to_string(path).map_err(|e| fail(format!("{path}: {e}")))?;
        let v = from_tagged(&parse(&text)?).map_err(fail)?;
        args = v.get("args").and_then(Value::as_array).cloned();
        kwargs = v.get("kwargs").and_then(Value::as_object).cloned();
    }
    if let Some(a) = o.get("args") {
        args = Some(
            parse(a)?
                .as_array()
                .cloned()
                .ok_or_else(|| fail("--args is not a list"))?,
        );
    }
    if let Some(k) = o.get("kwargs") {
        kwargs = Some(
            parse(k)?
                .as_object()
                .cloned()
                .ok_or_else(|| fail("--kwargs is not an object"))?,
        );
    }
    if o.get("big").is_some() {
        args = Some(vec![Value::String(big(o.num("big", 0).map_err(fail)?))]);
    }
    Ok((args, kwargs))
}

fn first_arg(args: &Option<WampArgs>) -> Value {
    args.as_ref()
        .and_then(|a| a.first())
        .cloned()
        .unwrap_or(Value::Null)
}

/// The details of the last RESULT received after `mark` (JSON only: wamp_async drops them).
fn result_details(mark: usize) -> Value {
    match wire::results_since(mark).last().map(|w| &w.value) {
        Some(Value::Array(m)) => m.get(2).cloned().unwrap_or(Value::Null),
        _ => Value::Null,
    }
}

/// A CALL that must work: `wamp.session.count`. Shows that the session is still open.
async fn alive(s: &mut Session) {
    let r = s.client.call("wamp.session.count", None, None).await;
    let st = session::status(s);
    match r {
        Ok((a, _)) => emit(
            "ALIVE",
            json!({"ok": true, "count": first_arg(&a), "status": st}),
        ),
        Err(e) => emit(
            "ALIVE",
            json!({"ok": false, "error": error_json(&e), "status": st}),
        ),
    }
}

/// Registers an endpoint that prints INVOKED (unless `quiet`) and echoes its payload, or
/// fails (`error` mode: wamp_async turns the Err into an ERROR of its own URI).
async fn register_endpoint(
    s: &Session,
    procedure: &str,
    fails: bool,
    quiet: bool,
) -> Result<u64, WampError> {
    let id = s
        .client
        .register(procedure, move |args, kwargs| async move {
            if !quiet {
                emit("INVOKED", payload(&args, &kwargs));
            }
            if fails {
                Err(WampError::UnknownError(
                    "the callee failed on purpose".into(),
                ))
            } else {
                Ok((args, kwargs))
            }
        })
        .await?;
    Ok(id_u64(id))
}

// ---------------------------------------------------------------------------

/// Joins (a refusal is printed as ERROR with the stage and the URI of the ABORT), optionally
/// reads its own session with `wamp.session.get` (`--session-get`), then leaves; or, with
/// `--stay`, waits until the router ends the session.
async fn join(o: &Opts) -> Result<(), Value> {
    let mark = wire::mark();
    let mut s = match session::open(&o.target).await {
        Ok(s) => s,
        Err(v) => {
            emit("ERROR", v);
            emit("DONE", json!({}));
            return Ok(());
        }
    };
    emit(
        "JOINED",
        json!({"session": s.id, "serializer": s.serializer, "realm": o.target.realm}),
    );
    if o.flag("session-get") {
        match s
            .client
            .call("wamp.session.get", Some(vec![json!(s.id)]), None)
            .await
        {
            Ok((a, _)) => emit("SESSION", json!({"details": first_arg(&a)})),
            Err(e) => emit("SESSION", json!({"error": error_json(&e)})),
        }
    }
    if o.flag("stay") {
        emit("READY", json!({"session": s.id}));
        let st = session::until_disconnected(&mut s).await;
        let goodbye = wire::wait_for(6, mark, Duration::ZERO).await;
        emit(
            "DISCONNECTED",
            json!({
                "status": st,
                "goodbye": goodbye.as_ref().and_then(|w| w.reason()),
                "message": goodbye.map(|w| w.value),
            }),
        );
    } else {
        close(o, s).await;
    }
    emit("DONE", json!({}));
    Ok(())
}

async fn subscribe(o: &Opts) -> Result<(), Value> {
    let topic = o.req("topic").map_err(fail)?;
    let count = o.num("count", 1).map_err(fail)?;
    let quiet = o.flag("quiet");
    let mut s = open(&o.target).await?;
    let (sub, mut queue) = s
        .client
        .subscribe(topic)
        .await
        .map_err(|e| fail_wamp("subscribe", &e))?;
    emit("READY", json!({"subscription": id_u64(sub)}));
    let mut firsts = Vec::new();
    for _ in 0..count {
        match queue.recv().await {
            Some((publication, args, kwargs)) => {
                if quiet {
                    firsts.push(first_arg(&args));
                } else {
                    let mut v = payload(&args, &kwargs);
                    v["publication"] = json!(id_u64(publication));
                    emit("EVENT", v);
                }
            }
            None => {
                return Err(json!({
                    "exception": "the event queue closed: the client's event loop ended",
                    "status": session::status(&mut s),
                }))
            }
        }
    }
    if quiet {
        emit("EVENTS", json!({"args0": firsts}));
    }
    close(o, s).await;
    emit("DONE", json!({}));
    Ok(())
}

/// Publishes the payload `--count` times (`--ack`: acknowledged, PUBLISHED printed), or with
/// `--sequence` the integers 0..count unacknowledged and then `count` acknowledged.
async fn publish(o: &Opts) -> Result<(), Value> {
    let topic = o.req("topic").map_err(fail)?;
    let count = o.num("count", 1).map_err(fail)?;
    let (args, kwargs) = load_payload(o)?;
    let s = open(&o.target).await?;
    let mut outcomes = Vec::new();
    if o.flag("sequence") {
        for i in 0..count {
            outcomes.push(
                s.client
                    .publish(topic, Some(vec![json!(i)]), None, false)
                    .await,
            );
        }
        outcomes.push(
            s.client
                .publish(topic, Some(vec![json!(count)]), None, true)
                .await,
        );
    } else {
        let ack = o.flag("ack");
        for _ in 0..count {
            outcomes.push(
                s.client
                    .publish(topic, args.clone(), kwargs.clone(), ack)
                    .await,
            );
        }
    }
    for r in outcomes {
        match r {
            Ok(Some(id)) => emit("PUBLISHED", json!({"publication": id_u64(id)})),
            Ok(None) => {}
            Err(e) => emit("ERROR", error_json(&e)),
        }
    }
    close(o, s).await;
    emit("DONE", json!({}));
    Ok(())
}

/// Registers `--procedure` (`--mode echo|error`), answers `--count` invocations, leaves.
async fn callee(o: &Opts) -> Result<(), Value> {
    let procedure = o.req("procedure").map_err(fail)?;
    let count = o.num("count", 1).map_err(fail)?;
    let fails = match o.get("mode").unwrap_or("echo") {
        "echo" => false,
        "error" => true,
        m => return Err(fail(format!("unknown mode {m}"))),
    };
    let mut s = open(&o.target).await?;
    let reg = register_endpoint(&s, procedure, fails, o.flag("quiet"))
        .await
        .map_err(|e| fail_wamp("register", &e))?;
    emit("READY", json!({"registration": reg, "session": s.id}));
    for _ in 0..count {
        if s.answered.recv().await.is_none() {
            return Err(json!({
                "exception": "the RPC queue closed: the client's event loop ended",
                "status": session::status(&mut s),
            }));
        }
    }
    close(o, s).await;
    emit("DONE", json!({}));
    Ok(())
}

/// Calls `--procedure` with the payload (`--repeat` times); prints RESULT (with the RESULT
/// details read off the wire, JSON only) or ERROR; `--check-alive`: then one more call that
/// must work.
async fn call(o: &Opts) -> Result<(), Value> {
    let procedure = o.req("procedure").map_err(fail)?;
    let repeat = o.num("repeat", 1).map_err(fail)?;
    let (args, kwargs) = load_payload(o)?;
    let mut s = open(&o.target).await?;
    for _ in 0..repeat {
        let mark = wire::mark();
        match s.client.call(procedure, args.clone(), kwargs.clone()).await {
            Ok((a, k)) => {
                let mut v = payload(&a, &k);
                v["details"] = result_details(mark);
                emit("RESULT", v);
            }
            Err(e) => {
                let mut v = error_json(&e);
                v["status"] = session::status(&mut s);
                emit("ERROR", v);
            }
        }
    }
    if o.flag("check-alive") {
        alive(&mut s).await;
    }
    close(o, s).await;
    emit("DONE", json!({}));
    Ok(())
}

/// `--count` concurrent calls of `--procedure` with args [i]; each result must be [i].
async fn burst(o: &Opts) -> Result<(), Value> {
    let procedure = o.req("procedure").map_err(fail)?;
    let count = o.num("count", 100).map_err(fail)?;
    let s = open(&o.target).await?;
    let calls = (0..count).map(|i| s.client.call(procedure, Some(vec![json!(i)]), None));
    let results = futures::future::join_all(calls).await;
    let mut ok = 0;
    let mut bad = Vec::new();
    for (i, r) in results.iter().enumerate() {
        match r {
            Ok((a, _)) if first_arg(a) == json!(i) => ok += 1,
            Ok((a, k)) => bad.push(json!({"i": i, "got": payload(a, k)})),
            Err(e) => bad.push(json!({"i": i, "error": error_json(e)})),
        }
    }
    bad.truncate(10);
    emit("RESULTS", json!({"ok": ok, "bad": bad}));
    close(o, s).await;
    emit("DONE", json!({}));
    Ok(())
}

/// Registers `--procedure` (twice in this session with `--twice`); READY or ERROR for each.
/// `--then-call`: then calls it.
async fn register(o: &Opts) -> Result<(), Value> {
    let procedure = o.req("procedure").map_err(fail)?;
    let mut s = open(&o.target).await?;
    for _ in 0..if o.flag("twice") { 2 } else { 1 } {
        match register_endpoint(&s, procedure, false, false).await {
            Ok(id) => emit("READY", json!({"registration": id})),
            Err(e) => emit("ERROR", error_json(&e)),
        }
    }
    if o.flag("then-call") {
        match s
            .client
            .call(procedure, Some(vec![json!("after")]), None)
            .await
        {
            Ok((a, k)) => emit("RESULT", payload(&a, &k)),
            Err(e) => emit("ERROR", error_json(&e)),
        }
    }
    alive(&mut s).await;
    close(o, s).await;
    emit("DONE", json!({}));
    Ok(())
}

/// Waits on `queue` until an event whose first argument is `label`; every first argument
/// seen is appended to `seen`.
async fn wait_label(
    queue: &mut SubscriptionQueue,
    label: &str,
    seen: &mut Vec<Value>,
) -> Result<(), Value> {
    loop {
        match queue.recv().await {
            Some((_, args, _)) => {
                let first = first_arg(&args);
                seen.push(first.clone());
                if first == json!(label) {
                    return Ok(());
                }
            }
            None => return Err(fail(format!("event queue closed waiting for {label}"))),
        }
    }
}

async fn publish_ack(s: &Session, topic: &str, label: &str) -> Result<u64, Value> {
    match s
        .client
        .publish(topic, Some(vec![json!(label)]), None, true)
        .await
    {
        Ok(Some(id)) => Ok(id_u64(id)),
        Ok(None) => Err(fail("acknowledged publish without a publication id")),
        Err(e) => Err(fail_wamp("publish", &e)),
    }
}

/// Publisher exclusion with two sessions A and B subscribed to `--topic`: A publishes
/// "first" (B must get it, A must not), then B "second" (A gets it), then A "third" (B gets
/// it). Causality makes the check exact: had A got its own "first", it would have come
/// before "second", which B published only after receiving "first".
async fn exclude_me(o: &Opts) -> Result<(), Value> {
    let topic = o.req("topic").map_err(fail)?;
    let a = open(&o.target).await?;
    let b = open(&o.target2).await?;
    let (_, mut qa) = a
        .client
        .subscribe(topic)
        .await
        .map_err(|e| fail_wamp("subscribe A", &e))?;
    let (_, mut qb) = b
        .client
        .subscribe(topic)
        .await
        .map_err(|e| fail_wamp("subscribe B", &e))?;
    emit("READY", json!({"a": a.id, "b": b.id}));
    let (mut seen_a, mut seen_b) = (Vec::new(), Vec::new());
    publish_ack(&a, topic, "first").await?;
    wait_label(&mut qb, "first", &mut seen_b).await?;
    publish_ack(&b, topic, "second").await?;
    wait_label(&mut qa, "second", &mut seen_a).await?;
    publish_ack(&a, topic, "third").await?;
    wait_label(&mut qb, "third", &mut seen_b).await?;
    emit("DONE", json!({"a": seen_a, "b": seen_b}));
    close(o, a).await;
    close(o, b).await;
    Ok(())
}

fn step(name: &str, r: Result<Value, &WampError>) {
    match r {
        Ok(v) => emit("STEP", json!({"step": name, "ok": true, "result": v})),
        Err(e) => emit(
            "STEP",
            json!({"step": name, "ok": false, "error": error_json(e)}),
        ),
    }
}

/// UNSUBSCRIBE, UNREGISTER and a call to oneself, with sessions A and B:
/// A subscribes `--topic`, B publishes "one" (A gets it); A unsubscribes and subscribes
/// `--topic2`; B publishes "two" to the first topic and "three" to the second: A must get
/// "three" and nothing for the topic it left. A registers `--procedure`; B calls it; A calls
/// it itself; A unregisters; B's next call must fail with no_such_procedure.
async fn lifecycle(o: &Opts) -> Result<(), Value> {
    let t1 = o.req("topic").map_err(fail)?;
    let t2 = o.req("topic2").map_err(fail)?;
    let procedure = o.req("procedure").map_err(fail)?;
    let a = open(&o.target).await?;
    let b = open(&o.target2).await?;

    let (sub1, mut q1) = a
        .client
        .subscribe(t1)
        .await
        .map_err(|e| fail_wamp("subscribe", &e))?;
    publish_ack(&b, t1, "one").await?;
    let mut seen1 = Vec::new();
    wait_label(&mut q1, "one", &mut seen1).await?;
    step("event", Ok(json!(seen1)));
    let r = a.client.unsubscribe(sub1).await;
    step("unsubscribe", r.as_ref().map(|_| Value::Null));
    let (_, mut q2) = a
        .client
        .subscribe(t2)
        .await
        .map_err(|e| fail_wamp("subscribe", &e))?;
    publish_ack(&b, t1, "two").await?;
    publish_ack(&b, t2, "three").await?;
    let mut seen2 = Vec::new();
    wait_label(&mut q2, "three", &mut seen2).await?;
    let mut late = Vec::new();
    while let Ok((_, args, _)) = q1.try_recv() {
        late.push(first_arg(&args));
    }
    step(
        "after-unsubscribe",
        Ok(json!({"got": seen2, "late_queued": late, "late_events": wire::late_events()})),
    );

    let reg = a
        .client
        .register(procedure, |args, kwargs| async move { Ok((args, kwargs)) })
        .await
        .map_err(|e| fail_wamp("register", &e))?;
    let r = b.client.call(procedure, Some(vec![json!(1)]), None).await;
    step("call", r.as_ref().map(|(a, _)| first_arg(a)));
    let r = a.client.call(procedure, Some(vec![json!(2)]), None).await;
    step("self-call", r.as_ref().map(|(a, _)| first_arg(a)));
    let r = a.client.unregister(reg).await;
    step("unregister", r.as_ref().map(|_| Value::Null));
    let r = b.client.call(procedure, Some(vec![json!(3)]), None).await;
    step(
        "call-after-unregister",
        r.as_ref().map(|(a, _)| first_arg(a)),
    );

    close(o, a).await;
    close(o, b).await;
    emit("DONE", json!({}));
    Ok(())
}

/// The meta API by CALL: registers `--procedure` and subscribes `--topic`, then asks the
/// router about its own session, registration and subscription (META per call).
async fn meta(o: &Opts) -> Result<(), Value> {
    let procedure = o.req("procedure").map_err(fail)?;
    let topic = o.req("topic").map_err(fail)?;
    let s = open(&o.target).await?;
    let reg = register_endpoint(&s, procedure, false, false)
        .await
        .map_err(|e| fail_wamp("register", &e))?;
    let (sub, _queue) = s
        .client
        .subscribe(topic)
        .await
        .map_err(|e| fail_wamp("subscribe", &e))?;
    let sub = id_u64(sub);
    emit(
        "IDS",
        json!({"session": s.id, "registration": reg, "subscription": sub}),
    );
    let calls: Vec<(&str, Value)> = vec![
        ("wamp.session.count", json!([])),
        ("wamp.session.list", json!([])),
        ("wamp.session.get", json!([s.id])),
        ("wamp.registration.lookup", json!([procedure])),
        ("wamp.registration.match", json!([procedure])),
        ("wamp.registration.get", json!([reg])),
        ("wamp.registration.list_callees", json!([reg])),
        ("wamp.registration.count_callees", json!([reg])),
        ("wamp.subscription.lookup", json!([topic])),
        ("wamp.subscription.match", json!([topic])),
        ("wamp.subscription.get", json!([sub])),
        ("wamp.subscription.list_subscribers", json!([sub])),
        ("wamp.subscription.count_subscribers", json!([sub])),
        (
            "wamp.registration.lookup",
            json!([format!("{procedure}.nobody")]),
        ),
        ("wamp.session.get", json!([1])),
    ];
    for (name, args) in calls {
        let r = s.client.call(name, args.as_array().cloned(), None).await;
        match r {
            Ok((a, k)) => emit(
                "META",
                json!({"procedure": name, "args": args, "result": first_arg(&a),
                       "payload": payload(&a, &k)}),
            ),
            Err(e) => emit(
                "META",
                json!({"procedure": name, "args": args, "error": error_json(&e)}),
            ),
        }
    }
    close(o, s).await;
    emit("DONE", json!({}));
    Ok(())
}

/// Requests with an invalid URI (`--uri`, default "com..bad"), and a REGISTER of a URI in
/// the reserved `wamp.` space; `--steps` picks some of call, publish, subscribe, register,
/// register-reserved (default: all, in that order). A STEP line each, then ALIVE.
async fn bad_uri(o: &Opts) -> Result<(), Value> {
    let bad = o.get("uri").unwrap_or("com..bad");
    let steps = o
        .get("steps")
        .unwrap_or("call,publish,subscribe,register,register-reserved");
    let mut s = open(&o.target).await?;
    for name in steps.split(',') {
        let r = match name {
            "call" => s.client.call(bad, None, None).await.map(|_| ()),
            "publish" => s.client.publish(bad, None, None, true).await.map(|_| ()),
            "subscribe" => s.client.subscribe(bad).await.map(|_| ()),
            "register" => register_endpoint(&s, bad, false, false).await.map(|_| ()),
            "register-reserved" => register_endpoint(&s, "wamp.interop.reserved", false, false)
                .await
                .map(|_| ()),
            other => return Err(fail(format!("unknown step {other}"))),
        };
        step(name, r.as_ref().map(|_| Value::Null));
    }
    alive(&mut s).await;
    close(o, s).await;
    emit("DONE", json!({}));
    Ok(())
}
