import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/**
 * Runs WAL checkpoints on a worker thread with its own connection, so the writer's event
 * loop never copies WAL pages into the database file or waits on that file's fsync.
 *
 * better-sqlite3 is synchronous: with SQLite's automatic checkpoint, every ~1,000 pages one
 * commit also copies the WAL back and fsyncs the database, stalling every request behind it
 * (measured ~10% of a hot campaign's throughput). A PASSIVE checkpoint never blocks the
 * writer and never takes its lock; when it has copied every frame, the writer's next commit
 * starts the WAL over. The writer keeps a (larger) automatic checkpoint as a bound on the
 * WAL's size should this thread fall behind. Durability is unchanged: commits still fsync
 * the WAL (synchronous=FULL); a checkpoint only moves committed pages into the main file.
 */
export class BackgroundCheckpointer {
  private readonly worker: Worker;
  private readonly exited: Promise<void>;
  private running = true;
  private closed = false;

  constructor(path: string, interval_ms = 25) {
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    this.worker = new Worker(workerSource, { eval: true, workerData: { path, driver, interval_ms } });
    this.exited = new Promise<void>((resolve) =>
      this.worker.once('exit', () => {
        this.running = false;
        resolve();
      }),
    );
    // A failed checkpoint thread is not fatal: the writer's own automatic checkpoint still bounds
    // the WAL (at 8,000 pages, inside a commit). Say so once, since commits get slower.
    this.worker.on('error', (err) => {
      process.emitWarning(`background WAL checkpoints stopped: ${err.message}`, 'VouchsafeWarning');
    });
    this.worker.unref();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (!this.running) return;
    this.worker.ref(); // keep the process alive until the thread has closed its connection
    this.worker.postMessage('stop');
    await this.exited;
  }
}

/** Plain JavaScript: the worker is not loaded through the TypeScript loader. */
const workerSource = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path, { fileMustExist: true });
db.pragma('busy_timeout = 0');
let timer = null;
const tick = () => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch {
    // SQLITE_BUSY: another checkpoint is running; try again on the next tick.
  }
  timer = setTimeout(tick, workerData.interval_ms);
};
timer = setTimeout(tick, workerData.interval_ms);
parentPort.on('message', (m) => {
  if (m !== 'stop') return;
  clearTimeout(timer);
  db.close();
  parentPort.close();
});
`;
