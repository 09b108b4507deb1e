// The same-run baseline for the HTTP benchmark: a bare Fastify hello-world.
import { fastify } from 'fastify';

const app = fastify({ logger: false });
app.post('/hello', async () => ({ ok: true }));
await app.listen({ port: 0, host: '127.0.0.1' });
const address = app.server.address();
process.stdout.write(`serving on http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}\n`);
