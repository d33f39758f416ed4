// Autobahn|JS (npm `autobahn`) interop client for the ferrobar tests, run under Node.js.
//
// The JavaScript twin of py_client.py: same commands, same output protocol
// (one `TAG {json}` line per fact on stdout; binary values printed as
// {"__bytes__": "<hex>"}).
//
// Binary values: with wamp.2.msgpack they are sent as Buffers (msgpack bin).
// Autobahn|JS's JSON serializer has no binary support, so with wamp.2.json we
// do by hand what the WAMP spec's JSON convention says: a binary value is the
// string "\0" + base64. Received "\0"-strings are decoded the same way.
//
// usage: node js_client.js --url ws://127.0.0.1:PORT/ws [--realm realm1]
//            [--serializer json|msgpack|cbor[,...]] [--timeout S] [--module autobahn-22]
//            COMMAND [--opt value ...]

'use strict';

const fs = require('fs');
const path = require('path');

// ---------------------------------------------------------------- arguments

function parseArgs(argv) {
   const o = { realm: 'realm1', serializer: null, timeout: 30, count: 1, mode: 'echo',
               payload: path.join(__dirname, 'payload.json') };
   const flags = new Set(['twice', 'stay', 'no-payload', 'sequence', 'quiet']);
   for (let i = 0; i < argv.length; i++) {
      const a = argv[i];
      if (a.startsWith('--')) {
         const key = a.slice(2);
         if (flags.has(key)) {
            o[key] = true;
         } else {
            o[key] = argv[++i];
         }
      } else if (!o.cmd) {
         o.cmd = a;
      } else {
         throw new Error('unexpected argument ' + a);
      }
   }
   o.timeout = Number(o.timeout);
   o.count = Number(o.count);
   if (!o.url || !o.cmd) {
      throw new Error('usage: js_client.js --url URL [--serializer json|msgpack] COMMAND ...');
   }
   return o;
}

const o = parseArgs(process.argv.slice(2));
// --module autobahn-22: Autobahn|JS 22.11.1 (npm alias in package.json), which
// uses the `ws` package on Node.js (when Node has no global WebSocket)
const autobahn = require(o.module || 'autobahn');
// serializer(s) to offer, comma-separated, in order of preference
const OFFER = o.serializer ? o.serializer.split(',') : null;
// how binary values travel: as "\0"+base64 strings on wamp.2.json; set from the
// negotiated subprotocol when the session opens
let JSON_MODE = true;

// ---------------------------------------------------------------- values

function isBinary(v) {
   return Buffer.isBuffer(v) || v instanceof Uint8Array || v instanceof ArrayBuffer;
}

function norm(v) {
   if (v === undefined) {
      return null;
   }
   if (isBinary(v)) {
      return { __bytes__: Buffer.from(v).toString('hex') };
   }
   if (typeof v === 'string' && JSON_MODE && v.charCodeAt(0) === 0) {
      return { __bytes__: Buffer.from(v.slice(1), 'base64').toString('hex') };
   }
   if (Array.isArray(v)) {
      return v.map(norm);
   }
   if (v !== null && typeof v === 'object') {
      const out = {};
      for (const k of Object.keys(v)) {
         out[k] = norm(v[k]);
      }
      return out;
   }
   return v;
}

function denorm(v) {
   if (Array.isArray(v)) {
      return v.map(denorm);
   }
   if (v !== null && typeof v === 'object') {
      const keys = Object.keys(v);
      if (keys.length === 1 && keys[0] === '__bytes__') {
         const buf = Buffer.from(v.__bytes__, 'hex');
         return JSON_MODE ? '\u0000' + buf.toString('base64') : buf;
      }
      const out = {};
      for (const k of keys) {
         out[k] = denorm(v[k]);
      }
      return out;
   }
   return v;
}

function loadPayload() {
   const p = JSON.parse(fs.readFileSync(o.payload, 'utf8'));
   return [denorm(p.args || []), denorm(p.kwargs || {})];
}

// JSON.stringify escaping everything outside ASCII, like Python's ensure_ascii.
function emit(tag, obj) {
   const s = JSON.stringify(obj === undefined ? null : obj)
      .replace(/[\u007f-\uffff]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
   process.stdout.write(tag + ' ' + s + '\n');
}

function errorObj(e) {
   if (e instanceof autobahn.Error || (e && typeof e.error === 'string')) {
      return { error: e.error, args: norm(e.args || []), kwargs: norm(e.kwargs || {}) };
   }
   return { error: null, exception: String(e && e.stack ? e.stack : e) };
}

function resultParts(res) {
   if (res instanceof autobahn.Result) {
      return [res.args || [], res.kwargs || {}];
   }
   if (res === undefined || res === null) {
      return [[], {}];
   }
   return [[res], {}];
}

// ---------------------------------------------------------------- session

let rc = 2;
let joined = false;
let connection = null;

function finish(code, delay) {
   rc = code;
   setTimeout(() => {
      try {
         connection.close();
      } catch (e) {
         process.exit(rc);
      }
   }, delay || 0);
}

const scenarios = {
   subscribe: async (session) => {
      let n = 0;
      const seq = [];
      const sub = await session.subscribe(o.topic, (args, kwargs) => {
         n += 1;
         if (o.quiet) {
            seq.push(args && args.length ? args[0] : null);
            if (n === o.count) {
               emit('EVENTS', { args0: seq });
            }
         } else {
            emit('EVENT', { args: norm(args || []), kwargs: norm(kwargs || {}) });
         }
         if (n === o.count) {
            finish(0);
         }
      });
      emit('READY', { subscription: sub.id });
   },

   publish: async (session) => {
      if (o.sequence) {
         // fire-and-forget 0..count-1, then `count` acknowledged
         for (let i = 0; i < o.count; i++) {
            session.publish(o.topic, [i]);
         }
         const pub = await session.publish(o.topic, [o.count], {}, { acknowledge: true });
         emit('PUBLISHED', { id: pub.id });
         finish(0);
         return;
      }
      const [args, kwargs] = loadPayload();
      for (let i = 0; i < o.count; i++) {
         const pub = await session.publish(o.topic, args, kwargs, { acknowledge: true });
         emit('PUBLISHED', { id: pub.id });
      }
      finish(0);
   },

   callee: async (session) => {
      let n = 0;
      const reg = await session.register(o.procedure, (args, kwargs) => {
         n += 1;
         emit('INVOKED', { args: norm(args || []), kwargs: norm(kwargs || {}) });
         if (n === o.count && o.mode !== 'hang') {
            finish(0, 500);
         }
         if (o.mode === 'echo') {
            return new autobahn.Result(args || [], kwargs || {});
         }
         if (o.mode === 'error') {
            throw new autobahn.Error('com.myapp.error1',
               ['custom error message', 42, { nested: [1, 'two', null] }],
               { reason: 'raised by the callee', code: 7 });
         }
         return new Promise(() => {}); // hang: never answer
      });
      emit('READY', { registration: reg.id });
   },

   call: async (session) => {
      const [args, kwargs] = o['no-payload'] ? [[], {}] : loadPayload();
      try {
         const res = await session.call(o.procedure, args, kwargs);
         const [rargs, rkwargs] = resultParts(res);
         emit('RESULT', { args: norm(rargs), kwargs: norm(rkwargs) });
      } catch (e) {
         emit('ERROR', errorObj(e));
      }
      finish(0);
   },

   register: async (session) => {
      for (let i = 0; i < (o.twice ? 2 : 1); i++) {
         try {
            const reg = await session.register(o.procedure, () => 'registered by js_client');
            emit('READY', { registration: reg.id });
         } catch (e) {
            emit('ERROR', errorObj(e));
         }
      }
      if (o.stay) {
         rc = 0;
      } else {
         finish(0);
      }
   },

   'exclude-me': async (session) => {
      const seen = [];
      let gotSecond;
      const second = new Promise((resolve) => { gotSecond = resolve; });
      await session.subscribe(o.topic, (args) => {
         seen.push(args[0]);
         emit('EVENT', { args: [args[0]], kwargs: {} });
         if (args[0] === 'second') {
            gotSecond();
         }
      });
      emit('READY', {});
      const p1 = await session.publish(o.topic, ['first'], {}, { acknowledge: true });
      const p2 = await session.publish(o.topic, ['second'], {}, { acknowledge: true, exclude_me: false });
      emit('PUBLISHED', { id: p1.id });
      emit('PUBLISHED', { id: p2.id });
      await second;
      await new Promise((r) => setTimeout(r, 300));
      emit('DONE', { events: seen });
      finish(0);
   },

   join: async (session, details) => {
      emit('JOINED', { session: session.id, realm: session.realm,
                       protocol: details && details.transport ? details.transport.protocol : null });
      if (o.stay) {
         rc = 0; // wait for the router to close the session
      } else {
         finish(0);
      }
   },
};

// ---------------------------------------------------------------- main

if (!scenarios[o.cmd]) {
   console.error('unknown command ' + o.cmd);
   process.exit(64);
}

const options = { url: o.url, realm: o.realm, max_retries: 0, retry_if_unreachable: false };
const SERIALIZERS = {
   json: () => new autobahn.serializer.JSONSerializer(),
   msgpack: () => new autobahn.serializer.MsgpackSerializer(),
   cbor: () => new autobahn.serializer.CBORSerializer(),
};
if (OFFER) {
   options.serializers = OFFER.map((id) => {
      if (!SERIALIZERS[id]) {
         throw new Error('unknown serializer ' + id);
      }
      return SERIALIZERS[id]();
   });
}

const watchdog = setTimeout(() => {
   emit('FAIL', { exception: 'watchdog: no completion after ' + o.timeout + 's' });
   process.exit(3);
}, o.timeout * 1000);

connection = new autobahn.Connection(options);

connection.onopen = (session, details) => {
   joined = true;
   JSON_MODE = !(details && details.transport && details.transport.protocol === 'wamp.2.msgpack');
   scenarios[o.cmd](session, details).catch((e) => {
      emit('FAIL', Object.assign({ exception: String(e && e.stack ? e.stack : e) }, errorObj(e)));
      finish(1);
   });
};

connection.onclose = (reason, details) => {
   emit('LEAVE', { reason: details.reason, message: details.message || null,
                   close: reason, joined: joined });
   if (!joined && o.cmd === 'join' && details.reason) {
      rc = 0; // joining was refused (ABORT): that is this scenario's result
   }
   clearTimeout(watchdog);
   // let stdout drain, then exit with the scenario's code
   setImmediate(() => process.exit(rc));
   return true; // no reconnect
};

connection.open();
