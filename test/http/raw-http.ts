import { once } from 'node:events';
import { connect, type Socket } from 'node:net';

/** An open connection with the bytes written so far; `text()` is what the server answered until it closed. */
export interface RawConnection {
  socket: Socket;
  /** Resolves once the server has closed the connection, with everything it sent. */
  text(): Promise<string>;
}

/** Opens a connection and writes the bytes as they are (a request line node:http or fetch would not send). */
export async function rawConnection(port: number, bytes: string): Promise<RawConnection> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  let text = '';
  socket.on('data', (d: Buffer) => {
    text += d.toString('latin1');
  });
  const closed = once(socket, 'close').then(() => text);
  socket.write(bytes);
  return { socket, text: () => closed };
}

/** Sends one request on its own connection (with `connection: close`) and reads the whole answer. */
export async function rawRequest(
  port: number,
  lines: string[],
): Promise<{ status: number; head: string; body: string }> {
  const conn = await rawConnection(port, `${[...lines, 'connection: close'].join('\r\n')}\r\n\r\n`);
  const answer = await conn.text();
  const split = answer.indexOf('\r\n\r\n');
  const head = answer.slice(0, split);
  return { status: Number(/^HTTP\/1\.1 (\d{3}) /.exec(head)?.[1] ?? 0), head, body: answer.slice(split + 4) };
}
