"""Random mass-action networks as scalar terms (benchmarks and tests of irregular systems).

A network of ``n_species`` species and ``n_reactions`` reactions, each with one or two
reactants (``order=2``: exactly two, "bimolecular") and one or two products, all chosen
uniformly at random.  Reaction ``r`` has the flux ``k_r * prod(reactants)`` and adds its
net stoichiometry times the flux to each species' right-hand side.  The rate constants
``k_r`` are numbers or, with ``params_as_symbols=True``, one parameter symbol per reaction
(the usual set-up of parameter estimation).

Examples
--------
>>> import numpy as np
>>> from pdeflow.symbolic import evaluate
>>> net = random_mass_action(4, 6, seed=0, params_as_symbols=True)
>>> len(net.exprs), len(net.states), len(net.params), net.rates.shape
(4, 4, 6, (6,))
>>> subs = {**dict(zip(net.states, np.ones(4))), **dict(zip(net.params, net.rates))}
>>> bool(np.isclose(sum(evaluate(net.exprs, subs)), net.total_rate(np.ones(4))))
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pdeflow.symbolic.terms import ZERO, Term, add, mul, num, sym


@dataclass(frozen=True)
class MassActionNetwork:
    """A random mass-action network (see :func:`random_mass_action`).

    Attributes
    ----------
    exprs : list of Term
        The right-hand side, one term per species.
    states : list of Sym
        ``y0, y1, ...``.
    params : list of Sym
        ``k0, k1, ...`` (empty with numeric rates).
    rates : ndarray, shape ``(n_reactions,)``
        The rate constants (the values of ``params``).
    reactants, products : list of tuple of int
        Species indices per reaction.
    """

    exprs: list
    states: list
    params: list
    rates: np.ndarray
    reactants: list
    products: list

    def total_rate(self, y: np.ndarray) -> float:
        """Sum over species of the right-hand side at ``y`` (shape ``(n_species,)``).

        Returns
        -------
        float
            ``sum_r k_r * prod(y[reactants_r]) * (n_products_r - n_reactants_r)``.
        """
        y = np.asarray(y, dtype=float)
        return float(sum(
            k * np.prod(y[list(re)]) * (len(pr) - len(re))
            for k, re, pr in zip(self.rates, self.reactants, self.products, strict=True)
        ))


def random_mass_action(
    n_species: int,
    n_reactions: int,
    seed: int = 0,
    params_as_symbols: bool = False,
    order: int | None = None,
) -> MassActionNetwork:
    """A random mass-action network as scalar terms.

    Parameters
    ----------
    n_species, n_reactions : int
        Sizes.
    seed : int
        Seed of :func:`numpy.random.default_rng`.
    params_as_symbols : bool
        One parameter symbol ``k<r>`` per reaction instead of its numeric rate.
    order : int, optional
        Reactants per reaction (``2``: bimolecular); by default one or two at random.

    Returns
    -------
    MassActionNetwork

    Examples
    --------
    >>> net = random_mass_action(3, 2, seed=1, order=2)
    >>> [len(r) for r in net.reactants]
    [2, 2]
    """
    rng = np.random.default_rng(seed)
    y = [sym(f"y{i}") for i in range(n_species)]
    ks = [sym(f"k{r}") for r in range(n_reactions)] if params_as_symbols else []
    rates = rng.uniform(0.1, 2.0, n_reactions)
    rows: list[list[Term]] = [[] for _ in range(n_species)]
    reactants, products = [], []
    for r in range(n_reactions):
        n_re = order if order is not None else int(rng.integers(1, 3))
        re = tuple(int(j) for j in rng.choice(n_species, n_re, replace=False))
        pr = tuple(int(j) for j in rng.choice(n_species, int(rng.integers(1, 3)), replace=False))
        reactants.append(re)
        products.append(pr)
        flux = mul(ks[r] if ks else num(float(rates[r])), *(y[j] for j in re))
        for j, v in _net(re, pr).items():
            rows[j].append(flux if v == 1 else mul(num(v), flux))
    exprs = [add(*ts) if ts else ZERO for ts in rows]
    return MassActionNetwork(exprs, y, ks, rates, reactants, products)


def _net(reactants: tuple, products: tuple) -> dict[int, int]:
    """Nonzero net stoichiometry ``{species: products - reactants}``."""
    net: dict[int, int] = {}
    for j in reactants:
        net[j] = net.get(j, 0) - 1
    for j in products:
        net[j] = net.get(j, 0) + 1
    return {j: v for j, v in net.items() if v}


__all__ = ["MassActionNetwork", "random_mass_action"]
