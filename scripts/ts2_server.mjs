// A 2026-07-28 MCP server for scripts/interop_checks.py, written against the public API of the
// TypeScript SDK v2 (npm @modelcontextprotocol/server + @modelcontextprotocol/node), served by
// createMcpHandler(factory, { legacy }) on http://127.0.0.1:<port>/mcp (every path answers).
//
//   node ts2_server.mjs <modules dir> <port> [reject|stateless]
//
// <modules dir> is the directory whose node_modules holds the SDK (target/interop/ts2): the
// packages are loaded from there, since this file lives outside it. With `reject` (the default)
// the server is modern-only and strict: a 2025-era request (an `initialize`) gets -32022, and a
// tools/call whose Mcp-Param-* headers do not mirror the x-mcp-header arguments gets -32020.
//
// Tools:
//   echo(text)                  the text back
//   get_weather(city, days?)    city -> x-mcp-header "City", days -> "Days"; answers with the
//                               arguments and the raw Mcp-Param-City / Mcp-Param-Days headers
//                               the HTTP request carried (JSON), so a check sees what was sent
//   confirm(action)             multi-round-trip: answers input_required with an elicitation
//                               (key `ask`) and requestState `confirm:<action>`; the retry must
//                               echo that state and carry an accepted answer
//   touch_tools()               publishes notifications/tools/list_changed to open listens
// Resource: file:///cfg.json (application/json).
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';

const [modulesDir, portArg, legacyArg = 'reject'] = process.argv.slice(2);
if (!modulesDir || !portArg || !['reject', 'stateless'].includes(legacyArg)) {
    console.error('usage: ts2_server.mjs <modules dir> <port> [reject|stateless]');
    process.exit(2);
}
// The CommonJS builds, all through one require, so the packages share one copy of the SDK core.
const load = createRequire(path.join(path.resolve(modulesDir), 'package.json'));
const sdk = load('@modelcontextprotocol/server');
const { toNodeHandler } = load('@modelcontextprotocol/node');
const { z } = load('zod');

const CFG = JSON.stringify({ name: 'interop', version: 3 });
const text = t => ({ content: [{ type: 'text', text: t }] });

let handler;

function build(ctx) {
    const server = new sdk.McpServer({ name: 'interop-ts2', version: '2.4.0-interop' });
    // One instance serves one HTTP request, so these are that request's headers.
    const headers = ctx.requestInfo?.headers;

    server.registerTool('echo', { description: 'Return the given text unchanged', inputSchema: z.object({ text: z.string() }) },
        async ({ text: t }) => text(t));

    server.registerTool(
        'get_weather',
        {
            description: 'Weather for a city; city and days are mirrored into Mcp-Param-* headers',
            inputSchema: sdk.fromJsonSchema({
                type: 'object',
                properties: {
                    city: { type: 'string', 'x-mcp-header': 'City' },
                    days: { type: 'integer', 'x-mcp-header': 'Days' }
                },
                required: ['city']
            })
        },
        async args =>
            text(JSON.stringify({
                city: args.city,
                days: args.days ?? null,
                header_city: headers?.get('mcp-param-city') ?? null,
                header_days: headers?.get('mcp-param-days') ?? null
            }))
    );

    server.registerTool(
        'confirm',
        { description: 'Ask the user to confirm an action (multi-round-trip elicitation)', inputSchema: z.object({ action: z.string() }) },
        async ({ action }, c) => {
            const want = `confirm:${action}`;
            const answer = sdk.acceptedContent(c.mcpReq.inputResponses, 'ask');
            if (!answer) {
                return sdk.inputRequired({
                    inputRequests: {
                        ask: sdk.inputRequired.elicit({
                            message: `Really ${action}?`,
                            requestedSchema: { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'] }
                        })
                    },
                    requestState: want
                });
            }
            const state = c.mcpReq.requestState();
            if (state !== want) {
                return { ...text(`requestState ${JSON.stringify(state)} came back, want ${JSON.stringify(want)}`), isError: true };
            }
            return text(`confirmed ${action}: ${JSON.stringify(answer)}`);
        }
    );

    server.registerTool('touch_tools', { description: 'Announce that the tool list changed' }, async () => {
        handler.notify.toolsChanged();
        return text('tools changed');
    });

    server.registerResource('cfg', 'file:///cfg.json', { mimeType: 'application/json', description: 'A fixed JSON document' },
        async uri => ({ contents: [{ uri: uri.href, mimeType: 'application/json', text: CFG }] }));
    return server;
}

handler = sdk.createMcpHandler(build, { legacy: legacyArg, onerror: e => console.error(`handler: ${e.message}`) });
const node = toNodeHandler(handler);
const http = createServer((req, res) => {
    console.error(`${req.method} ${req.url} mcp-method=${req.headers['mcp-method'] ?? '-'} mcp-name=${req.headers['mcp-name'] ?? '-'}`);
    node(req, res);
});
http.listen(Number(portArg), '127.0.0.1', () => console.error(`ts2 server (legacy: ${legacyArg}) on 127.0.0.1:${portArg}`));
const stop = () => {
    http.close();
    handler.close().finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
