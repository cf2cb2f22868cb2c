/**
 * The IDX file format of MNIST (LeCun et al.): a 4-byte magic (two zero bytes, a type code, the number of
 * dimensions), the dimensions as big-endian uint32, then the values in row-major order. MNIST's files are
 * `idx3-ubyte` images (magic 2051 = 0x00000803: count, rows, cols) and `idx1-ubyte` labels (magic 2049 =
 * 0x00000801: count), usually gzipped. Only unsigned bytes (type 0x08) are read here.
 */
import { promises as fs } from 'fs';
import { gunzipSync } from 'zlib';
import { InputError } from '../errors';
import { Tensor4 } from '../tensor';

/** The IDX type code of unsigned bytes. */
export const IDX_UBYTE = 0x08;
/** Magic number of MNIST image files (ubyte, 3 dimensions). */
export const IDX_IMAGES_MAGIC = 2051;
/** Magic number of MNIST label files (ubyte, 1 dimension). */
export const IDX_LABELS_MAGIC = 2049;

/** A decoded IDX ubyte array. */
export interface IdxArray {
  /** The dimensions, e.g. [count, rows, cols]. */
  dims: number[];
  /** The values, row-major (a view of the file's bytes). */
  data: Uint8Array;
}

/** MNIST-style images: `count` grey images of rows × cols bytes (0 = black background, 255 = white ink). */
export interface IdxImages {
  count: number;
  rows: number;
  cols: number;
  /** count·rows·cols bytes, image after image. */
  data: Uint8Array;
}

/** Whether bytes start with the gzip magic (1f 8b). */
function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/**
 * Decode IDX bytes (gzipped or raw) of unsigned bytes with `ndims` dimensions (any when omitted). `name` is used in
 * messages. Throws {@link InputError} naming it on a bad gzip stream, a bad magic, a wrong dimension count, or a
 * data section shorter or longer than the header says.
 */
export function decodeIdx(input: Uint8Array, name: string, ndims?: number): IdxArray {
  let bytes = input;
  if (isGzip(bytes)) {
    try {
      bytes = gunzipSync(bytes);
    } catch (err) {
      throw new InputError(`${name} is not a readable gzip file (${(err as Error).message})`, name, { cause: err });
    }
  }
  if (bytes.length < 4) throw new InputError(`${name} is not an IDX file: ${bytes.length} bytes, shorter than the 4-byte magic`, name);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, false);
  const hex = `0x${magic.toString(16).padStart(8, '0')}`;
  if (bytes[0] !== 0 || bytes[1] !== 0) throw new InputError(`${name} is not an IDX file: bad magic ${hex} (expected 0x000008NN)`, name);
  if (bytes[2] !== IDX_UBYTE) {
    throw new InputError(`${name}: IDX type code 0x${bytes[2].toString(16).padStart(2, '0')} is not supported (only unsigned bytes, 0x08)`, name);
  }
  const nd = bytes[3];
  if (ndims !== undefined && nd !== ndims) {
    throw new InputError(`${name}: magic ${hex} (${magic}) declares ${nd} dimension(s); expected ${ndims} (magic ${0x800 + ndims})`, name);
  }
  if (nd < 1) throw new InputError(`${name}: IDX header declares no dimensions`, name);
  const headerBytes = 4 + 4 * nd;
  if (bytes.length < headerBytes) throw new InputError(`${name} is truncated: ${bytes.length} bytes, shorter than its ${headerBytes}-byte header`, name);
  const dims: number[] = [];
  let total = 1;
  for (let i = 0; i < nd; i++) {
    const d = view.getUint32(4 + 4 * i, false);
    dims.push(d);
    total *= d;
  }
  const have = bytes.length - headerBytes;
  if (have < total) {
    throw new InputError(`${name} is truncated: the header says ${dims.join('x')} = ${total} bytes of data, the file has ${have}`, name);
  }
  if (have > total) {
    throw new InputError(`${name} has ${have - total} bytes after the ${dims.join('x')} values its header declares (corrupt or not IDX)`, name);
  }
  return { dims, data: bytes.subarray(headerBytes) };
}

async function readBytes(file: string): Promise<Buffer> {
  try {
    return await fs.readFile(file);
  } catch (err) {
    throw new InputError(`cannot read IDX file ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, file, { cause: err });
  }
}

/**
 * Read an IDX3 ubyte image file (MNIST's `*-images-idx3-ubyte[.gz]`, gzipped or raw). Throws {@link InputError}
 * naming the file when it is missing, not IDX, not 3-dimensional ubyte, or truncated.
 */
export async function readIdxImages(file: string): Promise<IdxImages> {
  const { dims, data } = decodeIdx(await readBytes(file), file, 3);
  const [count, rows, cols] = dims;
  if (rows < 1 || cols < 1) throw new InputError(`${file}: images of ${rows}x${cols} pixels`, file);
  return { count, rows, cols, data };
}

/**
 * Read an IDX1 ubyte label file (MNIST's `*-labels-idx1-ubyte[.gz]`, gzipped or raw). Throws {@link InputError}
 * naming the file when it is missing, not IDX, not 1-dimensional ubyte, or truncated.
 */
export async function readIdxLabels(file: string): Promise<Uint8Array> {
  return decodeIdx(await readBytes(file), file, 1).data;
}

/**
 * Encode a ubyte IDX array (header + values; gzip it yourself if wanted). The inverse of {@link decodeIdx}; used to
 * write small test files.
 */
export function encodeIdx(dims: readonly number[], data: Uint8Array): Buffer {
  const total = dims.reduce((a, b) => a * b, 1);
  if (data.length !== total) throw new RangeError(`encodeIdx: ${data.length} values for dimensions ${dims.join('x')} (${total})`);
  const out = Buffer.alloc(4 + 4 * dims.length + total);
  out[2] = IDX_UBYTE;
  out[3] = dims.length;
  dims.forEach((d, i) => out.writeUInt32BE(d, 4 + 4 * i));
  out.set(data, 4 + 4 * dims.length);
  return out;
}

/**
 * Image `index` of `images` as a [1, 1, rows + 2·pad, cols + 2·pad] tensor in [-1, 1] (byte v → v/127.5 − 1, so a
 * PNG round trip is exact), padded with `padValue` (default −1: MNIST's black background).
 */
export function idxImageTensor(images: IdxImages, index: number, pad = 0, padValue = -1): Tensor4 {
  if (!Number.isInteger(index) || index < 0 || index >= images.count) {
    throw new RangeError(`image index ${index} is outside 0..${images.count - 1}`);
  }
  if (!Number.isInteger(pad) || pad < 0) throw new RangeError(`pad must be a non-negative integer, got ${pad}`);
  const { rows, cols } = images;
  const H = rows + 2 * pad, W = cols + 2 * pad;
  const t = Tensor4.full([1, 1, H, W], padValue);
  const base = index * rows * cols;
  for (let y = 0; y < rows; y++) {
    for (let x = 0; x < cols; x++) t.data[(y + pad) * W + x + pad] = images.data[base + y * cols + x] / 127.5 - 1;
  }
  return t;
}
