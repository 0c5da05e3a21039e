"""Print the statistics table of datasets/README.md from the cached datasets.

Usage: ``python datasets/cards.py`` (after ``dreamenv data make ...`` for each name).
"""

from __future__ import annotations

from dreamenv.datasets.hdf5 import load_hdf5
from dreamenv.datasets.recipes import RECIPES, dataset_path


def main() -> None:
    print("| dataset | transitions | episodes | return mean ± std | normalised score | "
          "file MB | made in (s) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name in RECIPES:
        path = dataset_path(name)
        if not path.exists():
            print(f"| {name} | not made | | | | | |")
            continue
        ds = load_hdf5(path)
        s = ds.summary()
        print(f"| {name} | {s['transitions']:,} | {s['episodes']:,} | "
              f"{s['return_mean']:.0f} ± {s['return_std']:.0f} | "
              f"{s['normalized_score_mean']:.1f} | {path.stat().st_size / 1e6:.0f} | "
              f"{ds.metadata.get('generation_seconds', '')} |")


if __name__ == "__main__":
    main()
