"""Institutions that are part of a world's rules: pure functions a world calls.

- :mod:`dilemmazoo.envs.institutions.sanctions`: peer monitoring and (graduated) costly
  punishment against a group norm (Gupta et al., arXiv 2510.14401; Ostrom 1990, principles 4-5);
- :mod:`dilemmazoo.envs.institutions.voting`: propose-then-vote by plurality (Gupta et al.;
  Ostrom 1990, principle 3).

They belong to the envs layer, so they import nothing of ours outside ``dilemmazoo.envs``; the
norms in :mod:`dilemmazoo.norms.sanctions` and :mod:`dilemmazoo.norms.voting` wrap the same rules
to put them on any world. Import the rule modules themselves; this package re-exports nothing.
"""
