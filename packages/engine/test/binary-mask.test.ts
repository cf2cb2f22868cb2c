/** The training source refuses a soft hole mask (masks are binary between parts; core's binaryMask thresholds one). */
import { binaryMask, Tensor4 } from '@diff2s/core';
import { TrainingData } from '@diff2s/engine';

it('TrainingData.fromImage refuses a soft hole and accepts it thresholded', () => {
  const image = Tensor4.full([1, 3, 20, 20], 0.1);
  const hole = new Tensor4([1, 1, 20, 20]);
  for (let p = 40; p < 120; p++) hole.data[p] = 0.9;
  const cfg = { crop: 16, flips: true, masks: { type: 'freeform' as const } };
  expect(() => TrainingData.fromImage(image, hole, cfg)).toThrow(/the hole mask must be binary/);
  const data = TrainingData.fromImage(image, binaryMask(hole), cfg);
  expect([...data.holes[0]!.data]).toEqual([...binaryMask(hole).data]);
});
