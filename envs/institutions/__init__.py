"""Institutions that are part of a world's rules: pure functions a world calls.

- :mod:`dilemmazoo.envs.institutions.sanctions`: peer monitoring and (graduated) costly
  punishment against a group norm (Gupta et al., arXiv 2510.14401; Ostrom 1990, principles 4-5);
- :mod:`dilemmazoo.envs.institutions.voting`: propose-then-vote by plurality (Gupta et al.;
  Ostrom 1990, principle 3), and approval voting with a seeded tie-break (CoopEval, Tewolde et
  al., arXiv 2604.15267);
- :mod:`dilemmazoo.envs.institutions.contracts`: CoopEval's budget-balanced contract transfers,
  ``transfer_i = c(a_i) - sum_{j != i} c(a_j) / (N - 1)``;
- :mod:`dilemmazoo.envs.institutions.mediation`: CoopEval's mediator, which plays ``mediator[k]``
  for the ``k`` seats that delegate to it;
- :mod:`dilemmazoo.envs.institutions.phases`: the answers those mechanisms' phases ask for
  (design a contract or a mediator, approve proposals, sign, play with "delegate").

They belong to the envs layer, so they import nothing of ours outside ``dilemmazoo.envs``; the
norms in :mod:`dilemmazoo.norms` wrap the same rules to put them on any world. The package
exports its rule modules (``from dilemmazoo.envs.institutions import contracts``) and no names
from inside them: call a rule by its module, ``contracts.transfers``, ``mediation.play``,
``voting.approval_winners``, so two institutions' helpers never clash.
"""

from . import contracts, mediation, phases, sanctions, voting

__all__ = ["contracts", "mediation", "phases", "sanctions", "voting"]
