/** The onnxruntime-node wrapper of @diff2s/engine (packages/engine/src/onnx), on the committed tiny models. */
import * as path from 'path';
import { InputError, ModelError } from '@diff2s/core';
import { formatOrtValueInfo, loadOrtSession } from '@diff2s/engine';
import { FIXTURES } from './helpers';

describe('engine onnx wrapper', () => {
  it('describes inputs/outputs and runs with Float32Arrays', async () => {
    const s = await loadOrtSession(path.join(FIXTURES, 'lama.onnx'), { intraOpNumThreads: 1 });
    expect(s.inputs.map(formatOrtValueInfo)).toEqual(['image [1,3,height,width] float32', 'mask [1,1,height,width] float32']);
    expect(s.outputs.map(formatOrtValueInfo)).toEqual(['output [1,3,height,width] float32']);
    expect(s.describe()).toMatch(/^inputs: image .*; outputs: output/);
    const image = new Float32Array(3 * 8 * 8).fill(0.5);
    const mask = new Float32Array(8 * 8);
    mask[0] = 1;
    const out = await s.run({ image: { dims: [1, 3, 8, 8], data: image }, mask: { dims: [1, 1, 8, 8], data: mask } });
    expect(out.output.dims).toEqual([1, 3, 8, 8]);
    expect(out.output.type).toBe('float32');
    expect(out.output.data[0]).toBe(0.25);
    expect(out.output.data[1]).toBe(0.5);
    // a shape the graph cannot take (not a multiple of 8) is a ModelError naming the model
    await expect(s.run({ image: { dims: [1, 3, 4, 4], data: new Float32Array(48) }, mask: { dims: [1, 1, 4, 4], data: new Float32Array(16) } }))
      .rejects.toThrow(ModelError);
    await expect(s.run({ image: { dims: [1, 3, 8, 8], data: new Float32Array(5) } })).rejects.toThrow(/5 values for dims/);
    await s.release();
    await s.release();
    await expect(s.run({})).rejects.toThrow(/released/);
  });

  it('refuses missing files (InputError) and non-models (ModelError)', async () => {
    await expect(loadOrtSession(path.join(FIXTURES, 'missing.onnx'))).rejects.toThrow(InputError);
    await expect(loadOrtSession(new Uint8Array([1, 2, 3, 4]), { name: 'junk.onnx' })).rejects.toThrow(/cannot load ONNX model junk\.onnx/);
  });
});
