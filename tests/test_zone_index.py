"""ZoneIndex against shapely itself: ``contains`` is shapely's contains for the given zone (its
boundary and holes outside), ``hits`` every zone a point intersects, as testing each point against
each zone would find; the coarse grid of bounding boxes must lose none."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import MultiPolygon, Polygon, box

from auditor.analyzers.control.zone_index import (
    CELLS_PER_ZONE,
    MAX_CELLS,
    NO_ZONE,
    ZoneIndex,
)

SQUARE = box(0, 0, 10, 10)
HOLED = Polygon([(20, 0), (30, 0), (30, 10), (20, 10)], [[(23, 3), (27, 3), (27, 7), (23, 7)]])
TRIANGLE = Polygon([(5, 5), (15, 5), (5, 15)])  # overlaps SQUARE
ISLANDS = MultiPolygon([box(40, 0, 42, 2), box(48, 8, 50, 10)])
ZONES = np.array([SQUARE, HOLED, TRIANGLE, ISLANDS, Polygon(), None], dtype=object)


def brute_force_hits(geoms: np.ndarray, x: np.ndarray, y: np.ndarray) -> set[tuple[int, int]]:
    """Every (point, zone) pair that intersects, each point tested against each zone."""
    hit = shapely.intersects_xy(geoms[None, :], x[:, None], y[:, None])
    return set(zip(*(a.tolist() for a in np.nonzero(hit))))


def hit_pairs(index: ZoneIndex, x: np.ndarray, y: np.ndarray) -> set[tuple[int, int]]:
    point, zone = index.hits(x, y)
    assert (np.diff(point) >= 0).all()  # ordered by point
    pairs = set(zip(point.tolist(), zone.tolist()))
    assert len(pairs) == len(point)  # no pair twice
    return pairs


def shapely_contains(geoms: np.ndarray, zone: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """shapely's contains on point geometries, zone by zone (NO_ZONE: false)."""
    chosen = np.where(zone == NO_ZONE, None, geoms[np.maximum(zone, 0)])
    return shapely.contains(chosen, shapely.points(x, y)).astype(bool)


# point: where it lies
CASES = {
    (5.0, 5.0): "inside the square, on the triangle's corner",
    (0.0, 5.0): "on the square's edge",
    (10.0, 10.0): "on the square's corner: its box's maximum",
    (25.0, 5.0): "in the hole",
    (23.0, 5.0): "on the hole's edge",
    (21.0, 1.0): "inside the holed zone",
    (30.0, 10.0): "on the holed zone's far corner: the map's extent",
    (8.0, 8.0): "inside the square and the triangle",
    (12.0, 6.0): "inside the triangle only",
    (10.0, 10.0001): "just above the square, inside the triangle's box but outside it",
    (45.0, 5.0): "between the islands, inside their box",
    (49.0, 9.0): "on an island",
    (50.0, 10.0): "on an island's far corner",
    (-1.0, 5.0): "left of every zone",
    (60.0, 60.0): "beyond the map",
    (float("nan"), 5.0): "no position",
}
X = np.array([p[0] for p in CASES])
Y = np.array([p[1] for p in CASES])


def test_contains_is_shapelys_contains_for_the_given_zone():
    index = ZoneIndex(ZONES)
    for zone in range(len(ZONES)):
        given_zone = np.full(len(X), zone)
        assert (index.contains(given_zone, X, Y) == shapely_contains(ZONES, given_zone, X, Y)).all(), ZONES[zone]
    inside = dict(zip(CASES.values(), index.contains(np.zeros(len(X), dtype=np.int64), X, Y)))
    assert inside["inside the square, on the triangle's corner"]
    assert not inside["on the square's edge"] and not inside["on the square's corner: its box's maximum"]
    holed = dict(zip(CASES.values(), index.contains(np.ones(len(X), dtype=np.int64), X, Y)))
    assert holed["inside the holed zone"] and not holed["in the hole"] and not holed["on the hole's edge"]


def test_contains_without_a_zone_is_false():
    index = ZoneIndex(ZONES)
    zone = np.where(np.arange(len(X)) % 2 == 0, NO_ZONE, 0)
    result = index.contains(zone, X, Y)
    assert not result[zone == NO_ZONE].any()
    assert (result == shapely_contains(ZONES, zone, X, Y)).all()


def test_hits_finds_every_zone_a_point_touches_boundaries_included():
    index = ZoneIndex(ZONES)
    pairs = hit_pairs(index, X, Y)
    assert pairs == brute_force_hits(ZONES, X, Y)
    where = list(CASES.values())
    touched = {where[p]: set() for p in range(len(X))}
    for p, z in pairs:
        touched[where[p]].add(z)
    assert touched["inside the square and the triangle"] == {0, 2}
    assert touched["on the square's corner: its box's maximum"] == {0, 2}
    assert touched["in the hole"] == set() and touched["on the hole's edge"] == {1}
    assert touched["on the holed zone's far corner: the map's extent"] == {1}
    assert touched["between the islands, inside their box"] == set() and touched["on an island's far corner"] == {3}
    assert touched["beyond the map"] == touched["no position"] == touched["left of every zone"] == set()


def test_empty_and_missing_zones_reach_no_cell_and_are_never_hit():
    index = ZoneIndex(ZONES)
    assert not np.isin(index.zones_by_cell, [4, 5]).any()
    assert ZoneIndex(np.array([Polygon(), None], dtype=object)).hits(X, Y)[0].size == 0


def test_far_apart_small_zones_cap_the_grid_and_lose_no_point():
    """A zone of a metre beside one 100 km away would make billions of cells: the cell grows."""
    tiny = [box(121.47 + i * 1e-5, 31.23, 121.47 + (i + 1) * 1e-5, 31.23 + 1e-5) for i in range(3)]
    geoms = np.array([*tiny, box(122.47, 32.23, 122.48, 32.24)], dtype=object)
    index = ZoneIndex(geoms)
    assert index.size > 1e-5 / CELLS_PER_ZONE and index.shape.prod() <= 1.01 * MAX_CELLS
    rng = np.random.default_rng(1)
    corners = shapely.get_coordinates(shapely.boundary(geoms))  # every corner: on a box's edge exactly
    x = np.concatenate([corners[:, 0], 121.47 + 3e-5 * rng.random(500), 122.47 + 0.01 * rng.random(500)])
    y = np.concatenate([corners[:, 1], 31.23 + 1e-5 * rng.random(500), 32.23 + 0.01 * rng.random(500)])
    assert hit_pairs(index, x, y) == brute_force_hits(geoms, x, y)


# --- property: the index agrees with testing every point against every zone -----------------

def coordinate(offset: float, scale: float):
    """Half-units on a small grid, so points fall on edges and corners often; shifted and scaled
    like longitudes and latitudes."""
    return st.integers(-50, 50).map(lambda v: offset + scale * v / 2)


@st.composite
def zone_sets(draw) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    offset, scale = draw(st.sampled_from([(0.0, 1.0), (121.47, 1e-4), (-73.98, 0.37)]))

    def at(v: int) -> float:  # grid unit → coordinate
        return offset + scale * v
    geoms = []
    for _ in range(draw(st.integers(1, 6))):
        x0, y0 = draw(st.integers(-20, 15)), draw(st.integers(-20, 15))
        w, h = draw(st.integers(1, 10)), draw(st.integers(1, 10))
        kind = draw(st.sampled_from(["box", "holed", "triangle"]))
        shell = [(at(x0), at(y0)), (at(x0 + w), at(y0)), (at(x0 + w), at(y0 + h)), (at(x0), at(y0 + h))]
        if kind == "triangle":
            geoms.append(Polygon(shell[:3]))
        elif kind == "holed" and w >= 3 and h >= 3:
            hole = [(at(x0 + 1), at(y0 + 1)), (at(x0 + w - 1), at(y0 + 1)), (at(x0 + w - 1), at(y0 + h - 1)),
                    (at(x0 + 1), at(y0 + h - 1))]
            geoms.append(Polygon(shell, [hole]))
        else:
            geoms.append(Polygon(shell))
    geoms = np.array(geoms, dtype=object)
    points = draw(st.lists(st.tuples(coordinate(offset, scale), coordinate(offset, scale)), min_size=1, max_size=60))
    corners = shapely.get_coordinates(shapely.boundary(geoms))
    x = np.concatenate([[p[0] for p in points], corners[:, 0]])
    y = np.concatenate([[p[1] for p in points], corners[:, 1]])
    return geoms, x, y


@settings(max_examples=200, deadline=None)
@given(zone_sets(), st.data())
def test_index_agrees_with_brute_force_shapely(zones, data):
    geoms, x, y = zones
    index = ZoneIndex(geoms)
    assert hit_pairs(index, x, y) == brute_force_hits(geoms, x, y)
    zone = np.array(data.draw(st.lists(st.integers(NO_ZONE, len(geoms) - 1), min_size=len(x), max_size=len(x))))
    expected = shapely.contains_xy(np.where(zone == NO_ZONE, None, geoms[np.maximum(zone, 0)]), x, y)
    assert (index.contains(zone, x, y) == expected).all()


@pytest.mark.parametrize("zone", [0, 1, 2, 3])
def test_contains_agrees_with_hits_inside_a_zone(zone):
    """A point a zone contains is one of that zone's hits (the converse fails only on boundaries)."""
    index = ZoneIndex(ZONES)
    rng = np.random.default_rng(zone)
    x, y = rng.uniform(-2, 52, 2000), rng.uniform(-2, 17, 2000)
    inside = index.contains(np.full(len(x), zone), x, y)
    point, hit_zone = index.hits(x, y)
    assert set(np.flatnonzero(inside)) <= set(point[hit_zone == zone].tolist())
    assert inside.any()
