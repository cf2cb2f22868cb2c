import type { Diff2sContainer } from '@diff2s/core';

/** What is registered: guides, samplers, schedules, model loaders, and the compute backends. */
export async function infoCommand(container: Diff2sContainer, backend: () => Promise<string>): Promise<string> {
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
  lines.push(`tfjs backend: ${await backend()}`);
  lines.push(`node ${process.version}, ${process.platform}-${process.arch}`);
  return lines.join('\n');
}
