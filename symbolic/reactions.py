"""BioNetGen reaction networks (``.net`` files) as symbolic mass-action ODEs.

A ``.net`` file, as written by BioNetGen's ``generate_network``, holds the
expanded network in ``begin``/``end`` blocks:

* ``parameters``: ``index name value`` where ``value`` is a number or an
  expression of earlier parameters (``c*p19``, ``ln(2)/120``);
* ``functions``: ``index name() expression`` of parameters, observables,
  ``time()`` and earlier functions (functional rate laws); ``index name(x, y)
  expression`` defines a function of arguments (BioNetGen's local functions);
* ``species``: ``index name initial_amount`` (a number, parameter or expression;
  a ``$`` anywhere in the name, as in ``$A()`` or ``@EC::$Source()``, marks a fixed
  species whose amount never changes);
* ``reactions``: ``index reactants products rate #label`` with comma-separated
  1-based species indices, ``0`` meaning none;
* ``groups`` (observables): ``index name entries`` with entries ``i`` or
  ``w*i`` (``w`` times species ``i``).

Outside the blocks only the header directives ``version("...")``,
``substanceUnits("...")`` and ``setOption("name", "value")`` may appear (kept in
:attr:`ReactionNetwork.directives`).

A reaction is mass action (its flux is the rate expression times the product of
its reactants' amounts; a repeated reactant multiplies twice) unless its rate is
one of BioNetGen's rate laws ``Sat``, ``MM`` or ``Hill`` (see
:meth:`Reaction.flux_term`).  A rate naming a function uses that function's value
as the rate constant, as BioNetGen does.  The statistical factors are already part
of the rate expressions in a ``.net`` file; none are added here.

Expressions are parsed with :mod:`ast`: numbers, known names, ``+ - * / **``
(BioNetGen's ``^`` is read as ``**``), unary signs, comparisons, ``&&``, ``||``,
``!``, ``if(c, a, b)``, ``min``/``max``/``sum``/``avg`` of any number of arguments
and the one-argument functions ``exp``, ``ln``/``log`` (natural), ``log10``,
``log2``, ``sqrt``, ``abs`` and the trigonometric and hyperbolic ones are accepted;
nothing is passed to ``eval``.  Problems raise :class:`pdeflow.errors.DataError`
naming the file and line.

Indices in this module's data (``Reaction.reactants``, observable entries) are
0-based positions in :attr:`ReactionNetwork.species`; state symbols are named
after the 1-based BioNetGen index (``s1`` is species 1).

Examples
--------
>>> from pdeflow.symbolic.reactions import parse_bngl_net
>>> net = parse_bngl_net('''
... begin parameters
...     1 k 2.0
...     2 k2 k/4
... end parameters
... begin species
...     1 A() 10
...     2 B() 0
... end species
... begin reactions
...     1 1,1 2 k2 #dimerize
... end reactions
... begin groups
...     1 Atot 1,2*2
... end groups
... ''')
>>> net.rhs_terms()
[-s1**2, 0.5*s1**2]
>>> net.rhs_numpy(0.0, net.y0)
array([-100.,   50.])
"""

from __future__ import annotations

import ast
import keyword
import math
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from types import MappingProxyType

import numpy as np
import scipy.sparse as sp

from pdeflow.errors import DataError
from pdeflow.symbolic.evaluate import evaluate, substitute
from pdeflow.symbolic.functions import (
    abs_,
    and_,
    cos,
    cosh,
    eq,
    exp,
    ifelse,
    le,
    log,
    lt,
    maximum,
    minimum,
    ne,
    not_,
    or_,
    sin,
    sinh,
    sqrt,
    tan,
    tanh,
)
from pdeflow.symbolic.terms import ZERO, Num, Sym, Term, add, mul, num, power, sym

__all__ = [
    "Species",
    "Reaction",
    "ReactionNetwork",
    "load_bngl_net",
    "parse_bngl_net",
    "load_gdat",
]


# Records ------------------------------------------------------------------
@dataclass(frozen=True)
class Species:
    """One species of a network.

    Attributes
    ----------
    name : str
        BioNetGen's species string, e.g. ``S(a~0,c~R)`` (without a leading ``$``).
    initial : float
        Initial amount.
    initial_expr : str
        The initial amount as written in the file (a number, parameter or expression).
    fixed : bool
        ``True`` for a ``$``-marked species, whose amount stays constant.
    """

    name: str
    initial: float
    initial_expr: str
    fixed: bool = False


@dataclass(frozen=True)
class Reaction:
    """One mass-action reaction.

    Attributes
    ----------
    reactants, products : tuple of int
        0-based species indices; a species appears once per copy (``2A`` is ``(a, a)``).
    rate : Term
        The rate constant: a term of parameter symbols (``sym(name)``) and numbers,
        and, for a functional rate, of observable symbols (``sym(observable_name)``).
    rate_expr : str
        The rate as written in the file.
    label : str
        The comment after ``#`` (BioNetGen's rule name), or ``""``.
    law : {"Ele", "Sat", "MM", "Hill"}
        BioNetGen's rate law (``Ele``: mass action); see :meth:`flux_term`.
    law_params : tuple of Term
        The rate law's constants after the first (``Sat``: the ``K_i``; ``MM``: ``Km``;
        ``Hill``: ``K, n``), as terms like ``rate``.
    """

    reactants: tuple[int, ...]
    products: tuple[int, ...]
    rate: Term
    rate_expr: str
    label: str = ""
    law: str = "Ele"
    law_params: tuple[Term, ...] = ()

    def flux_term(self, x: tuple[Term, ...], params: tuple[Term, ...] | None = None,
                  rate: Term | None = None) -> Term:
        """The reaction's flux as a term of the state symbols ``x`` (BioNetGen's rate laws).

        ``rate`` and ``params`` replace :attr:`rate` and :attr:`law_params` (e.g. after
        substituting parameter values).  With ``k = rate``, ``r_i`` the reactants' amounts:

        * ``"Ele"`` (mass action): ``k * r_1 * ... * r_n``;
        * ``"Sat"`` (``Sat k K_1 .. K_m``): ``k * prod_{i<=m} r_i/(K_i + r_i) * prod_{i>m} r_i``,
          and just ``k`` (zeroth order) when no ``K`` is given;
        * ``"MM"`` (``MM kcat Km``): ``kcat * E * S/(Km + S)`` with ``E`` the sum of the
          other reactants and ``S`` the free substrate of the quasi-steady state,
          ``S = (b + sqrt(b^2 + 4 Km S_t))/2``, ``b = S_t - Km - E``, ``S_t = r_1``;
        * ``"Hill"`` (``Hill k K n``): ``k * r_1^n/(K^n + r_1^n) * r_2 * ... * r_n``.

        These are the formulas of BioNetGen's ``run_network`` (``Network3/src/network.cpp``).
        """
        k = self.rate if rate is None else rate
        ps = self.law_params if params is None else params
        rs = [x[j] for j in self.reactants]
        if self.law == "Ele":
            return mul(k, *rs)
        if self.law == "Sat":
            if not ps:
                return k
            sat = [r / add(K, r) for K, r in zip(ps, rs, strict=False)]
            return mul(k, *sat, *rs[len(ps):])
        if self.law == "MM":
            (km,) = ps
            st, e = rs[0], add(*rs[1:]) if len(rs) > 1 else ZERO
            b = st - km - e
            s = num(0.5) * add(b, sqrt(add(power(b, num(2.0)), num(4.0) * st * km)))
            return mul(k, e, s / add(km, s))
        # Hill
        big_k, n_h = ps
        xn = power(rs[0], n_h)
        return mul(k, xn / add(power(big_k, n_h), xn), *rs[1:])


# Safe expressions ---------------------------------------------------------
class _Bad(Exception):
    """A problem in one line; the parser adds the file and line number."""


def _log10(a):
    return log(a) / log(num(10.0))


def _log2(a):
    return log(a) / log(num(2.0))


_FUNCS = {  # one argument
    "exp": exp,
    "ln": log,
    "log": log,
    "log10": _log10,
    "log2": _log2,
    "sqrt": sqrt,
    "abs": abs_,
    "sin": sin,
    "cos": cos,
    "tan": tan,
    "sinh": sinh,
    "cosh": cosh,
    "tanh": tanh,
}
_VARIADIC = {  # one or more arguments (muParser's min, max, sum, avg)
    "min": lambda *a: _fold(minimum, a),
    "max": lambda *a: _fold(maximum, a),
    "sum": lambda *a: add(*a),
    "avg": lambda *a: add(*a) / num(float(len(a))),
}
_CONSTS = {"_pi": math.pi, "_e": math.e}
_NAME = re.compile(r"[A-Za-z_]\w*\Z")
_IF = "__bng_if"  # BioNetGen's if(cond, a, b): 'if' is a Python keyword


def _fold(f, args):
    out = args[0]
    for a in args[1:]:
        out = f(out, a)
    return out


def _compare(op, a, b):
    match op:
        case ast.Lt():
            return lt(a, b)
        case ast.LtE():
            return le(a, b)
        case ast.Gt():
            return lt(b, a)
        case ast.GtE():
            return le(b, a)
        case ast.Eq():
            return eq(a, b)
        case ast.NotEq():
            return ne(a, b)
    raise _Bad(f"unsupported comparison {type(op).__name__}")


_PLAIN_NUMBER = re.compile(r"(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NOT = re.compile(r"!(?!=)")
_IF_CALL = re.compile(r"\bif\s*\(")


def _parse_expr(text: str) -> ast.expr:
    """Parse a BioNetGen (muParser) expression: ``^`` is a power, ``&&``/``||``/``!`` are
    logic, ``if(c, a, b)`` a conditional."""
    text = text.strip()
    if not text:
        raise _Bad("missing expression")
    # most expressions of a network are one number or one name: no parser needed
    if _PLAIN_NUMBER.fullmatch(text) and not (text[0] == "0" and text.isdigit() and
                                              text.strip("0")):  # 007: Python refuses it
        return ast.Constant(value=int(text) if text.isdigit() else float(text))
    if text.isascii() and text.isidentifier() and not keyword.iskeyword(text):
        return ast.Name(id=text, ctx=ast.Load())
    py = text.replace("^", "**").replace("&&", " and ").replace("||", " or ")
    py = _NOT.sub(" not ", py)
    py = _IF_CALL.sub(_IF + "(", py)
    try:
        return ast.parse(py, mode="eval").body
    except (SyntaxError, RecursionError, MemoryError):
        raise _Bad(f"cannot parse the expression {text!r}") from None


def _to_term(node: ast.expr, resolve, call=None) -> Term:
    """The term of a parsed expression.

    ``resolve(name)`` gives the term of a name; ``call(name, args)`` the term of a call
    ``name(args...)`` to something other than a built-in function (a network function,
    ``time()``), or None to refuse it.
    """

    def go(n):
        match n:
            case ast.Constant(value=v) if type(v) in (int, float):
                return num(float(v))
            case ast.Name(id=name):
                if name in _CONSTS:
                    return num(_CONSTS[name])
                return resolve(name)
            case ast.UnaryOp(op=ast.USub(), operand=a):
                return -go(a)
            case ast.UnaryOp(op=ast.UAdd(), operand=a):
                return go(a)
            case ast.UnaryOp(op=ast.Not(), operand=a):
                return not_(go(a))
            case ast.BoolOp(op=op, values=vals):
                return _fold(and_ if isinstance(op, ast.And) else or_, [go(v) for v in vals])
            case ast.Compare(left=a, ops=ops, comparators=cs):
                terms = [go(a), *(go(c) for c in cs)]
                parts = [_compare(op, terms[i], terms[i + 1]) for i, op in enumerate(ops)]
                return _fold(and_, parts)
            case ast.BinOp(left=a, op=op, right=b):
                x, y = go(a), go(b)
                match op:
                    case ast.Add():
                        return add(x, y)
                    case ast.Sub():
                        return x - y
                    case ast.Mult():
                        return mul(x, y)
                    case ast.Div():
                        return x / y
                    case ast.Pow():
                        return power(x, y)
            case ast.Call(func=ast.Name(id=fname), args=args, keywords=[]):
                if fname == _IF:
                    if len(args) != 3:
                        raise _Bad(f"if() takes 3 arguments (condition, then, else), got "
                                   f"{len(args)}")
                    c, a, b = (go(x) for x in args)
                    return ifelse(c, a, b)
                if fname in _FUNCS and len(args) == 1:
                    return _FUNCS[fname](go(args[0]))
                if fname in _VARIADIC and args:
                    return _VARIADIC[fname](*(go(a) for a in args))
                if call is not None:
                    t = call(fname, [go(a) for a in args])
                    if t is not None:
                        return t
                if not args:  # a BioNetGen function called as name()
                    return resolve(fname)
                raise _Bad(
                    f"unsupported function call {ast.unparse(n)!r}: allowed are "
                    f"{', '.join(sorted(_FUNCS))} of one argument, "
                    f"{', '.join(sorted(_VARIADIC))}, if(c, a, b), time() and the network's "
                    "functions"
                )
        raise _Bad(
            f"unsupported syntax {ast.unparse(n)!r}: expressions may use numbers, names, "
            "+ - * / ^, comparisons, && || !, if(), min/max and exp/ln/log10/sqrt..."
        )

    return go(node)


def _value(term: Term, text: str) -> float:
    """The number a fully numeric term folded to (checked finite)."""
    if type(term) is not Num:  # pragma: no cover - all leaves are floats, so terms fold
        raise _Bad(f"the expression {text!r} does not evaluate to a number")
    v = float(term.value)
    if not math.isfinite(v):
        raise _Bad(f"the expression {text!r} evaluates to {v}")
    return v


def _index_list(text: str, n_species: int, what: str) -> tuple[int, ...]:
    """0-based indices from a BioNetGen list like ``1,4`` (``0`` means none)."""
    out = []
    for tok in text.split(","):
        tok = tok.strip()
        try:
            i = int(tok)
        except ValueError:
            raise _Bad(f"{what} must be comma-separated species indices, got {text!r}") from None
        if i == 0:
            continue
        if not 1 <= i <= n_species:
            raise _Bad(f"{what} refer to species {i}, but there are {n_species} species")
        out.append(i - 1)
    return tuple(out)


def _number(tok: str):
    try:
        return int(tok)
    except ValueError:
        return float(tok)


# Parsing ------------------------------------------------------------------
_BLOCKS = ("parameters", "functions", "species", "reactions", "groups")


_DIRECTIVE = re.compile(r"([A-Za-z_]\w*)\s*\((.*)\)\s*;?\Z")
_DIRECTIVES = ("version", "substanceUnits", "setOption")
_STRING = re.compile(r"\"([^\"]*)\"|'([^']*)'")


def _directive(content: str, no: int, source: str) -> tuple[str, tuple[str, ...]]:
    """``(name, string arguments)`` of a header line like ``version("2.2.3");``."""
    m = _DIRECTIVE.match(content)
    if m is None or m.group(1) not in _DIRECTIVES:
        raise DataError(f"{source}, line {no}: text outside a begin/end block: {content!r} "
                        f"(outside blocks a .net file may hold only the directives "
                        f"{', '.join(_DIRECTIVES)})")
    args = m.group(2).strip()
    values = tuple(a or b for a, b in _STRING.findall(args))
    if _STRING.sub("", args).replace(",", "").strip():
        raise DataError(f"{source}, line {no}: the arguments of {m.group(1)}() must be quoted "
                        f"strings, got {args!r}")
    return m.group(1), values


def _split_blocks(lines: list[str], source: str, directives: list | None = None
                  ) -> dict[str, list[tuple[int, str, str]]]:
    """``{block: [(line_no, content, comment)]}`` for the blocks this reader uses.

    Header directives outside the blocks (``version("...")``, ``substanceUnits("...")``,
    ``setOption("name", "value")``, as BioNetGen writes them) are appended to
    ``directives`` as ``(name, args)``; any other text outside a block is an error.
    """
    blocks: dict[str, list[tuple[int, str, str]]] = {b: [] for b in _BLOCKS}
    current: str | None = None
    start = 0
    seen: set[str] = set()
    for no, raw in enumerate(lines, start=1):
        content, _, comment = raw.partition("#")
        content = content.strip()
        if not content:
            continue
        words = content.split()
        if words[0] == "begin":
            if current is not None:
                raise DataError(f"{source}, line {no}: 'begin' inside the block {current!r} "
                                f"opened on line {start}; close it with 'end {current}' first")
            current = " ".join(words[1:])
            start = no
            if current in seen and current in blocks:
                raise DataError(f"{source}, line {no}: a second 'begin {current}' block")
            seen.add(current)
        elif words[0] == "end":
            name = " ".join(words[1:])
            if name != current:
                raise DataError(f"{source}, line {no}: {content!r} does not close the open "
                                f"block ({current!r})")
            current = None
        elif current is None:
            d = _directive(content, no, source)
            if directives is not None:
                directives.append(d)
        elif current in blocks:
            blocks[current].append((no, content, comment.strip()))
        # other blocks (molecule types, compartments, ...) are not needed for the ODEs
    if current is not None:
        raise DataError(f"{source}: the block {current!r} opened on line {start} is never "
                        f"closed (add 'end {current}')")
    return blocks


def _check_index(parts: list[str], expected: int) -> None:
    try:
        i = int(parts[0])
    except ValueError:
        raise _Bad(f"a line must start with its index, got {parts[0]!r}") from None
    if i != expected:
        raise _Bad(f"index {i} out of sequence (expected {expected})")


def _check_new_name(name: str, taken: dict, what: str) -> None:
    if not _NAME.match(name):
        raise _Bad(f"invalid {what} name {name!r}")
    if name in taken:
        raise _Bad(f"{what} name {name!r} is already defined as a {taken[name]}")


_LAWS = {"Ele": (1, 1), "Sat": (1, None), "MM": (2, 2), "Hill": (3, 3)}  # constants: min, max
_LAW_LINE = re.compile(r"(?:(\S+?)\*)?(Ele|Sat|MM|Hill)(?:\s+(\S.*)|\s*\((.*)\))\Z")


def _time_name(taken) -> str:
    name = "t"
    while name in taken:
        name += "_"
    return name


def parse_bngl_net(text: str, source: str = "<string>") -> ReactionNetwork:
    """Parse the text of a BioNetGen ``.net`` file.

    Parameters
    ----------
    text : str
        The file's contents.
    source : str
        A name for error messages (the file path).

    Returns
    -------
    ReactionNetwork

    Raises
    ------
    DataError
        On a malformed line, an unknown name or an out-of-range species index;
        the message names ``source`` and the line number.

    Notes
    -----
    What BioNetGen's ``run_network`` accepts and how it reads it:

    * a ``$`` anywhere in a species name marks it fixed (``@EC::$Source()``);
    * header directives ``version``, ``substanceUnits`` and ``setOption`` are kept in
      :attr:`ReactionNetwork.directives`;
    * an observable may share its name with a parameter: in expressions the name is the
      parameter (``run_network`` binds parameters over observables), and the observable
      is still reported by :meth:`ReactionNetwork.observable_values`;
    * rate laws ``Sat``, ``MM``, ``Hill`` (written ``Sat k K`` or ``Sat(k,K)``, with an
      optional statistical factor ``2*Sat k K``), see :meth:`Reaction.flux_term`;
    * functions may use ``if(c, a, b)``, comparisons, ``&&``/``||``, ``min``/``max``
      (any number of arguments), ``time()``, and other functions; a function may take
      arguments (``f(x) 2*x``, BioNetGen's local functions) and is then called with as
      many (``f(Atot)``).  A local observable ``Obs(x)`` is refused: BioNetGen expands
      those per reaction when it writes the network.
    """
    directives: list[tuple[str, tuple[str, ...]]] = []
    blocks = _split_blocks(text.splitlines(), source, directives)
    ps = _NetParser(blocks, source)
    ps.run("parameters", ps.on_parameter)
    ps.run("species", ps.on_species)
    ps.run("groups", ps.on_group)
    ps.time = sym(_time_name(set(ps.names)))
    ps.run("functions", ps.on_function)
    ps.run("reactions", ps.on_reaction)
    return ReactionNetwork(
        source=source,
        parameters=MappingProxyType(ps.parameters),
        parameter_exprs=MappingProxyType(ps.parameter_exprs),
        species=tuple(ps.species),
        reactions=tuple(ps.reactions),
        observables=MappingProxyType(ps.observables),
        functions=MappingProxyType(ps.functions),
        directives=tuple(directives),
        time_name=ps.time.name,
    )


class _NetParser:
    """The blocks of one ``.net`` file read in order: one handler per line kind."""

    def __init__(self, blocks: dict, source: str):
        self.blocks, self.source = blocks, source
        self.names: dict[str, str] = {}  # every defined name -> its kind (a parameter wins)
        self.parameters: dict[str, float] = {}
        self.parameter_exprs: dict[str, str] = {}
        self.species: list[Species] = []
        self.observables: dict[str, tuple[tuple[int, int | float], ...]] = {}
        self.time: Sym | None = None
        self.functions: dict[str, Term] = {}
        self.local_functions: dict[str, tuple[tuple[Sym, ...], Term]] = {}
        self.reactions: list[Reaction] = []
        self.rate_cache: dict[str, Term] = {}

    def run(self, block: str, handler) -> None:
        """Feed each line of ``block`` to ``handler``; errors name the file and line."""
        for no, content, comment in self.blocks[block]:
            try:
                handler(content, comment)
            except _Bad as e:
                raise DataError(f"{self.source}, line {no}: {e} (in the {block} block: "
                                f"{content!r})") from None

    # parameters and species: numbers ------------------------------------
    def number_of(self, name):
        if self.names.get(name) == "parameter":
            return num(self.parameters[name])
        names = self.names
        raise _Bad(f"unknown parameter {name!r}" + (
            f" (it is a {names[name]})" if name in names else
            " (parameters must be defined before they are used)"))

    def on_parameter(self, content, _):
        parts = content.split(None, 2)
        if len(parts) != 3:
            raise _Bad("a parameter line is 'index name value'")
        _check_index(parts, len(self.parameters) + 1)
        name, expr = parts[1], parts[2].strip()
        _check_new_name(name, self.names, "parameter")
        self.parameters[name] = _value(_to_term(_parse_expr(expr), self.number_of), expr)
        self.parameter_exprs[name] = expr
        self.names[name] = "parameter"

    def on_species(self, content, _):
        parts = content.split(None, 2)
        if len(parts) != 3:
            raise _Bad("a species line is 'index name initial_amount'")
        _check_index(parts, len(self.species) + 1)
        name, expr = parts[1], parts[2].strip()
        fixed = "$" in name  # anywhere, as run_network reads it: @EC::$Source()
        amount = _value(_to_term(_parse_expr(expr), self.number_of), expr)
        self.species.append(Species(name.replace("$", ""), amount, expr, fixed))

    def on_group(self, content, _):
        parts = content.split(None, 2)
        if len(parts) < 2:
            raise _Bad("a group line is 'index name entries'")
        _check_index(parts, len(self.observables) + 1)
        name, n = parts[1], len(self.species)
        if self.names.get(name) != "parameter":  # a parameter of the same name shadows it
            _check_new_name(name, self.names, "observable")
        entries = []
        for tok in (parts[2].replace(" ", "").split(",") if len(parts) == 3 else []):
            w_text, star, i_text = tok.rpartition("*")
            try:
                w = _number(w_text) if star else 1
                i = int(i_text)
            except ValueError:
                raise _Bad(f"a group entry is 'i' or 'w*i', got {tok!r}") from None
            if not 1 <= i <= n:
                raise _Bad(f"the entry {tok!r} refers to species {i}, but there are {n} species")
            entries.append((i - 1, w))
        self.observables[name] = tuple(entries)
        self.names.setdefault(name, "observable")

    # functions, as terms of parameter, observable and time symbols --------
    def symbolic(self, name):
        kind = self.names.get(name)
        if kind in ("parameter", "observable"):
            return sym(name)
        if kind == "function":
            return self.functions[name]
        if kind == "local function":
            raise _Bad(f"the function {name!r} takes {len(self.local_functions[name][0])} "
                       f"argument(s); call it as {name}(...)")
        raise _Bad(f"unknown name {name!r} (not a parameter, observable or earlier function)")

    def calls(self, fname, args):
        names = self.names
        if fname == "time" and not args and "time" not in names:
            return self.time
        if names.get(fname) == "local function":
            formal, body = self.local_functions[fname]
            if len(args) != len(formal):
                raise _Bad(f"the function {fname!r} takes {len(formal)} argument(s), "
                           f"got {len(args)}")
            return substitute(body, dict(zip(formal, args, strict=True)))
        if names.get(fname) == "observable" and args:
            raise _Bad(f"{fname}(...) is a local observable; BioNetGen evaluates those per "
                       "reaction when it writes the network: regenerate the .net file with "
                       "generate_network")
        return None

    def on_function(self, content, _):
        m = re.fullmatch(r"\s*(\d+)\s+([A-Za-z_]\w*)\s*\(([^)]*)\)\s*(?:=\s*)?(.*)", content)
        if m is None:
            raise _Bad("a function line is 'index name() expression' or "
                       "'index name(x, y) expression'")
        _check_index([m.group(1)], len(self.functions) + len(self.local_functions) + 1)
        name, arg_text, expr = m.group(2), m.group(3).strip(), m.group(4)
        if name == "time":
            raise _Bad("'time' is reserved for time(); rename the function")
        _check_new_name(name, self.names, "function")
        if not expr.strip():
            raise _Bad("a function line is 'index name() expression'")
        if not arg_text:
            self.functions[name] = _to_term(_parse_expr(expr), self.symbolic, self.calls)
            self.names[name] = "function"
            return
        formal_names = [a.strip() for a in arg_text.split(",")]
        for a in formal_names:
            if not _NAME.match(a) or formal_names.count(a) > 1:
                raise _Bad(f"bad argument list ({arg_text}) of the function {name!r}")
        formal = tuple(sym(f"{name}.{a}") for a in formal_names)
        local = dict(zip(formal_names, formal, strict=True))

        def resolve(v):
            return local[v] if v in local else self.symbolic(v)

        self.local_functions[name] = (formal, _to_term(_parse_expr(expr), resolve, self.calls))
        self.names[name] = "local function"

    # reactions ----------------------------------------------------------
    def rate_term(self, expr):
        rate = self.rate_cache.get(expr)
        if rate is None:
            rate = self.rate_cache[expr] = _to_term(_parse_expr(expr), self.symbolic,
                                                    self.calls)
        return rate

    def on_reaction(self, content, comment):
        parts = content.split(None, 3)
        if len(parts) != 4:
            raise _Bad("a reaction line is 'index reactants products rate'")
        _check_index(parts, len(self.reactions) + 1)
        n = len(self.species)
        reactants = _index_list(parts[1], n, "reactants")
        products = _index_list(parts[2], n, "products")
        expr = parts[3].strip()
        m = _LAW_LINE.match(expr)
        if m is None:
            self.reactions.append(
                Reaction(reactants, products, self.rate_term(expr), expr, comment))
            return
        factor, law = m.group(1), m.group(2)
        consts = [c for c in re.split(r"[\s,]+", (m.group(3) or m.group(4) or "").strip()) if c]
        lo, hi = _LAWS[law]
        if law == "Sat":
            hi = len(reactants) + 1
        if not lo <= len(consts) <= hi:
            raise _Bad(f"the rate law {law} takes {lo}" + ("" if hi == lo else f" to {hi}")
                       + f" constants here, got {len(consts)}")
        if law in ("MM", "Hill") and not reactants:
            raise _Bad(f"the rate law {law} needs a reactant (the substrate, listed first)")
        k = self.rate_term(consts[0])
        if factor is not None:
            k = mul(self.rate_term(factor), k)
        self.reactions.append(Reaction(reactants, products, k, expr, comment, law,
                                       tuple(self.rate_term(c) for c in consts[1:])))


def load_bngl_net(path) -> ReactionNetwork:
    """Read a BioNetGen ``.net`` file into a :class:`ReactionNetwork`.

    Parameters
    ----------
    path : str or Path
        The ``.net`` file.

    Returns
    -------
    ReactionNetwork

    Raises
    ------
    DataError
        If the file cannot be read, or on a malformed line, an unknown name or an
        out-of-range species index (the message names the file and line number).

    Examples
    --------
    >>> from pdeflow.symbolic.reactions import load_bngl_net
    >>> net = load_bngl_net("birth-death.net")  # doctest: +SKIP
    >>> net.rhs_terms()                          # doctest: +SKIP
    [10.0 - 0.2*s1]
    """
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise DataError(f"{path}: no such BioNetGen .net file; check the path (BioNetGen "
                        "writes it with generate_network)") from None
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: cannot read the .net file: {e}") from None
    return parse_bngl_net(text, str(path))


# The network --------------------------------------------------------------
@dataclass(frozen=True, eq=False, repr=False)
class ReactionNetwork:
    """A parsed BioNetGen network and its mass-action ODEs.

    The ODEs are ``dx_i/dt = sum_r nu_ir * k_r * prod_{j in reactants(r)} x_j``
    with ``nu_ir`` the net stoichiometry (products minus reactants) and ``k_r``
    the reaction's rate (a functional rate is evaluated at the observables' values).

    Attributes
    ----------
    source : str
        Where the network came from (the file path).
    parameters : Mapping
        ``{name: value}`` in file order; expressions are evaluated.  All mappings
        here are read-only views (``dict(net.parameters)`` copies one).
    parameter_exprs : Mapping
        ``{name: text}``, each parameter's value as written.
    species : tuple of Species
    reactions : tuple of Reaction
    observables : Mapping
        ``{name: ((species_index, weight), ...)}`` with 0-based indices.
    functions : Mapping
        ``{name: Term}``: the ``functions`` block (those without arguments), as terms of
        parameter, observable and time symbols.
    directives : tuple
        The header directives, ``(name, args)`` in file order, e.g.
        ``("version", ("2.2.3",))``; see :attr:`version`, :attr:`substance_units`,
        :attr:`options`.
    time_name : str
        The name of the time symbol that ``time()`` becomes (``"t"``, with underscores
        appended if a parameter or observable is named so).

    Shapes
    ------
    ``y0``, ``rhs_numpy(t, y)``: ``(n_species,)``.  ``stoichiometry``:
    ``(n_species, n_reactions)``.  ``observable_matrix``: ``(n_observables, n_species)``.
    """

    source: str
    parameters: Mapping[str, float]
    parameter_exprs: Mapping[str, str]
    species: tuple[Species, ...]
    reactions: tuple[Reaction, ...]
    observables: Mapping[str, tuple[tuple[int, int | float], ...]]
    functions: Mapping[str, Term]
    directives: tuple[tuple[str, tuple[str, ...]], ...] = ()
    time_name: str = "t"

    def __repr__(self):
        return (f"ReactionNetwork({Path(self.source).name!r}: {len(self.species)} species, "
                f"{len(self.reactions)} reactions, {len(self.parameters)} parameters, "
                f"{len(self.observables)} observables)")

    # header ------------------------------------------------------------
    def _directive(self, name):
        return [args for d, args in self.directives if d == name]

    @property
    def version(self) -> str | None:
        """The BioNetGen version of the header's ``version("...")``, if any."""
        v = self._directive("version")
        return v[-1][0] if v and v[-1] else None

    @property
    def substance_units(self) -> str | None:
        """``"Number"`` or ``"Concentration"`` from ``substanceUnits("...")``, if given."""
        v = self._directive("substanceUnits")
        return v[-1][0] if v and v[-1] else None

    @property
    def options(self) -> dict[str, str]:
        """``{name: value}`` of the header's ``setOption("name", "value", ...)`` lines."""
        out = {}
        for args in self._directive("setOption"):
            out.update(zip(args[0::2], args[1::2], strict=False))
        return out

    # names and symbols -------------------------------------------------
    @property
    def time_symbol(self) -> Sym:
        """The symbol of ``time()`` in the terms (see :attr:`time_name`)."""
        return sym(self.time_name)

    @property
    def autonomous(self) -> bool:
        """False if a rate depends on ``time()``."""
        ts = self.time_symbol
        return not any(ts in t.free_symbols for t in self.rhs_terms())

    @property
    def species_names(self) -> list[str]:
        """BioNetGen names of the species, in index order."""
        return [s.name for s in self.species]

    @cached_property
    def _prefix(self) -> str:
        taken = (set(self.parameters) | set(self.observables) | set(self.functions)
                 | {self.time_name})
        prefix = "s"
        while any(re.fullmatch(re.escape(prefix) + r"\d+", t) for t in taken):
            prefix += "_"
        return prefix

    @cached_property
    def _states(self) -> tuple[Sym, ...]:
        return tuple(sym(f"{self._prefix}{i}") for i in range(1, len(self.species) + 1))

    def state_symbols(self) -> tuple[Sym, ...]:
        """One symbol per species: ``s1 .. sN`` (1-based like BioNetGen's indices).

        The prefix gets underscores appended (``s_1``...) if a parameter,
        observable or function is itself named like ``s<digits>``.
        """
        return self._states

    def parameter_values(self) -> dict[Sym, float]:
        """``{sym(name): value}``, to evaluate terms built with ``params_as_symbols=True``."""
        return {sym(k): v for k, v in self.parameters.items()}

    @property
    def y0(self) -> np.ndarray:
        """Initial amounts, shape ``(n_species,)`` (a fresh array)."""
        return np.array([s.initial for s in self.species], dtype=float)

    # structure ---------------------------------------------------------
    @cached_property
    def _net(self) -> tuple[tuple[tuple[int, int], ...], ...]:
        """Per reaction, ``((species, nu), ...)`` with nonzero net stoichiometry."""
        fixed = {i for i, s in enumerate(self.species) if s.fixed}
        out = []
        for r in self.reactions:
            c = Counter(r.products)
            c.subtract(r.reactants)
            out.append(tuple(sorted((i, v) for i, v in c.items() if v and i not in fixed)))
        return tuple(out)

    @cached_property
    def stoichiometry(self) -> sp.csr_matrix:
        """Net stoichiometry ``nu`` (products minus reactants; zero rows for fixed species)."""
        rows, cols, vals = [], [], []
        for r, net in enumerate(self._net):
            for i, v in net:
                rows.append(i)
                cols.append(r)
                vals.append(v)
        shape = (len(self.species), len(self.reactions))
        return sp.csr_matrix((np.array(vals, dtype=float), (rows, cols)), shape=shape)

    @cached_property
    def observable_matrix(self) -> sp.csr_matrix:
        """Observable weights ``W`` so that the observables are ``W @ y``."""
        rows, cols, vals = [], [], []
        for k, entries in enumerate(self.observables.values()):
            for i, w in entries:
                rows.append(k)
                cols.append(i)
                vals.append(float(w))
        shape = (len(self.observables), len(self.species))
        return sp.csr_matrix((np.array(vals, dtype=float), (rows, cols)), shape=shape)

    def observable_values(self, y) -> dict[str, np.ndarray]:
        """``{name: values}`` of the observables at states ``y`` of shape ``(N,)`` or ``(N, T)``."""
        v = self.observable_matrix @ np.asarray(y, dtype=float)
        return {name: v[k] for k, name in enumerate(self.observables)}

    # symbolic ODEs -----------------------------------------------------
    def observable_terms(self) -> dict[str, Term]:
        """``{name: sum of weight * state symbol}``."""
        x = self._states
        return {
            name: add(*(x[i] if w == 1 else mul(num(w), x[i]) for i, w in entries))
            for name, entries in self.observables.items()
        }

    def rhs_terms(self, params_as_symbols: bool = False) -> list[Term]:
        """The mass-action right-hand side, one scalar term per species.

        Parameters
        ----------
        params_as_symbols : bool
            ``False`` (default): parameters are replaced by their values.
            ``True``: each parameter named in a rate stays a symbol ``sym(name)``;
            evaluate with :meth:`parameter_values`.

        Returns
        -------
        list of Term, length ``n_species``, in the symbols of :meth:`state_symbols`
        (and parameter symbols).  Observables inside functional rates are expanded
        into sums of state symbols.  The terms are built once per mode and cached.
        """
        key = bool(params_as_symbols)
        if key not in self._rhs_cache:
            self._rhs_cache[key] = self._build_rhs(key)
        return list(self._rhs_cache[key])

    @cached_property
    def _rhs_cache(self) -> dict[bool, list[Term]]:
        return {}

    def _observable_mapping(self) -> dict:
        """``{sym(name): observable term}`` for the observables that expressions can name
        (an observable shadowed by a parameter of the same name is not one of them)."""
        return {sym(k): t for k, t in self.observable_terms().items() if k not in self.parameters}

    def _build_rhs(self, params_as_symbols: bool) -> list[Term]:
        x = self._states
        mapping: dict = self._observable_mapping()
        if not params_as_symbols:
            mapping.update((sym(k), num(v)) for k, v in self.parameters.items())
        rates: dict[Term, Term] = {}
        monomials: dict[tuple[int, ...], Term] = {}
        # numeric rates: per species {monomial: coefficient}; other rates: a list of terms
        coeffs: list[dict[Term, float]] = [{} for _ in self.species]
        terms: list[list[Term]] = [[] for _ in self.species]
        for r, net in zip(self.reactions, self._net, strict=True):
            if not net:
                continue
            k = rates.get(r.rate)
            if k is None:
                k = rates[r.rate] = substitute(r.rate, mapping)
            if r.law != "Ele":
                ps = tuple(substitute(p, mapping) for p in r.law_params)
                flux = r.flux_term(x, ps, k)
                for i, v in net:
                    terms[i].append(flux if v == 1 else mul(num(v), flux))
                continue
            mono = monomials.get(r.reactants)
            if mono is None:
                mono = monomials[r.reactants] = mul(*(x[j] for j in r.reactants))
            if type(k) is Num:
                kv = k.value
                for i, v in net:
                    d = coeffs[i]
                    d[mono] = d.get(mono, 0) + v * kv
            else:
                flux = mul(k, mono)
                for i, v in net:
                    terms[i].append(flux if v == 1 else mul(num(v), flux))
        out = []
        for d, ts in zip(coeffs, terms, strict=True):
            ts.extend(m if c == 1 else mul(num(c), m) for m, c in d.items() if c != 0)
            out.append(add(*ts) if ts else ZERO)
        return out

    # numeric reference -------------------------------------------------
    @cached_property
    def _numeric(self):
        """Mass-action rate constants, the other reactions' flux terms, the reactant table."""
        values = {sym(k): num(v) for k, v in self.parameters.items()}
        full = {**self._observable_mapping(), **values}
        x = self._states
        m = len(self.reactions)
        k = np.empty(m)
        cache: dict[Term, Term] = {}
        general_idx, general_terms = [], []
        for r, rx in enumerate(self.reactions):
            t = cache.get(rx.rate)
            if t is None:
                t = cache[rx.rate] = substitute(rx.rate, values)
            if type(t) is Num and rx.law == "Ele":
                k[r] = float(t.value)
            else:  # functional rate or another rate law: the flux as a term of states and t
                k[r] = np.nan
                general_idx.append(r)
                ps = tuple(substitute(p, full) for p in rx.law_params)
                general_terms.append(rx.flux_term(x, ps, substitute(rx.rate, full)))
        order = max((len(r.reactants) for r in self.reactions), default=0)
        n = len(self.species)
        table = np.full((m, order), n, dtype=np.intp)  # index n holds 1.0
        for r, rx in enumerate(self.reactions):
            table[r, : len(rx.reactants)] = rx.reactants
        return k, np.array(general_idx, dtype=np.intp), general_terms, table

    def fluxes(self, t, y) -> np.ndarray:
        """Reaction fluxes, shape ``(n_reactions,)``: ``k_r * prod(y[reactants(r)])`` for
        mass action, :meth:`Reaction.flux_term` for the other rate laws.

        ``t`` is the time (used by ``time()`` in functions); ``y`` has shape ``(n_species,)``.
        """
        k, g_idx, g_terms, table = self._numeric
        y = np.asarray(y, dtype=float)
        flux = k * np.prod(np.append(y, 1.0)[table], axis=1)
        if g_idx.size:
            env = dict(zip(self._states, y.tolist(), strict=True))
            env[self.time_symbol] = float(t)
            flux[g_idx] = np.asarray(evaluate(g_terms, env), dtype=float)
        return flux

    def rhs_numpy(self, t, y) -> np.ndarray:
        """``dy/dt`` by vectorized numpy: ``nu @ (k * prod(y[reactants]))``.

        Parameters
        ----------
        t : float
            Time (used only by ``time()`` in functions).
        y : array_like, shape ``(n_species,)``

        Returns
        -------
        ndarray, shape ``(n_species,)``
        """
        return self.stoichiometry @ self.fluxes(t, y)


# BioNetGen output -----------------------------------------------------------
def load_gdat(path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Read a BioNetGen ``.gdat`` (or ``.cdat``) trajectory.

    Parameters
    ----------
    path : str or Path
        A whitespace-separated table whose first line names the columns
        (optionally after ``#``); the first column is time.

    Returns
    -------
    times : ndarray, shape ``(T,)``
    columns : dict
        ``{name: ndarray of shape (T,)}`` for every other column.

    Raises
    ------
    DataError
        If the file is missing or not such a table.
    """
    path = Path(path)
    try:
        with path.open() as f:
            header = f.readline().lstrip("#").split()
            data = np.loadtxt(f, ndmin=2)
    except FileNotFoundError:
        raise DataError(f"{path}: no such BioNetGen .gdat file; check the path") from None
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: not a BioNetGen .gdat table: {e}") from None
    if not header or header[0] != "time":
        raise DataError(f"{path}, line 1: the header must start with 'time', got {header[:1]}")
    if data.shape[1] != len(header):
        raise DataError(f"{path}: the header names {len(header)} columns, the data has "
                        f"{data.shape[1]}")
    return data[:, 0].copy(), {name: data[:, j].copy() for j, name in enumerate(header) if j}
