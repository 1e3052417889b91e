"""Cleanup — ``dilemmazoo/cleanup-v0``.

Sources: Hughes et al. 2018, "Inequity aversion improves cooperation in intertemporal social
dilemmas" (the game); eugenevinitsky/sequential_social_dilemma_games (SSD, the open
implementation and map sizes); google-deepmind/meltingpot ``clean_up``;
vicgalle/llm-policies-social-dilemmas ("Cooperation and Exploitation in LLM Policy Synthesis
for Sequential Social Dilemmas", 2026). A public-goods dilemma: apples grow only while the
river is clean, cleaning earns nothing, so each player is tempted to let the others clean.

Rules
-----
Players move on a grid with an orchard and a river. Stepping onto an apple collects it (+1).
With waste density ``d`` = polluted river cells / river cells, each empty apple cell without a
player grows an apple with probability ``0 if d >= 0.4; 0.05 if d <= 0; else
0.05 * (1 - d / 0.4)`` per step. While ``d < 0.4`` a clean river cell becomes polluted (SSD:
about one per step, ``1 - 0.5**clean_cells``; vicgalle and Melting Pot: with probability 0.5,
Melting Pot only from step 50). On the standard map 56 of 119 river cells start polluted
(``d = 0.47``), so nothing grows until players clean. The clean beam removes waste; the
penalty beam punishes other players.

Arguments (defaults)
--------------------
- ``n_agents=5`` (SSD's Cleanup has 5, vicgalle's experiments 10; without overlap at most the
  map's 10 spawn points);
- ``rules="ssd"`` | ``"meltingpot"`` | ``"vicgalle"`` (table below; the synthesis preset uses
  ``"vicgalle"``); ``rule_overrides``: a dict of :class:`~.rules.GridRules` fields;
- ``grid_map="cleanup"`` (25 x 18; ``"small_cleanup"`` for tests) or an ASCII map (legend in
  :mod:`.maps`);
- ``observation="rgb"`` | ``"symbolic"`` | ``"global"``; ``episode_length=None`` (the rule
  set's, 1000; an int, or ``(low, high)`` for a random length per episode as in Melting Pot);
- ``render_mode=None`` | ``"ansi"`` | ``"human"`` | ``"rgb_array"`` (the whole map, 8 pixels
  per cell, each player in its own colour).

Variants (``rules=``)
---------------------
=====================  =====================  =====================  ==========================
mechanic               ``ssd``                ``meltingpot``         ``vicgalle``
=====================  =====================  =====================  ==========================
orchard at start       empty                  empty                  full (103 apples)
waste spawn            ~1 per step            p=0.5 after step 50    p=0.5
clean beam             3 rays x 5, first      3 x 3 rays, all        5 x 3 area, all waste,
                       waste per ray, free    waste, cooldown 2      costs 1
penalty beam           3 rays x 5, stops at   3 x 3 rays, removes    5 x 3 area, -1 firer,
                       first player, -1 firer hit players 50 steps   -50 hit, removed 25 steps
                       -50 hit                (respawn at spawn)     (stays in place)
overlap                no                     no                     yes
view (ahead/behind/    7 / 7 / 7 (15 x 15)    9 / 1 / 5 (11 x 11)    7 / 0 / 7 (8 x 15)
side)
=====================  =====================  =====================  ==========================

Agents, actions, observations, rewards
--------------------------------------
Players ``player_0 .. player_{n-1}``. Action ``Discrete(9)``: 0 forward, 1 backward,
2 step_left, 3 step_right, 4 turn_left, 5 turn_right, 6 fire, 7 stay, 8 clean (vicgalle's
numbering). Moves are egocentric. All players act simultaneously (step order and collision
rule: :mod:`.core`).

Observation ``"rgb"``: ``Box(0, 255, (h, w, 3), uint8)``, the egocentric window facing up
(palette ``core.PALETTE``: the viewer in blue, other players in red shades by their
orientation relative to the viewer, removed players grey); ``"symbolic"``: the same window as
cell codes ``Box(0, 11, (h, w), uint8)`` (``core.CODE_NAMES``); ``"global"``: ``Dict(map =
codes of the whole map with absolute orientations, position = (row, col), orientation)``, the
full state view that vicgalle's synthesized policies read.

Reward per step: +1 per apple, minus beam costs and penalties of the rule set. Every player
terminates after the episode length. Removed players are not deciders (``deciders()``); their
actions are ignored and ``idle_action`` is ``stay``; the fallback for an unparseable answer is
``stay``.

Infos (every step, scalars): ``step``, ``apples_collected`` (this step), ``fired``,
``cleaned``, ``hits_taken``, ``tagged`` (removed after this step; summed over players and
steps it gives the peace metric), ``apples_on_map``, ``waste_density``.

Language view: ``rules`` states the mechanics of the rule set; ``describe`` gives step,
position, orientation, score, pollution, the nearest apple in view and the view as text;
``action_spec`` is a :class:`~dilemmazoo.envs.base.Choice` of the action names.

Version history
---------------
- v0: first version.
"""

from __future__ import annotations

from dilemmazoo.envs.gridworld.world import GridWorldEnv

__all__ = ["CleanupEnv"]


class CleanupEnv(GridWorldEnv):
    """Cleanup: apples grow only while players clean the river (Hughes et al. 2018)."""

    game = "cleanup"
    default_map = "cleanup"
    title = "Cleanup"
    metadata = {**GridWorldEnv.metadata, "name": "cleanup_v0"}

    def _rules_mechanics(self) -> list[str]:
        r = self.rule_set
        start = "The orchard starts full." if r.orchard_full_at_start else "The orchard starts empty."
        clean = (
            f"The cleaning beam reaches {r.clean_length} cells ahead and {2 * r.clean_half_width + 1} cells wide"
            + (" and clears the first waste in each of its lines" if r.clean_first_waste_only
               else " and clears all waste in it")
            + (f"; it costs you {r.clean_cost:g} point" if r.clean_cost else "; it is free")
            + (f" and can be used every {r.clean_cooldown} steps" if r.clean_cooldown > 1 else "")
            + "."
        )
        return [
            f"{start} Apples grow back only while the river is clean enough: no apple grows while "
            f"{r.depletion_threshold:.0%} or more of the river is polluted, and they grow fastest when it is clean. "
            "Waste keeps appearing in the river while it is below that level.",
            clean,
        ]
