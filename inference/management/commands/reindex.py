"""Re-index from the shell: the same marks as the admin's re-index, optionally waiting with a
progress bar until the workers have worked through them."""

from __future__ import annotations

import argparse
import time

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from inference.selectors import embedding_version_serving, version_built_by_workers, version_coverage
from inference.services import ReindexScope, reindex_mark


class Command(BaseCommand):
    help = "Mark photos for analysis (missing by default) and let the sweep and workers do them."

    def create_parser(self, prog_name, subcommand, **kwargs):
        # --version is the model version here, as the operators' docs say; Django's own --version
        # (which prints the Django release) gives way.
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser):
        scope = parser.add_mutually_exclusive_group()
        scope.add_argument("--missing", dest="scope", action="store_const", const=ReindexScope.MISSING,
                           help="photos with no analysis of the version (the default)")
        scope.add_argument("--failed", dest="scope", action="store_const", const=ReindexScope.FAILED,
                           help="photos whose analysis failed")
        scope.add_argument("--all", dest="scope", action="store_const", const=ReindexScope.ALL,
                           help="every photo; finished ones are redone (they keep serving meanwhile)")
        parser.add_argument("--version", dest="model_version", metavar="V",
                            help="model version (default: the one the workers build)")
        parser.add_argument("--wait", action="store_true", help="show progress until every photo is finished")
        parser.add_argument("--poll", type=float, default=2.0, help=argparse.SUPPRESS)  # tests poll faster
        parser.add_argument("--timeout", type=float, default=0, help="with --wait: give up after this many "
                            "seconds (0: never); the marks stay and the work goes on")

    def handle(self, *args, scope=None, model_version=None, wait=False, poll=2.0, timeout=0, **options):
        scope = scope or ReindexScope.MISSING
        built = version_built_by_workers()
        version = model_version or built
        result = reindex_mark(version=version, scope=scope)
        self.stdout.write(f"Marked {result.marked} photo(s) for {version} ({scope}).")
        self.stdout.write(f"Search uses {embedding_version_serving()}; the workers build {built}.")
        if not result.built_by_workers:
            self.stderr.write(self.style.WARNING(
                f"{version} is not the version the workers build: the marks wait until workers configured "
                "with its models (SALIENCY_MODEL, EMBEDDING_MODEL, EMBEDDING_HEAD) are started."))
        if not wait:
            self.stdout.write("The sweep queues them in batches; follow the progress in the admin "
                              "(Model versions) or run again with --wait.")
            return
        if not result.built_by_workers:
            raise CommandError("--wait would never finish: no running worker builds this version.")
        self._wait(version, poll=poll, timeout=timeout)

    def _wait(self, version: str, *, poll: float, timeout: float) -> None:
        started = time.monotonic()
        coverage = version_coverage(name=version)
        with tqdm(total=coverage.total, initial=coverage.finished, unit="photo", desc=version[:40],
                  file=self.stderr._out) as bar:
            while not coverage.complete:
                if timeout and time.monotonic() - started > timeout:
                    break
                time.sleep(poll)
                coverage = version_coverage(name=version)
                bar.total = coverage.total
                bar.update(coverage.finished - bar.n)
                bar.set_postfix(running=coverage.running, failed=coverage.failed)
        elapsed = time.monotonic() - started
        summary = (f"{version}: {coverage.done} done, {coverage.failed} failed, {coverage.unfinished} unfinished "
                   f"of {coverage.total} photos in {elapsed:.0f} s.")
        if coverage.failed:
            summary += " Failed ones: admin > Jobs, or `reindex --failed` after fixing the cause."
        if not coverage.complete:
            raise CommandError(summary + " Gave up waiting; the work goes on in the background.")
        self.stdout.write(self.style.SUCCESS(summary))
