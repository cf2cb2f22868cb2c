/**
 * The one mask-by-stem rule (inputs.ts), used by batch inpainting (`pairInputs`) and the eval dataset
 * (`resolveDataset`): exact stems, `_mask` / `-mask` suffixes, exact names first, unmatched images reported.
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import { matchMasksByStem, pairInputs } from '../src/inputs';
import { resolveDataset } from '../src/eval/dataset';
import { tempDir } from '../../../test/helpers/tmp';

describe('matchMasksByStem', () => {
  it('matches exact stems and _mask/-mask suffixes (any case, any extension), exact names first', () => {
    const r = matchMasksByStem(
      ['im/a.png', 'im/b.jpg', 'im/c.png', 'im/d.png', 'im/e.png'],
      ['m/a.png', 'm/b_mask.png', 'm/c-MASK.webp', 'm/d-mask.png', 'm/d.png', 'm/x_mask.png', 'm/e.mask.png'],
    );
    expect(r.matched).toEqual([
      { image: 'im/a.png', mask: 'm/a.png' },
      { image: 'im/b.jpg', mask: 'm/b_mask.png' },
      { image: 'im/c.png', mask: 'm/c-MASK.webp' },
      { image: 'im/d.png', mask: 'm/d.png' },
    ]);
    expect(r.unmatched).toEqual(['im/e.png']);
  });

  it('is the rule of both batch inputs and the eval dataset', async () => {
    const tmp = tempDir('diff2s-inputs-');
    try {
      const img = path.join(tmp.dir, 'img'), msk = path.join(tmp.dir, 'msk');
      await fs.mkdir(img);
      await fs.mkdir(msk);
      for (const f of ['a.png', 'b.png', 'c.png', '.hidden.png', 'notes.txt']) await fs.writeFile(path.join(img, f), '');
      for (const f of ['a_mask.png', 'b.png', 'b-mask.png']) await fs.writeFile(path.join(msk, f), '');
      const want = matchMasksByStem([path.join(img, 'a.png'), path.join(img, 'b.png'), path.join(img, 'c.png')],
        [path.join(msk, 'a_mask.png'), path.join(msk, 'b-mask.png'), path.join(msk, 'b.png')]);
      expect(want.matched.map((p) => path.basename(p.mask))).toEqual(['a_mask.png', 'b.png']);
      const batch = await pairInputs(img, msk);
      expect(batch.pairs).toEqual(want.matched.map((p) => ({ stem: path.basename(p.image, '.png'), ...p })));
      expect(batch.unmatched).toEqual(want.unmatched);
      const ds = await resolveDataset({ images: 'img', masks: { dir: 'msk' }, maskConvention: 'hole-white' } as never, tmp.dir);
      expect(ds.items.map((it) => ({ image: it.image, mask: it.mask }))).toEqual(want.matched);
      expect(ds.unmatched).toEqual(want.unmatched);
    } finally {
      tmp.cleanup();
    }
  });
});
