// Reference outputs of face-api.js's AgeGenderNet on the tfjs CPU backend, for tests/test_fairness_attributes.py.
// Run from a folder holding `package/` (from `npm pack @vladmandic/face-api@1.7.15` and `tar xzf`):
//   node faceapi_age_gender_reference.mjs images.bin H W out.json
// images.bin: N x H x W x 3 uint8 RGB. The ESM bundle targets browsers; it is loaded with Node hidden and a
// minimal platform/environment (no canvas is needed for tensor inputs).
const saved = process.versions;
Object.defineProperty(process, 'versions', { value: {}, configurable: true });
globalThis.window = globalThis;
const faceapi = await import('./package/dist/face-api.esm.js');
Object.defineProperty(process, 'versions', { value: saved, configurable: true });
const fs = await import('fs');
const tf = faceapi.tf;
tf.env().setPlatform('plain-js', {
  isTypedArray: (x) => ArrayBuffer.isView(x) && !(x instanceof DataView),
  now: () => performance.now(), fetch: (u, o) => fetch(u, o),
  encode: (s) => new TextEncoder().encode(s), decode: (b, e) => new TextDecoder(e).decode(b),
});
class X {}
faceapi.env.setEnv({ Canvas: X, CanvasRenderingContext2D: X, Image: X, ImageData: X, Video: X,
  createCanvasElement: () => ({}), createImageElement: () => ({}), fetch: (u, o) => fetch(u, o) });
await tf.setBackend('cpu'); await tf.ready();
const manifest = JSON.parse(fs.readFileSync('./package/model/age_gender_model-weights_manifest.json'));
const buf = fs.readFileSync('./package/model/age_gender_model.bin');
const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
await faceapi.nets.ageGenderNet.loadFromWeightMap(tf.io.decodeWeights(ab, manifest[0].weights));
const [file, H, W, out] = process.argv.slice(2);
const raw = fs.readFileSync(file); const h = +H, w = +W; const n = raw.length / (h * w * 3);
const res = [];
for (let i = 0; i < n; i++) {
  const t = tf.tensor3d(new Int32Array(raw.subarray(i * h * w * 3, (i + 1) * h * w * 3)), [h, w, 3], 'int32');
  const r = await faceapi.nets.ageGenderNet.predictAgeAndGender(t);
  res.push({ age: r.age, gender: r.gender, p: r.genderProbability });
  t.dispose();
}
fs.writeFileSync(out, JSON.stringify(res));
