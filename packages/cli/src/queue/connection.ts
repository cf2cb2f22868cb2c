/**
 * Redis connections of the job queue (BullMQ on ioredis). A queue is named by a Redis URL,
 * `redis://[:password@]host[:port][/db]` (or `rediss://` for TLS); a password in the URL is used and never printed.
 * Redis must not be reachable from untrusted networks: anyone who can reach it can submit jobs to every worker.
 */
import { Redis, type RedisOptions } from 'ioredis';
import { ConfigError } from '@diff2s/core';

/** The BullMQ queue every submit and worker uses. */
export const QUEUE_NAME = 'diff2s-inpaint';
/** Redis key of a batch's record (JSON). */
export const batchKey = (id: string): string => `diff2s:batch:${id}`;

/** Check a queue URL: redis:// or rediss://, a host, an optional numeric db. */
export function parseQueueUrl(url: string, flag = '--queue'): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ConfigError(`expected a Redis URL such as redis://127.0.0.1:6379/0, got "${url}"`, flag);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new ConfigError(`expected a redis:// or rediss:// URL, got "${redactUrl(url)}"`, flag);
  if (!u.hostname) throw new ConfigError(`the Redis URL "${redactUrl(url)}" names no host`, flag);
  const db = u.pathname.replace(/^\//, '');
  if (db !== '' && !/^\d+$/.test(db)) throw new ConfigError(`the Redis database must be a number (redis://host:port/0), got "/${db}"`, flag);
  return u;
}

/** The URL without its password (for logs and errors). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//***@');
  }
}

/**
 * A Redis connection for BullMQ. `failFast`: give up after a few seconds when Redis cannot be reached (commands a user
 * waits on: submit, status, retry); otherwise reconnect for ever (a worker outlives a Redis restart).
 */
export async function connectRedis(url: string, options: { failFast?: boolean; timeoutMs?: number } = {}): Promise<Redis> {
  parseQueueUrl(url);
  const timeoutMs = options.timeoutMs ?? 5000;
  const opts: RedisOptions = {
    maxRetriesPerRequest: null, // BullMQ's requirement for blocking connections
    lazyConnect: true,
    retryStrategy: options.failFast ? () => null : (times) => Math.min(200 * times, 5000),
  };
  const redis = new Redis(url, opts);
  let lastError = '';
  redis.on('error', (err: Error) => {
    lastError = (err as NodeJS.ErrnoException).code ?? err.message;
  });
  try {
    await Promise.race([
      redis.connect(),
      new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), timeoutMs).unref()),
    ]);
    await redis.ping();
  } catch (err) {
    redis.disconnect();
    const why = lastError || (err as Error).message;
    throw new Error(`cannot reach Redis at ${redactUrl(url)}: ${why}`);
  }
  return redis;
}
