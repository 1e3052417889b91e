"""Gathering / Harvest — ``dilemmazoo/gathering-v0``.

Sources: Leibo et al. 2017, "Multi-agent Reinforcement Learning in Sequential Social
Dilemmas" (Gathering: apples return on a fixed timer, two beam hits tag a player out for 25
steps); Perolat et al. 2017 (Commons: density-dependent regrowth); SSD ``HARVEST_MAP`` and
regrowth table (eugenevinitsky/sequential_social_dilemma_games); google-deepmind/meltingpot
``commons_harvest``; vicgalle/llm-policies-social-dilemmas (2026). A common-pool dilemma:
apples regrow only near other apples, so harvesting a patch bare ends it for everyone.

Rules
-----
Players collect apples (+1) by stepping onto them. The orchard starts full. An empty apple
cell without a player regrows with probability ``P[min(n, 3)]`` per step, ``n`` the live
apples in its neighbourhood: SSD ``[0, 0.005, 0.02, 0.05]`` over the 3 x 3 block; Melting Pot
``[0, 0.0025, 0.005, 0.025]`` over the L2 disc of radius 2. Under ``vicgalle`` (Leibo 2017) an
eaten apple returns exactly 25 steps later instead.

Arguments (defaults)
--------------------
- ``n_agents=5`` (at most the map's 20 spawn points without overlap);
- ``rules="ssd"`` | ``"meltingpot"`` | ``"vicgalle"``; ``rule_overrides``: GridRules fields;
- ``grid_map="harvest"`` (16 x 38, 155 apple cells; ``"small_harvest"`` for tests) or ASCII;
- ``observation="rgb"`` | ``"symbolic"`` | ``"global"``; ``episode_length=None`` (1000; an
  int or ``(low, high)``); ``render_mode=None`` | ``"ansi"`` | ``"human"`` | ``"rgb_array"``.

Variants (``rules=``)
---------------------
=================  ========================  ========================  ========================
mechanic           ``ssd``                   ``meltingpot``            ``vicgalle``
=================  ========================  ========================  ========================
regrowth           density, 3 x 3 block      density, L2 radius 2      fixed 25-step timer
penalty beam       3 rays x 5, stops at      3 x 3 rays, removes       20 x 1 area, 2 hits
                   first player, -1 firer,   hit players 50 steps      remove for 25 steps,
                   -50 hit                                             no reward cost
overlap            no                        no                        yes
view               15 x 15 centred           11 x 11 (9 ahead)         16 x 21 (15 ahead)
=================  ========================  ========================  ========================

Agents, actions, observations, rewards
--------------------------------------
As in :mod:`.cleanup` without the ``clean`` action: ``Discrete(8)``, 0 forward, 1 backward,
2 step_left, 3 step_right, 4 turn_left, 5 turn_right, 6 fire, 7 stay. Observations, rewards,
deciders, fallback (``stay``) and infos are those of Cleanup; ``cleaned`` is always False and
``waste_density`` always 0.

Version history
---------------
- v0: first version.
- v0, fix before any release: under ``vicgalle`` rules the respawn timer no longer waits for the
  cell to be empty, as in the reference code (random play had collected about 5% fewer apples).
"""

from __future__ import annotations

from dilemmazoo.envs.gridworld.world import GridWorldEnv

__all__ = ["GatheringEnv"]


class GatheringEnv(GridWorldEnv):
    """Gathering / Harvest: apples regrow only near other apples (Leibo et al. 2017, Perolat et al. 2017)."""

    game = "gathering"
    default_map = "harvest"
    title = "Gathering"
    metadata = {**GridWorldEnv.metadata, "name": "gathering_v0"}

    def _rules_mechanics(self) -> list[str]:
        r = self.rule_set
        if r.regrowth == "timer":
            return [f"The orchard starts full. An eaten apple grows back on its cell {r.regrowth_delay} steps later."]
        return [
            "The orchard starts full. An empty apple cell regrows only when apples are left nearby: the more apples "
            "around it, the faster; a cell with no apple near it never regrows."
        ]
