import { ConfigError } from '@diff2s/core';
import {
  defineUNet, imageInputChannels, paramCount, resolveUNetConfig, validateNetworkDef, NetworkDef, initWeights, shapeSize,
} from '@diff2s/engine';
import { tinyClassic, tinyGuided } from './helpers';

describe('UNet definitions', () => {
  test('frugal preset: ≈160k parameters, 23 input channels to the first conv, x0 prediction, no attention', () => {
    const def = defineUNet('frugal');
    const n = paramCount(def);
    expect(n).toBe(154627);
    expect(Math.abs(n - 160e3) / 160e3).toBeLessThan(0.05);
    const first = def.params.find((p) => p.name === 'enc.0.0.conv1.weight')!;
    expect(first.shape).toEqual([32, 23, 3, 3]); // 3 noisy + 3 masked + 1 mask + 16 embedding
    const cfg = resolveUNetConfig('frugal');
    expect(imageInputChannels(cfg)).toBe(7);
    expect(cfg.predictionType).toBe('x0');
    const allOps = Object.values(def.sections).flatMap((s) => s.ops.map((o) => o.op));
    expect(allOps).not.toContain('attention');
    expect(allOps).not.toContain('groupNorm');
    expect(def.shapes.sizeMultiple).toBe(8);
    expect(def.io.skips).toHaveLength(3);
  });

  test('palette preset: ≈62M parameters, computed from the definition without allocating', () => {
    const def = defineUNet('palette');
    const n = paramCount(def);
    expect(n).toBe(62641347);
    expect(def.shapes.inputChannels).toBe(6);
    expect(def.shapes.hEncChannels).toBe(512);
    const attn = Object.entries(def.sections).flatMap(([s, sec]) => sec.ops.filter((o) => o.op === 'attention').map(() => s));
    expect(attn).toEqual(['middle']);
    expect(resolveUNetConfig('palette').predictionType).toBe('epsilon');
  });

  test('definitions are plain JSON and validate', () => {
    for (const cfg of ['frugal', 'palette', tinyGuided, tinyClassic] as const) {
      const def = defineUNet(cfg as never);
      const copy = JSON.parse(JSON.stringify(def)) as NetworkDef;
      expect(copy).toEqual(def);
      expect(() => validateNetworkDef(copy)).not.toThrow();
    }
  });

  test('validation names the broken op', () => {
    const def = defineUNet(tinyClassic as never);
    const bad = JSON.parse(JSON.stringify(def)) as NetworkDef;
    (bad.sections.encoder.ops[2] as { in: string }).in = 'nope';
    expect(() => validateNetworkDef(bad)).toThrow(/value "nope" is not defined/);
  });

  test('config errors carry the key path', () => {
    expect(() => resolveUNetConfig({ preset: 'frugal', baseChannels: -1 } as never)).toThrow(ConfigError);
    expect(() => resolveUNetConfig({ preset: 'frugal', baseChannels: -1 } as never)).toThrow(/model\.baseChannels/);
    expect(() => resolveUNetConfig({ preset: 'nope' } as never)).toThrow(/unknown UNet preset/);
    expect(() => defineUNet({ preset: 'palette', baseChannels: 10 } as never)).toThrow(/groups/);
  });

  test('seeded init is deterministic and per-parameter', () => {
    const def = defineUNet(tinyGuided as never);
    const a = initWeights(def, 7), b = initWeights(def, 7), c = initWeights(def, 8);
    for (const p of def.params) {
      expect(a.get(p.name)!.length).toBe(shapeSize(p.shape));
      expect(a.get(p.name)).toEqual(b.get(p.name));
    }
    expect(a.get('enc.stem.weight')).not.toEqual(c.get('enc.stem.weight'));
    const w = a.get('enc.stem.weight')!;
    const std = Math.sqrt(w.reduce((s, v) => s + v * v, 0) / w.length);
    expect(std).toBeGreaterThan(0.5 * Math.sqrt(2 / 54));
    expect(std).toBeLessThan(1.5 * Math.sqrt(2 / 54));
    expect(a.get('mid.0.norm1.scale')!.every((v) => v === 1)).toBe(true);
  });
});
