"""Warm the worker: load what the allowed modules load lazily, before the worker is sealed.

Why. Once the worker is sealed (:mod:`.worker`: the seccomp filter lets no file be opened and
the audit hook blocks every ``import`` event), nothing new can be imported. Libraries import
some of their parts only on first use, and a lazy import made by C code while the policy is
running goes through the *policy's* ``__import__``: CPython's ``PyImport_Import`` takes
``__import__`` from the builtins of the frame that is running, which is the policy's, whose
restricted import hands out only the views of :data:`~.guards.ALLOWED_MODULES`. numpy does this
the first time ``ndarray.sum``, ``max``, ``min``, ``mean``, ``any``, ``clip``, ``repr``... run
(``numpy._core._methods``, ``numpy._core.arrayprint``, ``numpy._core._exceptions`` and more,
each cached inside numpy after its first success). Without warming, ordinary numerical code
falls back with ``forbidden: import of 'numpy._core._methods'``: a reason that points at the
sandbox's own internals, which is a sandbox bug, not the policy's fault (issue 25).

Some C code imports again on every call (numpy's ``repr(dtype)`` imports ``numpy._core._dtype``
each time); for those the policy's import answers, without handing anything to the policy, when
the module is loaded already (:func:`~.api.build_namespace`). Either way the module must be
loaded before the seal.

So :func:`warm_up` runs, in trusted code before the worker seals, each operation of the
allowed modules that loads something lazily: numpy's reductions and methods, printing, its
error paths (each raised once and caught), set operations, statistics, linear algebra and
random generators; ``statistics``, ``collections``, ``typing``, ``enum`` and the class
factories of :mod:`.shims`. The modules it loads go into ``sys.modules`` and numpy's caches,
where policy code cannot reach them: the policy still imports only the views of
:data:`~.guards.ALLOWED_MODULES`, so this widens nothing the policy itself may import.

What it covers is checked by the honest-policy corpus (``tests/honest_policies``, run in the
sandbox under every isolation level with 0 violations and 0 fallbacks). An operation missing
here shows as a ``forbidden`` decision naming a module of numpy or of the standard library;
add the operation to :data:`NUMPY_OPERATIONS` or :data:`STDLIB_OPERATIONS`.

This module imports only the standard library, numpy and :mod:`.shims`: the worker loads it by path.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np

__all__ = ["NUMPY_OPERATIONS", "STDLIB_OPERATIONS", "warm_up"]


def _numpy_operations() -> list[tuple[str, Callable[[], object]]]:
    grid = (np.arange(48).reshape(6, 8) % 5).astype(np.uint8)
    floats = np.linspace(0.0, 1.0, 12).reshape(3, 4)
    mask = grid == 2
    points = np.argwhere(mask)
    structured = np.zeros(2, dtype=[("x", "i4"), ("y", "f8")])
    operations: list[tuple[str, Callable[[], object]]] = []

    def add(name: str, operation: Callable[[], object]) -> None:
        operations.append((name, operation))

    # ndarray reductions and methods (C code that imports numpy._core._methods on first use)
    for array in (grid, floats, mask, points):
        for method in ("sum", "prod", "max", "min", "mean", "var", "std", "any", "all", "argmax", "argmin",
                       "cumsum", "cumprod", "nonzero", "ravel", "flatten", "copy", "tolist", "sort", "argsort"):
            add(f"ndarray.{method}", lambda array=array, method=method: getattr(array.copy(), method)())
        add("ndarray.sum(axis)", lambda array=array: (array.sum(axis=0), array.max(axis=-1), array.mean(axis=0),
                                                      array.any(axis=1), array.all(axis=0), array.min(axis=1)))
        add("ndarray.clip", lambda array=array: array.clip(0, 3))
        add("ndarray.astype", lambda array=array: (array.astype(float), array.astype(np.int64), array.astype(bool)))
        add("ndarray.keepdims", lambda array=array: (array.sum(axis=0, keepdims=True), array.max(initial=0)))
    add("ndarray.round", lambda: (grid.round(), floats.round(1), points.round()))
    add("ndarray.view", lambda: (grid.view(np.int8), floats.view(np.int64)))
    add("ndarray.getfield", lambda: structured.getfield(np.int32))
    add("ndarray.item", lambda: (grid.item(0), floats[0, 0].item(), grid.size, grid.nbytes, grid.T, grid.ndim))
    add("ndarray.reshape", lambda: (grid.reshape(-1), grid.reshape(8, 6), grid[None, :, :], grid[..., None].squeeze()))
    add("ndarray.fill", lambda: np.zeros(3).fill(1.0))
    add("ndarray.searchsorted", lambda: np.arange(5).searchsorted(3))
    add("ndarray.dot", lambda: floats.dot(floats.T))
    add("ndarray.setflags", lambda: np.zeros(2).setflags(write=False))
    add("ndarray.empty", lambda: (np.zeros((0, 2)).sum(axis=0), np.zeros((0,), dtype=int).max(initial=-1)))
    # printing (numpy._core.arrayprint, printoptions, _dtype)
    for value in (grid, floats, mask, points, structured, np.zeros((0, 2)), np.array("text"),
                  np.float64(1.5), np.float32(2.5), np.int64(3), np.uint8(4), np.bool_(True), np.complex128(1j),
                  np.int32(-1), np.float16(0.5), structured[0], np.datetime64("2020-01-01"), np.timedelta64(1, "D")):
        add("repr", lambda value=value: (repr(value), str(value), f"{value}", format(value)))
    add("format scalars", lambda: (f"{np.float64(1.25):.2f}", f"{np.int64(3):d}", f"{np.float32(1):e}"))
    add("dtype repr", lambda: (repr(grid.dtype), str(structured.dtype), repr(np.dtype("i4,f8")), np.dtype("f8").name))
    add("array2string", lambda: np.array2string(floats, precision=2))
    add("printoptions", lambda: np.get_printoptions())
    # array functions
    add("creation", lambda: (np.zeros_like(grid), np.ones_like(floats), np.full_like(grid, 3), np.empty_like(mask),
                             np.full((2, 2), 7), np.eye(3), np.identity(2), np.arange(0, 1, 0.25),
                             np.array([[1, 2], [3, 4]]), np.asarray([1.5]), np.array([(1, 2)]), np.array([]),
                             np.array([[1, 2], [3]], dtype=object), np.fromiter(range(3), dtype=int),
                             np.frombuffer(b"abcd", dtype=np.uint8), np.array(bytearray(b"ab"))))
    add("where", lambda: (np.where(mask), np.where(mask, grid, 0), np.argwhere(mask), np.flatnonzero(mask),
                          np.nonzero(grid), np.count_nonzero(mask), np.count_nonzero(mask, axis=0)))
    add("argmin", lambda: (np.argmin(floats), np.argmax(grid, axis=1), np.unravel_index(np.argmax(grid), grid.shape),
                           np.ravel_multi_index((1, 2), grid.shape), np.argsort(floats, axis=None),
                           np.lexsort((grid[:, 0], grid[:, 1])), np.argpartition(np.arange(5), 2)))
    add("elementwise", lambda: (np.abs(points - np.array([1, 1])).sum(axis=1), np.clip(floats, 0.2, 0.8),
                                np.sqrt(floats), np.exp(floats), np.log(floats + 1), np.log1p(floats), np.tanh(floats),
                                np.sign(floats - 0.5), np.hypot(floats, floats), np.arctan2(floats, floats + 1),
                                np.maximum(grid, 2), np.minimum.reduce(grid, axis=0), np.floor(floats), np.ceil(floats),
                                np.round(floats, 2), np.rint(floats), np.mod(grid, 3), np.power(floats, 2),
                                np.isnan(floats), np.isfinite(floats), np.logical_and(mask, mask), np.bitwise_or(grid, 1),
                                np.add.outer(np.arange(3), np.arange(2)), np.add.at(np.zeros(3), [0, 0], 1),
                                np.multiply.reduce(grid, axis=None), np.subtract.accumulate(floats, axis=1)))
    add("reductions", lambda: (np.sum(grid), np.max(grid, axis=0), np.min(floats), np.mean(floats, axis=1),
                               np.median(floats), np.median(floats, axis=0), np.std(floats), np.var(floats),
                               np.prod(floats), np.any(mask), np.all(mask), np.ptp(floats), np.average(floats, axis=0),
                               np.average(floats, weights=floats), np.percentile(floats, 75),
                               np.quantile(floats, [0.25, 0.5]), np.nanmax(floats), np.nanmin(floats),
                               np.nanmean(floats), np.nansum(floats), np.nanargmax(floats), np.cumsum(grid, axis=0),
                               np.diff(grid, axis=1), np.gradient(floats), np.amax(grid), np.amin(grid),
                               np.sum(grid, axis=(0, 1)), np.mean(grid, dtype=float), np.trace(floats[:, :3]),
                               np.cov(floats), np.corrcoef(floats), np.histogram(floats, bins=3),
                               np.bincount(grid.ravel()), np.digitize(floats, [0.5]), np.convolve([1, 2], [1, 1])))
    add("shapes", lambda: (np.pad(grid, 1, constant_values=1), np.pad(floats, ((1, 1), (0, 0)), mode="edge"),
                           np.roll(grid, 1, axis=0), np.rot90(grid), np.flip(grid, axis=1), np.fliplr(grid),
                           np.flipud(grid), np.transpose(grid), np.stack([grid, grid]), np.vstack([grid, grid]),
                           np.hstack([grid, grid]), np.concatenate([points, points]), np.column_stack([grid[0], grid[1]]),
                           np.dstack([grid, grid]), np.tile(grid, 2), np.repeat(grid, 2, axis=0),
                           np.expand_dims(grid, 0), np.squeeze(grid[None]), np.broadcast_to(grid[0], grid.shape),
                           np.meshgrid(np.arange(3), np.arange(2)), np.indices(grid.shape), np.mgrid[0:3, 0:2],
                           np.ogrid[0:3, 0:2], np.ix_([0, 1], [1, 2]), np.atleast_2d(3), np.split(grid, 2),
                           np.array_split(grid, 3, axis=1), np.swapaxes(grid, 0, 1), np.moveaxis(floats, 0, 1),
                           np.triu(floats), np.tril(floats), np.diag(floats), np.outer(floats[0], floats[1]),
                           np.kron(np.eye(2), np.ones(2)), np.einsum("ij,ij->i", floats, floats), np.inner(floats, floats),
                           np.tensordot(floats, floats.T, axes=1), floats @ floats.T, np.cross([1, 0, 0], [0, 1, 0])))
    add("sets", lambda: (np.unique(grid), np.unique(grid, return_counts=True), np.unique(points, axis=0),
                         np.unique(grid, return_index=True, return_inverse=True), np.isin(grid, [2, 4]),
                         np.setdiff1d(grid, [0]),
                         np.intersect1d(grid, [2, 3]), np.union1d([1], [2]), np.sort(grid, axis=None),
                         np.searchsorted(np.arange(5), [1, 3]), np.array_equal(grid, grid), np.allclose(floats, floats),
                         np.isclose(floats, 0.5), np.array_equiv(grid, grid), np.ndindex(2, 2), list(np.ndenumerate(grid[:1])),
                         np.nditer(grid[:1])))
    add("linalg", lambda: (np.linalg.norm(floats), np.linalg.norm(points, axis=1), np.linalg.norm(floats, ord=1),
                           np.linalg.inv(np.eye(2) * 2), np.linalg.det(np.eye(2)), np.linalg.solve(np.eye(2), [1, 2]),
                           np.linalg.eig(np.eye(2)), np.linalg.eigh(np.eye(2)), np.linalg.svd(floats),
                           np.linalg.pinv(floats), np.linalg.lstsq(floats.T, np.ones(4), rcond=None),
                           np.linalg.matrix_rank(floats), np.linalg.matrix_power(np.eye(2), 2), np.linalg.qr(floats),
                           np.polyfit([0, 1, 2], [0, 1, 2], 1), np.polyval([1, 0], 2), np.interp(0.5, [0, 1], [0, 2])))
    add("random", lambda: _exercise_random())
    add("errstate", lambda: _with_errstate(floats))

    # error paths: each is raised once (numpy imports its exception types and message formatters lazily)
    def raises(name: str, operation: Callable[[], object]) -> None:
        def run() -> None:
            try:
                operation()
            except Exception:  # noqa: BLE001 - the point is to take the error path once
                return
        add(name, run)

    raises("AxisError", lambda: grid.sum(axis=5))
    raises("AxisError (function)", lambda: np.mean(grid, axis=3))
    raises("broadcast", lambda: grid + np.zeros(5))
    raises("no ufunc loop", lambda: np.add(grid, "text"))
    raises("casting", lambda: np.add(grid, 1.5, out=grid.copy()))
    raises("binary resolution", lambda: np.array(["a"]) * np.array([1.5]))
    raises("ambiguous truth", lambda: bool(mask))
    raises("index", lambda: grid[100, 0])
    raises("read-only", lambda: np.frombuffer(b"ab", dtype=np.uint8).__setitem__(0, 1))
    raises("reshape", lambda: grid.reshape(5, 5))
    raises("memory", lambda: np.empty(2**62, dtype=np.uint8))
    raises("bad dtype", lambda: np.dtype("not a type"))
    raises("argmax empty", lambda: np.zeros(0).argmax())
    raises("max empty", lambda: np.zeros(0).max())
    raises("array function kwargs", lambda: np.sum(grid, bad_keyword=1))
    raises("array function args", lambda: np.concatenate())
    raises("ragged", lambda: np.array([[1, 2], [3]]))
    raises("int conversion", lambda: int(np.array([1, 2])))
    raises("float conversion", lambda: float(np.array([])))
    raises("choice", lambda: np.random.default_rng(0).choice([], 1))
    raises("linalg", lambda: np.linalg.inv(np.zeros((2, 2))))
    raises("string ops", lambda: np.array(["a"]) + np.array(["b"]))
    raises("void scalar", lambda: str(structured[0]))
    raises("ufunc override", lambda: np.add(grid, _Refuses()))
    raises("array function override", lambda: np.concatenate([_Refuses()]))
    return operations


class _Refuses:
    """An object whose ``__array_ufunc__``/``__array_function__`` refuse (numpy's override error paths)."""

    __array_ufunc__ = None

    def __array_function__(self, func, types, args, kwargs):
        return NotImplemented


def _exercise_random() -> object:
    legacy = np.random.RandomState(0)
    generator = np.random.default_rng(0)
    items = np.arange(10)
    return (legacy.rand(2), legacy.randn(2), legacy.randint(0, 5, 3), legacy.random_sample(2), legacy.choice(items, 3),
            legacy.choice(items, 3, replace=False), legacy.choice(3, p=[0.2, 0.3, 0.5]), legacy.permutation(items),
            legacy.shuffle(items.copy()), legacy.uniform(0, 1, 2), legacy.normal(0, 1, 2), legacy.binomial(3, 0.5),
            legacy.poisson(2.0), legacy.exponential(1.0), legacy.beta(1, 2), legacy.gamma(2.0),
            generator.integers(0, 5, 3), generator.random(2), generator.choice(items, 3, replace=False),
            generator.choice(items, p=np.full(10, 0.1)), generator.permutation(items), generator.shuffle(items.copy()),
            generator.normal(size=2), generator.uniform(size=2), generator.exponential(size=2),
            generator.binomial(3, 0.5), generator.poisson(1.0), generator.standard_normal(2), generator.beta(1, 1),
            generator.gamma(1.0), generator.multinomial(3, [0.5, 0.5]), generator.dirichlet([1, 1]),
            np.random.default_rng(), np.random.default_rng([1, 2]), np.random.SeedSequence(1).spawn(2))


def _with_errstate(floats: np.ndarray) -> object:
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        values = (np.log(np.zeros(2)), np.zeros(2) / np.zeros(2), np.exp(np.array([1000.0])))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        values += (np.log(np.zeros(2)), np.mean(np.zeros(0)), np.nanmax(np.full(2, np.nan)))
    values += (np.log(np.zeros(2)), np.zeros(2) / np.zeros(2), np.mean(np.zeros(0)), np.std(np.zeros(0)),
               np.nanmean(np.full(2, np.nan)))  # warnings as they are shown in the worker (nowhere)
    return values


NUMPY_OPERATIONS = _numpy_operations


def _stdlib_operations() -> list[tuple[str, Callable[[], object]]]:
    import bisect
    import collections
    import enum
    import functools
    import heapq
    import itertools
    import math
    import operator
    import random
    import statistics
    import typing

    from . import shims

    data = [3, 1, 4, 1, 5, 9, 2, 6]
    operations: list[tuple[str, Callable[[], object]]] = [
        ("math", lambda: (math.hypot(3, 4), math.dist((0, 0), (1, 1)), math.isclose(1, 1), math.inf, math.comb(5, 2),
                          math.prod(data), math.fsum([0.1] * 3), math.gcd(4, 6), math.floor(2.5), math.atan2(1, 1))),
        ("statistics", lambda: (statistics.mean(data), statistics.fmean(data), statistics.median(data),
                                statistics.mode(data), statistics.multimode(data), statistics.pstdev(data),
                                statistics.stdev(data), statistics.variance(data), statistics.median_low(data),
                                statistics.quantiles(data, n=4), statistics.harmonic_mean([1, 2]),
                                statistics.geometric_mean([1, 2]), statistics.mean([1.5, 2]),
                                statistics.mean([np.float64(1.0), np.float64(2.0)]), statistics.NormalDist(0, 1).cdf(0.5))),
        ("collections", lambda: (collections.Counter(data).most_common(2), collections.Counter(data).most_common(),
                                 collections.deque(data, maxlen=3).rotate(1), collections.defaultdict(list)["a"],
                                 collections.OrderedDict(a=1).move_to_end("a"), collections.ChainMap({}, {"a": 1})["a"],
                                 repr(collections.Counter(data)), repr(collections.deque(data)),
                                 repr(collections.defaultdict(int)))),
        ("heapq", lambda: (heapq.nsmallest(2, data), heapq.nlargest(2, data, key=lambda v: -v),
                           list(heapq.merge([1, 3], [2])), heapq.heappushpop([1, 2], 0), heapq.heapify(list(data)))),
        ("bisect", lambda: (bisect.bisect_left(sorted(data), 3), bisect.insort(sorted(data), 4))),
        ("itertools", lambda: (list(itertools.product(range(2), repeat=2)), list(itertools.permutations(range(3), 2)),
                               list(itertools.combinations(range(4), 2)), list(itertools.accumulate(data)),
                               list(itertools.groupby(sorted(data))), list(itertools.pairwise(data)),
                               list(itertools.islice(itertools.count(), 3)), list(itertools.chain.from_iterable([[1]])),
                               list(itertools.zip_longest([1], [2, 3])), list(itertools.starmap(max, [(1, 2)])))),
        ("functools", lambda: (functools.reduce(operator.add, data), functools.partial(max, 1)(2),
                               functools.lru_cache(maxsize=None)(abs)(-1), functools.cache(abs)(-1),
                               functools.lru_cache(maxsize=8)(abs).cache_info(), functools.cmp_to_key(lambda a, b: a - b),
                               functools.total_ordering, functools.cached_property(len), functools.singledispatch(len))),
        ("operator", lambda: (operator.itemgetter(1)(data), sorted([(1, 2), (0, 3)], key=operator.itemgetter(1)))),
        ("random", lambda: _exercise_python_random(random)),
        ("typing", lambda: (typing.List[int], typing.Dict[str, int], typing.Optional[int], typing.Tuple[int, ...],
                            typing.Union[int, str], typing.Callable[[int], int], typing.Set[int], typing.Any,
                            typing.Sequence[int], typing.Iterable[int], typing.Deque[int], typing.FrozenSet[int],
                            typing.DefaultDict[str, int], typing.Literal["a"], typing.Final[int], typing.ClassVar[int],
                            typing.TypeVar("T"), typing.cast(int, 1), typing.Protocol, repr(typing.Optional[int]),
                            list[int], dict[str, int] | None, typing.get_type_hints)),
        ("enum", lambda: _exercise_enum(enum)),
        ("shims", lambda: _exercise_shims(shims)),
        ("str formatting", lambda: (f"{1.5:.2f}", f"{10:>4}", "{:,}".format(10**6), "%d %s %.1f" % (1, "a", 2.0),
                                    "a,b".split(","), "ab".encode(), b"ab".decode(), str(1.0e100), repr(float("nan")),
                                    round(2.675, 2), int("12"), float("1.5"), complex(1, 2), divmod(7, 2), hash((1, 2)))),
    ]
    return operations


def _exercise_python_random(random) -> object:
    rng = random.Random(0)
    items = list(range(10))
    return (rng.random(), rng.randint(0, 3), rng.randrange(5), rng.choice(items), rng.choices(items, k=2),
            rng.choices(items, weights=items, k=2), rng.sample(items, 3), rng.shuffle(items), rng.uniform(0, 1),
            rng.gauss(0, 1), rng.normalvariate(0, 1), rng.expovariate(1.0), rng.betavariate(1, 1), rng.triangular(),
            rng.getrandbits(8), rng.seed(1), rng.seed("text"), rng.getstate(), rng.randbytes(2))


def _exercise_enum(enum) -> object:
    class Move(enum.IntEnum):
        NORTH = 0
        EAST = 1

    class Mode(enum.Enum):
        HARVEST = "harvest"
        CLEAN = enum.auto()

    class Flags(enum.IntFlag):
        A = 1
        B = 2

    return (Move(1), Move.NORTH.name, list(Move), Move["EAST"], int(Move.EAST) + 1, repr(Mode.CLEAN), str(Mode.HARVEST),
            Mode("harvest"), Flags.A | Flags.B, Mode.HARVEST == Mode.HARVEST, hash(Move.NORTH), len(Mode),
            f"{Move.EAST}", format(Mode.HARVEST), Move.EAST.value, sorted(Move), max(Move), Move.NORTH in Move)


def _exercise_shims(shims) -> object:
    @shims.dataclass(frozen=True, order=True)
    class Cell:
        row: int
        col: int = 0

    @shims.dataclass
    class Memory:
        seen: list = shims.field(default_factory=list)
        target: object = None

    Point = shims.namedtuple("Point", "row col", defaults=(0,))

    class Step(shims.NamedTuple):
        cost: int
        cell: tuple = (0, 0)

    memory = Memory()
    memory.seen.append(Cell(1, 2))
    return (Cell(1) < Cell(2), hash(Cell(1, 1)), repr(memory), shims.asdict(memory), shims.astuple(Cell(1, 2)),
            shims.replace(Cell(1, 2), col=3), shims.fields(Cell), Point(1), Point(1, 2).row, repr(Point(1)),
            Point(1)._asdict(), Step(2) < Step(3), Step(1).cell, shims.is_dataclass(memory), sorted([Cell(2), Cell(1)]))


STDLIB_OPERATIONS = _stdlib_operations


def warm_up() -> list[str]:
    """Run every operation of :data:`NUMPY_OPERATIONS` and :data:`STDLIB_OPERATIONS` once (trusted
    code, before the worker seals). Returns the names of operations that failed unexpectedly
    (the worker reports them in its start-up details; the list is empty on a supported numpy)."""
    failed = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, operation in [*NUMPY_OPERATIONS(), *STDLIB_OPERATIONS()]:
            try:
                operation()
            except Exception as error:  # noqa: BLE001 - one missing function must not stop the worker
                failed.append(f"{name}: {type(error).__name__}: {error}"[:200])
    return failed
