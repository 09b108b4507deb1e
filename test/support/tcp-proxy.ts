import { once } from 'node:events';
import { createConnection, createServer, type Socket } from 'node:net';

/**
 * A TCP relay on 127.0.0.1 in front of a server, for network faults a test can switch on and off.
 * `hold()` is a network that silently stops carrying packets: nothing is refused or reset, each
 * side's writes are accepted and then nothing arrives (the relay stops reading in both directions,
 * new connections included). `release()` delivers what was held, in order, as TCP would once the
 * path came back.
 */
export interface TcpProxy {
  port: number;
  hold(): void;
  release(): void;
  close(): Promise<void>;
}

function relay(from: Socket, to: Socket): void {
  from.on('data', (chunk) => to.write(chunk));
  from.on('end', () => to.end());
  from.on('close', () => to.destroy());
}

export async function startTcpProxy(target_port: number, target_host = '127.0.0.1'): Promise<TcpProxy> {
  let held = false;
  const sockets = new Set<Socket>();
  const track = (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => s.destroy());
    if (held) s.pause();
  };
  const server = createServer((inbound) => {
    const outbound = createConnection({ port: target_port, host: target_host });
    track(inbound);
    track(outbound);
    // Not pipe(): its backpressure handling resumes a source on the destination's 'drain', held or not.
    relay(inbound, outbound);
    relay(outbound, inbound);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('tcp proxy: no port');
  return {
    port: address.port,
    hold() {
      held = true;
      for (const s of sockets) s.pause();
    },
    release() {
      held = false;
      for (const s of sockets) s.resume();
    },
    async close() {
      for (const s of sockets) s.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}
