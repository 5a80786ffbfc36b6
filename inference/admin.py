"""Operators' view of the background work: analyses, model versions, jobs. Thin: every button
calls a service in inference.services, and every change is written to the admin history."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.models import CHANGE, LogEntry
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.views.decorators.http import require_POST
from kombu.exceptions import OperationalError as KombuOperationalError

from inference import selectors, services
from inference.models import ImageAnalysis, ImageEmbedding, ModelVersion, VersionStatus
from inference.services import ReindexScope, VersionSwitchError


def log_bulk_change(request: HttpRequest, queryset, message: str) -> None:
    """One admin-history entry per object, written in one query."""
    LogEntry.objects.log_actions(user_id=request.user.pk, queryset=queryset, action_flag=CHANGE,
                                 change_message=message)


def reindex_message(result: services.ReindexMarked) -> tuple[str, int]:
    text = f"Marked {result.marked} photo(s) for analysis with {result.version} ({result.scope})."
    if result.built_by_workers:
        return text + " The sweep queues them in batches; watch the progress on Model versions.", messages.SUCCESS
    return (text + f" The workers build {selectors.version_built_by_workers()}, not this version: the marks wait"
            " until workers configured with its models are started.", messages.WARNING)


@admin.register(ImageAnalysis)
class ImageAnalysisAdmin(admin.ModelAdmin):
    list_display = ["image", "model_version", "status", "attempts", "worker", "queued_at", "finished_at",
                    "short_error"]
    list_filter = ["status", "model_version", "worker"]
    search_fields = ["image__id", "image__title", "error", "worker"]
    readonly_fields = [f.name for f in ImageAnalysis._meta.fields]
    list_select_related = ["image"]
    actions = ["retry", "reanalyse", "sweep_now"]

    def has_add_permission(self, request):
        return False

    @admin.display(description="error")
    def short_error(self, analysis):
        return analysis.error[:120]

    @admin.action(description="Retry failed or stuck analyses")
    def retry(self, request, queryset):
        queued = marked = 0
        refused: dict[str, int] = {}
        for analysis in queryset:
            try:
                if analysis_retry_logged(self, request, analysis):
                    queued += 1
                else:
                    marked += 1
            except services.RetryRefused as exc:
                refused[exc.message] = refused.get(exc.message, 0) + 1
        self.message_user(request, f"Queued {queued} analysis(es) again.", messages.SUCCESS)
        if marked:
            self.message_user(request, f"{marked} belong to a version the workers do not build "
                              f"({selectors.version_built_by_workers()}): marked, they wait for workers "
                              "configured with that version's models.", messages.WARNING)
        for reason, count in refused.items():
            self.message_user(request, f"{count} not retried: {reason}", messages.INFO)

    @admin.action(description="Re-analyse these photos (same model version, through the sweep)")
    def reanalyse(self, request, queryset):
        by_version: dict[str, list[str]] = {}
        for image_id, version in queryset.values_list("image_id", "model_version"):
            by_version.setdefault(version, []).append(str(image_id))
        for version, image_ids in by_version.items():
            result = services.reindex_mark(version=version, scope=ReindexScope.ALL, image_ids=image_ids)
            self.message_user(request, *reindex_message(result))
        log_bulk_change(request, queryset, "Marked for re-analysis.")

    @admin.action(description="Run the sweep now (queue marked, missing and stuck analyses)")
    def sweep_now(self, request, queryset):
        sweep_queue_logged(self, request)


def sweep_queue_logged(model_admin: admin.ModelAdmin, request: HttpRequest) -> None:
    """Queue one sweep now (it runs on a worker, never in the request), noted on the version it serves."""
    from inference.tasks import analysis_sweep_task

    try:
        analysis_sweep_task.delay()
    except (KombuOperationalError, OSError):
        model_admin.message_user(request, "The queue (Redis) is not answering, so the sweep was not queued; "
                                          "beat runs it once the queue is back.", messages.ERROR)
        return
    version = ModelVersion.objects.filter(name=selectors.version_built_by_workers()).first()
    if version is not None:
        model_admin.log_change(request, version, "Ran the sweep.")
    model_admin.message_user(request, "The sweep was queued; a worker runs it in a moment.", messages.SUCCESS)


def analysis_retry_logged(model_admin: admin.ModelAdmin, request: HttpRequest, analysis: ImageAnalysis) -> bool:
    """services.analysis_retry (RetryRefused included), written to the admin history when it happened."""
    queued = services.analysis_retry(analysis=analysis)
    model_admin.log_change(request, analysis, "Retried." if queued else "Marked for retry by its version's workers.")
    return queued


class ImageAnalysisInline(admin.TabularInline):
    """Every model version's analysis of a photo (on the photo's admin page), failures with their error."""

    model = ImageAnalysis
    fields = ["model_version", "status", "error", "attempts", "worker", "queued_at", "started_at", "finished_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ImageEmbedding)
class ImageEmbeddingAdmin(admin.ModelAdmin):
    list_display = ["image", "model_version", "created"]
    list_filter = ["model_version"]
    exclude = ["vector", "whole_vector", "crop_vector"]
    readonly_fields = ["image", "model_version", "created"]

    def has_add_permission(self, request):
        return False


class ReindexForm(forms.Form):
    scope = forms.ChoiceField(choices=ReindexScope.choices, initial=ReindexScope.MISSING, widget=forms.RadioSelect)
    version = forms.ChoiceField(help_text="Only the version the workers build can get new results now.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        built = selectors.version_built_by_workers()
        names = [built] + [n for n in ModelVersion.objects.exclude(status=VersionStatus.PRUNED)
                           .values_list("name", flat=True) if n != built]
        self.fields["version"].choices = [(n, f"{n} (built by the workers)" if n == built else n) for n in names]
        self.fields["version"].initial = built


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    """The changelist is the model versions page; the jobs dashboard hangs off it."""

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # versions are pruned (rows and files, in the background), never deleted here

    def get_urls(self):
        def view(func, *, post=False):
            wrapped = require_POST(func) if post else func
            return self.admin_site.admin_view(wrapped)

        return [
            path("progress.json", view(self.progress_json), name="inference_modelversion_progress"),
            path("jobs/", view(self.jobs_view), name="inference_jobs"),
            path("jobs/retry/<int:analysis_id>/", view(self.jobs_retry, post=True), name="inference_jobs_retry"),
            path("jobs/sweep/", view(self.jobs_sweep, post=True), name="inference_jobs_sweep"),
            path("reindex/", view(self.reindex, post=True), name="inference_modelversion_reindex"),
            path("rollback/", view(self.rollback, post=True), name="inference_modelversion_rollback"),
            path("<int:version_id>/activate/", view(self.activate, post=True),
                 name="inference_modelversion_activate"),
            path("<int:version_id>/prune/", view(self.prune, post=True), name="inference_modelversion_prune"),
        ] + super().get_urls()

    def _require_change(self, request: HttpRequest) -> None:
        if not self.has_change_permission(request):
            raise PermissionDenied

    def _back(self) -> HttpResponse:
        return redirect("admin:inference_modelversion_changelist")

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "title": "Model versions",
            "opts": self.model._meta,
            "rows": selectors.model_version_list(),
            "serving": selectors.embedding_version_serving(),
            "built": selectors.version_built_by_workers(),
            "reindex_form": ReindexForm(),
            "can_change": self.has_change_permission(request),
        }
        return TemplateResponse(request, "admin/inference/modelversion/versions.html", context)

    def progress_json(self, request: HttpRequest) -> JsonResponse:
        """Polled by the versions page to move its progress bars."""
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        rows = selectors.model_version_list()
        return JsonResponse({
            "serving": selectors.embedding_version_serving(),
            "versions": [
                {"name": r.version.name, "status": r.version.status,
                 "status_label": r.version.get_status_display(), "total": r.coverage.total,
                 "done": r.coverage.done, "failed": r.coverage.failed, "running": r.coverage.running,
                 "queued": r.coverage.queued, "marked": r.coverage.marked, "percent": r.coverage.percent,
                 "complete": r.coverage.complete, "median_ms": r.median_ms}
                for r in rows
            ],
        })

    def reindex(self, request: HttpRequest) -> HttpResponse:
        self._require_change(request)
        form = ReindexForm(request.POST)
        if not form.is_valid():
            self.message_user(request, f"Re-index not started: {form.errors.as_text()}", messages.ERROR)
            return self._back()
        result = services.reindex_mark(version=form.cleaned_data["version"], scope=form.cleaned_data["scope"])
        self.message_user(request, *reindex_message(result))
        self.log_change(request, ModelVersion.objects.get(name=result.version),
                        f"Re-index ({result.scope}): marked {result.marked} photo(s).")
        return self._back()

    def activate(self, request: HttpRequest, version_id: int) -> HttpResponse:
        self._require_change(request)
        version = get_object_or_404(ModelVersion, pk=version_id)
        force = request.POST.get("force") == "1"
        try:
            services.model_version_activate(name=version.name, force=force)
        except VersionSwitchError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return self._back()
        coverage = selectors.version_coverage(name=version.name)
        note = "Activated" + (f" by force at {coverage.percent}% coverage" if not coverage.complete else "") + "."
        self.log_change(request, version, note)
        level = messages.WARNING if not coverage.complete else messages.SUCCESS
        self.message_user(request, f"{version.name}: {note} All search now uses its vectors.", level)
        return self._back()

    def rollback(self, request: HttpRequest) -> HttpResponse:
        self._require_change(request)
        try:
            version = services.model_version_rollback()
        except VersionSwitchError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return self._back()
        self.log_change(request, version, "Rolled back to this version.")
        self.message_user(request, f"Rolled back: search uses {version.name} again.", messages.SUCCESS)
        return self._back()

    def prune(self, request: HttpRequest, version_id: int) -> HttpResponse:
        self._require_change(request)
        version = get_object_or_404(ModelVersion, pk=version_id)
        try:
            services.model_version_prune(name=version.name)
        except VersionSwitchError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return self._back()
        self.log_change(request, version, "Pruned (rows and files deleted in the background).")
        self.message_user(request, f"{version.name}: its vectors, maps and overlays are being deleted.",
                          messages.SUCCESS)
        return self._back()

    def jobs_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "title": "Jobs",
            "opts": self.model._meta,
            "jobs": selectors.jobs_overview(),
            "can_change": self.has_change_permission(request),
            "analysis_changelist": reverse("admin:inference_imageanalysis_changelist"),
        }
        return TemplateResponse(request, "admin/inference/jobs.html", context)

    def jobs_retry(self, request: HttpRequest, analysis_id: int) -> HttpResponse:
        analysis_admin = self.admin_site.get_model_admin(ImageAnalysis)
        if not analysis_admin.has_change_permission(request):
            raise PermissionDenied
        analysis = get_object_or_404(ImageAnalysis, pk=analysis_id)
        try:
            queued = analysis_retry_logged(analysis_admin, request, analysis)
        except services.RetryRefused as exc:
            self.message_user(request, f"{analysis.image}: {exc.message}", messages.INFO)
        else:
            if queued:
                self.message_user(request, f"Queued {analysis.image} again.", messages.SUCCESS)
            else:
                self.message_user(request, f"{analysis.image}: marked for retry. "
                                  f"Its version ({analysis.model_version}) "
                                  "is not the one the workers build; it waits for workers configured with its "
                                  "models.", messages.WARNING)
        return redirect("admin:inference_jobs")

    def jobs_sweep(self, request: HttpRequest) -> HttpResponse:
        self._require_change(request)
        sweep_queue_logged(self, request)
        return redirect("admin:inference_jobs")
