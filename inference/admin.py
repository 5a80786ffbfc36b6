from django.contrib import admin, messages

from inference.models import AnalysisStatus, ImageAnalysis, ImageEmbedding
from inference.services import analysis_retry, analysis_sweep, images_reindex


@admin.register(ImageAnalysis)
class ImageAnalysisAdmin(admin.ModelAdmin):
    list_display = ["image", "model_version", "status", "attempts", "queued_at", "finished_at", "short_error"]
    list_filter = ["status", "model_version"]
    search_fields = ["image__id", "image__title", "error"]
    readonly_fields = [f.name for f in ImageAnalysis._meta.fields]
    actions = ["retry", "reanalyse", "sweep_now"]

    def has_add_permission(self, request):
        return False

    @admin.display(description="error")
    def short_error(self, analysis):
        return analysis.error[:80]

    @admin.action(description="Retry failed or stuck analyses")
    def retry(self, request, queryset):
        todo = queryset.exclude(status=AnalysisStatus.DONE)
        for analysis in todo:
            analysis_retry(analysis=analysis)
        self.message_user(request, f"Queued {len(todo)} analysis(es) again.", messages.SUCCESS)

    @admin.action(description="Re-analyse these photos with the active model version")
    def reanalyse(self, request, queryset):
        count = images_reindex(image_ids=[str(i) for i in queryset.values_list("image_id", flat=True).distinct()])
        self.message_user(request, f"Queued {count} photo(s) for analysis.", messages.SUCCESS)

    @admin.action(description="Run the sweep now (queue missing and stuck analyses)")
    def sweep_now(self, request, queryset):
        self.message_user(request, f"Sweep: {analysis_sweep()}", messages.SUCCESS)


@admin.register(ImageEmbedding)
class ImageEmbeddingAdmin(admin.ModelAdmin):
    list_display = ["image", "model_version", "created"]
    list_filter = ["model_version"]
    exclude = ["vector", "whole_vector", "crop_vector"]
    readonly_fields = ["image", "model_version", "created"]

    def has_add_permission(self, request):
        return False
