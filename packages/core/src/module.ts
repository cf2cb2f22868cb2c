import { Diff2sContainer, Module } from './di/container';
import { builtinSamplers } from './samplers';
import { builtinSchedules } from './schedules';

/** Registers the built-in schedules and samplers. */
export const coreModule: Module = {
  name: 'core',
  register(c) {
    for (const s of builtinSchedules) c.schedules.register(s);
    for (const s of builtinSamplers) c.samplers.register(s);
  },
};

/** A container with the core module and the given modules (guides, engine, plugins) registered. */
export function createContainer(...modules: Module[]): Diff2sContainer {
  const c = new Diff2sContainer();
  c.use(coreModule);
  for (const m of modules) c.use(m);
  return c;
}
