/**
 * The committed JSON Schemas (schema/*.json, what editors load through `$schema`) are exactly what the code
 * generates: `diff2s schema` and `diff2s schema --eval` on the CLI's container. After changing a config schema or
 * registering a part, regenerate them with `pnpm schema:write` (after `pnpm build`).
 * (There is no JSON Schema of training configs to check: no generator exists for it.)
 */
import { readFileSync } from 'fs';
import * as path from 'path';
import { cliContainer, evalSchemaCommand } from '@diff2s/cli';
import { schemaCommand } from '../packages/cli/src/commands/schema';

const root = path.join(__dirname, '..');

describe.each([
  ['schema/pipeline.schema.json', () => schemaCommand(cliContainer())],
  ['schema/eval.schema.json', () => evalSchemaCommand(cliContainer())],
])('%s', (file, generate) => {
  it('equals what the code generates (regenerate: pnpm schema:write)', () => {
    const committed = readFileSync(path.join(root, file), 'utf8');
    const generated = `${generate()}\n`;
    expect(JSON.parse(committed)).toEqual(JSON.parse(generated));
    expect(committed).toBe(generated); // byte for byte, as `diff2s schema > file` writes it
  });
});
