"""Writes the held-out tables of bench/heldout/tables.json from local clones of two public repositories.

These are tables autotab's defaults were never chosen on: `bench/peers.py --shared DIR` runs them
like the peer benchmark's (README, Tables it had never seen). Nothing is downloaded here; clone
the two repositories first (any recent commit):

    git clone https://github.com/mwaskom/seaborn-data
    git clone https://github.com/jbrownlee/Datasets
    .venv/bin/python bench/heldout/prepare.py --seaborn-data seaborn-data --jbrownlee Datasets --out /tmp/heldout
    .venv/bin/python bench/peers.py --shared /tmp/heldout --results bench/results/heldout.jsonl \
        --systems autotab hgb --autotab-modes budget --tables titanic taxis_tip ...

tables.json is copied beside the files; each table's `source` there says what was changed.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import pandas as pd

HERE = Path(__file__).parent
ADULT_COLUMNS = [
    "age", "workclass", "fnlwgt", "education", "education_num", "marital_status", "occupation",
    "relationship", "race", "sex", "capital_gain", "capital_loss", "hours_per_week", "native_country", "income",
]  # fmt: skip


def prepare(*, seaborn: Path, jbrownlee: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name in ("titanic", "taxis", "mpg", "healthexp", "car_crashes", "diamonds"):
        shutil.copyfile(seaborn / f"{name}.csv", out / f"{name}.csv")
    titanic = pd.read_csv(seaborn / "titanic.csv", dtype=str, keep_default_na=False)
    titanic.drop(columns=["alive"]).to_csv(out / "titanic_noalive.csv", index=False)
    planets = pd.read_csv(seaborn / "planets.csv", dtype=str, keep_default_na=False)
    counts = planets["method"].value_counts()
    planets[planets["method"].isin(counts[counts >= 10].index)].to_csv(out / "planets_common.csv", index=False)

    adult = pd.read_csv(
        jbrownlee / "adult-train.csv", header=None, names=ADULT_COLUMNS, dtype=str, skipinitialspace=True
    )
    adult.to_csv(out / "adult.csv", index=False)
    mammography = pd.read_csv(jbrownlee / "mammography.csv", header=None, dtype=str, quotechar="'")
    mammography.columns = [f"f{i}" for i in range(1, mammography.shape[1])] + ["label"]
    mammography.to_csv(out / "mammography.csv", index=False)
    pollution = pd.read_csv(jbrownlee / "pollution.csv", dtype=str, keep_default_na=False).drop(columns=["No"])
    pollution[pollution["pm2.5"] != "NA"].to_csv(out / "pollution.csv", index=False)
    shutil.copyfile(HERE / "tables.json", out / "tables.json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seaborn-data", type=Path, required=True, help="a clone of mwaskom/seaborn-data")
    parser.add_argument("--jbrownlee", type=Path, required=True, help="a clone of jbrownlee/Datasets")
    parser.add_argument("--out", type=Path, required=True, help="the folder to write (give it to peers.py --shared)")
    args = parser.parse_args()
    prepare(seaborn=args.seaborn_data, jbrownlee=args.jbrownlee, out=args.out)
    print(f"{args.out}: written")


if __name__ == "__main__":
    main()
