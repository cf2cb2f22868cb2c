import { z } from 'zod';
import {
  createContainer, Diff2sContainer, Guide, Module, Sampler, Tensor4, Tokens, UnknownNameError,
} from '@diff2s/core';

const echoGuide: Guide = {
  name: 'echo',
  sizes: { min: 1, max: Infinity, multiple: 1, fullMask: true },
  inpaint: async (image) => image.clone(),
};

const pluginModule: Module = {
  name: 'test-plugin',
  register(c: Diff2sContainer) {
    c.samplers.register({
      name: 'identity',
      description: 'returns the image',
      configSchema: z.object({ scale: z.number().default(1) }).strict(),
      create: (cfg: { scale: number }): Sampler => ({
        name: 'identity',
        plannedSteps: () => 0,
        sample: async (req) => {
          const out = req.image.clone();
          for (let i = 0; i < out.size; i++) out.data[i] *= cfg.scale;
          return out;
        },
      }),
    });
    c.guides.register({
      name: 'echo',
      description: 'returns its input',
      configSchema: z.object({}).strict(),
      create: () => echoGuide,
    });
    c.registerInstance(Symbol.for('test.answer'), 42);
  },
};

describe('DI container and registries', () => {
  it('registers and resolves a plugin sampler and guide by name', async () => {
    const c = createContainer(pluginModule);
    expect(c.moduleNames()).toEqual(['core', 'test-plugin']);
    const s = c.samplers.create('identity', { scale: 2 }, undefined);
    const image = Tensor4.full([1, 1, 2, 2], 0.25);
    const out = await s.sample({ image } as Parameters<Sampler['sample']>[0]);
    expect([...out.data]).toEqual([0.5, 0.5, 0.5, 0.5]);
    const g = c.guides.create('echo', {}, { container: c, baseDir: '.', logger: c.logger });
    expect(g).toBe(echoGuide);
    expect(c.resolve<number>(Symbol.for('test.answer'))).toBe(42);
    expect(c.resolve(Tokens.SamplerRegistry)).toBe(c.samplers);
  });

  it('an unknown name lists what is registered, with the key path', () => {
    const c = createContainer(pluginModule);
    let err: unknown;
    try {
      c.guides.get('lama', 'guide.type');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UnknownNameError);
    expect((err as Error).message).toBe('unknown guide "lama"; registered: echo (at guide.type)');
    expect(() => c.samplers.get('nope')).toThrow(/registered: ddim, ddpm, identity, repaint, sdedit/);
  });

  it('config of a registered part is validated with key paths', () => {
    const c = createContainer(pluginModule);
    expect(() => c.samplers.create('identity', { scale: 'big' }, undefined, 'sampler')).toThrow(
      'expected number, got string "big" (at sampler.scale)',
    );
    expect(() => c.samplers.create('identity', { scael: 1 }, undefined, 'sampler')).toThrow('unknown key "scael" (at sampler)');
  });

  it('refuses duplicate names unless replace is asked, and ignores a module used twice', () => {
    const c = createContainer(pluginModule);
    c.use(pluginModule); // no duplicate-registration error
    expect(() => c.guides.register({ name: 'echo', description: '', configSchema: z.object({}), create: () => echoGuide })).toThrow(
      /already registered/,
    );
    c.guides.register({ name: 'echo', description: 'v2', configSchema: z.object({}), create: () => echoGuide }, { replace: true });
    expect(c.guides.get('echo').description).toBe('v2');
  });

  it('containers are independent', () => {
    const a = createContainer(pluginModule);
    const b = createContainer();
    expect(a.samplers.has('identity')).toBe(true);
    expect(b.samplers.has('identity')).toBe(false);
  });

  it('a child container sees its parent’s registries and values and shadows them; factories build once', () => {
    const parent = createContainer(pluginModule);
    const child = new Diff2sContainer(parent);
    expect(child.samplers).toBe(parent.samplers);
    expect(child.resolve<number>(Symbol.for('test.answer'))).toBe(42);
    child.registerInstance(Symbol.for('test.answer'), 7);
    expect(child.resolve<number>(Symbol.for('test.answer'))).toBe(7);
    expect(parent.resolve<number>(Symbol.for('test.answer'))).toBe(42);
    let built = 0;
    const token = Symbol.for('test.lazy');
    child.registerFactory(token, (c) => ({ built: ++built, answer: c.resolve<number>(Symbol.for('test.answer')) }));
    expect(built).toBe(0);
    expect(child.resolve(token)).toEqual({ built: 1, answer: 7 });
    expect(child.resolve(token)).toBe(child.resolve(token));
    expect(built).toBe(1);
    expect(child.isRegistered(token)).toBe(true);
    expect(parent.isRegistered(token)).toBe(false);
    expect(child.isRegistered(Tokens.Logger)).toBe(true);
    expect(() => parent.resolve(token)).toThrow(/nothing is registered under test\.lazy/);
  });
});
