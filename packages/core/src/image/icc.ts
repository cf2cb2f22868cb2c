/**
 * ICC profiles, one rule (issue 20): an input's pixel values are read as stored in the file (no colour conversion:
 * that would change known pixels), and an output carries the input's profile unchanged, so the values mean the same
 * colours as the input's. PNG outputs get an `iCCP` chunk, JPEG outputs APP2 `ICC_PROFILE` segments; WebP outputs
 * carry no profile (their values are still the file's, uncoverted).
 */
import { deflateSync } from 'zlib';

let crcTable: Uint32Array | undefined;
/** CRC-32 (ISO 3309, as PNG uses) of `bytes`. */
export function crc32(bytes: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = crcTable[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** A PNG with an `iCCP` chunk holding `profile`, inserted right after IHDR (an existing iCCP/sRGB/gAMA chunk is dropped). */
export function pngWithIcc(png: Buffer, profile: Uint8Array): Buffer {
  const sig = png.subarray(0, 8);
  const chunks: Buffer[] = [];
  let off = 8;
  let inserted = false;
  while (off < png.length) {
    const len = png.readUInt32BE(off);
    const type = png.toString('latin1', off + 4, off + 8);
    const whole = png.subarray(off, off + 12 + len);
    off += 12 + len;
    if (type === 'iCCP' || type === 'sRGB' || type === 'gAMA' || type === 'cHRM') continue;
    chunks.push(whole);
    if (type === 'IHDR' && !inserted) {
      const data = Buffer.concat([Buffer.from('ICC profile\0', 'latin1'), Buffer.from([0]), deflateSync(profile)]);
      const head = Buffer.alloc(8);
      head.writeUInt32BE(data.length, 0);
      head.write('iCCP', 4, 'latin1');
      const crc = Buffer.alloc(4);
      crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
      chunks.push(Buffer.concat([head, data, crc]));
      inserted = true;
    }
  }
  return Buffer.concat([sig, ...chunks]);
}

/** A JPEG with APP2 `ICC_PROFILE` segments holding `profile`, right after SOI (existing ICC segments are dropped). */
export function jpegWithIcc(jpeg: Buffer, profile: Uint8Array): Buffer {
  const tag = Buffer.from('ICC_PROFILE\0', 'latin1');
  const max = 65533 - tag.length - 2; // segment length field counts itself (2) + tag + seq + count
  const count = Math.ceil(profile.length / max);
  if (count > 255) return jpeg; // not representable: keep the JPEG as encoded
  const segs: Buffer[] = [];
  for (let k = 0; k < count; k++) {
    const part = profile.subarray(k * max, Math.min(profile.length, (k + 1) * max));
    const head = Buffer.alloc(4);
    head[0] = 0xff;
    head[1] = 0xe2;
    head.writeUInt16BE(2 + tag.length + 2 + part.length, 2);
    segs.push(Buffer.concat([head, tag, Buffer.from([k + 1, count]), part]));
  }
  // drop existing APP2 ICC segments, keep everything else
  const rest: Buffer[] = [];
  let off = 2;
  while (off + 4 <= jpeg.length && jpeg[off] === 0xff && jpeg[off + 1] >= 0xe0 && jpeg[off + 1] <= 0xef) {
    const len = jpeg.readUInt16BE(off + 2);
    const seg = jpeg.subarray(off, off + 2 + len);
    const isIcc = jpeg[off + 1] === 0xe2 && seg.subarray(4, 4 + tag.length).equals(tag);
    if (!isIcc) rest.push(seg);
    off += 2 + len;
  }
  return Buffer.concat([jpeg.subarray(0, 2), ...rest, ...segs, jpeg.subarray(off)]);
}
