// The variants job done with sharp, for bench/variants_bench.py: the same widths and heights as gallery,
// AVIF effort 3 (quality 50), WebP q80, JPEG q80 without mozjpeg; EXIF orientation applied, metadata dropped.
//     node sharp_job.mjs JOBS.json OUT_DIR SHARP_DIR PHOTOS_IN_FLIGHT
// SHARP_DIR is where `npm install sharp` ran (outside the repository).
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

const [jobsPath, outDir, sharpDir, inFlight] = process.argv.slice(2);
const sharp = createRequire(join(sharpDir, "package.json"))("sharp");
sharp.cache(false); // every photo is read once: a cache only holds memory
const jobs = JSON.parse(readFileSync(jobsPath, "utf8"));

async function render(job) {
  // failOn "none": decode what libjpeg can, as Pillow does; rotate() without an angle applies EXIF orientation
  const input = sharp(readFileSync(job.src), { failOn: "none" }).rotate();
  await Promise.all(
    job.sizes.flatMap(([width, height]) => {
      const resized = input.clone().resize(width, height, { fit: "fill" });
      const out = (ext) => join(outDir, `${job.id}-${width}.${ext}`);
      return [
        resized.clone().avif({ quality: 50, effort: 3 }).toFile(out("avif")),
        resized.clone().webp({ quality: 80 }).toFile(out("webp")),
        resized.clone().jpeg({ quality: 80, mozjpeg: false }).toFile(out("jpeg")),
      ];
    }),
  );
}

let next = 0;
async function worker() {
  while (next < jobs.length) {
    const job = jobs[next++];
    await render(job).catch((e) => console.error(`${job.src}: ${e.message}`));
  }
}
await Promise.all(Array.from({ length: Number(inFlight) }, worker));
