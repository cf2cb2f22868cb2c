import { ConfigError } from '@diff2s/core';
import { describeBackend, engineInfo, initEngine, tf, wasmKernelFixes } from '@diff2s/engine';

describe('backend selection', () => {
  const saved = process.env.DIFF2S_BACKEND;
  afterEach(() => {
    if (saved === undefined) delete process.env.DIFF2S_BACKEND;
    else process.env.DIFF2S_BACKEND = saved;
  });

  test('auto picks tensorflow when tfjs-node loads, else wasm with the reason', async () => {
    delete process.env.DIFF2S_BACKEND;
    const info = await initEngine();
    expect(info.requested).toBe('auto');
    expect(['tensorflow', 'wasm']).toContain(info.backend);
    expect(tf.getBackend()).toBe(info.tfBackend);
    if (info.backend === 'wasm') {
      expect(info.fallbackReason).toMatch(/tfjs-node/);
      expect(info.threads).toBe(1);
      expect(describeBackend(info)).toMatch(/^wasm \(@tensorflow\/tfjs-backend-wasm, 1 thread/);
      for (const k of wasmKernelFixes) expect(tf.getKernel(k, 'wasm')).toBeTruthy();
    }
    expect(engineInfo()).toBe(info);
  });

  test('cpu only when asked; switching back to wasm', async () => {
    const cpu = await initEngine({ backend: 'cpu' });
    expect(cpu.backend).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    const wasm = await initEngine({ backend: 'wasm' });
    expect(wasm.backend).toBe('wasm');
    expect(wasm.fallbackReason).toBeUndefined();
    expect(tf.getBackend()).toBe('wasm');
  });

  test('DIFF2S_BACKEND overrides auto and is validated', async () => {
    process.env.DIFF2S_BACKEND = 'cpu';
    expect((await initEngine()).backend).toBe('cpu');
    process.env.DIFF2S_BACKEND = 'gpu';
    await expect(initEngine()).rejects.toThrow(ConfigError);
    delete process.env.DIFF2S_BACKEND;
    await initEngine({ backend: 'wasm' });
  });

  test('an explicit tensorflow request without tfjs-node fails clearly', async () => {
    let ok = true;
    try { require('@tensorflow/tfjs-node'); } catch { ok = false; }
    if (ok) return;
    await expect(initEngine({ backend: 'tensorflow' })).rejects.toThrow(/backend "tensorflow" is not available/);
  });
});
