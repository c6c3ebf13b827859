"""Protection targets (防护目标) and their GB 36894-2018 class."""

from __future__ import annotations

from geo.errors import InvalidInput
from geo.resources import read_table
from geo.vocab import GBClass


def derive_gb_class(
    target_type: str, population: int | None, households: int | None, *, field: str = "gb_class"
) -> GBClass:
    """The class a type decides (schools are 高敏感…), else the class from households or people.

    A general target takes the highest class either count reaches (data/target_class_thresholds.csv).
    """
    fixed = {r["code"]: r["gb_class"] for r in read_table("target_types.csv")}
    if fixed.get(target_type):
        return GBClass(fixed[target_type])
    if population is None and households is None:
        raise InvalidInput.one(
            field,
            f"a {target_type} target needs population or households to derive its GB 36894 class "
            "(or give gb_class)",
            "需提供人数或户数以确定防护目标类别，或直接给出 gb_class",
        )
    for row in read_table("target_class_thresholds.csv"):  # ordered from 一类 down
        min_h, min_p = int(row["min_households"]), int(row["min_people"])
        if (households is not None and households >= min_h) or (
            population is not None and population >= min_p
        ):
            return GBClass(row["gb_class"])
    return GBClass.general_3
