/**
 * The eval's `classify` metric: a classifier trained by `diff2s classifier train` looks at each result; the value is
 * 1 when it predicts the image's true label (from a stem,label CSV, matched by the image's file stem), else 0. The
 * summary's mean is then the share of results recognised as their true class (seed 001's question: are the
 * inpainted digits still the right digits?).
 */
import { ConfigError, InputError, Tensor4, readLabelsCsv } from '@diff2s/core';
import { loadClassifier, type ImageClassifier } from '@diff2s/engine';
import { ConfigErrors, resolvePath } from '../config/load';
import type { MetricColumn } from './parse';

/** A loaded classifier with its labels, scoring one result at a time. */
export class ClassifyScorer {
  constructor(
    readonly model: ImageClassifier,
    readonly labels: ReadonlyMap<string, number>,
    /** The labels file (for messages). */
    readonly labelsFile: string,
  ) {}

  /** The true label of an image stem; an {@link InputError} naming the labels file when it has none. */
  labelOf(stem: string): number {
    const y = this.labels.get(stem);
    if (y === undefined) throw new InputError(`classify metric: ${this.labelsFile} has no label for image ${stem}`, this.labelsFile);
    return y;
  }

  /** The predicted class of image 0 of `result`. */
  predict(result: Tensor4): number {
    return this.model.predict(result.n === 1 ? result : result.slice(0))[0];
  }

  /** 1 when image 0 of `result` is predicted as the label of `stem`, else 0. */
  score(result: Tensor4, stem: string): number {
    const y = this.labelOf(stem);
    return this.predict(result) === y ? 1 : 0;
  }
}

/**
 * Load the classifier and labels of every `classify` column (paths relative to the config's folder), keyed by column,
 * and check that the labels cover every image stem of the dataset. Problems are config errors at `metrics[i].model` /
 * `metrics[i].labels` (exit 2 before any image is processed).
 */
export async function loadClassifyScorers(columns: MetricColumn[], stems: readonly string[], baseDir: string): Promise<Map<string, ClassifyScorer>> {
  const out = new Map<string, ClassifyScorer>();
  const errors: ConfigError[] = [];
  for (const col of columns) {
    if (col.metric !== 'classify') continue;
    const at = `metrics[${col.index}]`;
    const modelPath = resolvePath(baseDir, col.spec.model ?? '');
    const labelsPath = resolvePath(baseDir, col.spec.labels ?? '');
    let model: ImageClassifier | undefined;
    let labels: Map<string, number> | undefined;
    try {
      model = (await loadClassifier(modelPath)).model;
    } catch (err) {
      if (!(err instanceof InputError)) throw err;
      errors.push(new ConfigError(err.message.split('\n')[0], `${at}.model`));
    }
    try {
      labels = await readLabelsCsv(labelsPath);
      const missing = stems.filter((s) => !labels!.has(s));
      if (missing.length) {
        const some = missing.slice(0, 3).join(', ') + (missing.length > 3 ? `, … (${missing.length} in all)` : '');
        errors.push(new ConfigError(`${labelsPath} has no label for image ${some}`, `${at}.labels`));
      }
    } catch (err) {
      if (!(err instanceof InputError)) throw err;
      errors.push(new ConfigError(err.message.split('\n')[0], `${at}.labels`));
    }
    if (model && labels) out.set(col.key, new ClassifyScorer(model, labels, labelsPath));
  }
  if (errors.length) throw new ConfigErrors(errors);
  return out;
}
