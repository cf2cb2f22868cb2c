/**
 * `diff2s info`: the engines that will run (onnxruntime-node with version and threads, or why not; the tfjs backend;
 * what `engine: auto` picks), the model folders found (the repository's models/, `--models DIR`), and
 * `diff2s info <model-dir>`: the card's summary.
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import { createContainer, InputError } from '@diff2s/core';
import { describeBackend, engineModule, initEngine, ortAvailability } from '@diff2s/engine';
import { guidesModule } from '@diff2s/guides';
import { infoCommand, modelInfoCommand, REPO_MODELS_DIR } from '../src/commands/info';
import { tempDir } from '../../../test/helpers/tmp';

const BRICK = path.join(REPO_MODELS_DIR, 'frugal-brick');

describe('diff2s info', () => {
  it('names the engines, what auto picks, and the model folders of models/ and --models', async () => {
    const tmp = tempDir('diff2s-info-');
    try {
      await fs.mkdir(path.join(tmp.dir, 'clf'));
      await fs.writeFile(path.join(tmp.dir, 'clf', 'model.json'), JSON.stringify({ format: 'diff2s.classifier', arch: { width: 28, height: 28, channels: 1, classes: 10 } }));
      await fs.mkdir(path.join(tmp.dir, 'not-a-model'));
      const text = await infoCommand(createContainer(engineModule, guidesModule), async () => describeBackend(await initEngine({ backend: 'wasm' })), { models: [tmp.dir] });
      const ort = await ortAvailability();
      expect(text).toMatch(ort.available
        ? /\n {2}onnxruntime {2}onnxruntime-node \d+\.\d+\.\d+, CPU; 2 intra-op threads per refiner session/
        : /\n {2}onnxruntime {2}not available: /);
      expect(text).toMatch(/\n {2}tfjs {9}wasm \(@tensorflow\/tfjs-backend-wasm, 1 thread/);
      expect(text).toMatch(new RegExp(`engine: auto runs models on ${ort.available ? 'onnx' : 'tfjs'} \\(`));
      expect(text).toContain(`model folders in ${REPO_MODELS_DIR}:`);
      expect(text).toMatch(/frugal-brick: frugal UNet, 3 channels, 154,627 parameters, 2400 steps on \.\.\/\.\.\/examples\/data\/brick-512\.png/);
      expect(text).toContain(`model folders in ${tmp.dir}:`);
      expect(text).toMatch(/clf: image classifier, 28x28x1, 10 classes/);
      expect(text).not.toContain('not-a-model');
      expect(text).toMatch(/guides:\n {2}constant/);
    } finally {
      tmp.cleanup();
    }
  });

  it('summarises one model card: network, channels, training data, steps, schedule, parameters', async () => {
    const text = await modelInfoCommand(BRICK);
    expect(text).toContain(`model ${BRICK}`);
    expect(text).toMatch(/network: +unet \(preset frugal\), classic layout, 32 channels × \[1, 1, 1\], predicts x0/);
    expect(text).toMatch(/channels: +3( \(trained on grey content\))?; conditioning xt \+ xm \+ mask/); // content: recorded by newer cards
    expect(text).toMatch(/trained on: \.\.\/\.\.\/examples\/data\/brick-512\.png/);
    expect(text).toMatch(/steps: +2400 \(objective diffusion, crop 64, batch 8, lr 0\.0005, seed 0\), final loss 0\.005805/);
    expect(text).toMatch(/schedule: +linear, T 1000, betaStart 0\.0001, betaEnd 0\.02/);
    expect(text).toMatch(/parameters: 154,627/);
    const err = await modelInfoCommand(REPO_MODELS_DIR).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toMatch(/is not a model folder: no model\.json/);
  });
});
