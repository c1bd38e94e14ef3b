// A fault-injecting HTTP proxy for the S3 tests (Node, no dependencies).
//
//   node faultproxy.js --target http://127.0.0.1:PORT [options]
//
// Listens on 127.0.0.1 (a free port unless --port), prints "port N" on
// standard output once it listens, and forwards every request to the target
// unchanged (the Host header too, so SigV4 signatures made for the proxy's
// address still verify).  Each request, independently, with these
// probabilities (0..1, default 0):
//   --drop P        the connection is closed before any response
//   --drop-mid P    the response is cut: status and headers, part of the body,
//                   then the connection is closed
//   --err500 P      500 InternalError, the request is not forwarded
//   --slowdown P    503 SlowDown (S3's XML error body), not forwarded
//   --delay P       the request waits --delay-ms (default 500) first
//   --lose P        the answer is lost: the request goes to the server, which
//                   acts on it, and once its whole answer has arrived the
//                   connection is closed without a byte of it
// and, not at random:
//   --lose-once KIND[:TEXT]   the answer to the next request of that KIND
//                   (whose path contains TEXT) is lost; repeat the option
//                   for more.  KINDs: put, part (UploadPart), create
//                   (CreateMultipartUpload), complete
//                   (CompleteMultipartUpload), abort, delete, head, get, list
//   --if-none-match a PUT or Complete with "If-None-Match: *" whose path an
//                   earlier write through the proxy stored (and no DELETE
//                   removed) is answered 412 PreconditionFailed, as S3
//                   does; s3rver ignores the header
//   --put-only      a credential that may put, get and list but not delete
//                   (an AWS policy of s3:PutObject, s3:GetObject and
//                   s3:ListBucket): DELETE, multipart aborts and
//                   multi-object deletes are answered 403 AccessDenied, and
//                   so is a PUT or Complete over a path an earlier write
//                   through the proxy stored (an overwrite, which S3 would
//                   allow: refused here so that a test sees any); each is
//                   logged "denied"
// --seed N makes the choices repeatable.  --log FILE appends one line per
// request: "<n> <fault|ok> <METHOD> <path>".
//
// At run time:
//   SIGHUP    re-read the --control FILE, a JSON object with any of the
//             keys drop, dropMid, err500, slowdown, delay, delayMs, lose,
//             loseOnce (a list of KIND[:TEXT]), gone, goneOn.
//             "gone": true is the server gone: the listening socket is
//             closed and every open connection destroyed, so connections
//             are refused; false listens again on the same port.
//             "goneOn": "KIND[:TEXT]" makes the server go when the next
//             such request arrives (it gets no answer).  Each change of
//             gone is acknowledged on standard output with a line
//             "state gone N at MS" or "state up N at MS" (N counts the
//             changes, MS is the time in milliseconds since the epoch);
//             every reload with a line "control N".
//   SIGTERM   print the counters on standard error and exit
// (Not SIGUSR1: Node keeps it for its inspector, and a process that gets it
// early enough dies of it.)
'use strict';
const http = require('http');
const fs = require('fs');

function usage(msg) {
  if (msg) console.error(`faultproxy: ${msg}`);
  console.error('usage: faultproxy.js --target http://HOST:PORT [--port N] [--drop P] [--drop-mid P]\n' +
    '       [--err500 P] [--slowdown P] [--delay P] [--delay-ms MS] [--lose P] [--lose-once KIND[:TEXT]]...\n' +
    '       [--if-none-match] [--put-only] [--seed N] [--log FILE] [--control FILE]');
  process.exit(2);
}

const KINDS = ['put', 'part', 'create', 'complete', 'abort', 'delete', 'head', 'get', 'list'];
const opt = {
  drop: 0, dropMid: 0, err500: 0, slowdown: 0, delay: 0, delayMs: 500, lose: 0,
  loseOnce: [], gone: false, goneOn: null,
};
let target = null, port = 0, seed = Date.now() >>> 0, logFile = null, control = null;
let ifNoneMatch = false;
let putOnly = false;
function checkSpec(a, v) {
  if (typeof v !== 'string' || !KINDS.includes(v.split(':')[0])) usage(`${a}: KIND[:TEXT] with KIND one of ${KINDS.join(' ')}: ${v}`);
  return v;
}
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i], v = argv[i + 1];
  const num = () => {
    i++;
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || n < 0) usage(`${a}: not a number: ${v}`);
    return n;
  };
  switch (a) {
    case '--target': target = new URL(v); i++; break;
    case '--port': port = num(); break;
    case '--drop': opt.drop = num(); break;
    case '--drop-mid': opt.dropMid = num(); break;
    case '--err500': opt.err500 = num(); break;
    case '--slowdown': opt.slowdown = num(); break;
    case '--delay': opt.delay = num(); break;
    case '--delay-ms': opt.delayMs = num(); break;
    case '--lose': opt.lose = num(); break;
    case '--lose-once': opt.loseOnce.push(checkSpec(a, v)); i++; break;
    case '--if-none-match': ifNoneMatch = true; break;
    case '--put-only': putOnly = true; break;
    case '--seed': seed = num() >>> 0; break;
    case '--log': logFile = v; i++; break;
    case '--control': control = v; i++; break;
    default: usage(`unknown option ${a}`);
  }
}
if (!target || target.protocol !== 'http:') usage('--target http://HOST:PORT is needed (plain HTTP only)');

// xorshift32: repeatable with --seed
let state = seed || 1;
function rand() {
  state ^= state << 13; state >>>= 0;
  state ^= state >>> 17;
  state ^= state << 5; state >>>= 0;
  return state / 4294967296;
}

const counts = {
  requests: 0, ok: 0, drop: 0, dropMid: 0, err500: 0, slowdown: 0, delay: 0, lose: 0, refused: 0,
  preconditionFailed: 0, denied: 0,
};
let logFd = logFile ? fs.openSync(logFile, 'a') : null;
function log(n, what, req) {
  if (logFd !== null) fs.writeSync(logFd, `${n} ${what} ${req.method} ${req.url}\n`);
}

function readControl() {
  if (!control) return;
  try {
    const c = JSON.parse(fs.readFileSync(control, 'utf8'));
    for (const k of Object.keys(opt)) if (k in c) opt[k] = c[k];
  } catch (e) {
    console.error(`faultproxy: ${control}: ${e.message}`);
  }
}
readControl();

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
const sockets = new Set();

// --put-only: what such a credential may not do
function deniedToPutOnly(req, c) {
  if (c.kind === 'delete' || c.kind === 'abort') return true;
  if (c.kind === 'post' && new URL(req.url, 'http://proxy').searchParams.has('delete')) return true;
  // a conditional put over it is S3's 412 (--if-none-match), no overwrite
  if (ifNoneMatch && req.headers['if-none-match'] === '*') return false;
  return (c.kind === 'put' || c.kind === 'complete') && stored.has(c.path);
}

// what a request is (KINDS) and its path
function classify(req) {
  const u = new URL(req.url, 'http://proxy');
  const q = u.searchParams;
  let kind;
  if (req.method === 'POST') kind = q.has('uploads') ? 'create' : q.has('uploadId') ? 'complete' : 'post';
  else if (req.method === 'PUT') kind = q.has('partNumber') ? 'part' : 'put';
  else if (req.method === 'DELETE') kind = q.has('uploadId') ? 'abort' : 'delete';
  else if (req.method === 'HEAD') kind = 'head';
  else if (req.method === 'GET') kind = q.has('list-type') ? 'list' : 'get';
  else kind = req.method.toLowerCase();
  return { kind, path: u.pathname };
}
function matches(spec, c) {
  if (typeof spec !== 'string') return false;
  const i = spec.indexOf(':');
  const kind = i < 0 ? spec : spec.slice(0, i), text = i < 0 ? '' : spec.slice(i + 1);
  return kind === c.kind && c.path.includes(text);
}
// --lose-once: take the first spec that matches
function takeLoseOnce(c) {
  const i = opt.loseOnce.findIndex((spec) => matches(spec, c));
  if (i < 0) return false;
  opt.loseOnce.splice(i, 1);
  return true;
}
// --if-none-match: the paths stored by writes through the proxy
const stored = new Set();
function noteAnswer(c, status) {
  if (status < 200 || status > 299) return;
  if (c.kind === 'put' || c.kind === 'complete') stored.add(c.path);
  else if (c.kind === 'delete') stored.delete(c.path);
}

function s3error(res, status, code, message) {
  const body = '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Error><Code>${code}</Code><Message>${message}</Message>` +
    '<RequestId>faultproxy</RequestId></Error>';
  res.writeHead(status, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

// mode: 'ok', 'cut' (the answer cut in the middle) or 'lose' (no answer)
function forward(req, res, mode, c) {
  if (ifNoneMatch && (c.kind === 'put' || c.kind === 'complete') &&
      req.headers['if-none-match'] === '*' && stored.has(c.path)) {
    counts.preconditionFailed++;
    req.resume();
    req.on('end', () => {
      if (mode === 'lose') req.socket.destroy();
      else s3error(res, 412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold');
    });
    return;
  }
  const up = http.request({
    host: target.hostname, port: target.port || 80, method: req.method,
    path: req.url, headers: req.headers, agent,
  }, (ures) => {
    noteAnswer(c, ures.statusCode);
    if (mode === 'lose') {
      // the server acted and answered: the answer goes nowhere
      ures.resume();
      ures.on('end', () => req.socket.destroy());
      ures.on('error', () => req.socket.destroy());
      return;
    }
    if (mode !== 'cut') {
      res.writeHead(ures.statusCode, ures.headers);
      ures.pipe(res);
      return;
    }
    // status and headers, at most half the body (and never all of it), cut
    const len = Number(ures.headers['content-length'] || 0);
    let budget = Math.floor(len / 2);
    res.writeHead(ures.statusCode, ures.headers);
    res.flushHeaders();
    ures.on('data', (chunk) => {
      if (budget > 0) {
        const part = chunk.subarray(0, Math.min(budget, chunk.length));
        budget -= part.length;
        res.write(part);
      }
      if (budget <= 0) {
        ures.destroy();
        setImmediate(() => req.socket.destroy());
      }
    });
    ures.on('end', () => req.socket.destroy());
  });
  up.on('error', (e) => {
    if (!res.headersSent) s3error(res, 502, 'BadGateway', `faultproxy: ${e.message}`);
    else req.socket.destroy();
  });
  req.pipe(up);
}

function handle(req, res) {
  const n = ++counts.requests;
  const c = classify(req);
  if (opt.gone) {
    counts.refused++;
    log(n, 'refused', req);
    req.socket.destroy();
    return;
  }
  if (matches(opt.goneOn, c)) {
    opt.goneOn = null;
    counts.refused++;
    log(n, 'gone', req);
    req.socket.destroy();
    gone();
    return;
  }
  if (putOnly && deniedToPutOnly(req, c)) {
    counts.denied++;
    log(n, 'denied', req);
    req.resume();
    req.on('end', () => s3error(res, 403, 'AccessDenied', 'Access Denied'));
    return;
  }
  const go = () => {
    if (takeLoseOnce(c)) {
      counts.lose++; log(n, 'lose', req);
      forward(req, res, 'lose', c);
      return;
    }
    const r = rand();
    let p = 0;
    if (r < (p += opt.drop)) {
      counts.drop++; log(n, 'drop', req);
      req.socket.destroy();
    } else if (r < (p += opt.dropMid)) {
      counts.dropMid++; log(n, 'drop-mid', req);
      forward(req, res, 'cut', c);
    } else if (r < (p += opt.err500)) {
      counts.err500++; log(n, '500', req);
      req.resume();
      req.on('end', () => s3error(res, 500, 'InternalError', 'We encountered an internal error. Please try again.'));
    } else if (r < (p += opt.slowdown)) {
      counts.slowdown++; log(n, '503', req);
      req.resume();
      req.on('end', () => s3error(res, 503, 'SlowDown', 'Please reduce your request rate.'));
    } else if (r < (p += opt.lose)) {
      counts.lose++; log(n, 'lose', req);
      forward(req, res, 'lose', c);
    } else {
      counts.ok++; log(n, 'ok', req);
      forward(req, res, 'ok', c);
    }
  };
  if (rand() < opt.delay) {
    counts.delay++;
    req.pause();
    setTimeout(go, opt.delayMs);
  } else {
    go();
  }
}

let server = null;
function listen(p, cb) {
  server = http.createServer(handle);
  server.keepAliveTimeout = 30000;
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('error', (e) => {
    console.error(`faultproxy: listen on 127.0.0.1:${p}: ${e.message}`);
    process.exit(1);
  });
  server.listen(p, '127.0.0.1', () => cb(server.address().port));
}

let changes = 0;
function gone() {
  opt.gone = true;
  if (server) {
    server.close();
    server = null;
  }
  for (const s of sockets) s.destroy();
  sockets.clear();
  console.log(`state gone ${++changes} at ${Date.now()}`);
}
function back() {
  opt.gone = false;
  if (server) return;
  listen(port, () => console.log(`state up ${++changes} at ${Date.now()}`));
}

const startGone = opt.gone;
opt.gone = false;
listen(port, (p) => {
  port = p;
  console.log(`port ${p}`);
  if (startGone) gone();
});

// while "gone" nothing else keeps the event loop alive
setInterval(() => {}, 1 << 30);
let reloads = 0;
process.on('SIGHUP', () => {
  const was = opt.gone;
  readControl();
  console.log(`control ${++reloads}`);
  if (opt.gone && !was) gone();
  else if (!opt.gone && was) back();
});
const stop = () => {
  console.error(`faultproxy: ${JSON.stringify(counts)}`);
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
