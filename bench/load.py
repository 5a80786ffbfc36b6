"""Load benchmark: many concurrent clients against the whole app on this machine, then an audit
that every accepted upload is in the database and analysed exactly once.

    .venv/bin/python bench/load.py [--clients 50] [--seconds 60] [--users N]

Starts `manage.py serve` (gunicorn, a Celery worker with beat, embedded PostgreSQL and Redis) on
a private data directory, seeds a few analysed public photos, then runs --clients threads for
--seconds, each looping over a weighted mix of requests: API uploads, gallery pages, photo pages
(which run the similar-photos query), the similar API, the photo-list API and thumbnails, each
client signed in as its own account (the API's default throttles apply). Prints
one JSON line: per kind requests, errors and p50/p95 ms; then the upload audit. Not a test: it
never fails on a time (it exits 1 only when an upload is lost, to be loud about it).

    .venv/bin/python bench/load.py --realistic [--sessions 200] [--import-photos 200] [--library 200] [--seconds 60]

Realistic mode: --sessions people, each signed in (a browser session), look at a page, think for
1 to 3 seconds, and go on: the public gallery, their own photos, a photo page (with its similar
photos) and the next page of similar photos, in a library of --library analysed public photos
(imported before the clock starts). First for --seconds with nothing else running, then
while `manage.py import_images` brings in --import-photos new 1024x768 photos and the workers
analyse them (until every one is done). Prints page p50/p95 ms for both phases, from the same
run, the ratio of the two p95s, the import's photos per second and the load average.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import itertools
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import requests
from _harness import ROOT, process_group_stop

# kind -> weight in the mix
MIX = {"upload": 1, "gallery_page": 3, "photo_page": 2, "similar_api": 2, "api_list": 2, "thumbnail": 3}
SEED_PHOTOS = 12
UPLOAD_SIZE = (800, 600)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--users", type=int, default=0, help="accounts the clients share (default: one each)")
    parser.add_argument("--drain-timeout", type=float, default=900, help="seconds to wait for analyses afterwards")
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    parser.add_argument("--realistic", action="store_true", help="browsing sessions with and without an import")
    parser.add_argument("--sessions", type=int, default=200, help="realistic mode: signed-in browsing sessions")
    parser.add_argument("--import-photos", type=int, default=200, help="realistic mode: photos imported")
    parser.add_argument("--library", type=int, default=200,
                        help="realistic mode: public photos imported and analysed before the clock starts")
    parser.add_argument("--worker-niceness", type=int, help="WORKER_NICENESS for the worker (default: the setting's)")
    args = parser.parse_args()
    args.users = args.users or args.clients

    var_dir = Path(tempfile.mkdtemp(prefix="gallery-load-"))
    if not args.keep:
        # Registered before Django attaches to the embedded servers, so it runs after their exit
        # handlers have stopped them (atexit runs last-registered first).
        atexit.register(shutil.rmtree, var_dir, True)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL")}
    env.update(GALLERY_VAR_DIR=str(var_dir), DJANGO_SETTINGS_MODULE="gallery.config.settings.base", DJANGO_DEBUG="0",
               LOG_LEVEL="WARNING", MODEL_CACHE_DIR=str(_model_cache()))
    if args.worker_niceness is not None:
        env["WORKER_NICENESS"] = str(args.worker_niceness)
    os.environ.update(env)
    server_log = open(var_dir / "serve.log", "w")  # noqa: SIM115
    server = subprocess.Popen([sys.executable, "manage.py", "serve", "--port", str(port)], cwd=ROOT, env=env,
                              stdout=server_log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait(lambda: _answers(base), 180, "the site to answer")
        import django

        from gallery.platform.embedded import services_attach

        services_attach()  # attaches to the embedded servers `serve` started (as a second holder)
        django.setup()
        if args.realistic:
            result = _realistic(base, env, var_dir, sessions=args.sessions, photos=args.import_photos,
                                library=args.library, seconds=args.seconds, timeout=args.drain_timeout,
                                server_pid=server.pid)
        else:
            users = _users_create(args.users)
            seeded = _seed(base, users)
            result = _drive(base, users, seeded, clients=args.clients, seconds=args.seconds)
            result["audit"] = _audit(base, users, result.pop("uploaded_ids"), args.drain_timeout)
    finally:
        process_group_stop(server, signal.SIGINT)  # serve's own Ctrl-C path stops its children
        server_log.close()
    if args.realistic:
        result.update(cpus=os.cpu_count(), worker_niceness=env.get("WORKER_NICENESS", "default (10)"))
        print(json.dumps(result))
        sys.exit(1 if result["import"]["lost"] else 0)
    result.update(clients=args.clients, seconds=args.seconds, users=args.users, cpus=os.cpu_count(),
                  load_average_at_end=[round(v, 2) for v in os.getloadavg()])
    print(json.dumps(result))
    sys.exit(1 if result["audit"]["lost"] else 0)


def _model_cache() -> Path:
    # Reuse converted weights (the first conversion takes ~30 s and is not what is measured).
    for candidate in (ROOT / "var" / "models", ROOT / "var" / "test" / "models"):
        if candidate.exists():
            return candidate
    return ROOT / "var" / "models"


def _users_create(count: int) -> list[dict]:
    from django.contrib.auth import get_user_model
    from knox.models import AuthToken

    users = []
    for i in range(count):
        user = get_user_model().objects.create_user(f"load{i}", password=f"load-pass-{i}-xyz")
        users.append({"username": user.username, "password": f"load-pass-{i}-xyz",
                      "token": AuthToken.objects.create(user=user)[1]})
    return users


def _photo(seed: int) -> bytes:
    from tests.conftest import photo_bytes

    return photo_bytes(seed, size=UPLOAD_SIZE)


def _seed(base: str, users: list[dict]) -> list[str]:
    """Public photos every client can look at, analysed before the clock starts."""
    api = _api_session(users[0])
    ids = []
    for seed in range(SEED_PHOTOS):
        response = api.post(f"{base}/api/v1/photos/", files={"file": (f"seed{seed}.jpg", _photo(seed))},
                            data={"visibility": "public"}, timeout=60)
        response.raise_for_status()
        ids.append(response.json()["id"])
    _wait(lambda: _states(base, users[0], ids).count("done") == len(ids), 600, "the seed photos to be analysed")
    return ids


def _api_session(user: dict) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Token {user['token']}"
    return session


def _web_session(base: str, user: dict) -> requests.Session:
    session = requests.Session()
    page = session.get(f"{base}/accounts/login/", timeout=60)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    response = session.post(f"{base}/accounts/login/", timeout=60, allow_redirects=False,
                            data={"username": user["username"], "password": user["password"],
                                  "csrfmiddlewaretoken": token}, headers={"Referer": f"{base}/accounts/login/"})
    assert response.status_code == 302, f"login failed: {response.status_code}"
    return session


def _drive(base: str, users: list[dict], photo_ids: list[str], *, clients: int, seconds: float) -> dict:
    latencies: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, int] = defaultdict(int)
    error_samples: list[str] = []
    uploaded: dict[str, list[str]] = defaultdict(list)  # username -> accepted photo ids
    lock = threading.Lock()
    seeds = itertools.count(10_000)
    kinds, weights = zip(*MIX.items(), strict=True)
    sessions = [(users[i % len(users)], _web_session(base, users[i % len(users)]), _api_session(users[i % len(users)]))
                for i in range(clients)]
    start_gate = threading.Barrier(clients + 1)
    deadline = [0.0]

    def request(kind: str, user: dict, web: requests.Session, api: requests.Session, rng: random.Random):
        photo = rng.choice(photo_ids)
        if kind == "upload":
            with lock:
                seed = next(seeds)
            return api.post(f"{base}/api/v1/photos/", files={"file": (f"u{seed}.jpg", _photo(seed))}, timeout=120), 201
        if kind == "gallery_page":
            return web.get(f"{base}/" if rng.random() < 0.5 else f"{base}/mine/", timeout=120), 200
        if kind == "photo_page":
            return web.get(f"{base}/photos/{photo}/", timeout=120), 200
        if kind == "similar_api":
            return api.get(f"{base}/api/v1/photos/{photo}/similar/", timeout=120), 200
        if kind == "api_list":
            return api.get(f"{base}/api/v1/photos/", timeout=120), 200
        return web.get(f"{base}/photos/{photo}/thumbnail/square.jpg", timeout=120), 200

    def client(index: int) -> None:
        user, web, api = sessions[index]
        rng = random.Random(index)
        start_gate.wait()
        while time.monotonic() < deadline[0]:
            kind = rng.choices(kinds, weights)[0]
            started = time.monotonic()
            try:
                response, expected = request(kind, user, web, api, rng)
                ok = response.status_code == expected
                detail = f"{kind}: HTTP {response.status_code} {response.text[:200]!r}"
            except requests.RequestException as exc:
                ok, detail, response = False, f"{kind}: {type(exc).__name__}: {exc}", None
            elapsed_ms = (time.monotonic() - started) * 1000
            with lock:
                latencies[kind].append(elapsed_ms)
                if not ok:
                    errors[kind] += 1
                    if len(error_samples) < 10:
                        error_samples.append(detail)
                elif kind == "upload":
                    uploaded[user["username"]].append(response.json()["id"])

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    deadline[0] = time.monotonic() + seconds
    started = time.monotonic()
    start_gate.wait()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - started

    def pct(values: list[float], q: float) -> float:
        return round(statistics.quantiles(values, n=100)[q - 1], 1) if len(values) > 1 else round(values[0], 1)

    per_kind = {kind: {"requests": len(values), "errors": errors[kind], "p50_ms": pct(values, 50),
                       "p95_ms": pct(values, 95)} for kind, values in sorted(latencies.items())}
    total = sum(len(v) for v in latencies.values())
    return {"requests": total, "errors": sum(errors.values()), "requests_per_s": round(total / wall, 1),
            "kinds": per_kind, "error_samples": error_samples,
            "uploaded_ids": {user["username"]: uploaded[user["username"]] for user in users}}


# --- realistic mode ---------------------------------------------------------------------------

# A page view: kind -> weight. The photo page runs the similar-photos query; "similar_more" is
# the next page of similar photos the photo page fetches on "Show more".
PAGE_MIX = {"gallery_page": 3, "my_photos": 1, "photo_page": 4, "similar_more": 2}
THINK_S = (1.0, 3.0)


def _realistic(base: str, env: dict, var_dir: Path, *, sessions: int, photos: int, library: int, seconds: float,
               timeout: float, server_pid: int) -> dict:
    """Page latencies of signed-in browsing sessions without, then during, a bulk import.

    A library of public photos is imported and analysed first, so pages show as many photos and
    similar results in both phases (with a dozen photos they are cheaper before the import)."""
    from django.contrib.auth import get_user_model

    from gallery.models import Image

    users = _users_create(1)  # the seed photos' owner (an API client)
    seeded = _seed(base, users)
    people = _browsers_create(base, sessions)
    folder = var_dir / "import"
    folder.mkdir()
    for i in range(photos):  # written before the clock starts: the import reads a folder
        (folder / f"import-{i:04d}.jpg").write_bytes(_photo_sized(20_000 + i, (1024, 768)))
    get_user_model().objects.create_user("importer")
    if library:
        shelf = var_dir / "library"
        shelf.mkdir()
        for i in range(library):
            (shelf / f"library-{i:04d}.jpg").write_bytes(_photo_sized(40_000 + i, (1024, 768)))
        subprocess.run([sys.executable, "manage.py", "import_images", str(shelf), "--user", "load0", "--public",
                        "--verbosity", "0"], cwd=ROOT, env={**os.environ, **env}, check=True,
                       stdout=subprocess.DEVNULL)  # stdout is the JSON line
        _wait(lambda: Image.objects.filter(owner__username="load0").exclude(
            analysis_status__in=["done", "failed"]).count() == 0, timeout, "the library to be analysed")
        seeded = [str(i) for i in Image.objects.filter(owner__username="load0").values_list("id", flat=True)]

    import psutil

    cpu, machine = _cpu_by_kind(server_pid, var_dir), psutil.cpu_times()
    quiet = _browse(base, people, seeded, until=lambda: True, seconds=seconds)
    load_quiet = [round(v, 2) for v in os.getloadavg()]
    quiet["cpu_s"], cpu = _cpu_spent(cpu, _cpu_by_kind(server_pid, var_dir))
    quiet["machine_cores"], machine = _machine_cores(machine, psutil.cpu_times(), quiet["seconds"])

    import resource

    reaped_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    importer = subprocess.Popen([sys.executable, "manage.py", "import_images", str(folder), "--user", "importer",
                                 "--public"], cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                                stderr=subprocess.STDOUT, start_new_session=True)
    started = time.monotonic()
    analysed = {"n": 0, "at": None}

    def importing() -> bool:
        """True while the import or its analyses are running (checked about once a second)."""
        done = Image.objects.filter(owner__username="importer", analysis_status__in=["done", "failed"]).count()
        analysed["n"] = done
        if done >= photos and importer.poll() is not None:
            analysed["at"] = analysed["at"] or time.monotonic()
            return False
        return time.monotonic() - started < timeout

    busy = _browse(base, people, seeded, until=importing, seconds=timeout)
    if importer.poll() is None:
        process_group_stop(importer, signal.SIGTERM)
    load_busy = [round(v, 2) for v in os.getloadavg()]
    busy["cpu_s"], _ = _cpu_spent(cpu, _cpu_by_kind(server_pid, var_dir, importer.pid))
    busy["machine_cores"], _ = _machine_cores(machine, psutil.cpu_times(), busy["seconds"])
    importer.wait()
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN)  # the import command, once it has exited
    busy["cpu_s"]["import"] = round(reaped.ru_utime + reaped.ru_stime - reaped_before.ru_utime
                                    - reaped_before.ru_stime, 1)
    imported = Image.objects.filter(owner__username="importer").count()
    import_s = (analysed["at"] or time.monotonic()) - started
    return {
        "mode": "realistic",
        "sessions": sessions,
        "library": len(seeded),
        "think_s": list(THINK_S),
        "without_import": {**quiet, "load_average": load_quiet},
        "during_import": {**busy, "load_average": load_busy},
        "page_p95_ratio": round(busy["pages"]["p95_ms"] / quiet["pages"]["p95_ms"], 2),
        "import": {"photos": photos, "imported": imported, "analysed": analysed["n"], "lost": photos - imported,
                   "seconds": round(import_s, 1), "photos_per_second": round(analysed["n"] / import_s, 2)},
    }


def _cpu_by_kind(server_pid: int, var_dir: Path, *extra_pids: int) -> dict:
    """CPU seconds used so far by this app's processes, by kind (web, worker, database, broker,
    import, and this benchmark's own clients), per pid so a process that ends is not subtracted."""
    import psutil

    kinds = {"gunicorn": "web", "celery": "worker", "postgres": "database", "redis": "broker",
             "import_images": "import"}
    found: dict = {}
    roots = [psutil.Process(server_pid), psutil.Process(os.getpid())]
    # The embedded servers run detached from `serve`: found by their pid files.
    for pid_file in (var_dir / "pg" / "postmaster.pid", var_dir / "redis" / "redis.pid"):
        if pid_file.exists():
            extra_pids += (int(pid_file.read_text().split()[0]),)
    roots += [psutil.Process(pid) for pid in extra_pids if psutil.pid_exists(pid)]
    seen = set()
    for process in [p for root in roots for p in (root, *root.children(recursive=True))]:
        if process.pid in seen:
            continue
        seen.add(process.pid)
        try:
            line = " ".join(process.cmdline()) or process.name()
            times = process.cpu_times()
        except psutil.Error:
            continue
        kind = next((k for word, k in kinds.items() if word in line), None)
        if process.pid == os.getpid():
            kind = "clients"
        if kind:
            found[process.pid] = (kind, times.user + times.system)
    return found


def _machine_cores(before, after, seconds: float) -> tuple[dict, object]:
    """The whole machine's time between two psutil.cpu_times() samples, in cores: what was left idle,
    what the host took (steal: a virtual machine's neighbours), what niced processes (the worker,
    the import) and everything else used. Pages slowing while idle stays high point at the app;
    with idle at zero, at the machine (README, "Under load")."""
    fields = [name for name in ("user", "nice", "system", "idle", "iowait", "steal") if hasattr(after, name)]
    wall = max(seconds, 1e-9)
    return {name: round((getattr(after, name) - getattr(before, name)) / wall, 2) for name in fields}, after


def _cpu_spent(before: dict, after: dict) -> tuple[dict, dict]:
    spent: dict[str, float] = defaultdict(float)
    for pid, (kind, seconds) in after.items():
        spent[kind] += seconds - before.get(pid, (kind, 0.0))[1]
    return {kind: round(seconds, 1) for kind, seconds in sorted(spent.items())}, after


def _photo_sized(seed: int, size: tuple[int, int]) -> bytes:
    from tests.conftest import photo_bytes

    return photo_bytes(seed, size=size)


def _browsers_create(base: str, count: int) -> list[requests.Session]:
    """Signed-in browser sessions. Logged in server-side (Client.force_login writes the session
    where the site reads it): 200 password checks would cost minutes of CPU before the clock starts."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    model = get_user_model()
    people = model.objects.bulk_create([model(username=f"browser{i}") for i in range(count)])
    sessions = []
    for person in people:
        client = Client()
        client.force_login(person)
        session = requests.Session()
        session.cookies.set(settings.SESSION_COOKIE_NAME, client.cookies[settings.SESSION_COOKIE_NAME].value)
        sessions.append(session)
    return sessions


def _browse(base: str, people: list[requests.Session], photo_ids: list[str], *, until, seconds: float) -> dict:
    """Every session browses (a page, 1-3 s of thought, the next) for ``seconds`` or until
    ``until()`` turns False; page latencies per kind and over all pages."""
    latencies: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, int] = defaultdict(int)
    samples: list[str] = []
    lock = threading.Lock()
    kinds, weights = zip(*PAGE_MIX.items(), strict=True)
    stop = threading.Event()

    def url(kind: str, rng: random.Random) -> str:
        photo = rng.choice(photo_ids)
        return {"gallery_page": f"{base}/", "my_photos": f"{base}/mine/", "photo_page": f"{base}/photos/{photo}/",
                "similar_more": f"{base}/photos/{photo}/similar?offset=12"}[kind]

    def person(index: int) -> None:
        rng = random.Random(1000 + index)
        stop.wait(rng.uniform(0, THINK_S[1]))  # people arrive spread out, not all at once
        while not stop.is_set():
            kind = rng.choices(kinds, weights)[0]
            started = time.monotonic()
            try:
                response = people[index].get(url(kind, rng), timeout=60, allow_redirects=False)
                ok, detail = response.status_code == 200, f"{kind}: HTTP {response.status_code}"
            except requests.RequestException as exc:
                ok, detail = False, f"{kind}: {type(exc).__name__}: {exc}"
            elapsed_ms = (time.monotonic() - started) * 1000
            with lock:
                latencies[kind].append(elapsed_ms)
                if not ok:
                    errors[kind] += 1
                    if len(samples) < 10:
                        samples.append(detail)
            stop.wait(rng.uniform(*THINK_S))

    threads = [threading.Thread(target=person, args=(i,), daemon=True) for i in range(len(people))]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    while time.monotonic() - started < seconds and until():
        time.sleep(1)
    stop.set()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - started
    pages = [ms for values in latencies.values() for ms in values]
    return {"seconds": round(wall, 1), "pages": _summary(pages, sum(errors.values()), wall),
            "kinds": {kind: _summary(values, errors[kind], wall) for kind, values in sorted(latencies.items())},
            "error_samples": samples}


def _summary(values: list[float], errors: int, wall: float) -> dict:
    cuts = statistics.quantiles(values, n=100) if len(values) > 1 else [values[0]] * 99
    return {"requests": len(values), "errors": errors, "per_s": round(len(values) / wall, 1),
            "p50_ms": round(cuts[49], 1), "p95_ms": round(cuts[94], 1)}


def _states(base: str, user: dict, ids: list[str]) -> list[str]:
    session = _web_session(base, user) if "session" not in user else user["session"]
    user["session"] = session
    states = []
    for i in range(0, len(ids), 100):
        response = session.get(f"{base}/photos/status.json", params={"ids": ",".join(ids[i:i + 100])}, timeout=60)
        states += [photo["status"] for photo in response.json()["photos"]]
    return states


def _audit(base: str, users: list[dict], uploaded: dict[str, list[str]], timeout: float) -> dict:
    """After the run: every accepted upload has its row and ends analysed, exactly once."""
    from django.db.models import Count

    from gallery.models import Image
    from inference.configuration import configured_model_version
    from inference.models import ImageAnalysis, ImageEmbedding

    configured_version = configured_model_version()

    ids = [image_id for per_user in uploaded.values() for image_id in per_user]
    started = time.monotonic()

    def finished() -> bool:
        return ImageAnalysis.objects.filter(image_id__in=ids, model_version=configured_version,
                                            status__in=["done", "failed"]).count() == len(ids)

    with contextlib.suppress(TimeoutError):  # the audit below says what did not finish
        _wait(finished, timeout, "every upload to be analysed")
    rows = set(map(str, Image.objects.filter(id__in=ids).values_list("id", flat=True)))
    per_image = (ImageAnalysis.objects.filter(image_id__in=ids, model_version=configured_version)
                 .values("image_id").annotate(n=Count("id")))
    bench_users = [u["username"] for u in users]
    return {
        "uploads_accepted": len(ids),
        "rows": len(rows),
        "lost": len(set(ids) - rows),
        "unexpected_rows": Image.objects.filter(owner__username__in=bench_users).count() - SEED_PHOTOS - len(ids),
        "analysed_done": ImageAnalysis.objects.filter(image_id__in=ids, model_version=configured_version,
                                                      status="done").count(),
        "analysis_failed": ImageAnalysis.objects.filter(image_id__in=ids, status="failed").count(),
        "duplicate_analyses": sum(1 for row in per_image if row["n"] > 1),
        "embeddings": ImageEmbedding.objects.filter(image_id__in=ids, model_version=configured_version).count(),
        "drain_s": round(time.monotonic() - started, 1),
    }


def _answers(base: str) -> bool:
    try:
        return requests.get(f"{base}/", timeout=5).status_code == 200
    except requests.RequestException:
        return False


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(1)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


if __name__ == "__main__":
    main()
