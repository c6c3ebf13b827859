"""Safety distances (安全防护距离) as use cases: the siting check, and what the violations map and the
siting-check map show, for the JSON routes, the map pages and the workspace's pages alike. The rules are
in geo.safety_distance; the scope is kept by geo.store.safety_distance."""

from __future__ import annotations

import folium
import geopandas as gpd
import pandas as pd
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Connection

from api.settings import Settings
from api.usecases.four_colour import tiles
from geo import safety_distance as sd
from geo.access import Principal
from geo.store import safety_distance as store
from geo.store.summary import map_boundaries
from maps.safety_distance import safety_distance_map, siting_check_map


def siting_check(
    conn: Connection, principal: Principal, geom: BaseGeometry, proposal: sd.Proposal, *, advise_factor: float
) -> sd.SitingResult:
    """The verdict of a proposed plant or target at `geom` (a regulator's must lie inside its area)."""
    return store.siting_check_sql(conn, principal, geom, proposal, advise_factor=advise_factor)


def reach_labels(hazards: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    labels, notes = [], []
    levels = hazards["level"] if "level" in hazards else pd.Series(None, index=hazards.index, dtype=object)
    for kind, cap, level in zip(hazards["hazard_kind"], hazards["capacity_m3"], levels, strict=True):
        c = None if cap is None or pd.isna(cap) else float(cap)
        has_kind = kind is not None and not pd.isna(kind)
        why = sd.unchecked_reason(str(kind), c) if has_kind else None
        zone = sd.consultation_zone(level)
        parts = [] if why or not has_kind else [f"{sd.reach_m(str(kind), c):.0f} 米"]
        if zone is not None:
            parts.append(f"咨询区 {zone.consultation_m:.0f} 米")
        labels.append("；".join(parts) or None)
        note = why[1] if why else None
        if zone is not None and (why or not has_kind):
            note = "无表列安全距离，按咨询区筛查（须定量风险评价）"
        notes.append(note)
    return hazards.assign(reach_label=labels, note=notes)


def violations_map(conn: Connection, principal: Principal, adcode: str, settings: Settings) -> folium.Map:
    """Hazards with their required-distance rings per target class, protection targets coloured by status
    (violation / within 1.5× / ok), violation lines labelled with the distance, and risk contours."""
    report = store.violations_sql(conn, principal, adcode)
    hazards = store.hazards_in(conn, principal, adcode)
    targets = store.targets_in(conn, principal, adcode)
    found = report.violations
    outside_h = sorted(set(found["hazard_id"].astype(int)) - set(hazards["id"].astype(int)))
    if outside_h:
        hazards = pd.concat([hazards, store.hazards_by_id(conn, principal, outside_h)], ignore_index=True)
    advise = report.pairs[report.pairs["status"] == "advise"]
    involved = set(found["target_id"].astype(int)) | set(advise["target_id"].astype(int))
    outside_t = sorted(involved - set(targets["id"].astype(int)))
    if outside_t:
        targets = pd.concat([targets, store.targets_by_id(conn, principal, outside_t)], ignore_index=True)
    contours = [
        c for c in store.risk_contours(conn, principal) if c["risk_unit_id"] in set(hazards["id"].astype(int))
    ]
    boundaries = map_boundaries(conn, adcode)
    hazards = gpd.GeoDataFrame(hazards, geometry="geometry", crs=4490)
    targets = gpd.GeoDataFrame(targets, geometry="geometry", crs=4490)
    status = {int(i): "advise" for i in advise["target_id"]} | {
        int(i): "violation" for i in found["target_id"]
    }
    people = [
        sd.estimate_people(str(t), p, h, a)[0]
        for t, p, h, a in zip(
            targets["type"],
            targets["population"],
            targets["households"],
            targets["target_area_m2"],
            strict=True,
        )
    ]
    targets = targets.assign(status=[status.get(int(i), "ok") for i in targets["id"]], people=people)
    contour_frame = (
        gpd.GeoDataFrame(
            {"individual_risk": [c["individual_risk"] for c in contours]},
            geometry=[c["geometry"] for c in contours],
            crs=4490,
        )
        if contours
        else None
    )
    m = safety_distance_map(
        hazards=reach_labels(hazards),
        targets=targets,
        violations=found,
        rings=sd.required_rings(hazards),
        contours=contour_frame,
        boundaries=boundaries,
        title=f"{report.name}安全防护距离核查图",
        tiles=tiles(settings),
        asset_prefix=settings.maps.asset_prefix,
    )
    return m


def siting_map(
    conn: Connection,
    principal: Principal,
    geom: BaseGeometry,
    proposal: sd.Proposal,
    result: sd.SitingResult,
    settings: Settings,
) -> folium.Map:
    """The proposal, its required-distance rings (a proposed plant) or the rings of the hazards it conflicts
    with (a proposed target), what it conflicts with, labelled lines and the verdict."""
    named = [c for c in result.conflicts if c.existing["id"] is not None]  # not those outside scope
    h_ids = [int(c.existing["id"]) for c in named if c.existing["kind"] == "hazard"]
    h_ids += [int(u["risk_unit_id"]) for u in result.unchecked if u["risk_unit_id"] is not None]
    t_ids = [int(c.existing["id"]) for c in named if c.existing["kind"] == "protection_target"]
    hazards = store.hazards_by_id(conn, principal, sorted(set(h_ids)))
    targets = store.targets_by_id(conn, principal, sorted(set(t_ids)))
    if isinstance(proposal, sd.HazardProposal):
        me = gpd.GeoDataFrame(
            {
                "id": [0],
                "hazard_kind": [proposal.hazard_kind],
                "capacity_m3": [proposal.capacity_m3],
                "level": [proposal.level],
            },
            geometry=[geom],
            crs=4490,
        )
        rings = sd.required_rings(me)
        if len(rings):
            far = float(rings["distance_m"].max()) * result.advise_factor
            advise = gpd.GeoDataFrame(
                {
                    "hazard_id": [0],
                    "distance_m": [far],
                    "gb_classes": [[]],
                    "label_zh": [f"{far:.0f} 米：建议距离（{result.advise_factor:g} 倍）"],
                    "citation": ["seed 000 (四)"],
                    "group": ["advise"],
                },
                geometry=[sd.distance_ring(geom, far)],
                crs=4490,
            )
            rings = gpd.GeoDataFrame(
                pd.concat([rings, advise], ignore_index=True), geometry="geometry", crs=4490
            )
    else:
        rings = sd.required_rings(hazards, gb_classes=[proposal.gb_class]) if len(hazards) else None
    m = siting_check_map(
        geometry=geom,
        result=result,
        proposal_name=proposal.name,
        hazards=reach_labels(hazards) if len(hazards) else None,
        targets=targets,
        rings=rings,
        title=f"{proposal.name}选址安全防护距离核查",
        tiles=tiles(settings),
        asset_prefix=settings.maps.asset_prefix,
    )
    return m
