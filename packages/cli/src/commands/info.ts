/**
 * `diff2s info`: what is registered (guides, samplers, schedules, model loaders), the engines that will run and why
 * (onnxruntime-node: version and threads, or why it does not load; the tfjs backend), and the model folders found
 * (the repository's models/ and any `--models DIR`). `diff2s info <model-dir>`: one model card's summary.
 */
import { promises as fs, readFileSync } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { InputError, type Diff2sContainer } from '@diff2s/core';
import { ONNX_UNET_DEFAULT_THREADS, ortAvailability, readModelCard, resolveModelEngine } from '@diff2s/engine';

/** The repository's shipped model folders (packages/cli/{src,dist}/commands → models/). */
export const REPO_MODELS_DIR = path.resolve(__dirname, '../../../../models');

/** Options of {@link infoCommand}. */
export interface InfoOptions {
  /** More folders to list model folders from (besides {@link REPO_MODELS_DIR}). */
  models?: string[];
}

/** onnxruntime-node's version (its package.json, resolved from the engine package), or undefined. */
function ortVersion(): string | undefined {
  try {
    const engineDir = path.dirname(require.resolve('@diff2s/engine/package.json'));
    const file = require.resolve('onnxruntime-node/package.json', { paths: [engineDir] });
    return (JSON.parse(readFileSync(file, 'utf8')) as { version?: string }).version;
  } catch {
    return undefined;
  }
}

/** The engines section: onnxruntime (or why not), tfjs, and what `engine: auto` picks. */
async function engineLines(backend: () => Promise<string>): Promise<string[]> {
  const ort = await ortAvailability();
  const lines = ['engines:'];
  lines.push(ort.available
    ? `  onnxruntime  onnxruntime-node ${ortVersion() ?? '(version unknown)'}, CPU; ${ONNX_UNET_DEFAULT_THREADS} intra-op threads per refiner session (model loader option threads), ${os.cpus().length} cores`
    : `  onnxruntime  not available: ${ort.reason ?? 'onnxruntime-node did not load'}`);
  lines.push(`  tfjs         ${await backend()}`);
  const auto = await resolveModelEngine({});
  lines.push(`  engine: auto runs models on ${auto.engine} (${auto.reason})`);
  return lines;
}

/** `training.data` as one entry per image, its `file@1/2`-style scale copies folded in: `file (scales 1, 1/2)`. */
function dataGroups(data: unknown): string[] {
  const groups = new Map<string, string[]>();
  for (const d of (Array.isArray(data) ? data : data === undefined ? [] : [data]).map(String)) {
    const at = d.lastIndexOf('@');
    const [file, scale] = at > 0 ? [d.slice(0, at), d.slice(at + 1)] : [d, '1'];
    groups.set(file, [...(groups.get(file) ?? []), scale]);
  }
  return [...groups].map(([file, scales]) => (scales.length > 1 || scales[0] !== '1' ? `${file} (scales ${scales.join(', ')})` : file));
}

/** A short phrase for `training.data`: the images, or their count and the first `limit`. */
function describeData(data: unknown, limit = 3): string {
  const parts = dataGroups(data);
  if (parts.length === 0) return 'not recorded';
  const head = parts.slice(0, limit).join(', ');
  return parts.length > limit ? `${parts.length} images: ${head}, … (${parts.length - limit} more)` : head;
}

function describeSchedule(s: Record<string, unknown> | undefined): string {
  if (!s) return 'not recorded';
  const { type, ...rest } = s;
  const params = Object.entries(rest).map(([k, v]) => `${k} ${Array.isArray(v) ? `[${v.length} values]` : String(v)}`);
  return [String(type), ...params].join(', ');
}

/** The model folders directly inside `dir` (sub-folders with a diff2s model or classifier card), one line each. */
async function modelFolderLines(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = (await fs.readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name).sort();
  } catch (err) {
    return [`  (cannot read ${dir}: ${(err as NodeJS.ErrnoException).code ?? String(err)})`];
  }
  const lines: string[] = [];
  for (const name of names) {
    const sub = path.join(dir, name);
    let card: Record<string, any>;
    try {
      card = JSON.parse(await fs.readFile(path.join(sub, 'model.json'), 'utf8'));
    } catch {
      continue; // not a model folder
    }
    const shown = path.relative(process.cwd(), sub) || '.';
    if (card.format === 'diff2s.model') {
      const t = card.training ?? {};
      lines.push(`  ${shown}: ${card.preset ?? card.family} UNet, ${card.config?.imageChannels ?? '?'} channels, ${Number(card.parameters).toLocaleString('en-US')} parameters, ` +
        `${t.steps ?? '?'} steps on ${describeData(t.data, 1)}`);
    } else if (card.format === 'diff2s.classifier') {
      const a = card.arch ?? {};
      lines.push(`  ${shown}: image classifier, ${a.width}x${a.height}x${a.channels}, ${a.classes} classes`);
    }
  }
  return lines.length ? lines : ['  (none)'];
}

/** `diff2s info`: registries, engines, model folders, node. */
export async function infoCommand(container: Diff2sContainer, backend: () => Promise<string>, options: InfoOptions = {}): Promise<string> {
  const lines: string[] = [];
  const section = (title: string, reg: { list(): { name: string; description: string }[] }) => {
    lines.push(`${title}:`);
    for (const e of reg.list()) lines.push(`  ${e.name.padEnd(12)} ${e.description}`);
  };
  section('guides', container.guides);
  section('samplers', container.samplers);
  section('schedules', container.schedules);
  section('model loaders', container.modelLoaders);
  lines.push(`modules: ${container.moduleNames().join(', ')}`);
  lines.push(...(await engineLines(backend)));
  for (const dir of [REPO_MODELS_DIR, ...(options.models ?? []).map((d) => path.resolve(d))]) {
    lines.push(`model folders in ${dir}:`, ...(await modelFolderLines(dir)));
  }
  lines.push(`node ${process.version}, ${process.platform}-${process.arch}`);
  return lines.join('\n');
}

/**
 * `diff2s info <model-dir>`: the model card's summary — network, channels, what it was trained on, steps, schedule,
 * parameters. Throws {@link InputError} (exit 2) naming the folder when it holds no readable diff2s model card.
 */
export async function modelInfoCommand(dir: string): Promise<string> {
  const cardFile = path.join(dir, 'model.json');
  try {
    await fs.access(cardFile);
  } catch {
    throw new InputError(`${dir} is not a model folder: no model.json`, dir);
  }
  const card = await readModelCard(dir);
  const c = card.config;
  const t = card.training ?? {};
  const data = dataGroups(t.data);
  const lines = [`model ${path.resolve(dir)}`];
  if (card.description) lines.push(`  ${card.description}`);
  lines.push(
    `  network:    ${card.family}${card.preset ? ` (preset ${card.preset})` : ''}, ${c.layout} layout, ${c.baseChannels} channels × [${c.channelMults.join(', ')}], predicts ${card.predictionType}`,
    `  channels:   ${c.imageChannels}${typeof t.content === 'string' ? ` (trained on ${t.content} content)` : ''}; conditioning ${c.conditioning.inputs.join(' + ')}`,
    `  trained on: ${data.length > 1 ? `${data.length} images` : data[0] ?? 'not recorded'}`,
  );
  if (data.length > 1) lines.push(...data.map((d) => `    ${d}`));
  const extra = ['objective', 'crop', 'batch', 'lr', 'tMax', 'seed'].filter((k) => t[k] !== undefined).map((k) => `${k} ${String(t[k])}`);
  lines.push(
    `  steps:      ${t.steps ?? 'not recorded'}${extra.length ? ` (${extra.join(', ')})` : ''}${typeof t.finalLoss === 'number' ? `, final loss ${t.finalLoss.toPrecision(4)}` : ''}`,
    `  schedule:   ${describeSchedule(card.schedule)}`,
    `  parameters: ${card.parameters.toLocaleString('en-US')}`,
  );
  if (typeof t.backend === 'string') lines.push(`  trained on engine: ${t.backend}`);
  lines.push(`  written by ${card.engine?.name ?? '?'} ${card.engine?.version ?? ''}, ${card.createdAt ?? 'date unknown'}`);
  return lines.join('\n');
}
