"""League ratings and the leaderboard: pure functions from match records to a ranked table.

A league (:mod:`dilemmazoo.experiments.league` plays it) is a sequence of *rounds*: one round is
a round robin of the entrants in one world under one seed. This module turns its match records
into ratings and a leaderboard page.

Round scores
------------
An entrant's score in a round is the sum of its match scores against every other entrant in
that round (its mean return per seat in each match), the ``total`` of Axelrod's tournaments
(Axelrod 1980; ``axelrod.ResultSet.scores``, Knight et al. 2016). The round is rated as one
free-for-all game ranked by those totals, not as a set of head-to-head results: in a social
dilemma the defector never loses a single match (its payoff is at least its partner's in every
prisoner's-dilemma pairing) yet can end last in the round robin, so head-to-head wins would rate
exploitation, while the round-robin total rates how well an agent does across the population.

Ratings
-------
Fitted with OpenSkill (``openskill`` on PyPI, 6.x; Weng & Lin 2011, "A Bayesian Approximation
Method for Online Ranking", JMLR 12): each agent's skill is a Gaussian N(mu, sigma^2), prior
mu = 25, sigma = 25/3; each round updates the participants' (mu, sigma) from their ranking with
the Plackett-Luce model (Weng & Lin's Algorithm 4) by default. The leaderboard sorts by the
conservative *ordinal* mu - 3 sigma (TrueSkill's leaderboard convention: an agent with few
rounds is not ranked above one whose rating is known as well but with a lower bound that is
higher). Why OpenSkill rather than TrueSkill or Elo: it is maintained (``trueskill`` 0.4.5 dates
from 2016), MIT-licensed (TrueSkill is patented by Microsoft and its trademark licensed), rates
multi-player rankings in one update (Elo rates pairs), reports its uncertainty (sigma; Elo has
none), and is fast and pure Python. Updates are sequential, so the round order fixes the result;
the league plays and rates rounds in a fixed order, so the same league gives the same ratings.

Functions
---------
- :func:`round_scores` (match records -> one row per agent per round, with its rank),
- :func:`fit_ratings` (rounds -> mu, sigma, ordinal per agent),
- :func:`leaderboard` (ratings beside each world's mean match score and the fallback counts),
- :func:`leaderboard_page` (a self-contained HTML page).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd

from .html import format_number

__all__ = ["MATCH_COLUMNS", "RATING_MODELS", "fit_ratings", "leaderboard", "leaderboard_page", "round_scores"]

#: columns of a league's match records (one row per match)
MATCH_COLUMNS = ("world", "round", "seed", "match", "agent_a", "agent_b", "score_a", "score_b",
                 "fallbacks_a", "fallbacks_b", "decisions_a", "decisions_b")
#: the OpenSkill models :func:`fit_ratings` accepts (class names in ``openskill.models``)
RATING_MODELS = ("PlackettLuce", "BradleyTerryFull", "BradleyTerryPart", "ThurstoneMostellerFull",
                 "ThurstoneMostellerPart")
INSTALL_HINT = "league ratings need openskill: pip install 'openskill>=6.2,<7'"


def _check_matches(matches: pd.DataFrame) -> None:
    missing = [c for c in MATCH_COLUMNS if c not in matches.columns]
    if missing:
        raise ValueError(f"matches lacks the column(s) {missing}; expected {list(MATCH_COLUMNS)}")


def round_scores(matches: pd.DataFrame) -> pd.DataFrame:
    """One row per agent per round: ``world``, ``round``, ``agent``, ``score`` (the sum of its
    match scores in the round: the round robin's total), ``matches`` and ``rank`` (1 = best;
    ties share the better rank). Rows keep the order in which the rounds were played, agents in
    order of first appearance."""
    _check_matches(matches)
    rows: list[dict[str, Any]] = []
    for (world, round_index), played in matches.groupby(["world", "round"], sort=False):
        totals: dict[str, float] = {}
        counts: dict[str, int] = {}
        for match in played.itertuples(index=False):
            for agent, score in ((match.agent_a, match.score_a), (match.agent_b, match.score_b)):
                totals[agent] = totals.get(agent, 0.0) + float(score)
                counts[agent] = counts.get(agent, 0) + 1
        ranks = pd.Series(totals).rank(method="min", ascending=False).astype(int)
        rows.extend({"world": world, "round": int(round_index), "agent": agent, "score": total,
                     "matches": counts[agent], "rank": int(ranks[agent])} for agent, total in totals.items())
    return pd.DataFrame(rows, columns=["world", "round", "agent", "score", "matches", "rank"])


def _model(name: str, options: Mapping[str, Any]):
    try:
        from openskill import models
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(INSTALL_HINT) from error
    if name not in RATING_MODELS:
        raise ValueError(f"unknown rating model {name!r}; known: {', '.join(RATING_MODELS)}")
    try:
        return getattr(models, name)(**options)
    except TypeError as error:
        raise ValueError(f"bad rating model options {dict(options)}: {error}") from None


def fit_ratings(rounds: pd.DataFrame, agents: Sequence[str] | None = None, *, model: str = "PlackettLuce",
                z: float = 3.0, **model_options: Any) -> pd.DataFrame:
    """Ratings from :func:`round_scores` rows, one rating update per round in row order.

    Every round with two or more agents is one game ranked by ``score`` (equal scores tie).
    ``agents`` fixes the output order (default: order of first appearance); an agent that
    played no round keeps the prior. ``model`` is an OpenSkill model (:data:`RATING_MODELS`),
    ``model_options`` its arguments (``mu``, ``sigma``, ``beta``, ``tau``, ...). Returns
    ``agent``, ``mu``, ``sigma``, ``ordinal`` (mu - z sigma) and ``rounds`` (rounds rated).
    """
    if not math.isfinite(z) or z < 0:
        raise ValueError(f"z must be a finite number >= 0, got {z!r}")
    rater = _model(model, model_options)
    names = list(dict.fromkeys(list(agents or []) + list(rounds["agent"])))
    ratings = {name: rater.rating(name=name) for name in names}
    rated = dict.fromkeys(names, 0)
    for _, game in rounds.groupby(["world", "round"], sort=False):
        if len(game) < 2:
            continue
        players = list(game["agent"])
        if len(set(players)) != len(players):
            raise ValueError(f"an agent appears twice in one round: {players}")
        updated = rater.rate([[ratings[p]] for p in players], scores=[float(s) for s in game["score"]])
        for player, (rating,) in zip(players, updated):
            ratings[player] = rating
            rated[player] += 1
    return pd.DataFrame(
        [{"agent": name, "mu": float(ratings[name].mu), "sigma": float(ratings[name].sigma),
          "ordinal": float(ratings[name].mu - z * ratings[name].sigma), "rounds": rated[name]} for name in names],
        columns=["agent", "mu", "sigma", "ordinal", "rounds"],
    )


def leaderboard(ratings: pd.DataFrame, matches: pd.DataFrame) -> pd.DataFrame:
    """The ranked table: ``rank`` (by ordinal, then mu; ties share the better rank), ``agent``,
    ``mu``, ``sigma``, ``ordinal``, ``rounds``, ``matches``, one column per world with the
    agent's mean score per match there (NaN where it did not play), ``decisions`` and
    ``fallbacks`` (its seats' decisions and the fallbacks among them, over all matches)."""
    _check_matches(matches)
    per_side = pd.concat([
        matches.rename(columns={f"agent_{s}": "agent", f"score_{s}": "score", f"fallbacks_{s}": "fallbacks",
                                f"decisions_{s}": "decisions"})[["world", "agent", "score", "fallbacks", "decisions"]]
        for s in ("a", "b")
    ], ignore_index=True)
    worlds = list(dict.fromkeys(matches["world"]))
    table = ratings.copy()
    grouped = per_side.groupby("agent")
    table["matches"] = [int(grouped.size().get(a, 0)) for a in table["agent"]]
    means = per_side.groupby(["agent", "world"])["score"].mean()
    for world in worlds:
        table[world] = [float(means.get((agent, world), np.nan)) for agent in table["agent"]]
    table["decisions"] = [int(grouped["decisions"].sum().get(a, 0)) for a in table["agent"]]
    table["fallbacks"] = [int(grouped["fallbacks"].sum().get(a, 0)) for a in table["agent"]]
    table = table.sort_values(["ordinal", "mu"], ascending=False, kind="stable").reset_index(drop=True)
    keys = list(zip(table["ordinal"].round(9), table["mu"].round(9)))
    table.insert(0, "rank", [1 + sum(other > key for other in keys) for key in keys])
    return table


_PAGE = """{% extends "_page.html" %}
{% block generator %}dilemmazoo.analysis.league{% endblock %}
{% block body %}
<p class="lead">{{ summary }}</p>
<h2 id="leaderboard">Leaderboard</h2>
<p class="muted">Sorted by the conservative rating mu − {{ z|num }}σ (OpenSkill {{ model }}). Each round is a round robin in
one world under one seed, rated as one ranking of the agents by their round-robin totals. World columns: mean score per
match (–: the agent has no strategy there). Fallbacks: decisions a language agent failed to answer validly, out of its
decisions.</p>
<table>
  <tr>{% for column in columns %}<th>{{ column }}</th>{% endfor %}</tr>
  {% for row in rows %}
  <tr>{% for value in row %}{% if value is string %}<td>{{ value }}</td>{% else %}<td class="num">{{ value|num }}</td>{% endif %}{% endfor %}</tr>
  {% endfor %}
</table>
<h2 id="worlds">Worlds</h2>
<ul>
{% for world in worlds %}<li><strong>{{ world.name }}</strong>: {{ world.description }}</li>
{% endfor %}
</ul>
{% if notes %}
<h2 id="notes">Notes</h2>
<ul>{% for note in notes %}<li>{{ note }}</li>{% endfor %}</ul>
{% endif %}
<h2 id="rounds">Rounds</h2>
<table>
  <tr><th>world</th><th>round</th>{% for agent in agents %}<th>{{ agent }}</th>{% endfor %}</tr>
  {% for row in rounds %}
  <tr><td>{{ row.world }}</td><td class="num">{{ row.round }}</td>{% for value in row["values"] %}<td class="num">{{ value|num }}</td>{% endfor %}</tr>
  {% endfor %}
</table>
<h2 id="settings">Settings</h2>
<pre>{{ settings }}</pre>
{% endblock %}
"""


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def leaderboard_page(table: pd.DataFrame, rounds: pd.DataFrame, *, title: str = "League",
                     worlds: Mapping[str, str] | None = None, settings: str = "", notes: Sequence[str] = (),
                     model: str = "PlackettLuce", z: float = 3.0) -> str:
    """The leaderboard as one self-contained HTML page (the report's style, nothing fetched).

    ``table`` is :func:`leaderboard`'s, ``rounds`` :func:`round_scores`'; ``worlds`` maps each
    world name to a one-line description; ``settings`` (shown verbatim) says how it was played.
    """
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
                                     autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
                                     lstrip_blocks=True)
    environment.filters["num"] = format_number
    agents = list(table["agent"])
    by_round = []
    for (world, round_index), played in rounds.groupby(["world", "round"], sort=False):
        scores = dict(zip(played["agent"], played["score"]))
        by_round.append({"world": world, "round": int(round_index),
                         "values": [_plain(scores.get(agent)) for agent in agents]})
    best = table.iloc[0]["agent"] if len(table) else "–"
    summary = (f"{len(agents)} agents, {len(by_round)} rounds in {rounds['world'].nunique() if len(rounds) else 0} "
               f"world(s); first: {best}.")
    return environment.from_string(_PAGE).render(
        title=title, summary=summary, columns=[str(c) for c in table.columns],
        rows=[[_plain(v) for v in row] for row in table.itertuples(index=False)],
        worlds=[{"name": name, "description": text} for name, text in (worlds or {}).items()],
        rounds=by_round, agents=agents, settings=settings, notes=list(notes), model=model, z=z,
    )
