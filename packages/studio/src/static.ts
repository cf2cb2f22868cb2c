import { createReadStream, promises as fs } from 'fs';
import type { ServerResponse } from 'http';
import * as path from 'path';

/** The page's folder, the same relative path from src/ (jest) and dist/ (built): packages/studio/public. */
export const PUBLIC_DIR = path.resolve(__dirname, '..', 'public');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.webmanifest': 'application/manifest+json',
};

/** Outcome of mapping a request path onto the public folder. */
export type StaticLookup = { ok: true; file: string; type: string } | { ok: false; status: 400 | 403 | 404; reason: string };

/**
 * Map the raw (still percent-encoded) path of a request onto a file of `root`, refusing anything that could leave it:
 * `..` or `.` segments (raw or encoded), backslashes, NUL bytes, malformed encodings, hidden files, unknown extensions.
 * Pure path arithmetic; {@link serveStatic} also checks the real path on disk (symbolic links).
 */
export function resolveStaticPath(rawPath: string, root = PUBLIC_DIR): StaticLookup {
  let decoded: string;
  try {
    decoded = decodeURIComponent(rawPath);
  } catch {
    return { ok: false, status: 400, reason: 'malformed percent-encoding in the path' };
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return { ok: false, status: 403, reason: 'forbidden character in the path' };
  if (!decoded.startsWith('/') || decoded.startsWith('//')) return { ok: false, status: 403, reason: 'not a relative path of the studio' };
  const segments = decoded.split('/').slice(1);
  if (segments.some((s) => s === '..' || s === '.')) return { ok: false, status: 403, reason: 'path leaves the studio folder' };
  if (segments.some((s) => s.startsWith('.'))) return { ok: false, status: 404, reason: 'not found' };
  let rel = segments.join('/');
  if (rel === '' || rel.endsWith('/')) rel += 'index.html';
  const file = path.resolve(root, rel);
  if (!file.startsWith(root + path.sep)) return { ok: false, status: 403, reason: 'path leaves the studio folder' };
  const type = TYPES[path.extname(file).toLowerCase()];
  if (!type) return { ok: false, status: 404, reason: 'not found' };
  return { ok: true, file, type };
}

let realRoot: Promise<string> | undefined;

/** Serve a file of the public folder (GET or HEAD). Returns false (having sent nothing) when there is no such file. */
export async function serveStatic(rawPath: string, res: ServerResponse, head: boolean, root = PUBLIC_DIR): Promise<StaticLookup> {
  const found = resolveStaticPath(rawPath, root);
  if (!found.ok) return found;
  let real: string;
  let size: number;
  try {
    real = await fs.realpath(found.file);
    const rootReal = await (root === PUBLIC_DIR ? (realRoot ??= fs.realpath(root)) : fs.realpath(root));
    if (!real.startsWith(rootReal + path.sep)) return { ok: false, status: 403, reason: 'path leaves the studio folder' };
    const st = await fs.stat(real);
    if (!st.isFile()) return { ok: false, status: 404, reason: 'not found' };
    size = st.size;
  } catch {
    return { ok: false, status: 404, reason: 'not found' };
  }
  res.writeHead(200, { 'Content-Type': found.type, 'Content-Length': size, 'Cache-Control': 'no-cache' });
  if (head) {
    res.end();
  } else {
    await new Promise<void>((resolve) => {
      const s = createReadStream(real);
      s.on('error', () => { res.destroy(); resolve(); });
      s.on('end', resolve);
      s.pipe(res);
    });
  }
  return found;
}
