/*
 * bootstrap.js: the nubis Node.js runtime shim.
 *
 * Runs inside an instance's sandbox.  It speaks the runtime protocol
 * (docs/internals/runtime-protocol.md) with the daemon, reading its frames
 * from fd 3 and writing its own to fd 4 (two pipes): waits for
 * INIT (loads the user's module, runs the initializer), then serves INVOKE
 * frames with the user's handler, answering RESULT / ERROR, and sends the
 * function's console output as LOG frames tagged with the invocation id.
 * It exits when fd 3 reaches its end.
 *
 * Handler styles (FC): HTTP `(request, response, context)` for kind "http";
 * event `(event, context, callback)` or `async (event, context)` for kind
 * "event".  handlerType "lambda", "gcf" or "openfaas" routes every
 * invocation to styles.js instead (loaded only then); see docs/runtimes.md.
 *
 * The hot path is kept lean on purpose (gateway latency is a headline
 * number): HTTP calls come in the INVOKE meta's fields form (not JSON;
 * query and header objects built only when asked for), HTTP answers carry a
 * HEAD meta string (not JSON), constant meta buffers otherwise; reads land
 * in one reused buffer, and frames are laid out in another and leave with
 * one write(2) per read's answers (not through the stream machinery); no
 * per-invocation closures beyond the callback.
 *
 * CommonJS, Node 20, no dependencies.
 */
'use strict';

const net = require('node:net');
const fs = require('node:fs');
const path = require('node:path');
const util = require('node:util');
const { Readable } = require('node:stream');
const { AsyncLocalStorage } = require('node:async_hooks');
const { pathToFileURL } = require('node:url');

const T_INIT = 1;
const T_INIT_OK = 2;
const T_INIT_ERROR = 3;
const T_INVOKE = 4;
const T_RESULT = 5;
const T_ERROR = 6;
const T_LOG = 7;
const F_HEAD = 0x02; /* RESULT meta is "status\0name\0value\0...", not JSON */
const F_FIELDS = 0x02; /* INVOKE meta is the fields form of an HTTP call, not JSON */
const HDR = 16;
const MAX_META = 1 << 20;
const MAX_BODY = 64 << 20;

const EMPTY = Buffer.alloc(0);
const META_EMPTY = Buffer.from('{}');
const META_HANDLED = Buffer.from('{"handled":true}');
const META_UNHANDLED = Buffer.from('{"handled":false}');
const LOG_META = {
    stdout: Buffer.from('{"stream":"stdout"}'),
    stderr: Buffer.from('{"stream":"stderr"}'),
    info: Buffer.from('{"stream":"info"}'),
    warn: Buffer.from('{"stream":"warn"}'),
    error: Buffer.from('{"stream":"error"}'),
    debug: Buffer.from('{"stream":"debug"}'),
};

/* ------------------------------------------------------------------ I/O */

const input = new net.Socket({ fd: 3, readable: true, writable: false, onread: { buffer: Buffer.allocUnsafe(64 << 10), callback: onRead } });
const sock = new net.Socket({ fd: 4, readable: false, writable: true });

/*
 * Output.  Frames are laid out in `out` and leave in one write(2) on fd 4,
 * made at once (fs.writeSync), or at the end of the read whose frames they
 * answer: several synchronous answers, one write.  Only what the pipe does
 * not take at once goes through `sock`, libuv's queue, and while anything is
 * queued there, later output queues behind it (frames never overtake).
 * Skipping the stream machinery and building no per-frame buffers is worth
 * 3-4 us per invocation at c=1 (bench/README.md, session 5).
 */
const OUT_MIN = 64 << 10;
const BIG = 64 << 10; /* a body above this is written from its own buffer, not copied */
let out = Buffer.allocUnsafe(OUT_MIN);
let outLen = 0;
let batching = false; /* inside readFrames: flush at its end */

function reserve(n) {
    if (outLen + n <= out.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(out.length * 2, outLen + n));
    out.copy(bigger, 0, 0, outLen);
    out = bigger;
}

/* Writes buf[from, to) now if nothing is queued; what does not fit is queued (copied if asked). */
function emit(buf, from, to, copy) {
    if (from === to) return;
    if (sock.writableLength === 0) {
        try {
            from += fs.writeSync(4, buf, from, to - from);
        } catch (e) {
            if (e.code !== 'EAGAIN') process.exit(0); /* the daemon is gone (EPIPE) */
        }
        if (from === to) return;
    }
    sock.write(copy ? Buffer.from(buf.subarray(from, to)) : buf.subarray(from, to));
}

function flush() {
    const n = outLen;
    outLen = 0;
    emit(out, 0, n, true);
    if (out.length > OUT_MIN) out = Buffer.allocUnsafe(OUT_MIN); /* a big frame passed: let it go */
}

/* Lays out (and unless batching, writes) one frame; meta and body are Buffers or strings (UTF-8). */
function sendFrame(type, id, meta, body, flags) {
    let bigBody = null;
    if (typeof body === 'string' && body.length > BIG) body = Buffer.from(body, 'utf8');
    reserve(HDR);
    const h = outLen;
    outLen += HDR;
    const metaLen = putBytes(meta);
    let bodyLen;
    if (typeof body !== 'string' && body.length > BIG) {
        bigBody = body;
        bodyLen = body.length;
    } else {
        bodyLen = putBytes(body);
    }
    out[h] = type;
    out[h + 1] = flags | 0;
    out[h + 2] = 0;
    out[h + 3] = 0;
    out.writeUInt32LE(id >>> 0, h + 4);
    out.writeUInt32LE(metaLen, h + 8);
    out.writeUInt32LE(bodyLen, h + 12);
    if (bigBody !== null) {
        flush();
        emit(bigBody, 0, bigBody.length, false);
    } else if (!batching) {
        flush();
    }
}

/* Appends a Buffer or a string (as UTF-8) to out; returns its length in bytes. */
function putBytes(v) {
    if (typeof v === 'string') {
        reserve(v.length * 3);
        const n = out.write(v, outLen, 'utf8');
        outLen += n;
        return n;
    }
    reserve(v.length);
    v.copy(out, outLen);
    outLen += v.length;
    return v.length;
}

/*
 * Input.  Reads land in one reused buffer (net.Socket's onread option: no
 * buffer allocated and no stream events per read, ~6 us less per invocation
 * at c=1, bench/README.md session 5).  The frames wholly inside a read are
 * handled from it, their bodies copied out; a frame split over reads is
 * collected (copied) until the size its header gives is there, then joined
 * once: a 10 MB body costs one concat, not one per chunk.
 */
let chunks = [];
let buffered = 0;
let need = HDR;

function onRead(n, buf) {
    if (buffered === 0 && n >= need) {
        readFrames(buf, n, true);
        return;
    }
    chunks.push(Buffer.from(buf.subarray(0, n)));
    buffered += n;
    if (buffered < need) return;
    const all = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, buffered);
    chunks = [];
    buffered = 0;
    readFrames(all, all.length, false);
}

/* Handles the whole frames in buf[0, len) and keeps the rest; `reused`: buf is the read buffer. */
function readFrames(buf, len, reused) {
    let off = 0;
    need = HDR;
    /* answers of synchronous handlers to the frames of this read leave in one write */
    batching = true;
    try {
        while (len - off >= HDR) {
            const metaLen = buf.readUInt32LE(off + 8);
            const bodyLen = buf.readUInt32LE(off + 12);
            if (metaLen > MAX_META || bodyLen > MAX_BODY) fatal(new Error('runtime protocol: frame too large'));
            const total = HDR + metaLen + bodyLen;
            if (len - off < total) {
                need = total;
                break;
            }
            const type = buf[off];
            const flags = buf[off + 1];
            const id = buf.readUInt32LE(off + 4);
            const ms = off + HDR;
            const bs = ms + metaLen;
            off += total;
            const body = bodyLen === 0 ? EMPTY : reused ? Buffer.from(buf.subarray(bs, bs + bodyLen)) : buf.subarray(bs, bs + bodyLen);
            onFrame(type, flags, id, buf, ms, bs, body);
        }
    } finally {
        batching = false;
        flush();
    }
    if (off < len) {
        const rest = reused ? Buffer.from(buf.subarray(off, len)) : buf.subarray(off, len);
        chunks = [rest];
        buffered = rest.length;
    }
}

/*
 * The fields form of an HTTP INVOKE meta (F_FIELDS, runtime-protocol.md):
 * NUL-terminated strings, taken from one string by index.  The query and
 * header objects are built when first asked for: a JSON document per call
 * cost ~6 us at c=1 (bench/README.md, session 5).  The objects are what
 * JSON.parse gives for the JSON form: a repeated name's values in an array,
 * in order.
 */
class FieldsMeta {
    constructor(s) {
        const r = new FieldReader(s, 0);
        this.requestId = r.next();
        this.deadline = +r.next();
        this.kind = 'http';
        this.http = new HttpFields(r);
    }
}

class HttpFields {
    constructor(r) {
        this.method = r.next();
        this.path = r.next();
        this.url = r.next();
        this.clientIP = r.next();
        this._nq = +r.next();
        this._s = r.s;
        this._at = r.p; /* the first query pair */
        this._hat = -1; /* the first header pair, once the queries are read */
        this._queries = undefined;
        this._headers = undefined;
    }
    get queries() {
        if (this._queries === undefined) this._readQueries();
        return this._queries;
    }
    get headers() {
        if (this._headers === undefined) {
            if (this._hat < 0) this._readQueries();
            this._headers = {};
            readPairs(new FieldReader(this._s, this._hat), -1, this._headers);
        }
        return this._headers;
    }
    _readQueries() {
        this._queries = {};
        this._hat = readPairs(new FieldReader(this._s, this._at), this._nq, this._queries);
    }
}

/* Reads NUL-terminated fields of s from p on; past the end (or an unterminated one), '' and done. */
class FieldReader {
    constructor(s, p) {
        this.s = s;
        this.p = p;
    }
    get done() {
        return this.p >= this.s.length;
    }
    next() {
        const s = this.s;
        let e = s.indexOf('\0', this.p);
        if (e < 0) e = s.length;
        const v = s.slice(this.p, e);
        this.p = e + 1;
        return v;
    }
}

/* Reads n name, value pairs (n < 0: to the end) into obj; returns where they end. */
function readPairs(r, n, obj) {
    for (; n !== 0 && !r.done; n--) {
        const name = r.next();
        const value = r.next();
        if (!Object.hasOwn(obj, name)) {
            if (name === '__proto__') Object.defineProperty(obj, name, { value, writable: true, enumerable: true, configurable: true });
            else obj[name] = value;
        } else if (Array.isArray(obj[name])) {
            obj[name].push(value);
        } else {
            obj[name] = [obj[name], value];
        }
    }
    return r.p;
}

function onFrame(type, flags, id, buf, ms, bs, body) {
    let meta;
    if (bs === ms) meta = {};
    else if (type === T_INVOKE && flags & F_FIELDS) meta = new FieldsMeta(buf.toString('utf8', ms, bs));
    else meta = JSON.parse(buf.toString('utf8', ms, bs));
    if (type === T_INVOKE) {
        if (ready) invoke(id, meta, body);
        else pending.push([id, meta, body]);
    } else if (type === T_INIT) {
        init(meta);
    } else {
        fatal(new Error('runtime protocol: unexpected frame type ' + type));
    }
}

/* Something is wrong with the protocol itself: say so and leave. */
function fatal(err) {
    try {
        sendFrame(T_LOG, 0, LOG_META.stderr, Buffer.from('nubis runtime: ' + err.message));
    } catch (e) { /* ignore */ }
    process.exit(70);
}

/* --------------------------------------------------------------- logging */

const als = new AsyncLocalStorage();
const inflight = new Map(); /* id -> Invocation */

/* The invocation a line of output belongs to: ALS, else the only one in flight, else 0. */
function currentId() {
    const inv = als.getStore();
    if (inv !== undefined) return inv.id;
    if (inflight.size === 1) return inflight.keys().next().value;
    return 0;
}

function sendLog(stream, text) {
    sendFrame(T_LOG, currentId(), LOG_META[stream], Buffer.from(text, 'utf8'));
}

function makeConsole(stream) {
    return function () {
        sendLog(stream, util.format.apply(null, arguments));
    };
}

function makeWrite(stream) {
    return function (chunk, encoding, cb) {
        if (typeof encoding === 'function') {
            cb = encoding;
            encoding = undefined;
        }
        let text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString(encoding || 'utf8');
        if (text.endsWith('\n')) text = text.slice(0, -1);
        if (text.length) sendLog(stream, text);
        if (cb) process.nextTick(cb);
        return true;
    };
}

console.log = makeConsole('stdout');
console.info = makeConsole('info');
console.warn = makeConsole('warn');
console.error = makeConsole('error');
console.debug = makeConsole('debug');
console.trace = function () {
    const e = { name: 'Trace', message: util.format.apply(null, arguments) };
    Error.captureStackTrace(e, console.trace);
    sendLog('error', e.stack);
};
process.stdout.write = makeWrite('stdout');
process.stderr.write = makeWrite('stderr');

function formatLogLine(requestId, level, args) {
    return new Date().toISOString() + ' ' + requestId + ' [' + level + '] ' + util.format.apply(null, args);
}

/* context.logger: "<ISO date> <requestId> [<level>] msg" as LOG frames of that level. */
function makeLogger(requestId) {
    return {
        debug() { sendLog('debug', formatLogLine(requestId, 'debug', arguments)); },
        info() { sendLog('info', formatLogLine(requestId, 'info', arguments)); },
        warn() { sendLog('warn', formatLogLine(requestId, 'warn', arguments)); },
        error() { sendLog('error', formatLogLine(requestId, 'error', arguments)); },
        log() { sendLog('info', formatLogLine(requestId, 'info', arguments)); },
    };
}

/* ---------------------------------------------------------------- errors */

/* FC's error body: {"errorMessage","errorType","stackTrace":[...]}. */
function errorJson(err) {
    let message;
    let type;
    let stack = [];
    if (err instanceof Error || (err && typeof err === 'object' && 'message' in err)) {
        message = String(err.message);
        type = err.name || (err.constructor && err.constructor.name) || 'Error';
        if (typeof err.stack === 'string') {
            stack = err.stack.split('\n');
            /* The first lines repeat "Name: message"; keep the frames. */
            let i = 0;
            while (i < stack.length && !/^\s+at /.test(stack[i])) i++;
            stack = stack.slice(i).map((s) => s.trim());
        }
    } else {
        message = typeof err === 'string' ? err : safeStringify(err);
        type = 'Error';
    }
    return Buffer.from(JSON.stringify({ errorMessage: message, errorType: type, stackTrace: stack }));
}

function safeStringify(v) {
    try {
        const s = JSON.stringify(v);
        return s === undefined ? String(v) : s;
    } catch (e) {
        return String(v);
    }
}

function namedError(type, message) {
    const e = new Error(message);
    e.name = type;
    return e;
}

/* ----------------------------------------------------------------- init */

let ready = false;
let initStarted = false;
let pending = []; /* INVOKEs that arrived before INIT finished */
let handler = null;
let handlerType = '';
let styleRun = null; /* styles.js runner for non-FC handler styles, else null */
let lambdaErrorOf = null; /* Lambda's error body, for the lambda style */
let httpAsEvent = false; /* handlerType fc-event: HTTP triggers call the event handler too */
let shared = null; /* per-instance context parts, shared by every invocation */

/* "index.handler" -> ["index", "handler"]; "src/app.main" -> ["src/app", "main"]. */
function splitHandler(h) {
    const dot = typeof h === 'string' ? h.lastIndexOf('.') : -1;
    if (dot <= 0 || dot === h.length - 1)
        throw namedError('Runtime.MalformedHandlerName', `bad handler '${h}': expected '<file>.<export>', e.g. 'index.handler'`);
    return [h.slice(0, dot), h.slice(dot + 1)];
}

const loaded = new Map(); /* module file -> exports */

async function loadModule(codeDir, file) {
    if (loaded.has(file)) return loaded.get(file);
    const root = path.resolve(codeDir);
    const base = path.resolve(root, file);
    if (base !== root && !base.startsWith(root + path.sep))
        throw namedError('Runtime.ImportModuleError', `module '${file}' is outside the code directory`);
    let mod;
    let found = null;
    for (const ext of ['.js', '.cjs', '.mjs', '']) {
        if (fs.existsSync(base + ext) && fs.statSync(base + ext).isFile()) {
            found = base + ext;
            break;
        }
    }
    if (found === null && fs.existsSync(base) && fs.statSync(base).isDirectory()) found = base;
    if (found === null)
        throw namedError('Runtime.ImportModuleError', `cannot find module '${file}' in '${codeDir}' (no ${file}.js, ${file}.cjs or ${file}.mjs)`);
    if (found.endsWith('.mjs')) {
        mod = await import(pathToFileURL(found).href);
    } else {
        try {
            mod = require(found);
        } catch (e) {
            if (e && e.code === 'ERR_REQUIRE_ESM') mod = await import(pathToFileURL(found).href);
            else throw e;
        }
    }
    loaded.set(file, mod);
    return mod;
}

async function resolveExport(codeDir, spec, what) {
    const [file, name] = splitHandler(spec);
    const mod = await loadModule(codeDir, file);
    let fn = mod ? mod[name] : undefined;
    if (fn === undefined && mod && mod.default && typeof mod.default === 'object') fn = mod.default[name];
    /* `module.exports = async (event, context) => ...` (OpenFaaS's template, GCF samples) */
    if (fn === undefined && what === 'handler' && typeof mod === 'function') fn = mod;
    if (fn === undefined && what === 'handler' && mod && typeof mod.default === 'function') fn = mod.default;
    if (typeof fn !== 'function')
        throw namedError('Runtime.HandlerNotFound', `${what} '${spec}' is undefined or not exported: module '${file}' has no function '${name}'`);
    return fn;
}

function buildShared(m) {
    const fn = m.function || {};
    const svc = m.service || {};
    const cred = m.credentials || {};
    return {
        credentials: {
            accessKeyId: cred.accessKeyId || '',
            accessKeySecret: cred.accessKeySecret || '',
            securityToken: cred.securityToken || '',
        },
        function: {
            name: fn.name || '',
            handler: fn.handler || '',
            memory: fn.memorySize || 0,
            timeout: fn.timeout || 0,
            initializer: fn.initializer || '',
            initializationTimeout: fn.initializationTimeout || 0,
        },
        service: {
            name: svc.name || '',
            logProject: '',
            logStore: '',
            qualifier: svc.qualifier || 'LATEST',
            versionId: svc.versionId || '',
        },
        region: m.region || 'local',
        accountId: m.accountId || '',
    };
}

/* An error the initializer reported through its callback (INIT_ERROR handled:true). */
class ReportedError {
    constructor(cause) {
        this.cause = cause;
    }
}

/* Runs the initializer, FC style (context, callback) or async (context). */
function runInitializer(fn, ctx) {
    return new Promise((resolve, reject) => {
        let settled = false;
        const settle = (err) => {
            if (settled) return;
            settled = true;
            if (err) reject(err);
            else resolve();
        };
        const ret = fn(ctx, (err) => settle(err ? new ReportedError(err) : null));
        if (ret && typeof ret.then === 'function') ret.then(() => settle(null), (e) => settle(e || new Error('initializer rejected')));
        else if (fn.length < 2) settle(null);
    });
}

async function doInit(m) {
    const codeDir = m.codeDir || process.cwd();
    process.chdir(codeDir);
    if (m.env && typeof m.env === 'object') {
        for (const k of Object.keys(m.env)) process.env[k] = String(m.env[k]);
    }
    shared = buildShared(m);
    const fn = m.function || {};
    handlerType = fn.handlerType || '';
    httpAsEvent = handlerType === 'fc-event' || handlerType === 'event';
    if (handlerType === 'lambda' || handlerType === 'gcf' || handlerType === 'openfaas') {
        const styles = require('./styles.js')({
            finishOk,
            finishHttp,
            headerPairs,
            finishError,
            finishErrorBody,
            errorJson,
            resultBytes,
            sendLog,
            META_EMPTY,
            EMPTY,
        });
        styles.setup(handlerType, m);
        styleRun = styles.runner(handlerType);
        lambdaErrorOf = styles.lambdaError;
    }
    handler = await resolveExport(codeDir, fn.handler, 'handler');
    if (fn.initializer) {
        const init = await resolveExport(codeDir, fn.initializer, 'initializer');
        const inv = new Invocation(0, 'init-' + Date.now().toString(36));
        await als.run(inv, runInitializer, init, new Context(inv.requestId));
    }
}

function init(m) {
    if (handler !== null || initStarted) return fatal(new Error('runtime protocol: second INIT'));
    initStarted = true;
    doInit(m).then(
        () => {
            sendFrame(T_INIT_OK, 0, META_EMPTY, EMPTY);
            ready = true;
            const p = pending;
            pending = [];
            for (const [id, meta, body] of p) invoke(id, meta, body);
        },
        (err) => {
            if (err instanceof ReportedError) sendFrame(T_INIT_ERROR, 0, META_HANDLED, errorJson(err.cause));
            else sendFrame(T_INIT_ERROR, 0, META_UNHANDLED, errorJson(err));
        }
    );
}

/* ----------------------------------------------------------- invocations */

class Invocation {
    constructor(id, requestId) {
        this.id = id;
        this.requestId = requestId;
        this.done = false;
    }
}

/* FC's context (reference A.4); the logger is made on first use. */
class Context {
    constructor(requestId) {
        this.requestId = requestId;
        this.credentials = shared.credentials;
        this.function = shared.function;
        this.service = shared.service;
        this.region = shared.region;
        this.accountId = shared.accountId;
        this.tracing = {};
        this._logger = undefined;
    }
    get logger() {
        if (this._logger === undefined) this._logger = makeLogger(this.requestId);
        return this._logger;
    }
}

/* Encodes an event handler's result: string utf8, bytes raw, others JSON, nothing empty. */
function resultBytes(v) {
    if (v === undefined || v === null) return EMPTY;
    if (typeof v === 'string') return Buffer.from(v, 'utf8');
    if (Buffer.isBuffer(v)) return v;
    if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
    if (v instanceof ArrayBuffer) return Buffer.from(v);
    const s = JSON.stringify(v);
    return s === undefined ? EMPTY : Buffer.from(s, 'utf8');
}

function finishOk(inv, meta, body, flags) {
    if (inv.done) return;
    inv.done = true;
    inflight.delete(inv.id);
    sendFrame(T_RESULT, inv.id, meta, body, flags);
}

function finishError(inv, err, handled) {
    finishErrorBody(inv, errorJson(err), handled);
}

/* ERROR with a body already encoded (other vendors' error shapes). */
function finishErrorBody(inv, body, handled) {
    if (inv.done) return;
    inv.done = true;
    inflight.delete(inv.id);
    sendFrame(T_ERROR, inv.id, handled ? META_HANDLED : META_UNHANDLED, body);
}

function invoke(id, meta, body) {
    const inv = new Invocation(id, meta.requestId || '');
    inflight.set(id, inv);
    als.run(inv, dispatch, inv, meta, body);
}

function dispatch(inv, meta, body) {
    try {
        if (styleRun !== null) styleRun(handler, inv, meta, body);
        else if (meta.kind === 'http' && !httpAsEvent) runHttp(inv, meta.http || {}, body, new Context(inv.requestId));
        else runEvent(inv, body, new Context(inv.requestId));
    } catch (err) {
        if (styleRun !== null && handlerType === 'lambda') finishErrorBody(inv, lambdaErrorOf(err), false);
        else finishError(inv, err, false);
    }
}

function runEvent(inv, event, ctx) {
    const cb = function (err, result) {
        if (err !== undefined && err !== null) finishError(inv, err, true);
        else finishOk(inv, META_EMPTY, typeof result === 'string' ? result : resultBytes(result));
    };
    const ret = handler(event, ctx, cb);
    if (ret === undefined || ret === null || typeof ret.then !== 'function') return;
    /*
     * A promise: for `async (event, context)` its value is the result; a
     * handler that also takes the callback may answer either way, so an
     * undefined value then waits for the callback.  First answer wins.
     */
    const promiseWins = handler.length < 3 || handlerType === 'async';
    ret.then(
        (v) => {
            if (promiseWins || v !== undefined) finishOk(inv, META_EMPTY, typeof v === 'string' ? v : resultBytes(v));
        },
        (e) => finishError(inv, e === undefined || e === null ? new Error('handler rejected') : e, false)
    );
}

/* ------------------------------------------------------------------ HTTP */

/* FC HTTP request: a Readable of the body with the request's fields. */
class FCRequest extends Readable {
    constructor(h, body) {
        super();
        this._http = h;
        this._headers = undefined;
        this._queries = undefined;
        this.path = h.path || '/';
        this.method = h.method || 'GET';
        this.clientIP = h.clientIP || '';
        this.url = h.url || this.path;
        this.body = body;
        this._sent = false;
    }
    /* headers and queries: read from the meta when first asked for */
    get headers() {
        if (this._headers === undefined) this._headers = this._http.headers || {};
        return this._headers;
    }
    set headers(v) {
        this._headers = v;
    }
    get queries() {
        if (this._queries === undefined) this._queries = this._http.queries || {};
        return this._queries;
    }
    set queries(v) {
        this._queries = v;
    }
    _read() {
        if (!this._sent) {
            this._sent = true;
            if (this.body.length) this.push(this.body);
        }
        this.push(null);
    }
}

/* FC HTTP response: status, headers (repeats kept), one send. */
class FCResponse {
    constructor(inv) {
        this._inv = inv;
        this.statusCode = 200;
        this._headers = new Map(); /* lower-case name -> [name, value or array] */
        this._sent = false;
    }
    setStatusCode(code) {
        this.statusCode = code | 0;
    }
    setHeader(name, value) {
        this._headers.set(String(name).toLowerCase(), [String(name), value]);
    }
    deleteHeader(name) {
        this._headers.delete(String(name).toLowerCase());
    }
    hasHeader(name) {
        return this._headers.has(String(name).toLowerCase());
    }
    getHeader(name) {
        const e = this._headers.get(String(name).toLowerCase());
        return e === undefined ? undefined : e[1];
    }
    getHeaders() {
        const o = {};
        for (const [k, e] of this._headers) o[k] = e[1];
        return o;
    }
    send(body) {
        if (this._sent) return;
        this._sent = true;
        if (body !== null && typeof body === 'object' && typeof body.pipe === 'function' && typeof body.on === 'function') {
            const parts = [];
            body.on('data', (c) => parts.push(typeof c === 'string' ? Buffer.from(c) : c));
            body.on('end', () => this._finish(Buffer.concat(parts)));
            body.on('error', (e) => finishError(this._inv, e, false));
            return;
        }
        this._finish(typeof body === 'string' ? body : resultBytes(body));
    }
    _finish(body) {
        let head = statusHead(this.statusCode);
        for (const [name, v] of this._headers.values()) {
            if (Array.isArray(v)) for (const x of v) head += headLine(name, x);
            else if (v !== undefined && v !== null) head += headLine(name, v);
        }
        finishOk(this._inv, head, body, F_HEAD);
    }
}

/* [name, value] pairs from a map of lower-case name -> [name, value or array]; repeats kept. */
function headerPairs(map) {
    const pairs = [];
    for (const [name, v] of map.values()) {
        if (Array.isArray(v)) for (const x of v) pairs.push([name, String(x)]);
        else if (v !== undefined && v !== null) pairs.push([name, String(v)]);
    }
    return pairs;
}

/*
 * An HTTP answer, with a HEAD meta ("status\0name\0value\0..."): a status
 * outside 100..999 becomes 200 (as the gateway would), a header with a NUL
 * in it cannot be sent and is left out.
 */
function statusHead(status) {
    return (status >= 100 && status <= 999 ? status | 0 : 200) + '\0';
}

function headLine(name, value) {
    const n = String(name);
    const v = String(value);
    return n.includes('\0') || v.includes('\0') ? '' : n + '\0' + v + '\0';
}

function finishHttp(inv, status, pairs, body) {
    let head = statusHead(status);
    for (const [name, value] of pairs) head += headLine(name, value);
    finishOk(inv, head, body, F_HEAD);
}

function runHttp(inv, h, body, ctx) {
    const req = new FCRequest(h, body);
    const res = new FCResponse(inv);
    const ret = handler(req, res, ctx);
    if (ret !== undefined && ret !== null && typeof ret.then === 'function') {
        ret.then(undefined, (e) => finishError(inv, e === undefined || e === null ? new Error('handler rejected') : e, false));
    }
}

/* ------------------------------------------------------------- lifecycle */

/*
 * An exception nobody caught: every invocation in flight fails (unhandled),
 * and the process leaves once the frames are out: its state is not to be
 * trusted.  The daemon sees the exit and replaces the instance.
 */
process.on('uncaughtException', (err) => {
    const e = errorJson(err);
    let any = false;
    for (const inv of inflight.values()) {
        if (inv.done) continue;
        inv.done = true;
        sendFrame(T_ERROR, inv.id, META_UNHANDLED, e);
        any = true;
    }
    inflight.clear();
    if (!ready && initStarted && !any) sendFrame(T_INIT_ERROR, 0, META_UNHANDLED, e);
    try {
        sendFrame(T_LOG, 0, LOG_META.stderr, Buffer.from('Uncaught ' + (err && err.stack ? err.stack : String(err))));
    } catch (x) { /* ignore */ }
    sock.end(() => process.exit(1));
    setTimeout(() => process.exit(1), 1000).unref();
});

input.on('error', () => process.exit(0));
input.on('end', () => sock.end(() => process.exit(0))); /* what is queued still leaves */
sock.on('error', () => process.exit(0));
