/**
 * Native model folders (engine-neutral: reading and writing only; `loadModel` in engines.ts runs one on an engine): `weights.bin` (float32 little-endian, parameters back to back), `weights.json` (manifest:
 * names, shapes, byte offsets) and `model.json` (the model card: preset, UNet config, schedule config, prediction
 * type, training data and steps, engine version). Writes are atomic (temp file + rename), the card last, so a folder
 * with a card is complete. Loading checks every parameter against the definition built from the card's config and
 * names the first one that does not match.
 */
import { promises as fs, readFileSync } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { InputError, ModelError, writeFileAtomic, ModelFileError } from '@diff2s/core';
import type { NetworkDef } from '../net/def';
import { shapeSize } from '../net/def';
import { defineUNet, UNetConfig, resolveUNetConfig } from '../net/unet';
import type { WeightMap } from '../net/types';

export const MODEL_CARD_FILE = 'model.json';
export const WEIGHTS_FILE = 'weights.bin';
export const MANIFEST_FILE = 'weights.json';

/** One parameter in the manifest. */
export interface ManifestEntry {
  name: string;
  shape: number[];
  /** Byte offset in weights.bin. */
  offset: number;
  /** Number of float32 values. */
  length: number;
}

/** weights.json. */
export interface WeightsManifest {
  format: 'diff2s.weights';
  version: 1;
  dtype: 'float32';
  byteOrder: 'little';
  file: string;
  totalBytes: number;
  entries: ManifestEntry[];
}

/** model.json, the model card. */
export interface ModelCard {
  format: 'diff2s.model';
  version: 1;
  /** Kind of network (`unet`). */
  family: 'unet';
  /** Preset the config started from, if any. */
  preset?: string;
  /** The full (resolved) UNet config. */
  config: UNetConfig;
  predictionType: UNetConfig['predictionType'];
  /** Noise schedule config the model was trained with (core schedule registry format, e.g. `{ type: 'linear', T: 1000, ... }`). */
  schedule?: Record<string, unknown>;
  /** Training provenance. */
  training?: {
    data?: string | string[];
    steps?: number;
    [key: string]: unknown;
  };
  /** Engine that wrote it. */
  engine: { name: string; version: string; backend?: string };
  parameters: number;
  weights: { file: string; manifest: string };
  createdAt: string;
  /** Free-form description. */
  description?: string;
}

/** Card fields a caller supplies when saving. */
export type ModelCardInput = Partial<Pick<ModelCard, 'preset' | 'schedule' | 'training' | 'description'>> & { backend?: string };

/** The engine package version (read from its package.json). */
export function engineVersion(): string {
  try {
    return JSON.parse(readFileSync(path.resolve(__dirname, '../../package.json'), 'utf8')).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** Serialise weights in definition order: the manifest and the bytes (little-endian float32). */
export function encodeWeights(def: NetworkDef, weights: WeightMap): { manifest: WeightsManifest; bytes: Uint8Array } {
  let total = 0;
  const entries: ManifestEntry[] = def.params.map((p) => {
    const length = shapeSize(p.shape);
    const w = weights.get(p.name);
    if (!w) throw new ModelError(`cannot save: weights lack parameter "${p.name}"`);
    if (w.length !== length) throw new ModelError(`cannot save: parameter "${p.name}" has ${w.length} values, shape [${p.shape.join(', ')}] needs ${length}`);
    const e = { name: p.name, shape: [...p.shape], offset: total, length };
    total += length * 4;
    return e;
  });
  const bytes = new Uint8Array(total);
  const view = new DataView(bytes.buffer);
  const little = os.endianness() === 'LE';
  for (const e of entries) {
    const w = weights.get(e.name)!;
    if (little) bytes.set(new Uint8Array(w.buffer, w.byteOffset, w.byteLength), e.offset);
    else for (let i = 0; i < w.length; i++) view.setFloat32(e.offset + 4 * i, w[i], true);
  }
  return {
    manifest: { format: 'diff2s.weights', version: 1, dtype: 'float32', byteOrder: 'little', file: WEIGHTS_FILE, totalBytes: total, entries },
    bytes,
  };
}

/**
 * Parse weights against a definition: every parameter of `def` must be in the manifest with the same shape, no
 * extra ones, offsets inside the file. Errors name the parameter.
 */
export function decodeWeights(def: NetworkDef, manifest: WeightsManifest, bytes: Uint8Array, where = 'weights'): WeightMap {
  if (manifest.format !== 'diff2s.weights' || manifest.dtype !== 'float32') {
    throw new ModelFileError(`${where}: not a diff2s float32 weights manifest (format ${manifest.format}, dtype ${manifest.dtype})`);
  }
  const byName = new Map(manifest.entries.map((e) => [e.name, e]));
  const expected = new Set(def.params.map((p) => p.name));
  for (const e of manifest.entries) {
    if (!expected.has(e.name)) throw new ModelFileError(`${where}: parameter "${e.name}" [${e.shape.join(', ')}] is not part of this model's configuration`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const little = os.endianness() === 'LE';
  const out: WeightMap = new Map();
  for (const p of def.params) {
    const e = byName.get(p.name);
    if (!e) throw new ModelFileError(`${where}: parameter "${p.name}" [${p.shape.join(', ')}] is missing`);
    if (e.shape.length !== p.shape.length || e.shape.some((d, i) => d !== p.shape[i])) {
      throw new ModelFileError(`${where}: parameter "${p.name}" has shape [${e.shape.join(', ')}], the model config expects [${p.shape.join(', ')}]`);
    }
    const n = shapeSize(p.shape);
    if (e.length !== n) throw new ModelFileError(`${where}: parameter "${p.name}" lists ${e.length} values, its shape needs ${n}`);
    if (!Number.isInteger(e.offset) || e.offset < 0 || e.offset % 4 !== 0 || e.offset + 4 * n > bytes.byteLength) {
      throw new ModelFileError(`${where}: parameter "${p.name}" lies outside the ${bytes.byteLength}-byte weights file (offset ${e.offset})`);
    }
    const a = new Float32Array(n);
    if (little) a.set(new Float32Array(bytes.buffer.slice(bytes.byteOffset + e.offset, bytes.byteOffset + e.offset + 4 * n)));
    else for (let i = 0; i < n; i++) a[i] = view.getFloat32(e.offset + 4 * i, true);
    for (let i = 0; i < n; i++) {
      if (!Number.isFinite(a[i])) throw new ModelFileError(`${where}: parameter "${p.name}" holds ${a[i]} at index ${i}: the weights are corrupt (a diverged training run?)`);
    }
    out.set(p.name, a);
  }
  return out;
}

/**
 * Save a model folder: weights.bin + weights.json + model.json (each written atomically, the card last).
 * `model` is anything with a config, a definition and weights — e.g. a NativeUNet (`{ config, def, net }`), or plain
 * `{ config, weights }`.
 */
export async function saveModel(
  dir: string,
  model: { config: UNetConfig; weights: WeightMap } | { config: UNetConfig; net: { getWeights(): WeightMap } },
  card: ModelCardInput = {},
): Promise<ModelCard> {
  const config = model.config;
  const def = defineUNet(config);
  const weights = 'weights' in model ? model.weights : model.net.getWeights();
  const { manifest, bytes } = encodeWeights(def, weights);
  await fs.mkdir(dir, { recursive: true });
  await writeFileAtomic(path.join(dir, WEIGHTS_FILE), bytes);
  await writeFileAtomic(path.join(dir, MANIFEST_FILE), JSON.stringify(manifest, null, 1) + '\n');
  const full: ModelCard = {
    format: 'diff2s.model',
    version: 1,
    family: 'unet',
    ...(card.preset ? { preset: card.preset } : {}),
    config,
    predictionType: config.predictionType,
    ...(card.schedule ? { schedule: card.schedule } : {}),
    ...(card.training ? { training: card.training } : {}),
    ...(card.description ? { description: card.description } : {}),
    engine: { name: '@diff2s/engine', version: engineVersion(), ...(card.backend ? { backend: card.backend } : {}) },
    parameters: manifest.entries.reduce((a, e) => a + e.length, 0),
    weights: { file: WEIGHTS_FILE, manifest: MANIFEST_FILE },
    createdAt: new Date().toISOString(),
  };
  await writeFileAtomic(path.join(dir, MODEL_CARD_FILE), JSON.stringify(full, null, 2) + '\n');
  return full;
}

async function readJson<T>(file: string): Promise<T> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    throw new InputError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, file, { cause: err });
  }
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new InputError(`${file} is not valid JSON: ${(err as Error).message}`, file, { cause: err });
  }
}

/** Read and check a model card (config validated; errors carry the key path). */
export async function readModelCard(dir: string): Promise<ModelCard> {
  const file = path.join(dir, MODEL_CARD_FILE);
  const card = await readJson<ModelCard>(file);
  if (card.format !== 'diff2s.model') throw new ModelFileError(`${file}: not a diff2s model card (format "${card.format}")`);
  if (card.family !== 'unet') throw new ModelFileError(`${file}: unsupported network family "${card.family}"`);
  card.config = resolveUNetConfig(card.config, `${MODEL_CARD_FILE}:config`);
  return card;
}

/** Read a folder's card and weights, validated against the card's configuration. */
export async function readModel(dir: string): Promise<{ card: ModelCard; def: NetworkDef; weights: WeightMap }> {
  const card = await readModelCard(dir);
  const def = defineUNet(card.config);
  const manifestFile = path.join(dir, card.weights?.manifest ?? MANIFEST_FILE);
  const manifest = await readJson<WeightsManifest>(manifestFile);
  const binFile = path.join(dir, manifest.file ?? WEIGHTS_FILE);
  let bytes: Uint8Array;
  try {
    bytes = await fs.readFile(binFile);
  } catch (err) {
    throw new InputError(`cannot read ${binFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, binFile, { cause: err });
  }
  if (bytes.byteLength !== manifest.totalBytes) {
    throw new ModelFileError(`${binFile} has ${bytes.byteLength} bytes, ${MANIFEST_FILE} says ${manifest.totalBytes}`);
  }
  return { card, def, weights: decodeWeights(def, manifest, bytes, manifestFile) };
}
