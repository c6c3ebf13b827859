"""The controlled lists a client needs to fill in a register: sectors, accident types, levels…"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.schemas import Vocabularies
from geo import safety_distance as sd
from geo import vocab
from geo.assessment import bands

router = APIRouter(prefix="/api/v1/vocabularies", tags=["vocabularies"])


@router.get(
    "",
    summary="Sectors, accident types, protection-target types, hazard kinds, levels and assessment bands",
    response_model=None,
    responses={200: {"model": Vocabularies}},
)
def vocabularies() -> dict[str, Any]:
    return {
        "levels": [
            {
                "level": lv,
                "name_zh": vocab.LEVEL_NAMES_ZH[lv],
                "name_en": vocab.LEVEL_NAMES_EN[lv],
                "colour_zh": vocab.LEVEL_COLOURS_ZH[lv],
                "default_colour": vocab.DEFAULT_PALETTE[lv],
            }
            for lv in (1, 2, 3, 4)
        ],
        "sectors": [vars(s) for s in vocab.sectors().values()],
        "accident_types": [vars(t) for t in vocab.accident_types().values()],
        "protection_target_types": [vars(t) for t in vocab.target_types().values()],
        # Hazard kinds of the safety-distance rules (risk_units.hazard_kind, the siting check's hazard_kind).
        "hazard_kinds": [
            {
                "code": k.code,
                "name_zh": k.name_zh,
                "name_en": k.name_en,
                "standard": k.standard,
                "tabulated": k.tabulated,
                "needs_capacity_m3": k.capacity_banded,
                "max_capacity_m3": k.max_capacity_m3,
                "verify": any(r.verify for r in sd.distance_rules() if r.hazard_kind == k.code)
                or not k.tabulated,
            }
            for k in sd.hazard_kinds().values()
        ],
        "consultation_zones": [z.as_dict() for z in sd.consultation_zones().values()],
        "gb_classes": [{"code": str(c), "name_zh": vocab.GB_CLASS_NAMES_ZH[c]} for c in vocab.GBClass],
        "control_levels": [str(c) for c in vocab.ControlLevel],
        "assessment_bands": {m: [vars(b) for b in bands(m, "default")] for m in ("LEC", "LS", "MES")},
    }
