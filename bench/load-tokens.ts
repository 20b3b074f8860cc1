// Load generator in its own process: GETs `url` for `seconds` with `connections` concurrent clients, cycling
// through the tokens of a file (one per line). Prints {rps, p99, non2xx} as JSON.
import { readFileSync } from 'node:fs';
import { Agent, request } from 'undici';

const [url, file, seconds, connections] = process.argv.slice(2) as [string, string, string, string];
const tokens = readFileSync(file, 'utf8').split('\n').filter(Boolean);
const agent = new Agent({ connections: Number(connections) });
const deadline = Date.now() + Number(seconds) * 1000;
const latencies: number[] = [];
let next = 0;
let non2xx = 0;
async function client() {
  while (Date.now() < deadline) {
    const token = tokens[next++ % tokens.length]!;
    const start = process.hrtime.bigint();
    const response = await request(url, { headers: { 'x-auth-token': token }, dispatcher: agent });
    await response.body.dump();
    latencies.push(Number(process.hrtime.bigint() - start) / 1e6);
    if (response.statusCode !== 200) non2xx++;
  }
}
const started = Date.now();
await Promise.all(Array.from({ length: Number(connections) }, client));
latencies.sort((a, b) => a - b);
console.log(JSON.stringify({ rps: latencies.length / ((Date.now() - started) / 1000), p99: latencies[Math.floor(latencies.length * 0.99)], non2xx }));
await agent.close();
