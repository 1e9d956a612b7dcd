"""Benchmark: responsive variants (widths 480/960/1600 x AVIF/WebP/JPEG) of a folder of photos.

    python bench/variants_bench.py FOLDER [--jobs N] [--no-sharp] [--sharp-dir DIR]
    python bench/variants_bench.py FOLDER --sweep [--photos 8]

Runs the same job three ways, each in a fresh process so its numbers are its own:
- gallery: `render_variants` with its defaults, in a process pool of N workers (default: all cores);
- pillow: plain Pillow, each width resized from the full image (Lanczos), AVIF q50 speed 6, WebP q80,
  JPEG q80, in a process pool of N workers too, so the comparison is fair;
- sharp (if `npm install sharp` works in SHARP_DIR, outside the repository): bench/sharp_job.mjs,
  AVIF effort 3, WebP q80, JPEG q80 (mozjpeg off), N photos in flight.
Every job makes the same variants (gallery's `variant_specs`: no upscaling) of the JPEGs under FOLDER
that decode. Reports wall time, CPU time (all processes), peak RSS (the largest process), bytes per
format and the median SSIM per format (luma, 11x11 Gaussian window) against a Lanczos reference made
from the fully decoded photo, and the ratios. `--sweep` measures encoder settings instead (bench/README.md).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps
from scipy.ndimage import gaussian_filter

from gallery.variants import VariantSettings, render_variants, variant_specs

HERE = Path(__file__).resolve().parent
JOBS = ("gallery", "pillow", "sharp")
FORMATS = ("avif", "webp", "jpeg")


def ssim(a: Image.Image, b: Image.Image) -> float:
    """Mean SSIM of the luma of two same-size images (Wang et al. 2004: Gaussian window, sigma 1.5)."""
    x = np.asarray(a.convert("L"), dtype=np.float64)
    y = np.asarray(b.convert("L"), dtype=np.float64)

    def blur(z: np.ndarray) -> np.ndarray:
        return gaussian_filter(z, 1.5, truncate=3.5)

    mx, my = blur(x), blur(y)
    sxx, syy, sxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    return float((((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))).mean())


def upright(path: str) -> Image.Image:
    """The fully decoded photo, EXIF orientation applied, in RGB: what references are made from."""
    with Image.open(path) as image:
        return ImageOps.exif_transpose(image).convert("RGB")


def lanczos(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    return image if image.size == size else image.resize(size, Image.Resampling.LANCZOS)


def plan(folders: list[Path], settings: VariantSettings) -> list[dict]:
    """One entry per JPEG: id, path and the (width, height) of each variant, largest photo first (headers only)."""
    entries = []
    for path in sorted(p for folder in folders for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg")):
        with Image.open(path) as image:
            w, h = image.size[::-1] if image.getexif().get(0x0112, 1) in (5, 6, 7, 8) else image.size
        widths = sorted({spec.width for spec in variant_specs(w, h, "jpeg", settings)}, reverse=True)
        sizes = [(x, max(1, (2 * x * h + w) // (2 * w))) for x in widths]
        entries.append({"src": str(path), "pixels": w * h, "sizes": sizes})
    entries.sort(key=lambda e: -e["pixels"])  # largest first, so no big photo is left for the end of the pool
    return [{"id": f"{i:04d}", **e} for i, e in enumerate(entries)]


def gallery_one(src: str) -> list[tuple[int, str, bytes]]:
    try:
        _, rendered = render_variants(Path(src).read_bytes(), VariantSettings())
    except ValueError as e:
        print(f"gallery: {src}: {e}", file=sys.stderr)
        return []
    return [(r.width, r.spec.format, r.data) for r in rendered]


def pillow_one(src: str, sizes: list[tuple[int, int]]) -> list[tuple[int, str, bytes]]:
    """Plain Pillow: full decode, every width resized from the full image, encoders at common settings."""
    try:
        image = upright(src)
    except OSError as e:
        print(f"pillow: {src}: {e}", file=sys.stderr)
        return []
    out = []
    for size in sizes:
        small = lanczos(image, tuple(size))
        for fmt, name, options in (
            ("avif", "AVIF", {"quality": 50, "speed": 6}),
            ("webp", "WEBP", {"quality": 80}),
            ("jpeg", "JPEG", {"quality": 80}),
        ):
            buffer = io.BytesIO()
            small.save(buffer, name, **options)
            out.append((size[0], fmt, buffer.getvalue()))
    return out


def run_job(name: str, jobs_path: Path, out: Path, workers: int) -> None:
    """Make every variant of the job file with `name`'s pipeline and write them to `out` (runs in a child)."""
    jobs = json.loads(jobs_path.read_text())
    with ProcessPoolExecutor(workers) as pool:
        if name == "gallery":
            results = pool.map(gallery_one, [j["src"] for j in jobs])
        else:
            results = pool.map(pillow_one, [j["src"] for j in jobs], [j["sizes"] for j in jobs])
        for job, variants in zip(jobs, results):
            for width, fmt, data in variants:
                (out / f"{job['id']}-{width}.{fmt}").write_bytes(data)


def measured(command: list[str]) -> dict:
    """Run `command` from a fresh process; its wall time, CPU time and peak RSS (of the largest process)."""
    probe = (
        "import json, resource, subprocess, sys, time\n"
        "t = time.perf_counter(); subprocess.run(sys.argv[1:], check=True); wall = time.perf_counter() - t\n"
        "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "print(json.dumps({'wall': wall, 'cpu': u.ru_utime + u.ru_stime, 'rss_mb': u.ru_maxrss / 1024}))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe, *command], check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def sharp_dir(where: Path) -> Path | None:
    """A folder where `require('sharp')` works, installing sharp there with npm if needed; None if impossible."""
    if (where / "node_modules" / "sharp").is_dir():
        return where
    where.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(where), "sharp"],
                       check=True, capture_output=True, timeout=600)  # fmt: skip
    except (OSError, subprocess.SubprocessError) as e:
        print(f"sharp skipped: `npm install sharp` failed ({e})", file=sys.stderr)
        return None
    return where


def scores(job: dict, outs: dict[str, Path], common: frozenset[str]) -> dict[str, list[tuple[str, float]]]:
    """(format, SSIM) of every variant of one photo that every job made, per job, against the Lanczos reference."""
    names = sorted(name for name in common if name.startswith(job["id"] + "-"))
    if not names:
        return {}
    image = upright(job["src"])
    result: dict[str, list[tuple[str, float]]] = {}
    for job_name, out in outs.items():
        for name in names:
            with Image.open(out / name) as variant:
                score = ssim(variant, lanczos(image, variant.size))
            result.setdefault(job_name, []).append((name.rpartition(".")[2], score))
    return result


def report(folder: str, jobs: list[dict], stats: dict[str, dict], outs: dict[str, Path], workers: int) -> None:
    """Print the comparison table and the ratios, over the variants that every job made."""
    made = [frozenset(p.name for p in out.iterdir()) for out in outs.values()]
    common = frozenset.intersection(*made)
    missing = sorted({name.partition("-")[0] for name in frozenset.union(*made) - common})
    by_job: dict[str, dict[str, list[float]]] = {name: {} for name in outs}
    with ProcessPoolExecutor(workers) as pool:
        for result in pool.map(scores, jobs, [outs] * len(jobs), [common] * len(jobs)):
            for name, pairs in result.items():
                for fmt, value in pairs:
                    by_job[name].setdefault(fmt, []).append(value)
    sizes = {
        name: {fmt: sum((out / n).stat().st_size for n in common if n.endswith("." + fmt)) for fmt in FORMATS}
        for name, out in outs.items()
    }
    megapixels = sum(j["pixels"] for j in jobs) / 1e6
    print(f"\n{folder}: {len(jobs)} JPEGs, {megapixels:.0f} MP, {workers} workers; SSIM = median, luma, vs Lanczos")
    if missing:
        sources = [j["src"] for j in jobs if j["id"] in missing]
        print(f"bytes and SSIM leave out {len(missing)} photo(s) that some job could not decode: {', '.join(sources)}")
    print(f"{'job':8} {'wall s':>7} {'CPU s':>7} {'RSS MB':>7} {'AVIF KB':>8} {'WebP KB':>8} {'JPEG KB':>8}"
          f" {'total KB':>9} {'SSIM avif':>9} {'webp':>6} {'jpeg':>6}")  # fmt: skip
    for name in outs:
        s, b, q = stats[name], sizes[name], by_job[name]
        print(f"{name:8} {s['wall']:7.2f} {s['cpu']:7.2f} {s['rss_mb']:7.0f} {b['avif'] / 1024:8.0f} {b['webp'] / 1024:8.0f}"
              f" {b['jpeg'] / 1024:8.0f} {sum(b.values()) / 1024:9.0f}"
              + "".join(f" {statistics.median(q[f]):{9 if f == 'avif' else 6}.4f}" for f in FORMATS))  # fmt: skip
    for other in (n for n in outs if n != "gallery"):
        g, o = "gallery", other
        print(f"gallery / {o}: wall {stats[g]['wall'] / stats[o]['wall']:.2f}x, CPU {stats[g]['cpu'] / stats[o]['cpu']:.2f}x,"
              f" bytes {sum(sizes[g].values()) / sum(sizes[o].values()):.3f}x ("
              + ", ".join(f"{f} {sizes[g][f] / sizes[o][f]:.3f}x" for f in FORMATS)
              + "), SSIM "
              + ", ".join(f"{f} {statistics.median(by_job[g][f]) - statistics.median(by_job[o][f]):+.4f}"
                          for f in FORMATS))  # fmt: skip


def sweep(folder: Path, photos: int, workers: int) -> None:
    """Bytes, CPU time and median SSIM of encoder settings on the variants of the largest photos."""
    jobs = plan([folder], VariantSettings())[:photos]
    references = [lanczos(upright(j["src"]), tuple(size)) for j in jobs for size in j["sizes"]]
    configs = [("AVIF", {"quality": q, "speed": s}) for s in (6, 7, 8, 9) for q in (45, 50, 55)]
    configs += [("AVIF", {"quality": 50, "speed": 6, "subsampling": "4:4:4"})]
    configs += [("WEBP", {"quality": 80, "method": m}) for m in (0, 2, 3, 4, 5, 6)]
    configs += [("JPEG", {"quality": q, "optimize": o, "progressive": p})
                for q in (75, 80, 85) for o, p in ((False, False), (True, False), (True, True))]  # fmt: skip
    print(f"{folder}: {len(references)} reference variants of the {len(jobs)} largest photos")
    with ProcessPoolExecutor(workers) as pool:
        results = pool.map(encoded, configs, [references] * len(configs))
        for (fmt, options), (size, cpu, median) in zip(configs, results):
            print(f"{fmt:5} {json.dumps(options):60} {size / 1024:7.0f} KB {cpu:6.2f} s CPU  SSIM {median:.4f}")
    print("\nresize pipelines (no encoding): SSIM of the resized pixels against the Lanczos reference")
    for name, options in (("full decode, each width from the full image", {}),
                          ("draft", {"draft": True}), ("draft + reducing_gap 3", {"draft": True, "gap": 3.0}),
                          ("draft + reducing_gap 3 + cascade", {"draft": True, "gap": 3.0, "cascade": True})):  # fmt: skip
        cpu, values = 0.0, []
        for job in jobs:
            start = time.process_time()
            images = resized(job, **options)
            cpu += time.process_time() - start
            reference = upright(job["src"])
            values += [ssim(image, lanczos(reference, image.size)) for image in images]
        print(f"{name:45} {cpu:6.2f} s CPU  SSIM median {statistics.median(values):.4f} min {min(values):.4f}")


def encoded(config: tuple[str, dict], references: list[Image.Image]) -> tuple[int, float, float]:
    """Total bytes, CPU seconds and median SSIM of `references` encoded with `config` (single-threaded)."""
    fmt, options = config
    extra = {"max_threads": 1} if fmt == "AVIF" else {}
    outputs, start = [], time.process_time()
    for image in references:
        buffer = io.BytesIO()
        image.save(buffer, fmt, **options, **extra)
        outputs.append(buffer.getvalue())
    cpu = time.process_time() - start
    values = [ssim(image, Image.open(io.BytesIO(data))) for image, data in zip(references, outputs)]
    return sum(map(len, outputs)), cpu, statistics.median(values)


def resized(job: dict, draft: bool = False, gap: float | None = None, cascade: bool = False) -> list[Image.Image]:
    with Image.open(job["src"]) as image:
        orientation = image.getexif().get(0x0112, 1)
        if draft:
            w, h = job["sizes"][0]
            image.draft(image.mode, (h, w) if orientation in (5, 6, 7, 8) else (w, h))
        current = ImageOps.exif_transpose(image).convert("RGB")
    images = []
    for size in job["sizes"]:
        source = images[-1] if cascade and images else current
        images.append(source.resize(tuple(size), Image.Resampling.LANCZOS, reducing_gap=gap))
    return images


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, nargs="?")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes (default: all cores)")
    parser.add_argument("--no-sharp", action="store_true", help="skip the sharp job")
    parser.add_argument("--sharp-dir", type=Path, default=Path(tempfile.gettempdir()) / "gallery-bench-sharp")
    parser.add_argument("--repeat", type=int, default=1, help="run each job N times, keep the fastest (noisy machines)")
    parser.add_argument("--sweep", action="store_true", help="measure encoder settings instead")
    parser.add_argument("--photos", type=int, default=8, help="with --sweep: how many of the largest photos")
    parser.add_argument("--run", nargs=3, metavar=("JOB", "JOBS_JSON", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        run_job(args.run[0], Path(args.run[1]), Path(args.run[2]), args.jobs)
        return
    if args.folder is None:
        parser.error("FOLDER is required")
    if args.sweep:
        sweep(args.folder, args.photos, args.jobs)
        return
    jobs = plan([args.folder], VariantSettings())
    with tempfile.TemporaryDirectory() as tmp:
        jobs_path = Path(tmp) / "jobs.json"
        jobs_path.write_text(json.dumps(jobs))
        outs = {name: Path(tmp) / name for name in JOBS}
        where = None if args.no_sharp else sharp_dir(args.sharp_dir)
        commands = {
            name: [sys.executable, __file__, "--jobs", str(args.jobs), "--run", name, str(jobs_path), str(outs[name])]
            for name in ("gallery", "pillow")
        }
        if where is not None:
            commands["sharp"] = ["node", str(HERE / "sharp_job.mjs"), str(jobs_path), str(outs["sharp"]), str(where),
                                 str(args.jobs)]  # fmt: skip
        outs = {name: outs[name] for name in commands}
        for out in outs.values():
            out.mkdir()
        runs: dict[str, list[dict]] = {name: [] for name in commands}
        for _ in range(args.repeat):  # interleaved, so a busy moment of the machine hits every job alike
            for name, command in commands.items():
                runs[name].append(measured(command))
        stats = {name: min(found, key=lambda s: s["wall"]) for name, found in runs.items()}
        report(str(args.folder), jobs, stats, outs, args.jobs)


if __name__ == "__main__":
    main()
