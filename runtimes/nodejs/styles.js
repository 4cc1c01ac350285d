/*
 * styles.js: the other vendors' handler styles for the Node.js shim.
 *
 * bootstrap.js serves FC's styles itself (its hot path); a function whose
 * handlerType is "lambda", "gcf" or "openfaas" gets its invocations from
 * here instead (docs/runtimes.md has the table):
 *
 * - lambda: AWS Lambda `async (event, context)` or `(event, context,
 *   callback)`.  Invoke: the JSON payload parsed; the answer is
 *   JSON.stringify(result ?? null).  HTTP trigger: an API Gateway HTTP API
 *   payload 2.0 event; the return maps per its rules (reference B.3).
 *   Errors: {errorType, errorMessage, trace}.
 * - gcf: Google Cloud Functions `(req, res)` with Express-like objects
 *   (reference C): req.body parsed by content type, req.rawBody, req.query,
 *   res.status().send()/json()/set()/end(), streams piped into res.
 * - openfaas: OpenFaaS's node18 template `async (event, context)` with
 *   context.status().headers().succeed()/fail() (reference D).
 *
 * Loaded only for such functions: FC functions never pay for it.
 */
'use strict';

const { Readable, Writable } = require('node:stream');
const { isUtf8 } = require('node:buffer');

module.exports = function makeStyles(core) {
    const { finishOk, finishHttp, headerPairs, finishErrorBody, errorJson, resultBytes, META_EMPTY, EMPTY } = core;

    /* ------------------------------------------------------------ common */

    function rawQuery(url) {
        const q = url.indexOf('?');
        return q < 0 ? '' : url.slice(q + 1);
    }

    function first(v) {
        return Array.isArray(v) ? v[0] : v;
    }

    /* ------------------------------------------------------------ lambda */

    let lambdaInfo = null;

    function setupLambda(m) {
        const fn = m.function || {};
        const svc = m.service || {};
        const q = svc.qualifier || 'LATEST';
        const version = q === 'LATEST' ? '$LATEST' : svc.versionId || q;
        const region = m.region || 'local';
        const name = fn.name || '';
        const d = new Date();
        const day = `${d.getUTCFullYear()}/${String(d.getUTCMonth() + 1).padStart(2, '0')}/${String(d.getUTCDate()).padStart(2, '0')}`;
        const stream = `${day}/[${version}]${require('node:crypto').randomBytes(16).toString('hex')}`;
        let arn = `arn:aws:lambda:${region}:${m.accountId || '000000000000'}:function:${name}`;
        if (q !== 'LATEST') arn += ':' + q;
        lambdaInfo = {
            name,
            version,
            memory: String(fn.memorySize || 128),
            arn,
            group: '/aws/lambda/' + name,
            stream,
            account: m.accountId || '',
        };
        Object.assign(process.env, {
            AWS_LAMBDA_FUNCTION_NAME: name,
            AWS_LAMBDA_FUNCTION_VERSION: version,
            AWS_LAMBDA_FUNCTION_MEMORY_SIZE: lambdaInfo.memory,
            AWS_LAMBDA_LOG_GROUP_NAME: lambdaInfo.group,
            AWS_LAMBDA_LOG_STREAM_NAME: stream,
            AWS_REGION: region,
            AWS_DEFAULT_REGION: region,
            LAMBDA_TASK_ROOT: m.codeDir || process.cwd(),
            _HANDLER: fn.handler || '',
        });
    }

    /* Lambda's error body: {errorType, errorMessage, trace}. */
    function lambdaError(err) {
        let type = 'Error';
        let message;
        let trace = [];
        if (err instanceof Error || (err && typeof err === 'object' && 'message' in err)) {
            type = err.name || 'Error';
            message = String(err.message);
            if (typeof err.stack === 'string') trace = err.stack.split('\n');
        } else if (typeof err === 'string') {
            message = err;
        } else {
            try {
                message = JSON.stringify(err);
            } catch (e) {
                message = String(err);
            }
        }
        return Buffer.from(JSON.stringify({ errorType: type, errorMessage: message, trace }));
    }

    function lambdaContext(inv, meta, finish) {
        const deadline = meta.deadline || 0;
        return {
            awsRequestId: inv.requestId,
            functionName: lambdaInfo.name,
            functionVersion: lambdaInfo.version,
            invokedFunctionArn: lambdaInfo.arn,
            memoryLimitInMB: lambdaInfo.memory,
            logGroupName: lambdaInfo.group,
            logStreamName: lambdaInfo.stream,
            identity: undefined,
            clientContext: meta.clientContext, /* X-Amz-Client-Context, decoded (Lambda's invoke API) */
            callbackWaitsForEmptyEventLoop: true,
            getRemainingTimeInMillis: () => (deadline ? Math.max(0, deadline - Date.now()) : 0),
            succeed: (v) => finish(null, v),
            fail: (e) => finish(e === undefined || e === null ? new Error('context.fail called') : e, undefined),
            done: (e, v) => finish(e, v),
        };
    }

    const TEXT_TYPES = /^text\/|json|xml|javascript|x-www-form-urlencoded|graphql|yaml/i;

    /* API Gateway HTTP API payload format 2.0 (reference B.3). */
    function v2Event(inv, h, body) {
        const headers = {};
        let cookies;
        const hs = h.headers || {};
        for (const k of Object.keys(hs)) {
            const v = hs[k];
            if (k === 'cookie') {
                cookies = [];
                for (const c of Array.isArray(v) ? v : [v])
                    for (const p of c.split(';')) if (p.trim()) cookies.push(p.trim());
                continue;
            }
            headers[k] = Array.isArray(v) ? v.join(',') : v;
        }
        const now = new Date();
        const path = h.path || '/';
        const host = headers.host || 'localhost';
        const ev = {
            version: '2.0',
            routeKey: '$default',
            rawPath: path,
            rawQueryString: rawQuery(h.url || ''),
            headers,
            requestContext: {
                accountId: lambdaInfo.account,
                apiId: lambdaInfo.name,
                domainName: host,
                domainPrefix: host.split('.')[0],
                http: {
                    method: h.method || 'GET',
                    path,
                    protocol: 'HTTP/1.1',
                    sourceIp: h.clientIP || '',
                    userAgent: headers['user-agent'] || '',
                },
                requestId: inv.requestId,
                routeKey: '$default',
                stage: '$default',
                time: apiTime(now),
                timeEpoch: now.getTime(),
            },
            isBase64Encoded: false,
            pathParameters: null,
            stageVariables: null,
        };
        if (cookies !== undefined) ev.cookies = cookies;
        const qs = h.queries;
        if (qs && Object.keys(qs).length) {
            ev.queryStringParameters = {};
            for (const k of Object.keys(qs)) ev.queryStringParameters[k] = Array.isArray(qs[k]) ? qs[k].join(',') : qs[k];
        }
        if (body.length) {
            if (TEXT_TYPES.test(headers['content-type'] || '') && isUtf8(body)) {
                ev.body = body.toString('utf8');
            } else {
                ev.body = body.toString('base64');
                ev.isBase64Encoded = true;
            }
        }
        return ev;
    }

    const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
    function apiTime(d) {
        const p = (n) => String(n).padStart(2, '0');
        return `${p(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
    }

    const JSON_HDR = [['Content-Type', 'application/json']];

    /* The handler's return -> [status, header pairs, body] per the payload 2.0 rules. */
    function v2Result(r) {
        if (r === null || typeof r !== 'object' || Buffer.isBuffer(r) || !('statusCode' in r)) {
            const s = JSON.stringify(r === undefined ? null : r);
            return [200, JSON_HDR, Buffer.from(s === undefined ? 'null' : s)];
        }
        const pairs = [];
        let hasType = false;
        const add = (k, v) => {
            if (v === undefined || v === null) return;
            if (String(k).toLowerCase() === 'content-type') hasType = true;
            pairs.push([String(k), String(v)]);
        };
        const hs = r.headers || {};
        for (const k of Object.keys(hs)) add(k, hs[k]);
        const mv = r.multiValueHeaders || {};
        for (const k of Object.keys(mv)) for (const v of [].concat(mv[k])) add(k, v);
        for (const c of r.cookies || []) pairs.push(['Set-Cookie', String(c)]);
        if (!hasType) pairs.push(['Content-Type', 'application/json']);
        let out;
        const b = r.body;
        if (b === undefined || b === null) out = EMPTY;
        else if (typeof b === 'string') out = Buffer.from(b, r.isBase64Encoded ? 'base64' : 'utf8');
        else if (Buffer.isBuffer(b)) out = b;
        else out = Buffer.from(JSON.stringify(b));
        return [Number(r.statusCode) | 0, pairs, out];
    }

    function parsePayload(body) {
        if (!body.length) return {};
        const s = body.toString('utf8');
        try {
            return JSON.parse(s);
        } catch (e) {
            return s;
        }
    }

    function runLambda(handler, inv, meta, body) {
        const isHttp = meta.kind === 'http';
        const event = isHttp ? v2Event(inv, meta.http || {}, body) : parsePayload(body);
        const finish = (err, result) => {
            if (inv.done) return;
            if (err !== undefined && err !== null) return finishErrorBody(inv, lambdaError(err), true);
            if (isHttp) {
                let r;
                try {
                    r = v2Result(result);
                } catch (e) {
                    return finishErrorBody(inv, lambdaError(e), false);
                }
                return finishHttp(inv, r[0], r[1], r[2]);
            }
            let s;
            try {
                s = JSON.stringify(result === undefined ? null : result);
            } catch (e) {
                return finishErrorBody(inv, lambdaError(e), false);
            }
            finishOk(inv, META_EMPTY, Buffer.from(s === undefined ? 'null' : s));
        };
        const ctx = lambdaContext(inv, meta, finish);
        const ret = handler(event, ctx, (err, result) => finish(err, result));
        if (ret !== undefined && ret !== null && typeof ret.then === 'function') {
            const promiseWins = handler.length < 3;
            ret.then(
                (v) => {
                    if (promiseWins || v !== undefined) finish(null, v);
                },
                (e) => {
                    if (!inv.done) finishErrorBody(inv, lambdaError(e === undefined || e === null ? new Error('handler rejected') : e), false);
                }
            );
        }
    }

    /* --------------------------------------------------------------- gcf */

    let STATUS_CODES = null;
    function statusText(c) {
        if (STATUS_CODES === null) STATUS_CODES = require('node:http').STATUS_CODES;
        return STATUS_CODES[c] || String(c);
    }

    class BadBody extends Error {}

    /* Functions Framework's parsers: JSON, text/*, urlencoded, else the raw Buffer. */
    function parseBody(ct, raw) {
        if (!ct) return raw.length ? raw : {};
        const t = ct.split(';')[0].trim().toLowerCase();
        if (t === 'application/json' || t.endsWith('+json')) {
            if (!raw.length) return {};
            try {
                return JSON.parse(raw.toString('utf8'));
            } catch (e) {
                throw new BadBody('invalid JSON body: ' + e.message);
            }
        }
        if (t.startsWith('text/')) return raw.toString('utf8');
        if (t === 'application/x-www-form-urlencoded') return formObject(raw.toString('utf8'));
        return raw;
    }

    function formObject(s) {
        const o = {};
        for (const [k, v] of new URLSearchParams(s)) {
            if (!(k in o)) o[k] = v;
            else if (Array.isArray(o[k])) o[k].push(v);
            else o[k] = [o[k], v];
        }
        return o;
    }

    class GcfRequest extends Readable {
        constructor(h, raw, parsed) {
            super();
            const url = h.url || h.path || '/';
            const q = url.indexOf('?');
            this.method = h.method || 'GET';
            this.path = h.path || '/';
            this.url = this.path + (q >= 0 ? url.slice(q) : '');
            this.originalUrl = url;
            this.baseUrl = '';
            this.headers = h.headers || {};
            this.query = h.queries || {};
            this.params = {};
            this.ip = h.clientIP || '';
            this.ips = [];
            this.protocol = 'http';
            this.secure = false;
            this.hostname = String(first(this.headers.host) || 'localhost').replace(/:\d+$/, '');
            this.httpVersion = '1.1';
            this.rawBody = raw;
            this.body = parsed;
            this._sent = false;
        }
        _read() {
            if (!this._sent) {
                this._sent = true;
                if (this.rawBody.length) this.push(this.rawBody);
            }
            this.push(null);
        }
        get(name) {
            const n = String(name).toLowerCase();
            const v = this.headers[n === 'referrer' ? 'referer' : n];
            return Array.isArray(v) && n !== 'set-cookie' ? v.join(', ') : v;
        }
        header(name) {
            return this.get(name);
        }
        is(type) {
            const ct = String(this.get('content-type') || '').split(';')[0].trim().toLowerCase();
            if (!ct) return false;
            const t = String(type).toLowerCase();
            if (t.includes('/')) return t.endsWith('/*') ? ct.startsWith(t.slice(0, -1)) : ct === t ? t : false;
            return ct.endsWith('/' + t) || ct.endsWith('+' + t) || (t === 'urlencoded' && ct === 'application/x-www-form-urlencoded') ? t : false;
        }
    }

    const TYPES = {
        json: 'application/json',
        html: 'text/html',
        text: 'text/plain',
        txt: 'text/plain',
        xml: 'application/xml',
        js: 'application/javascript',
        css: 'text/css',
        bin: 'application/octet-stream',
        png: 'image/png',
        jpg: 'image/jpeg',
        form: 'application/x-www-form-urlencoded',
    };

    /* Express-like response; a Writable, so streams can be piped into it. */
    class GcfResponse extends Writable {
        constructor(onDone) {
            super();
            this.statusCode = 200;
            this.statusMessage = '';
            this.headersSent = false;
            this.locals = {};
            this._h = new Map(); /* lower name -> [name, value or array] */
            this._chunks = [];
            this._onDone = onDone;
        }
        _write(chunk, enc, cb) {
            this.headersSent = true;
            this._chunks.push(chunk);
            cb();
        }
        _final(cb) {
            this.headersSent = true;
            this._onDone(this.statusCode, headerPairs(this._h), this._chunks.length === 1 ? this._chunks[0] : Buffer.concat(this._chunks));
            cb();
        }
        status(c) {
            this.statusCode = c | 0;
            return this;
        }
        sendStatus(c) {
            this.statusCode = c | 0;
            if (!this.hasHeader('content-type')) this.setHeader('Content-Type', 'text/plain; charset=utf-8');
            return this.send(statusText(c));
        }
        setHeader(name, value) {
            this._h.set(String(name).toLowerCase(), [String(name), value]);
            return this;
        }
        getHeader(name) {
            const e = this._h.get(String(name).toLowerCase());
            return e === undefined ? undefined : e[1];
        }
        hasHeader(name) {
            return this._h.has(String(name).toLowerCase());
        }
        removeHeader(name) {
            this._h.delete(String(name).toLowerCase());
        }
        getHeaders() {
            const o = {};
            for (const [k, e] of this._h) o[k] = e[1];
            return o;
        }
        getHeaderNames() {
            return [...this._h.keys()];
        }
        writeHead(code, msg, headers) {
            this.statusCode = code | 0;
            if (typeof msg === 'object' && msg !== null) headers = msg;
            if (headers) this.set(headers);
            return this;
        }
        set(field, value) {
            if (typeof field === 'object' && field !== null) {
                for (const k of Object.keys(field)) this.set(k, field[k]);
                return this;
            }
            if (String(field).toLowerCase() === 'content-type' && typeof value === 'string' && !value.includes('/'))
                value = TYPES[value] || value;
            return this.setHeader(field, Array.isArray(value) ? value.map(String) : String(value));
        }
        header(field, value) {
            return this.set(field, value);
        }
        get(field) {
            return this.getHeader(field);
        }
        append(field, value) {
            const prev = this.getHeader(field);
            if (prev === undefined) return this.set(field, value);
            return this.setHeader(field, [].concat(prev, value).map(String));
        }
        type(t) {
            return this.setHeader('Content-Type', String(t).includes('/') ? t : TYPES[String(t).replace(/^\./, '')] || 'application/octet-stream');
        }
        contentType(t) {
            return this.type(t);
        }
        location(url) {
            return this.setHeader('Location', url);
        }
        redirect(a, b) {
            const [code, url] = b === undefined ? [302, a] : [a, b];
            this.statusCode = code;
            this.location(url);
            this.setHeader('Content-Type', 'text/plain; charset=utf-8');
            return this.end(`${statusText(code)}. Redirecting to ${url}`);
        }
        cookie(name, value, opts = {}) {
            let c = `${name}=${encodeURIComponent(typeof value === 'object' ? 'j:' + JSON.stringify(value) : String(value))}`;
            if (opts.maxAge !== undefined) {
                c += `; Max-Age=${Math.floor(opts.maxAge / 1000)}`;
                c += `; Expires=${new Date(Date.now() + opts.maxAge).toUTCString()}`;
            } else if (opts.expires) c += `; Expires=${new Date(opts.expires).toUTCString()}`;
            if (opts.domain) c += `; Domain=${opts.domain}`;
            c += `; Path=${opts.path || '/'}`;
            if (opts.secure) c += '; Secure';
            if (opts.httpOnly) c += '; HttpOnly';
            if (opts.sameSite) c += `; SameSite=${opts.sameSite === true ? 'Strict' : opts.sameSite}`;
            return this.append('Set-Cookie', c);
        }
        clearCookie(name, opts = {}) {
            return this.cookie(name, '', Object.assign({}, opts, { expires: new Date(1), maxAge: undefined }));
        }
        json(obj) {
            if (!this.hasHeader('content-type')) this.setHeader('Content-Type', 'application/json; charset=utf-8');
            const s = JSON.stringify(obj);
            return this.send(s === undefined ? '' : s);
        }
        send(body) {
            if (typeof body === 'string') {
                if (!this.hasHeader('content-type')) this.setHeader('Content-Type', 'text/html; charset=utf-8');
            } else if (Buffer.isBuffer(body) || body instanceof Uint8Array) {
                if (!this.hasHeader('content-type')) this.setHeader('Content-Type', 'application/octet-stream');
                body = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
            } else if (body === undefined || body === null) {
                body = '';
            } else if (typeof body === 'object' || typeof body === 'number' || typeof body === 'boolean') {
                return this.json(body);
            }
            if (this.writableEnded) return this;
            this.end(body);
            return this;
        }
        end(chunk, enc, cb) {
            if (this.writableEnded) return this;
            return super.end(chunk, enc, cb);
        }
        flushHeaders() {}
    }

    /* An invocation over the invoke API becomes `POST /` with the payload. */
    function eventAsHttp(body) {
        let json = false;
        if (body.length) {
            try {
                JSON.parse(body.toString('utf8'));
                json = true;
            } catch (e) { /* not JSON */ }
        }
        const headers = body.length ? { 'content-type': json ? 'application/json' : 'application/octet-stream' } : {};
        return { method: 'POST', path: '/', url: '/', queries: {}, headers, clientIP: '' };
    }

    function httpError(status, body) {
        return Buffer.from(JSON.stringify({ errorMessage: body.toString('utf8'), errorType: 'HTTPError', statusCode: status, stackTrace: [] }));
    }

    function runGcf(handler, inv, meta, body) {
        const isHttp = meta.kind === 'http';
        const h = isHttp ? meta.http || {} : eventAsHttp(body);
        let parsed;
        try {
            parsed = parseBody(first((h.headers || {})['content-type']), body);
        } catch (e) {
            if (!(e instanceof BadBody)) throw e;
            if (!isHttp) return finishErrorBody(inv, errorJson(e), true);
            return finishHttp(inv, 400, [['Content-Type', 'text/plain; charset=utf-8']], Buffer.from('Bad Request: ' + e.message));
        }
        const req = new GcfRequest(h, body, parsed);
        const res = new GcfResponse((status, pairs, out) => {
            if (inv.done) return;
            if (isHttp) finishHttp(inv, status, pairs, out);
            else if (status >= 400) finishErrorBody(inv, httpError(status, out), true);
            else finishOk(inv, META_EMPTY, out);
        });
        res.on('error', (e) => core.finishError(inv, e, false));
        const ret = handler(req, res);
        if (ret !== undefined && ret !== null && typeof ret.then === 'function')
            ret.then(undefined, (e) => core.finishError(inv, e === undefined || e === null ? new Error('handler rejected') : e, false));
    }

    /* ---------------------------------------------------------- openfaas */

    /* The node18 template's parsers: JSON, text/*, else the raw Buffer ({} without a body). */
    function faasBody(ct, raw) {
        if (!raw.length) return {};
        const t = String(ct || '').split(';')[0].trim().toLowerCase();
        if (t === 'application/json') {
            try {
                return JSON.parse(raw.toString('utf8'));
            } catch (e) {
                throw new BadBody('invalid JSON body: ' + e.message);
            }
        }
        if (t.startsWith('text/')) return raw.toString('utf8');
        return raw;
    }

    class FunctionEvent {
        constructor(h, body) {
            this.body = body;
            this.headers = h.headers || {};
            this.method = h.method || 'GET';
            this.query = h.queries || {};
            this.path = h.path || '/';
        }
    }

    /* As in the template: status()/headers() are getters without an argument. */
    class FunctionContext {
        constructor(cb) {
            this.statusCode = 200;
            this.cb = cb;
            this.headerValues = {};
            this.cbCalled = 0;
        }
        status(statusCode) {
            if (!statusCode) return this.statusCode;
            this.statusCode = statusCode;
            return this;
        }
        headers(value) {
            if (!value) return this.headerValues;
            this.headerValues = value;
            return this;
        }
        succeed(value) {
            this.cbCalled++;
            this.cb(undefined, value);
        }
        fail(value) {
            this.cbCalled++;
            this.cb(value, undefined);
        }
    }

    function runOpenfaas(handler, inv, meta, body) {
        const isHttp = meta.kind === 'http';
        const h = isHttp ? meta.http || {} : eventAsHttp(body);
        let parsed;
        try {
            parsed = isHttp ? faasBody(first((h.headers || {})['content-type']), body) : parsePayloadRaw(body);
        } catch (e) {
            if (!(e instanceof BadBody)) throw e;
            return finishHttp(inv, 400, [['Content-Type', 'text/plain; charset=utf-8']], Buffer.from('Bad Request: ' + e.message));
        }
        const ctx = new FunctionContext((err, result) => {
            if (inv.done) return;
            if (err) {
                const text = err && err.toString ? err.toString() : String(err);
                core.sendLog('error', err && err.stack ? err.stack : text);
                if (!isHttp) return finishErrorBody(inv, errorJson(err), true);
                return finishHttp(inv, 500, [['Content-Type', 'text/html; charset=utf-8']], Buffer.from(text));
            }
            const pairs = [];
            let hasType = false;
            const hv = ctx.headers() || {};
            for (const k of Object.keys(hv)) {
                if (k.toLowerCase() === 'content-type') hasType = true;
                for (const v of [].concat(hv[k])) pairs.push([k, String(v)]);
            }
            let out;
            if (result === undefined || result === null) out = EMPTY;
            else if (Buffer.isBuffer(result)) {
                out = result;
                if (!hasType) pairs.push(['Content-Type', 'application/octet-stream']);
                hasType = true;
            } else if (typeof result === 'object') out = Buffer.from(JSON.stringify(result));
            else out = Buffer.from(String(result));
            if (!hasType && out.length) pairs.push(['Content-Type', 'text/html; charset=utf-8']);
            if (isHttp) finishHttp(inv, Number(ctx.status()) | 0, pairs, out);
            else finishOk(inv, META_EMPTY, out);
        });
        const cb = (err, result) => ctx.cb(err, result);
        let ret;
        try {
            ret = handler(new FunctionEvent(h, parsed), ctx, cb);
        } catch (e) {
            return ctx.cb(e);
        }
        Promise.resolve(ret).then(
            (v) => {
                if (!ctx.cbCalled) ctx.succeed(v);
            },
            (e) => ctx.cb(e === undefined || e === null ? new Error('handler rejected') : e)
        );
    }

    function parsePayloadRaw(body) {
        if (!body.length) return {};
        try {
            return JSON.parse(body.toString('utf8'));
        } catch (e) {
            return body;
        }
    }

    return {
        setup(style, m) {
            if (style === 'lambda') setupLambda(m);
        },
        runner(style) {
            if (style === 'lambda') return runLambda;
            if (style === 'gcf') return runGcf;
            if (style === 'openfaas') return runOpenfaas;
            return null;
        },
        lambdaError,
    };
};
