"""ASCII maps of the grid worlds and their parser.

Legend (one character per cell):

- ``@`` wall; ``" "`` or ``.`` empty ground; ``P`` empty ground where agents spawn;
- ``A`` apple cell (an apple can grow here);
- ``H`` river cell polluted at the start, ``R`` river cell clean at the start (together: the
  cells where waste can appear, Hughes et al. 2018's "potential waste area");
- ``S`` stream: walkable water where waste never appears.

The two standard maps are written for dilemmazoo from the cell counts of the SSD maps
(eugenevinitsky/sequential_social_dilemma_games): ``CLEANUP_MAP`` is 25 x 18 with 103 apple
cells, 119 river cells of which 56 start polluted (so the initial waste density is
56/119 = 0.47, above the 0.4 depletion threshold), 12 stream cells and 10 spawn points;
``HARVEST_MAP`` is 16 x 38 with 155 apple cells in twelve diamond-shaped patches and 20 spawn
points. The layouts are our own; only the counts follow SSD. Small maps for tests and quick
runs are included, and any map in this legend can be passed as a string.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "CLEANUP_MAP",
    "GridMap",
    "HARVEST_MAP",
    "MAPS",
    "SMALL_CLEANUP_MAP",
    "SMALL_HARVEST_MAP",
    "get_map",
    "parse_map",
]

CLEANUP_MAP = """\
@@@@@@@@@@@@@@@@@@
@RRRRRH      AAAA@
@HHHHHR      AAAA@
@RRRRRR P    AAAA@
@HHHHHR      AAAA@
@RRRRR    P  AAAA@
@HHHHH       AAAA@
@RRRRR P     AAAA@
@HHHHH       AAAA@
@RRRRR   P   AAAA@
@HHHHH       AAAA@
@RRRRRSSSSSS AAAA@
@HHHHHSSSSSS AAAA@
@RRRRR      AAAAA@
@HHHHH  P   AAAAA@
@RRRRR      AAAAA@
@HHHHH    P AAAAA@
@RRRRR      AAAAA@
@HHHHH P    AAAAA@
@RRRRR      AAAAA@
@HHHHH   P  AAAAA@
@RRRRR      AAAAA@
@HHHHH  P  PAAAAA@
@RRRRR      AAAAA@
@@@@@@@@@@@@@@@@@@"""

HARVEST_MAP = """\
@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
@ P     P     P     P     P     P    @
@   A     A     A     A     A     A  @
@  AAA   AAA   AAA   AAA   AAA   AAA @
@ AAAAA AAAAA AAAAA AAAAA AAAAA AAAAA@
@  AAA   AAA   AAA   AAA   AAA   AAA @
@   A     A     A     A     A     A  @
@P     P     P     P     P     P    P@
@   A     A     A     A     A     A  @
@  AAA   AAA   AAA   AAA   AAA   AAA @
@ AAAAA AAAAA AAAAA AAAAA AAAAA AAAAA@
@  AAA   AAA   AAA   AAA   AAA   AAA @
@   A     A     A     A     A        @
@                                    @
@ P     P     P     P     P     P  P @
@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@"""

# Six river cells (three polluted), two stream cells, eight apple cells, four spawns.
SMALL_CLEANUP_MAP = """\
@@@@@@@@@
@HR P AA@
@RH  PAA@
@HS P AA@
@RS  PAA@
@@@@@@@@@"""

# Two apple patches of five cells, four spawns.
SMALL_HARVEST_MAP = """\
@@@@@@@@@@
@P  A   P@
@  AAA   @
@   A  A @
@     AAA@
@P     AP@
@@@@@@@@@@"""

_LEGEND = frozenset("@ .PAHRS")


@dataclass(frozen=True, eq=False)
class GridMap:
    """A parsed map: static layout as arrays, cells as ``(row, col)`` lists in reading order."""

    name: str
    rows: tuple[str, ...]
    wall: np.ndarray  # (H, W) bool
    apple_cells: np.ndarray  # (K, 2) int
    river_cells: np.ndarray  # (M, 2) int
    polluted_at_start: np.ndarray  # (M,) bool
    stream_cells: np.ndarray  # (S, 2) int
    spawn_cells: np.ndarray  # (P, 2) int

    @property
    def height(self) -> int:
        return len(self.rows)

    @property
    def width(self) -> int:
        return len(self.rows[0])

    @property
    def ascii(self) -> str:
        return "\n".join(self.rows)


def parse_map(text: str, name: str = "custom") -> GridMap:
    """Parse an ASCII map in the legend above.

    Rows must have equal length and the border must be walls (so that no move or beam leaves
    the map). Raises ``ValueError`` naming the problem.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("a map must be a non-empty string of rows")
    rows = tuple(line for line in text.strip("\n").split("\n"))
    width = len(rows[0])
    if any(len(row) != width for row in rows):
        raise ValueError(f"map {name!r}: all rows must have the same length, got {sorted({len(r) for r in rows})}")
    unknown = set("".join(rows)) - _LEGEND
    if unknown:
        raise ValueError(f"map {name!r}: unknown characters {sorted(unknown)}; allowed: {sorted(_LEGEND)}")
    grid = np.array([list(row) for row in rows])
    border = np.concatenate([grid[0], grid[-1], grid[:, 0], grid[:, -1]])
    if len(rows) < 3 or width < 3 or not np.all(border == "@"):
        raise ValueError(f"map {name!r}: the border must be walls ('@')")

    def cells(*chars: str) -> np.ndarray:
        return np.argwhere(np.isin(grid, list(chars))).astype(np.int64).reshape(-1, 2)

    river = cells("H", "R")
    spawn = cells("P")
    if len(spawn) == 0:
        raise ValueError(f"map {name!r}: needs at least one spawn point ('P')")
    return GridMap(
        name=name,
        rows=rows,
        wall=grid == "@",
        apple_cells=cells("A"),
        river_cells=river,
        polluted_at_start=grid[river[:, 0], river[:, 1]] == "H",
        stream_cells=cells("S"),
        spawn_cells=spawn,
    )


MAPS: dict[str, str] = {
    "cleanup": CLEANUP_MAP,
    "harvest": HARVEST_MAP,
    "small_cleanup": SMALL_CLEANUP_MAP,
    "small_harvest": SMALL_HARVEST_MAP,
}


def get_map(name_or_ascii: str | GridMap) -> GridMap:
    """A map by name (``MAPS``), an ASCII map string (it contains a newline), or a GridMap."""
    if isinstance(name_or_ascii, GridMap):
        return name_or_ascii
    if isinstance(name_or_ascii, str) and "\n" in name_or_ascii.strip("\n"):
        return parse_map(name_or_ascii)
    if name_or_ascii in MAPS:
        return parse_map(MAPS[name_or_ascii], name=name_or_ascii)
    raise ValueError(f"map must be one of {sorted(MAPS)} or an ASCII map with several rows, got {name_or_ascii!r}")
