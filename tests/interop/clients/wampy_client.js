// wampy.js interop client for the ferrobar tests (npm `wampy` 8.x on the `ws`
// package, under Node.js).
//
// One process runs one scenario with one or more real wampy sessions (each its
// own WebSocket connection, so the router sees independent clients) and
// prints one `TAG {json}` line per fact on stdout, like js_client.js. Binary
// values are printed as {"__bytes__": "<hex>"}; a BigInt (msgpackr decodes
// every uint64 as one) as the equal Number when exact, else {"__bigint__": "..."}.
// Every scenario ends with `DONE {...}` and exit code 0; a failure prints
// `FAIL {...}` (exit 1); the watchdog prints `FAIL` and exits 3 after --timeout s.
//
// usage: node wampy_client.js --url ws://127.0.0.1:PORT/ws [--unix SOCKET]
//            [--realm realm1] [--sers json,msgpack,cbor] [--via tcp,unix,tcp]
//            [--timeout S] [credentials] SCENARIO [--prefix URI] [scenario options]
//
//   --sers / --via  serializer and transport of session i: element i % length
//                   (tcp: --url; unix: WebSocket on the Unix socket --unix)
//   credentials     --ticket joe:TICKET --cra alice:SECRET --cra-salted bob:PASSWORD
//   --quiet yes     no JOINED lines
//   scenarios       join, pubsub, rpc, registrations, progressive-unsupported,
//                   progressive-call, binary, big, meta, undefined-options, retained,
//                   register-last,
//                   publish, subscribe, callee, call (the last four: one session
//                   with clients/payload.json, as js_client.js)
//
// wampy only speaks WebSocket. For a Unix socket it is given its own `ws`
// constructor (wampy's `ws` option), which opens ws+unix:// instead.

'use strict';

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const WebSocket = require('ws');

// ---------------------------------------------------------------- arguments

function parseArgs(argv) {
   const o = { realm: 'realm1', sers: 'json', via: 'tcp', timeout: 30, prefix: 'com.wampy.test',
               payload: path.join(__dirname, 'payload.json') };
   for (let i = 0; i < argv.length; i++) {
      const a = argv[i];
      if (a.startsWith('--')) {
         o[a.slice(2)] = argv[++i];
      } else if (!o.cmd) {
         o.cmd = a;
      } else {
         throw new Error('unexpected argument ' + a);
      }
   }
   o.timeout = Number(o.timeout);
   o.sers = o.sers.split(',');
   o.via = o.via.split(',');
   if (!o.url || !o.cmd) {
      throw new Error('usage: wampy_client.js --url URL [--sers json] SCENARIO ...');
   }
   return o;
}

const o = parseArgs(process.argv.slice(2));

function cred(name) {
   const v = o[name];
   if (!v) {
      throw new Error('--' + name + ' user:secret is needed');
   }
   const i = v.indexOf(':');
   return [v.slice(0, i), v.slice(i + 1)];
}

// ---------------------------------------------------------------- output

function bigintValue(v) {
   const n = Number(v);
   return BigInt(n) === v ? n : { __bigint__: v.toString() };
}

// A received value -> JSON-printable value. `json`: the value came over
// wamp.2.json, where binary is the WAMP convention "\0" + base64.
function norm(v, json) {
   if (v === undefined) {
      return null;
   }
   if (typeof v === 'bigint') {
      return bigintValue(v);
   }
   if (v instanceof Uint8Array || v instanceof ArrayBuffer) {
      return { __bytes__: Buffer.from(v).toString('hex') };
   }
   if (typeof v === 'string' && json && v.charCodeAt(0) === 0) {
      return { __bytes__: Buffer.from(v.slice(1), 'base64').toString('hex') };
   }
   if (Array.isArray(v)) {
      return v.map((x) => norm(x, json));
   }
   if (v !== null && typeof v === 'object') {
      const out = {};
      for (const k of Object.keys(v)) {
         out[k] = norm(v[k], json);
      }
      return out;
   }
   return v;
}

// A tagged value (payload.json) -> what a wampy user sends: a Uint8Array for
// binary (msgpack: bin; cbor: cbor-x writes tag 64), or "\0"+base64 on JSON,
// which wampy's JSON serializer does not do by itself.
function denorm(v, json) {
   if (Array.isArray(v)) {
      return v.map((x) => denorm(x, json));
   }
   if (v !== null && typeof v === 'object') {
      const keys = Object.keys(v);
      if (keys.length === 1 && keys[0] === '__bytes__') {
         return binary(Buffer.from(v.__bytes__, 'hex'), json);
      }
      const out = {};
      for (const k of keys) {
         out[k] = denorm(v[k], json);
      }
      return out;
   }
   return v;
}

function binary(buf, json) {
   return json ? '\u0000' + Buffer.from(buf).toString('base64') : new Uint8Array(buf);
}

function emit(tag, obj) {
   const s = JSON.stringify(obj === undefined ? null : obj, (k, v) => (typeof v === 'bigint' ? bigintValue(v) : v))
      .replace(/[\u007f-\uffff]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
   process.stdout.write(tag + ' ' + s + '\n');
}

function errorObj(e) {
   if (e && (e.errorUri !== undefined || e.code !== undefined)) {
      return { name: e.name, error: e.errorUri === undefined ? null : e.errorUri,
               args: norm(e.argsList || [], true), kwargs: norm(e.argsDict || {}, true),
               details: norm(e.details || {}, true), message: e.message };
   }
   return { name: e && e.name, error: null, exception: String(e && e.stack ? e.stack : e) };
}

function fail(e) {
   emit('FAIL', Object.assign(errorObj(e), { exception: String(e && e.stack ? e.stack : e) }));
   process.exit(1);
}

process.on('unhandledRejection', (e) => fail(e));

const watchdog = setTimeout(() => {
   emit('FAIL', { exception: 'watchdog: no completion after ' + o.timeout + 's' });
   process.exit(3);
}, o.timeout * 1000);

// ---------------------------------------------------------------- sessions

let W; // the wampy module, imported in main()
const SERIALIZERS = {};
let craSign;
const sessions = [];

const WAMP = { ERROR: 8, RESULT: 50, INTERRUPT: 69 };

// The `ws` constructor handed to wampy: `ws`'s WebSocket, on the Unix socket
// when asked, recording what a test checks at the wire: the close code and
// reason, and every incoming message, decoded (s.wire).
function socketClass(s) {
   return class TestSocket extends WebSocket {
      constructor(url, protocols) {
         const target = s.unix ? 'ws+unix://' + o.unix + ':' + new URL(url).pathname : url;
         super(target, protocols);
         this.on('close', (code, reason) => {
            s.close = { code, reason: reason.toString() };
         });
         this.on('message', (data, isBinary) => {
            try {
               const msg = isBinary ? s.serializer.decode(data) : JSON.parse(Buffer.from(data).toString('utf8'));
               s.wire.push(msg);
            } catch (e) {
               s.wire.push(['undecodable', String(e)]);
            }
         });
      }
   };
}

function authOptions(auth) {
   switch (auth) {
   case 'anonymous':
      return {};
   case 'ticket':
   case 'bad-ticket': {
      const [user, ticket] = cred('ticket');
      return { authid: user, authmethods: ['ticket'],
               onChallenge: () => (auth === 'ticket' ? ticket : ticket + '-wrong') };
   }
   case 'wampcra':
   case 'bad-cra': {
      const [user, secret] = cred('cra');
      return { authid: user, authmethods: ['wampcra'], authMode: 'auto',
               authPlugins: { wampcra: craSign(auth === 'wampcra' ? secret : secret + '-wrong') } };
   }
   case 'wampcra-salted': {
      // wampy's plugin derives the key from salt/iterations/keylen of the CHALLENGE
      const [user, secret] = cred('cra-salted');
      return { authid: user, authmethods: ['wampcra'], authMode: 'auto',
               authPlugins: { wampcra: craSign(secret) } };
   }
   default:
      throw new Error('unknown auth ' + auth);
   }
}

// Open session number `i` (its serializer and transport from --sers/--via).
async function open(label, i, extra) {
   extra = extra || {};
   const ser = extra.ser || o.sers[i % o.sers.length];
   const via = extra.via || o.via[i % o.via.length];
   const s = { label, ser, json: ser === 'json', unix: via === 'unix', wire: [], errors: [], close: null };
   s.serializer = new SERIALIZERS[ser]();
   s.w = new W.Wampy(extra.url || o.url, Object.assign({
      realm: extra.realm || o.realm,
      ws: socketClass(s),
      serializer: s.serializer,
      autoReconnect: false,
      onError: (e) => {
         s.errors.push(errorObj(e));
         emit('SESSION_ERROR', Object.assign({ session: label }, errorObj(e)));
      },
   }, authOptions(extra.auth || 'anonymous')));
   s.details = await s.w.connect();
   // with msgpack, ids above 2^32 arrive as BigInt (msgpackr); a user needs a
   // Number to put them into another session's options on JSON
   s.id = Number(s.w.getSessionId());
   const d = s.details;
   if (!o.quiet) {
      emit('JOINED', { session: label, id: s.id, ser, via, protocol: s.w._ws.protocol, realm: d.realm,
                       authid: d.authid, authrole: d.authrole, authmethod: d.authmethod,
                       authprovider: d.authprovider,
                       dealer: (d.roles.dealer || {}).features || {}, broker: (d.roles.broker || {}).features || {} });
   }
   sessions.push(s);
   return s;
}

// What a wampy user gets from a call / an event / an invocation, normalised.
function parts(s, r) {
   return { args: norm(r.argsList || [], s.json), kwargs: norm(r.argsDict || {}, s.json) };
}

// A promise and its resolver.
function deferred() {
   let resolve;
   const p = new Promise((r) => { resolve = r; });
   p.resolve = resolve;
   return p;
}

// Resolves when pred() holds; pred is re-checked by poke().
function waiter() {
   const waits = [];
   return {
      until(pred) {
         if (pred()) {
            return Promise.resolve();
         }
         const d = deferred();
         waits.push({ pred, d });
         return d;
      },
      poke() {
         for (let i = waits.length - 1; i >= 0; i--) {
            if (waits[i].pred()) {
               waits[i].d.resolve();
               waits.splice(i, 1);
            }
         }
      },
   };
}

async function expectError(p) {
   try {
      const r = await p;
      return { name: null, error: null, unexpected_result: norm(r, true) };
   } catch (e) {
      return errorObj(e);
   }
}

// wampy 8 writes every option of subscribe() into SUBSCRIBE.Options, also the
// ones left out, as `undefined`: msgpackr encodes that as an extension type,
// which no router accepts. A wampy user on msgpack must pass both.
function subOptions(extra) {
   return Object.assign({ match: 'exact', get_retained: false }, extra || {});
}

// A WAMP ID (up to 2^53) as a wampy user must hand it to session `s`: with
// msgpack and cbor a Number above 2^32 is written as a float64 (msgpackr,
// cbor-x), which a router may refuse as an ID; a BigInt is written as an
// integer. JSON.stringify refuses BigInts, so on JSON it stays a Number.
// --number-ids yes: hand over Numbers anyway (what wampy does itself for
// UNSUBSCRIBE/UNREGISTER with the ids cbor-x decoded as Numbers).
function idFor(s, id) {
   return s.json || o['number-ids'] ? Number(id) : BigInt(id);
}

// A small bounded retry for realm-wide meta answers that follow a leave
// (another shard learns of it asynchronously).
async function settle(ask, ok, ms) {
   const end = Date.now() + (ms || 3000);
   let v = await ask();
   while (!ok(v) && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 20));
      v = await ask();
   }
   return v;
}

function first(r) {
   return r.argsList && r.argsList.length ? r.argsList[0] : r.argsDict;
}

async function finish(obj) {
   for (const s of sessions) {
      if (s.w.getSessionId()) {
         await s.w.disconnect();
      }
   }
   emit('DONE', obj || {});
   clearTimeout(watchdog);
   setImmediate(() => process.exit(0));
}

// ---------------------------------------------------------------- scenarios

const scenarios = {};

// Join with each auth method in turn (--auths, default all), read the own
// session back with wamp.session.get, leave. Refusals print REFUSED.
scenarios.join = async () => {
   const auths = (o.auths || 'anonymous,ticket,wampcra,wampcra-salted,bad-ticket,bad-cra').split(',');
   for (const auth of auths) {
      let s;
      try {
         s = await open(auth, 0, { auth });
      } catch (e) {
         emit('REFUSED', Object.assign({ auth }, errorObj(e)));
         continue;
      }
      const meta = first(await s.w.call('wamp.session.get', [idFor(s, s.id)]));
      emit('SESSION', { auth, meta: norm(meta, s.json) });
      await s.w.disconnect();
      emit('LEFT', { auth, close: s.close });
   }
   emit('DONE', {});
   clearTimeout(watchdog);
   setImmediate(() => process.exit(0));
};

// Publish/subscribe: match policies, publisher exclusion, black/white lists,
// disclose_me, acknowledge, unsubscribe (retain: see `retained`; wampy 8.0.2
// checks publish()'s `retain` option but never sends it). Sessions: pub
// (anonymous), s1 (anonymous), s2 (ticket user), and u (anonymous, always
// JSON): wampy 8.0.2's unsubscribe() only works for a subscription made
// without options (for one with options its UNSUBSCRIBED handler throws a
// TypeError), and only JSON takes a subscribe() without options.
scenarios.pubsub = async () => {
   const P = o.prefix;
   const T = P + '.a.b';
   const pub = await open('pub', 0);
   const s1 = await open('s1', 1);
   const s2 = await open('s2', 2, { auth: 'ticket' });
   const u = await open('u', 3, { ser: 'json', via: 'tcp' });
   const events = { pub: [], s1: [], s2: [], u: [] };
   const w = waiter();
   const on = (s, sub) => ({ argsList, argsDict, details }) => {
      events[s.label].push({ sub, args: norm(argsList || [], s.json), kwargs: norm(argsDict || {}, s.json),
                             details: norm(details || {}, s.json) });
      w.poke();
   };
   const has = (label, sub, arg) => () => events[label].some((e) => e.sub === sub && e.args[0] === arg);

   await pub.w.subscribe(T, on(pub, 'exact'), subOptions());
   await s1.w.subscribe(T, on(s1, 'exact'), subOptions());
   await s1.w.subscribe(P + '.a', on(s1, 'prefix'), subOptions({ match: 'prefix' }));
   await s1.w.subscribe(P + '..b', on(s1, 'wildcard'), subOptions({ match: 'wildcard' }));
   await s2.w.subscribe(T, on(s2, 'exact'), subOptions());
   await u.w.subscribe(T, on(u, 'exact'));
   await u.w.subscribe(P + '.a', on(u, 'prefix'), { match: 'prefix' });
   emit('READY', {});

   const published = [];
   const publish = async (s, topic, args, opts) => {
      const r = await s.w.publish(topic, args, opts);
      published.push(r.publicationId);
   };
   const id = (x) => idFor(pub, x.id);
   await publish(pub, T, ['one']);
   await publish(pub, P + '.a.c', ['two']);
   await publish(pub, P + '.x.b', ['three']);
   await publish(pub, T, ['four'], { eligible: [id(s1)] });
   await publish(pub, T, ['five'], { exclude: [id(s1)] });
   await publish(pub, T, ['six'], { eligible_authid: s2.details.authid });
   await publish(pub, T, ['seven'], { exclude_authrole: s2.details.authrole });
   await publish(pub, T, ['eight'], { eligible_authrole: ['anonymous', s2.details.authrole],
                                      exclude_authid: [s2.details.authid] });
   await publish(pub, T, ['nine'], { disclose_me: true });
   // u's exact subscription ends (once it has 'nine': PUBLISHED does not wait
   // for the delivery); its prefix subscription still gets T
   await w.until(has('u', 'exact', 'nine'));
   await u.w.unsubscribe(T);
   await publish(pub, T, ['ten']);

   // fences: the last event each subscription gets from the same publisher on
   // the same topic (such events arrive in publication order)
   await publish(pub, T, ['fence']);
   await publish(s2, T, ['fence'], { eligible: [idFor(s2, pub.id)] });
   await w.until(has('s1', 'exact', 'fence'));
   await w.until(has('s1', 'prefix', 'fence'));
   await w.until(has('s1', 'wildcard', 'fence'));
   await w.until(has('s2', 'exact', 'fence'));
   await w.until(has('u', 'prefix', 'fence'));
   await w.until(has('pub', 'exact', 'fence'));
   await finish({ events, published, ids: { pub: pub.id, s1: s1.id, s2: s2.id, u: u.id } });
};

// Retained events (published by another client, --topic): session 0
// subscribes with get_retained, session 1 without; both print their events
// once the event `after` arrived.
scenarios.retained = async () => {
   const events = { asked: [], not_asked: [] };
   const w = waiter();
   const subs = [['asked', true], ['not_asked', false]];
   for (let i = 0; i < subs.length; i++) {
      const [label, getRetained] = subs[i];
      const s = await open(label, i);
      await s.w.subscribe(o.topic, ({ argsList, details }) => {
         events[label].push({ args: norm(argsList || [], s.json), details: norm(details || {}, s.json) });
         w.poke();
      }, subOptions({ get_retained: getRetained }));
   }
   emit('READY', {});
   for (const label of Object.keys(events)) {
      await w.until(() => events[label].some((e) => e.args[0] === 'after'));
   }
   await finish({ events });
};

// RPC between a wampy callee (session 0) and a wampy caller (session 1):
// --steps echo,error,progress,no-progress,cancel,timeout (default all);
// --call-timeout: CALL.Options.timeout of the timeout step (the realm's unit).
scenarios.rpc = async () => {
   const P = o.prefix;
   const steps = (o.steps || 'echo,error,progress,no-progress,cancel,timeout').split(',');
   const callee = await open('callee', 0);
   const caller = await open('caller', 1);
   const invoked = {}; // hang invocations by their first argument
   const seen = [];    // INVOCATION details the callee got
   const inv = (name) => ({ argsList, details }) => {
      seen.push({ procedure: name, args: norm(argsList || [], callee.json), details: norm(details || {}, callee.json) });
   };

   await callee.w.register(P + '.echo', (a) => {
      inv('echo')(a);
      return { argsList: a.argsList || [], argsDict: a.argsDict || {} };
   });
   await callee.w.register(P + '.fail', (a) => {
      inv('fail')(a);
      const e = new Error('application error');
      e.error = 'com.myapp.error1';
      e.argsList = ['custom error message', 42, { nested: [1, 'two', null] }];
      e.argsDict = { reason: 'raised by the callee', code: 7 };
      throw e;
   });
   // What the wampy README tells a callee: send progressive results when the
   // caller asked for them (details.receive_progress).
   await callee.w.register(P + '.progress', (a) => {
      inv('progress')(a);
      if (a.details.receive_progress) {
         for (let i = 0; i < 3; i++) {
            a.result_handler({ argsList: ['chunk', i], options: { progress: true } });
         }
      }
      return { argsList: ['done'], argsDict: { receive_progress: Boolean(a.details.receive_progress) } };
   });
   // A callee that sends progress whatever the caller asked for.
   await callee.w.register(P + '.always_progress', (a) => {
      inv('always_progress')(a);
      a.result_handler({ argsList: ['chunk', 0], options: { progress: true } });
      a.result_handler({ argsList: ['chunk', 1], options: { progress: true } });
      return { argsList: ['final'] };
   });
   await callee.w.register(P + '.hang', (a) => {
      inv('hang')(a);
      (invoked[a.argsList[0]] = invoked[a.argsList[0]] || deferred()).resolve();
      return new Promise(() => {}); // never answers
   });
   await callee.w.register(P + '.ping', () => ({ argsList: ['pong'] }));
   const invokedOnce = (key) => (invoked[key] = invoked[key] || deferred());
   emit('READY', {});

   const results = {};
   if (steps.includes('echo')) {
      const r = await caller.w.call(P + '.echo', { argsList: [1, 'two', { three: 3 }], argsDict: { k: 'v' } });
      results.echo = Object.assign(parts(caller, r), { details: norm(r.details || {}, caller.json) });
   }
   if (steps.includes('error')) {
      results.error = await expectError(caller.w.call(P + '.fail', ['x']));
   }
   if (steps.includes('progress')) {
      const chunks = [];
      const r = await caller.w.call(P + '.progress', ['p'], {
         progress_callback: (x) => chunks.push(Object.assign(parts(caller, x), { progress: x.details.progress })),
      });
      results.progress = { chunks, result: parts(caller, r), details: norm(r.details || {}, caller.json) };
   }
   if (steps.includes('no-progress')) {
      // no progress_callback: a progress RESULT reaching wampy here would be an
      // unhandled TypeError (it calls the missing progress callback)
      const r = await caller.w.call(P + '.always_progress', ['q']);
      results.no_progress = parts(caller, r);
   }
   if (steps.includes('cancel')) {
      results.cancel = {};
      for (const mode of ['skip', 'kill', 'killnowait']) {
         const p = caller.w.call(P + '.hang', [mode]);
         const reqId = caller.w.getOpStatus().reqId;
         await invokedOnce(mode);
         caller.w.cancel(reqId, { mode });
         results.cancel[mode] = await expectError(p);
      }
      // the callee never learns of the cancel (wampy has no INTERRUPT handler
      // and does not announce call_canceling); it must still be there
      results.cancel.ping = parts(caller, await caller.w.call(P + '.ping'));
   }
   if (steps.includes('timeout')) {
      const t0 = Date.now();
      const r = await expectError(caller.w.call(P + '.hang', ['timeout'], { timeout: Number(o['call-timeout']) }));
      results.timeout = Object.assign(r, { elapsed_ms: Date.now() - t0 });
      results.timeout.ping = parts(caller, await caller.w.call(P + '.ping'));
   }
   const interrupts = callee.wire.filter((m) => m[0] === WAMP.INTERRUPT).length;
   await finish({ results, seen, interrupts, callee_errors: callee.errors, caller_errors: caller.errors,
                  ids: { callee: callee.id, caller: caller.id }, callee_authid: callee.details.authid });
};

// Registrations (--steps shared,conflicts; default both). shared: shared
// registrations with each invocation policy, pattern-based registrations, a
// callee leaving a shared registration. conflicts: registering a procedure
// again with another policy. Sessions c1, c2, c3 (callees) and caller.
scenarios.registrations = async () => {
   const P = o.prefix;
   const steps = (o.steps || 'shared,conflicts').split(',');
   const cs = [await open('c1', 0), await open('c2', 1), await open('c3', 2)];
   const caller = await open('caller', 3);
   const out = {};
   const serve = (c) => ({ details }) => ({ argsList: [c.label, details.procedure === undefined ? null : details.procedure] });
   const served = async (uri, n) => {
      const got = [];
      for (let i = 0; i < n; i++) {
         got.push((await caller.w.call(uri)).argsList[0]);
      }
      return got;
   };

   if (steps.includes('shared')) {
      out.shared = {};
      for (const policy of ['roundrobin', 'first', 'last', 'random']) {
         for (const c of cs) {
            await c.w.register(P + '.' + policy, serve(c), { invoke: policy });
         }
         out.shared[policy] = await served(P + '.' + policy, 6);
      }
      // patterns: exact beats prefix beats wildcard
      out.pattern = [];
      await cs[0].w.register(P + '.pfx', serve(cs[0]), { match: 'prefix' });
      await cs[1].w.register(P + '..wc', serve(cs[1]), { match: 'wildcard' });
      await cs[2].w.register(P + '.pfx.exact', serve(cs[2]));
      for (const uri of [P + '.pfx.a.b', P + '.x.wc', P + '.pfx.exact', P + '.pfx.wc']) {
         const r = await caller.w.call(uri);
         out.pattern.push({ uri, served: r.argsList[0], procedure: r.argsList[1] });
      }
      // c1 leaves: the round robin goes on with c2 and c3
      await cs[0].w.disconnect();
      out.after_leave = await served(P + '.roundrobin', 4);
   }
   if (steps.includes('conflicts')) {
      const Q = P + '.conflict';
      out.errors = {};
      await cs[1].w.register(Q + '.first', serve(cs[1]), { invoke: 'first' });
      await cs[2].w.register(Q + '.first', serve(cs[2]), { invoke: 'first' });
      await cs[1].w.register(Q + '.single', serve(cs[1]));
      // another policy on a shared procedure; no policy (single) on a shared one
      out.errors.other_policy = await expectError(caller.w.register(Q + '.first', serve(caller), { invoke: 'last' }));
      out.errors.single_on_shared = await expectError(caller.w.register(Q + '.first', serve(caller)));
      // a single registration is taken, whatever policy the newcomer asks for
      out.errors.single_taken = await expectError(cs[2].w.register(Q + '.single', serve(cs[2])));
      out.errors.shared_on_single = await expectError(caller.w.register(Q + '.single', serve(caller), { invoke: 'roundrobin' }));
      // the shared registration still works, with its two callees
      out.first_still = await served(Q + '.first', 2);
   }
   await finish(out);
};

// --rounds times: three new sessions register one procedure with policy
// `last`, one after the other (each waiting for its REGISTERED), then a fourth
// new session calls it once. Counts the calls not served by the last one.
scenarios['register-last'] = async () => {
   const rounds = Number(o.rounds || 100);
   const stale = [];
   for (let k = 0; k < rounds; k++) {
      const P = o.prefix + '.last' + k;
      const cs = [await open('c0', 0), await open('c1', 1), await open('c2', 2)];
      const caller = await open('caller', 3);
      for (const c of cs) {
         await c.w.register(P, () => ({ argsList: [c.label] }), { invoke: 'last' });
      }
      const served = (await caller.w.call(P)).argsList[0];
      if (served !== 'c2') {
         stale.push({ round: k, served, ids: cs.map((c) => c.id).concat([caller.id]) });
      }
      for (const s of cs.concat([caller])) {
         await s.w.disconnect();
      }
      sessions.length = 0;
   }
   await finish({ rounds, stale });
};

// A progressive CALL (three chunks) to a wampy callee, which does not announce
// progressive_call_invocations. The caller's wire is read for every ERROR
// answering that call; then a plain call shows what the callee got.
scenarios['progressive-unsupported'] = async () => {
   const P = o.prefix + '.stream';
   const callee = await open('callee', 0);
   const caller = await open('caller', 1);
   const invocations = [];
   await callee.w.register(P, ({ argsList, details }) => {
      invocations.push({ args: norm(argsList || [], callee.json), details: norm(details || {}, callee.json) });
      return { argsList: ['ok'].concat(argsList || []) };
   });
   const { result, sendData } = caller.w.progressiveCall(P, ['chunk0']);
   const reqId = caller.w.getOpStatus().reqId;
   sendData(['chunk1'], { progress: true });
   sendData(['chunk2'], { progress: false });
   const outcome = await expectError(result);
   const after = parts(caller, await caller.w.call(P, ['after']));
   const answers = caller.wire.filter((m) => (m[0] === WAMP.ERROR && m[2] === reqId) || (m[0] === WAMP.RESULT && m[1] === reqId))
      .map((m) => (m[0] === WAMP.ERROR ? { type: 'ERROR', error: m[4] } : { type: 'RESULT' }));
   await finish({ outcome, answers, after, invocations, callee_errors: callee.errors, caller_errors: caller.errors });
};

// A progressive CALL in --chunks chunks to --procedure (a callee that announces
// progressive_call_invocations), asking for progressive results too.
scenarios['progressive-call'] = async () => {
   const caller = await open('caller', 0);
   const n = Number(o.chunks || 3);
   const progress = [];
   const { result, sendData } = caller.w.progressiveCall(o.procedure, ['chunk', 0], {
      progress_callback: (x) => progress.push(parts(caller, x)),
   });
   for (let i = 1; i < n; i++) {
      sendData(['chunk', i], { progress: i < n - 1 });
   }
   const r = await result;
   await finish({ progress, result: parts(caller, r) });
};

// Binary values from a sender (session 0) to receivers on every serializer
// (sessions 1..): as event payload and as call arguments echoed back.
scenarios.binary = async () => {
   const P = o.prefix + '.bin';
   const sender = await open('sender', 0);
   const receivers = [];
   for (let i = 1; i < o.sers.length; i++) {
      receivers.push(await open('r' + i + '_' + o.sers[i], i));
   }
   const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
   const payload = (s) => ({
      argsList: [binary(all, s.json), 'text', binary(Buffer.alloc(0), s.json)],
      argsDict: { b: binary(Buffer.from('00ff00', 'hex'), s.json), nested: { list: [binary(all.subarray(0, 3), s.json)] } },
   });
   const events = {};
   const invocations = {};
   const got = [];
   for (const r of receivers) {
      const d = deferred();
      got.push(d);
      await r.w.subscribe(P, (x) => {
         events[r.label] = parts(r, x);
         d.resolve();
      }, subOptions());
      await r.w.register(P + '.' + r.label, (x) => {
         invocations[r.label] = parts(r, x);
         return { argsList: x.argsList, argsDict: x.argsDict };
      });
   }
   await sender.w.publish(P, payload(sender));
   const results = {};
   for (const r of receivers) {
      results[r.label] = parts(sender, await sender.w.call(P + '.' + r.label, payload(sender)));
   }
   await Promise.all(got);
   await finish({ events, invocations, results });
};

// Big payloads (--sizes bytes,...): session 0 calls an echo of session 1 and
// publishes to it. Binary (Uint8Array) on msgpack/cbor, an ASCII string on JSON.
// A connection the router closes is reported, the scenario goes on.
scenarios.big = async () => {
   const P = o.prefix + '.big';
   const sizes = o.sizes.split(',').map(Number);
   const peer = await open('peer', 1);
   const got = { events: [], invocations: [] };
   const sha = (v) => crypto.createHash('sha256').update(Buffer.from(v)).digest('hex');
   const seen = (x) => ({ len: x.argsList[0].length, sha256: sha(x.argsList[0]) });
   const evWait = waiter();
   await peer.w.subscribe(P, (x) => { got.events.push(seen(x)); evWait.poke(); }, subOptions());
   await peer.w.register(P + '.echo', (x) => {
      got.invocations.push(seen(x));
      return { argsList: x.argsList };
   });
   const out = [];
   for (const size of sizes) {
      const s = await open('sender_' + size, 0);
      const buf = Buffer.alloc(size);
      for (let i = 0; i < size; i++) {
         buf[i] = s.json ? 0x61 + (i % 26) : (i * 7) & 0xff;
      }
      const value = s.json ? buf.toString('ascii') : new Uint8Array(buf);
      const sent = { len: size, sha256: sha(buf) };
      const entry = { size, sent };
      try {
         const before = got.events.length;
         await s.w.publish(P, [value]);
         await evWait.until(() => got.events.length > before);
         entry.event = got.events[got.events.length - 1];
         const r = await s.w.call(P + '.echo', [value]);
         entry.result = seen(r);
      } catch (e) {
         entry.error = errorObj(e);
      }
      await new Promise((r) => (s.close ? r() : s.w.disconnect().then(r, r)));
      entry.close = s.close;
      out.push(entry);
   }
   await finish({ results: out, peer: got });
};

// The meta API, seen from an observer session (anonymous) while a (anonymous)
// and b (ticket user) subscribe, register and leave.
scenarios.meta = async () => {
   const P = o.prefix;
   const c = await open('observer', 0);
   const metaEvents = {};
   const w = waiter();
   for (const topic of ['wamp.session.on_join', 'wamp.session.on_leave', 'wamp.subscription.on_subscribe',
                        'wamp.registration.on_register']) {
      metaEvents[topic] = [];
      await c.w.subscribe(topic, ({ argsList }) => {
         metaEvents[topic].push(norm(argsList || [], c.json));
         w.poke();
      }, subOptions());
   }
   const a = await open('a', 1);
   const b = await open('b', 2, { auth: 'ticket' });
   const call = async (uri, args) => norm(first(await c.w.call(uri, args)), c.json);
   const out = { ids: { observer: c.id, a: a.id, b: b.id } };
   await w.until(() => metaEvents['wamp.session.on_join'].some((x) => x[0] && x[0].session === b.id));

   out.count = await call('wamp.session.count');
   out.list = await call('wamp.session.list');
   out.list_user = await call('wamp.session.list', [[b.details.authrole]]);
   out.count_nobody = await call('wamp.session.count', [['no-such-role']]);
   out.get_b = await call('wamp.session.get', [idFor(c, b.id)]);
   out.get_missing = await expectError(c.w.call('wamp.session.get', [1]));

   await a.w.subscribe(P + '.t', () => {}, subOptions());
   await a.w.subscribe(P, () => {}, subOptions({ match: 'prefix' }));
   await b.w.subscribe(P + '.t', () => {}, subOptions());
   out.sub_lookup = await call('wamp.subscription.lookup', [P + '.t']);
   out.sub_lookup_prefix = await call('wamp.subscription.lookup', [P, { match: 'prefix' }]);
   out.sub_match = await call('wamp.subscription.match', [P + '.t']);
   out.sub_get = await call('wamp.subscription.get', [idFor(c, out.sub_lookup)]);
   out.sub_subscribers = await call('wamp.subscription.list_subscribers', [idFor(c, out.sub_lookup)]);
   out.sub_count = await call('wamp.subscription.count_subscribers', [idFor(c, out.sub_lookup)]);
   out.sub_list = await call('wamp.subscription.list');

   await a.w.register(P + '.p', () => 'a', { invoke: 'roundrobin' });
   await b.w.register(P + '.p', () => 'b', { invoke: 'roundrobin' });
   out.reg_lookup = await call('wamp.registration.lookup', [P + '.p']);
   out.reg_match = await call('wamp.registration.match', [P + '.p']);
   out.reg_get = await call('wamp.registration.get', [idFor(c, out.reg_lookup)]);
   out.reg_callees = await call('wamp.registration.list_callees', [idFor(c, out.reg_lookup)]);
   out.reg_count = await call('wamp.registration.count_callees', [idFor(c, out.reg_lookup)]);
   out.reg_list = await call('wamp.registration.list');
   out.reg_missing = await expectError(c.w.call('wamp.registration.get', [1]));

   await w.until(() => metaEvents['wamp.registration.on_register'].some((x) => x[0] === b.id));
   await w.until(() => metaEvents['wamp.subscription.on_subscribe'].some((x) => x[0] === b.id));

   // b leaves
   await b.w.disconnect();
   await w.until(() => metaEvents['wamp.session.on_leave'].some((x) => x[0] === b.id));
   out.list_after = await settle(() => call('wamp.session.list'), (l) => !l.includes(b.id));
   out.reg_callees_after = await settle(() => call('wamp.registration.list_callees', [idFor(c, out.reg_lookup)]),
                                        (l) => l.length === 1);
   out.sub_count_after = await settle(() => call('wamp.subscription.count_subscribers', [idFor(c, out.sub_lookup)]),
                                      (n) => n === 1);
   out.meta_events = metaEvents;
   await finish(out);
};

// SUBSCRIBE with the options left out (wampy writes them as `undefined`) on
// session 0, and with both given on session 1; a JSON session publishes once.
// Reports what became of the bare subscription and of its session.
scenarios['undefined-options'] = async () => {
   const T = o.prefix + '.undef';
   const bare = await open('bare', 0);
   const explicit = await open('explicit', 0);
   const events = { bare: 0, explicit: 0 };
   const w = waiter();
   const bareSub = await bare.w.subscribe(T, () => { events.bare += 1; w.poke(); })
      .then(() => ({ subscribed: true }), (e) => Object.assign({ subscribed: false }, errorObj(e)));
   await explicit.w.subscribe(T, () => { events.explicit += 1; w.poke(); }, subOptions());
   const publisher = await open('publisher', 0, { ser: 'json' });
   await publisher.w.publish(T, ['x']);
   await w.until(() => events.explicit === 1 && (!bareSub.subscribed || events.bare === 1));
   await finish({ bare: bareSub, events, bare_alive: Boolean(bare.w.getSessionId()),
                  bare_errors: bare.errors, bare_close: bare.close });
};

// wampy's own UNSUBSCRIBE and UNREGISTER carry the ids it got back, as cbor-x
// writes a Number above 2^32: a float64. Subscribes without options (the only
// kind wampy 8 can unsubscribe), unsubscribes, registers, unregisters, and
// checks the session is still there and the router forgot both.
scenarios['own-ids'] = async () => {
   const T = o.prefix + '.own';
   const s = await open('own', 0);
   const out = {};
   out.subscribe = await s.w.subscribe(T, () => {})
      .then(() => 'ok', (e) => errorObj(e));
   out.unsubscribe = await s.w.unsubscribe(T).then(() => 'ok', (e) => errorObj(e));
   out.register = await s.w.register(T, () => ({ argsList: [1] })).then(() => 'ok', (e) => errorObj(e));
   out.unregister = await s.w.unregister(T).then(() => 'ok', (e) => errorObj(e));
   out.alive = Boolean(s.w.getSessionId());
   const other = await open('other', 1, { ser: 'json' });
   out.lookup_sub = (await other.w.call('wamp.subscription.lookup', [T])).argsList[0];
   out.call_after = await expectError(other.w.call(T));
   out.errors = s.errors;
   await finish(out);
};

// ---- one-session commands with clients/payload.json (as js_client.js)

function loadPayload(s) {
   const p = JSON.parse(fs.readFileSync(o.payload, 'utf8'));
   return { argsList: denorm(p.args || [], s.json), argsDict: denorm(p.kwargs || {}, s.json) };
}

scenarios.publish = async () => {
   const s = await open('publisher', 0);
   const r = await s.w.publish(o.topic, loadPayload(s));
   emit('PUBLISHED', { id: r.publicationId });
   await finish({});
};

scenarios.subscribe = async () => {
   const s = await open('subscriber', 0);
   const d = deferred();
   await s.w.subscribe(o.topic, (x) => {
      emit('EVENT', parts(s, x));
      d.resolve();
   }, subOptions());
   emit('READY', {});
   await d;
   await finish({});
};

scenarios.callee = async () => {
   const s = await open('callee', 0);
   const d = deferred();
   await s.w.register(o.procedure, (x) => {
      emit('INVOKED', parts(s, x));
      setImmediate(() => d.resolve()); // after wampy sent the YIELD
      return { argsList: x.argsList || [], argsDict: x.argsDict || {} };
   });
   emit('READY', {});
   await d;
   await finish({});
};

scenarios.call = async () => {
   const s = await open('caller', 0);
   try {
      emit('RESULT', parts(s, await s.w.call(o.procedure, loadPayload(s))));
   } catch (e) {
      emit('ERROR', errorObj(e));
   }
   await finish({});
};

// ---------------------------------------------------------------- main

async function main() {
   if (!scenarios[o.cmd]) {
      throw new Error('unknown scenario ' + o.cmd);
   }
   W = await import('wampy');
   SERIALIZERS.json = (await import('wampy/JsonSerializer.js')).JsonSerializer;
   SERIALIZERS.msgpack = (await import('wampy/MsgpackSerializer.js')).MsgpackSerializer;
   SERIALIZERS.cbor = (await import('wampy/CborSerializer.js')).CborSerializer;
   craSign = (await import('wampy/wampcra.js')).sign;
   await scenarios[o.cmd]();
}

main().catch(fail);
