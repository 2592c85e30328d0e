// An MCP host for scripts/interop_checks.py built on the TypeScript SDK v2 client (npm
// @modelcontextprotocol/client): it launches mcp-remote over stdio the way a desktop host
// would, runs a plan of steps through it and prints one JSON line per step. It judges nothing:
// the checks read the lines.
//
//   node ts2_host.mjs <modules dir> <legacy|auto> <plan JSON> <proxy stderr file> -- <proxy> <args...>
//
// legacy  the SDK's default: the 2025 `initialize` handshake (a 2025-era host)
// auto    versionNegotiation {mode: 'auto'}: server/discover on a throw-away sibling process
//         first, then the 2026-07-28 per-request `_meta` (a modern host)
//
// The host declares elicitation (form) and answers every elicitation/create (a 2025-era server
// request, or an input_required round the client fulfils itself) with accept {ok: true}.
//
// Plan steps ({"id": ..., "op": ...}):
//   connect                              -> {era, version, server, capabilities}
//   list                                 -> {names, tools}
//   call  {name, args}                   -> {result, elicitations}  (elicitations: answered so far)
//   read  {uri}                          -> {result}
//   touch {name, args, method, ms}       -> calls the tool, then waits up to ms for notification
//                                           `method` -> {result, notified}
//   listen {filter, name, args, method, ms}
//                                        -> opens subscriptions/listen (resolves on the ack), calls
//                                           the tool, waits up to ms for `method`, closes the listen
//                                           -> {honored, result, notified, closed}
// Output line: {"id", "ok": true, "value"} or {"id", "ok": false, "error"}. After a failed
// step the rest still run (each with its own bound) unless the connection is gone.
import { openSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const sep = process.argv.indexOf('--');
const [modulesDir, mode, planJson, stderrPath] = process.argv.slice(2, sep);
const proxyCmd = process.argv.slice(sep + 1);
if (sep < 0 || !modulesDir || !['legacy', 'auto'].includes(mode) || !planJson || !stderrPath || proxyCmd.length === 0) {
    console.error('usage: ts2_host.mjs <modules dir> <legacy|auto> <plan JSON> <stderr file> -- <proxy> <args...>');
    process.exit(2);
}
const load = createRequire(path.join(path.resolve(modulesDir), 'package.json'));
const { Client } = load('@modelcontextprotocol/client');
const { StdioClientTransport } = load('@modelcontextprotocol/client/stdio');

const REQUEST_MS = 20000;
const plan = JSON.parse(planJson);
// A last resort: whatever hangs, the host ends (the checks bound it from outside too).
setTimeout(() => {
    emit({ id: 'watchdog', ok: false, error: 'host did not finish within 90s' });
    process.exit(3);
}, 90000).unref();

function emit(line) {
    process.stdout.write(JSON.stringify(line) + '\n');
}

function bounded(promise, ms, what) {
    let timer;
    const limit = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    });
    return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}

let elicitations = 0;
const seen = new Map(); // notification method -> count

const client = new Client(
    { name: `ts2-host-${mode}`, version: '2.4.0' },
    {
        capabilities: { elicitation: { form: {} } },
        ...(mode === 'auto' ? { versionNegotiation: { mode: 'auto', probe: { timeoutMs: REQUEST_MS } } } : {})
    }
);
client.setRequestHandler('elicitation/create', async () => {
    elicitations += 1;
    return { action: 'accept', content: { ok: true } };
});
for (const method of ['notifications/tools/list_changed', 'notifications/resources/list_changed']) {
    client.setNotificationHandler(method, () => seen.set(method, (seen.get(method) ?? 0) + 1));
}
client.onerror = e => console.error(`client error: ${e?.message ?? e}`);

async function waitSeen(method, before, ms) {
    const end = Date.now() + ms;
    while ((seen.get(method) ?? 0) <= before && Date.now() < end) {
        await new Promise(r => setTimeout(r, 50));
    }
    return (seen.get(method) ?? 0) > before;
}

const ops = {
    async connect() {
        const transport = new StdioClientTransport({
            command: proxyCmd[0],
            args: proxyCmd.slice(1),
            stderr: openSync(stderrPath, 'a')
        });
        await bounded(client.connect(transport, { timeout: REQUEST_MS }), REQUEST_MS + 5000, 'connect');
        return {
            era: client.getProtocolEra(),
            version: client.getNegotiatedProtocolVersion(),
            server: client.getServerVersion(),
            capabilities: client.getServerCapabilities()
        };
    },
    async list() {
        const res = await client.listTools(undefined, { timeout: REQUEST_MS, cacheMode: 'bypass' });
        return { names: res.tools.map(t => t.name), tools: res.tools };
    },
    async call(s) {
        const result = await client.callTool({ name: s.name, arguments: s.args ?? {} }, { timeout: REQUEST_MS });
        return { result, elicitations };
    },
    async read(s) {
        return { result: await client.readResource({ uri: s.uri }, { timeout: REQUEST_MS, cacheMode: 'bypass' }) };
    },
    async touch(s) {
        const before = seen.get(s.method) ?? 0;
        const result = await client.callTool({ name: s.name, arguments: s.args ?? {} }, { timeout: REQUEST_MS });
        return { result, notified: await waitSeen(s.method, before, s.ms) };
    },
    async listen(s) {
        const sub = await client.listen(s.filter, { timeout: REQUEST_MS });
        try {
            const before = seen.get(s.method) ?? 0;
            const result = await client.callTool({ name: s.name, arguments: s.args ?? {} }, { timeout: REQUEST_MS });
            const notified = await waitSeen(s.method, before, s.ms);
            return { honored: sub.honoredFilter, result, notified };
        } finally {
            await bounded(sub.close(), 5000, 'closing the listen');
        }
    }
};

let connected = false;
for (const step of plan) {
    if (step.op !== 'connect' && !connected) {
        emit({ id: step.id, ok: false, error: 'not connected' });
        continue;
    }
    try {
        const value = await bounded(ops[step.op](step), REQUEST_MS + 15000, step.op);
        if (step.op === 'connect') connected = true;
        emit({ id: step.id, ok: true, value });
    } catch (e) {
        emit({ id: step.id, ok: false, error: String(e?.message ?? e).slice(0, 600) });
    }
}
await bounded(client.close(), 5000, 'close').catch(e => console.error(String(e)));
process.exit(0);
