import { type DestinationStream, type Logger, pino } from 'pino';

/**
 * Paths pino blanks out. Fastify's request serializer logs no headers or bodies,
 * but any code that logs one cannot leak a key or a code through these.
 */
export const redactPaths = [
  'req.headers.authorization',
  'req.headers["idempotency-key"]',
  'headers.authorization',
  'authorization',
  'key',
  'secret',
  'code',
  'body.code',
  'req.body',
];

/** The server's logger: JSON lines, level from LOG_LEVEL, secrets redacted. */
export function makeLogger(level = process.env.LOG_LEVEL ?? 'info', destination?: DestinationStream): Logger {
  const options = { level, redact: { paths: redactPaths, censor: '[redacted]' } };
  return destination ? pino(options, destination) : pino(options);
}
