import type { Diff2sContainer } from '@diff2s/core';
import { pipelineJsonSchema } from '../config/schema';

/** The pipeline config's JSON Schema as pretty JSON. */
export function schemaCommand(container: Diff2sContainer): string {
  return JSON.stringify(pipelineJsonSchema(container), null, 2);
}
