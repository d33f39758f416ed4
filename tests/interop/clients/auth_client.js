// Autobahn|JS (npm `autobahn`) client for test_auth.py: joins with ticket or
// WAMP-CRA authentication as an Autobahn|JS application does it (authmethods,
// authid and an onchallenge callback; for salted WAMP-CRA the key is derived
// with autobahn.auth_cra.derive_key from the CHALLENGE's salt, iterations and
// keylen), then tries a few actions.
//
// usage: node auth_client.js --url ws://127.0.0.1:PORT/ws | --rawsocket 127.0.0.1:PORT
//            [--realm realm1] [--timeout S]
//            --authmethod ticket|wampcra --authid ID --secret S
//            [--try ACTION:URI ...]
//
// Output (one `TAG {json}` line per fact, as the Python clients):
//   JOINED {session, realm, authid, authrole, authmethod, authprovider, authextra}
//   TRY {action, uri, error}   error: null when allowed, else the error URI
//   DONE {}
//   LEAVE {reason, message, close, joined}   (refused: exit 5)
//   FAIL {...}

'use strict';

function parseArgs(argv) {
   const o = { realm: 'realm1', timeout: 30, tries: [] };
   for (let i = 0; i < argv.length; i++) {
      const a = argv[i];
      if (!a.startsWith('--')) {
         throw new Error('unexpected argument ' + a);
      }
      const key = a.slice(2);
      const value = argv[++i];
      if (key === 'try') {
         o.tries.push(value);
      } else {
         o[key] = value;
      }
   }
   o.timeout = Number(o.timeout);
   if ((!o.url && !o.rawsocket) || !o.authmethod) {
      throw new Error('usage: auth_client.js --url URL | --rawsocket HOST:PORT --authmethod M ...');
   }
   return o;
}

const o = parseArgs(process.argv.slice(2));
const autobahn = require('autobahn');

function emit(tag, obj) {
   process.stdout.write(tag + ' ' + JSON.stringify(obj === undefined ? null : obj) + '\n');
}

function onchallenge(session, method, extra) {
   if (method === 'ticket') {
      return o.secret;
   }
   if (method === 'wampcra') {
      let key = o.secret;
      if (extra.salt) {
         key = autobahn.auth_cra.derive_key(o.secret, extra.salt, extra.iterations, extra.keylen);
      }
      return autobahn.auth_cra.sign(key, extra.challenge);
   }
   throw new Error('unexpected CHALLENGE for ' + method);
}

async function attempt(session, action, uri) {
   try {
      if (action === 'call') {
         await session.call(uri);
      } else if (action === 'register') {
         await session.register(uri, () => null);
      } else if (action === 'publish') {
         await session.publish(uri, [], {}, { acknowledge: true });
      } else if (action === 'subscribe') {
         await session.subscribe(uri, () => null);
      } else {
         throw new Error('unknown action ' + action);
      }
   } catch (e) {
      if (e && typeof e.error === 'string') {
         return e.error;
      }
      throw e;
   }
   return null;
}

const options = {
   realm: o.realm,
   authmethods: [o.authmethod],
   authid: o.authid,
   onchallenge: onchallenge,
   max_retries: 0,
   retry_if_unreachable: false,
};
if (o.rawsocket) {
   const [host, port] = o.rawsocket.split(':');
   options.transports = [{ type: 'rawsocket', host: host, port: Number(port) }];
} else {
   options.url = o.url;
}

let joined = false;
let rc = 2;
const watchdog = setTimeout(() => {
   emit('FAIL', { exception: 'watchdog: no completion after ' + o.timeout + 's' });
   process.exit(3);
}, o.timeout * 1000);

const connection = new autobahn.Connection(options);

connection.onopen = async (session, details) => {
   joined = true;
   try {
      emit('JOINED', {
         session: session.id, realm: details.realm, authid: details.authid,
         authrole: details.authrole, authmethod: details.authmethod,
         authprovider: details.authprovider, authextra: details.authextra || {},
      });
      for (const t of o.tries) {
         const i = t.indexOf(':');
         const action = t.slice(0, i);
         const uri = t.slice(i + 1);
         emit('TRY', { action: action, uri: uri, error: await attempt(session, action, uri) });
      }
      emit('DONE', {});
      rc = 0;
   } catch (e) {
      emit('FAIL', { exception: String(e && e.stack ? e.stack : e) });
      rc = 1;
   }
   connection.close();
};

connection.onclose = (reason, details) => {
   emit('LEAVE', { reason: details.reason || null, message: details.message || null,
                   close: reason, joined: joined });
   if (!joined) {
      rc = 5;
   }
   clearTimeout(watchdog);
   setImmediate(() => process.exit(rc));
   return true; // no reconnect
};

connection.open();
