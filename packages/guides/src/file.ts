/**
 * `file` guide: the stage-1 result of any external tool, read from disk. This is how "chain any inpainter with the
 * refiner" works for tools outside the framework.
 *
 * Config `path` names one result file, or `dir` a folder searched by the input's file stem (batch mode: the stem
 * comes from the inpaint options' `stem`, or the config's `stem`), optionally with a `suffix` (`photo` →
 * `photo_inpainted.png`). The result must have the input's size ({@link InputError} naming the file otherwise).
 * Its known pixels are compared with the input's (after 8-bit quantisation): a difference is reported as a warning
 * through the context logger, and the input's known pixels are pasted back in any case.
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import { z } from 'zod';
import { ConfigError, InputError, quantize8, readImage, Tensor4 } from '@diff2s/core';
import type { Guide, GuideContext, GuideOptions, Logger, RegistryEntry, SizeSupport } from '@diff2s/core';
import { runPerImage } from './common';

/** Inpaint options of the file guide: the core options plus the input's stem(s) for `dir` mode. */
export interface FileGuideOptions extends GuideOptions {
  /** File stem of the input (without extension), or one per image of the batch. */
  stem?: string | readonly string[];
}

/** Config of the `file` guide. */
export const fileGuideConfig = z
  .object({
    /** One result file (relative paths resolve against the context's baseDir). */
    path: z.string().min(1).optional(),
    /** A folder of results, matched by the input's stem. */
    dir: z.string().min(1).optional(),
    /** Default stem for `dir` mode when the inpaint options give none. */
    stem: z.string().min(1).optional(),
    /** Added to the stem when looking in `dir` (e.g. `_inpainted`). */
    suffix: z.string().default(''),
    /** Extensions tried in order in `dir` mode. */
    extensions: z.array(z.string().regex(/^\.[A-Za-z0-9]+$/)).min(1).default(['.png', '.jpg', '.jpeg', '.webp', '.tif', '.tiff']),
    /** Largest accepted difference of a known pixel, in 8-bit levels, before warning (default 0: any difference). */
    tolerance: z.number().int().min(0).max(255).default(0),
  })
  .strict()
  .superRefine((v, ctx) => {
    if (!v.path && !v.dir) ctx.addIssue({ code: 'custom', message: 'the file guide needs "path" (one file) or "dir" (a folder matched by stem)', path: ['path'] });
    if (v.path && v.dir) ctx.addIssue({ code: 'custom', message: 'give either "path" or "dir", not both', path: ['dir'] });
  });

/** Parsed config of the file guide. */
export type FileGuideConfig = z.infer<typeof fileGuideConfig>;

/** Reads an external tool's result and pastes the input's known pixels back. */
export class FileGuide implements Guide {
  readonly name = 'file';
  /** A full mask is fine: the result comes from elsewhere. */
  readonly sizes: SizeSupport = { min: 1, max: Infinity, multiple: 1, fullMask: true };

  constructor(readonly config: FileGuideConfig, private readonly baseDir: string, private readonly logger: Logger) {}

  /** The file that holds the result for image `index` of the batch. */
  async resolveFile(options: FileGuideOptions, index: number, batch: number): Promise<string> {
    const cfg = this.config;
    if (cfg.path) {
      if (batch > 1) throw new InputError(`file guide: "path" names one file but the batch has ${batch} images (use "dir" and stems)`);
      return path.resolve(this.baseDir, cfg.path);
    }
    const stems = options.stem === undefined ? undefined : typeof options.stem === 'string' ? [options.stem] : options.stem;
    let stem: string | undefined;
    if (stems) {
      if (stems.length !== batch) throw new InputError(`file guide: ${stems.length} stem(s) given for a batch of ${batch}`);
      stem = stems[index];
    } else if (batch === 1) {
      stem = cfg.stem;
    }
    if (!stem) throw new ConfigError('file guide in "dir" mode needs the input\'s stem (inpaint option "stem" or config "stem")', 'stem');
    const dir = path.resolve(this.baseDir, cfg.dir!);
    const tried: string[] = [];
    for (const ext of cfg.extensions) {
      const f = path.join(dir, stem + cfg.suffix + ext);
      tried.push(path.basename(f));
      try {
        await fs.access(f);
        return f;
      } catch {
        // try the next extension
      }
    }
    throw new InputError(`file guide: no result for "${stem}" in ${dir} (tried ${tried.join(', ')})`, path.join(dir, stem + cfg.suffix));
  }

  async inpaint(image: Tensor4, mask: Tensor4, options: FileGuideOptions): Promise<Tensor4> {
    if (image.c !== 1 && image.c !== 3) throw new InputError(`file guide: images must have 1 or 3 channels, got ${image.c}`);
    return runPerImage(image, mask, options, { guide: this.name, fullMask: true, sizes: this.sizes }, async (img, m, index) => {
      const file = await this.resolveFile(options, index, image.n);
      const loaded = await readImage(file, { channels: img.c as 1 | 3 });
      if (loaded.width !== img.w || loaded.height !== img.h) {
        throw new InputError(`file guide: ${file} is ${loaded.width}x${loaded.height} but the input image is ${img.w}x${img.h}`, file);
      }
      this.checkKnown(loaded.tensor, img, m, file);
      return loaded.tensor;
    });
  }

  /** Warn (through the logger) when the file's known pixels differ from the input's by more than the tolerance. */
  private checkKnown(result: Tensor4, image: Tensor4, mask: Tensor4, file: string): void {
    const hw = image.h * image.w;
    let known = 0, differ = 0, maxDiff = 0;
    for (let p = 0; p < hw; p++) {
      if (mask.data[p] !== 0) continue;
      known++;
      let worst = 0;
      for (let c = 0; c < image.c; c++) {
        const d = Math.abs(quantize8(result.data[c * hw + p]) - quantize8(image.data[c * hw + p]));
        if (d > worst) worst = d;
      }
      if (worst > this.config.tolerance) differ++;
      if (worst > maxDiff) maxDiff = worst;
    }
    if (differ > 0) {
      this.logger.warn(
        `file guide: ${differ} of ${known} known pixels of ${file} differ from the input (by up to ${maxDiff}/255); ` +
          `the input's known pixels are pasted back`,
      );
    }
  }
}

/** Registry entry: `file`. */
export const fileGuideEntry: RegistryEntry<Guide, FileGuideConfig, GuideContext> = {
  name: 'file',
  description: "reads an external tool's stage-1 result from a file (or a folder, by the input's stem)",
  configSchema: fileGuideConfig,
  create: (config, context) => new FileGuide(config, context.baseDir, context.logger),
};
