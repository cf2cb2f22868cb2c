import { z } from 'zod';

/** Which latent spaces get the channel swap: h₋₁ (encoder output, eq. 15), h (middle output, eq. 16), or both. */
export const SwapSpaces = z.enum(['h-1', 'h', 'both']);
export type SwapSpaces = z.infer<typeof SwapSpaces>;

/**
 * Options of the Diff-2sIR refiner (stage 2). Sampler and schedule come from the model and the pipeline config.
 */
export const RefinerOptions = z
  .object({
    /**
     * T_k: the intermediate step the guide image is re-noised to (Algorithm 3). 0 returns the guide with the known
     * pixels pasted; T (the schedule's length) is Algorithm 2. Ignored when `strategy` is `start`.
     */
    tk: z.number().int().min(0).default(100),
    /** `middle`: start at T_k (Diff-2sIR⁺, Alg. 3); `start`: start at T (Alg. 2). The paper compares both. */
    strategy: z.enum(['middle', 'start']).default('middle'),
    /** Fraction of channels taken from the guide pass at each swapped space (paper: one half). */
    swapFraction: z.number().min(0).max(1).default(0.5),
    swapSpaces: SwapSpaces.default('both'),
    /** Noise of x̄_t: drawn afresh at every step (`fresh`) or once for the whole run (`fixed`). */
    guideNoise: z.enum(['fresh', 'fixed']).default('fresh'),
    /**
     * Where x̄_t carries noise: `all` pixels, or only the `hole` (known pixels clean, as the conditional network saw
     * in training: x̄ = m⊙x_t + (1−m)⊙x_0, Alg. 1 line 6). `auto`: `hole` for conditional networks, else `all`.
     */
    noiseRegion: z.enum(['auto', 'all', 'hole']).default('auto'),
    /**
     * Refine a crop around the hole, not the whole image, when the network declares its receptive field (the native
     * convolutional UNets): the hole's bounding box grown by that radius and aligned to the network's size multiple.
     * Pixels outside it cannot reach the hole's prediction at any step (known pixels are pasted back every step), so
     * the result has the whole-image refinement's distribution (its random draws differ), at the crop's cost.
     */
    crop: z.boolean().default(true),
  })
  .strict();
export type RefinerOptions = z.infer<typeof RefinerOptions>;
export type RefinerOptionsInput = z.input<typeof RefinerOptions>;

/** Samplers whose step structure the refiner supports (plugins can add names). */
export const REFINER_SAMPLERS = new Set(['ddpm', 'ddim', 'repaint']);
