import { spawn, spawnSync, type ChildProcess } from 'child_process';
import { existsSync } from 'fs';
import { createServer } from 'net';
import { tempDir } from './tmp';

/** Debian's redis-server (on PATH, else its usual places), or undefined. */
export function findRedisServer(): string | undefined {
  const which = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
  const p = which.status === 0 ? which.stdout.trim() : '';
  if (p) return p;
  return ['/usr/bin/redis-server', '/usr/sbin/redis-server', '/usr/local/bin/redis-server'].find((f) => existsSync(f));
}

/**
 * Whether the queue tests can run: with no redis-server they are skipped with a loud message, except under CI
 * (process.env.CI set), where the missing server is a failure (`.ci/run` installs it).
 */
export function redisAvailable(suite: string): boolean {
  if (findRedisServer()) return true;
  const msg = `\n*** ${suite}: redis-server not found: SKIPPING the queue tests (apt-get install redis-server) ***\n`;
  if (process.env.CI) throw new Error(`${msg}(process.env.CI is set: a missing redis-server fails the run)`);
  process.stderr.write(msg);
  return false;
}

/** A free TCP port on loopback. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface RedisServer {
  port: number;
  url: string;
  stop(): Promise<void>;
}

/** Start a private redis-server on a free loopback port in a temp folder (no persistence); `password` sets requirepass. */
export async function startRedis(options: { password?: string } = {}): Promise<RedisServer> {
  const bin = findRedisServer();
  if (!bin) throw new Error('redis-server not found');
  const dir = tempDir('diff2s-redis-');
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir.dir, '--save', '', '--appendonly', 'no'];
  if (options.password) args.push('--requirepass', options.password);
  const child: ChildProcess = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`redis-server did not start on port ${port}:\n${out}`)), 10000);
    const check = () => {
      if (/Ready to accept connections/.test(out)) {
        clearTimeout(t);
        resolve();
      }
    };
    child.stdout!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`redis-server exited (${code}):\n${out}`));
    });
  });
  const auth = options.password ? `:${encodeURIComponent(options.password)}@` : '';
  return {
    port,
    url: `redis://${auth}127.0.0.1:${port}/0`,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      dir.cleanup();
    },
  };
}
