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

# Headerless UCI tables of jbrownlee/Datasets: the file, the column names of its .names file, and
# the columns dropped (horse colic's other outcomes). Values are kept as written ("?" included).
HORSE_COLIC = [
    "surgery", "age", "hospital_number", "rectal_temperature", "pulse", "respiratory_rate",
    "temperature_of_extremities", "peripheral_pulse", "mucous_membranes", "capillary_refill_time", "pain",
    "peristalsis", "abdominal_distension", "nasogastric_tube", "nasogastric_reflux", "nasogastric_reflux_ph",
    "rectal_exam_feces", "abdomen", "packed_cell_volume", "total_protein", "abdominocentesis_appearance",
    "abdomcentesis_total_protein", "outcome", "surgical_lesion", "lesion_type_1", "lesion_type_2", "lesion_type_3",
    "cp_data",
]  # fmt: skip
AUTO_IMPORTS = [
    "symboling", "normalized_losses", "make", "fuel_type", "aspiration", "num_of_doors", "body_style",
    "drive_wheels", "engine_location", "wheel_base", "length", "width", "height", "curb_weight", "engine_type",
    "num_of_cylinders", "engine_size", "fuel_system", "bore", "stroke", "compression_ratio", "horsepower",
    "peak_rpm", "city_mpg", "highway_mpg", "price",
]  # fmt: skip
HEADERLESS = {
    "abalone": ("abalone.csv", ["sex", "length", "diameter", "height", "whole_weight", "shucked_weight",
                                "viscera_weight", "shell_weight", "rings"], ()),
    "horse_colic": ("horse-colic.csv", HORSE_COLIC, ("outcome", "lesion_type_1", "lesion_type_2", "lesion_type_3")),
    "ecoli": ("ecoli.csv", ["mcg", "gvh", "lip", "chg", "aac", "alm1", "alm2", "location"], ()),
    "glass": ("glass.csv", ["RI", "Na", "Mg", "Al", "Si", "K", "Ca", "Ba", "Fe", "type"], ()),
    "auto_imports": ("auto_imports.csv", AUTO_IMPORTS, ()),
    "oil_spill": ("oil-spill.csv", ["patch", *(f"f{i}" for i in range(2, 50)), "oil_spill"], ()),
}  # fmt: skip


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
    for name, (file, columns, dropped) in HEADERLESS.items():
        table = pd.read_csv(jbrownlee / file, header=None, names=columns, dtype=str, keep_default_na=False)
        table.drop(columns=list(dropped)).to_csv(out / f"{name}.csv", index=False)
    shutil.copyfile(seaborn / "tips.csv", out / "tips.csv")
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
