from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, Subquery
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html

from gallery import services
from gallery.models import Image
from gallery.platform import media

# The admin is where operators steer analysis, so it reads inference's rows and calls its services
# (the gallery's web layer may; its core may not: docs/architecture.md).
from inference.admin import ImageAnalysisInline, log_bulk_change, reindex_message
from inference.models import ImageAnalysis
from inference.selectors import version_built_by_workers
from inference.services import ReindexScope, reindex_mark


class ImageAddForm(forms.ModelForm):
    upload = forms.FileField(help_text="Checked and stored exactly like an upload from the site.")

    class Meta:
        model = Image
        fields = ["owner", "title", "visibility"]

    def clean(self):
        cleaned = super().clean()
        upload = cleaned.get("upload")
        if upload is not None:
            self.upload_bytes = upload.read()
            services.image_inspect(data=self.upload_bytes, filename=upload.name)
        return cleaned


def titled(filter_class: type, title: str) -> type:
    """A list filter with its own heading (a related field's would only say "status")."""

    class Titled(filter_class):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.title = title

    return Titled


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    list_display = ["thumbnail", "__str__", "owner", "visibility", "analysis", "analysis_version", "created"]
    list_filter = [
        "visibility",
        "analysis_status",
        ("analyses__status", titled(admin.ChoicesFieldListFilter, "status of an analysis (any version)")),
        ("analyses__model_version", titled(admin.AllValuesFieldListFilter, "analysed by model version")),
    ]
    search_fields = ["title", "owner__username", "sha256", "=id"]
    list_select_related = ["owner"]
    readonly_fields = ["file", "content_type", "sha256", "size_bytes", "width", "height", "created", "taken_at",
                       "display", "thumbnail_square", "thumbnail_wide", "analysis_status", "analysis_error",
                       "saliency_focus"]
    inlines = [ImageAnalysisInline]
    actions = ["reanalyse"]

    def get_urls(self):
        return [
            path("<uuid:image_id>/thumbnail/", self.admin_site.admin_view(self.thumbnail_view),
                 name="gallery_image_thumbnail"),
        ] + super().get_urls()

    def thumbnail_view(self, request, image_id):
        """The photo's small rendition for staff, whatever its owner and visibility (the site's
        routes hide private photos from everyone but their owner). Before the worker has made the
        thumbnail, the display copy (or the original), scaled down by the browser."""
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        image = get_object_or_404(Image, pk=image_id)
        rendition = next((f for f in (image.thumbnail_wide, image.display) if f), None)
        if rendition is not None:
            return media.file_response(rendition, content_type="image/jpeg", cache_control="private, max-age=300")
        return media.file_response(image.file, content_type=image.content_type, cache_control="private, max-age=300")

    def get_queryset(self, request):
        # The newest analysis of each photo, as correlated subqueries: no query per row.
        newest = ImageAnalysis.objects.filter(image=OuterRef("pk")).order_by("-id")
        return super().get_queryset(request).annotate(
            newest_analysis_status=Subquery(newest.values("status")[:1]),
            newest_analysis_version=Subquery(newest.values("model_version")[:1]),
            newest_analysis_error=Subquery(newest.values("error")[:1]),
        )

    @admin.display(description="photo")
    def thumbnail(self, image):
        return format_html('<img class="admin-thumbnail" src="{}" alt="" loading="lazy">',
                           reverse("admin:gallery_image_thumbnail", args=[image.pk]))

    @admin.display(description="analysis (newest version)", ordering="newest_analysis_status")
    def analysis(self, image):
        status = getattr(image, "newest_analysis_status", None)
        if status is None:
            return "not analysed yet"
        if status == "failed":
            return format_html('failed: <span class="error-text">{}</span>', image.newest_analysis_error)
        return status

    @admin.display(description="model version", ordering="newest_analysis_version")
    def analysis_version(self, image):
        return getattr(image, "newest_analysis_version", None) or "–"

    class Media:
        css = {"all": ["admin-extra/background-work.css"]}

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = ImageAddForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["upload", "owner", "title", "visibility"]
        return super().get_fields(request, obj)

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    def get_inlines(self, request, obj):
        return [] if obj is None else self.inlines

    def save_model(self, request, obj, form, change):
        if change:
            services.image_update(image=obj, title=obj.title, visibility=obj.visibility)
            return
        created = services.image_create(
            owner=form.cleaned_data["owner"],
            data=form.upload_bytes,
            filename=form.cleaned_data["upload"].name,
            title=form.cleaned_data["title"],
            visibility=form.cleaned_data["visibility"],
        )
        # The admin goes on to log and redirect with `obj`; make it the row the service made.
        obj.__dict__.update({f.attname: getattr(created, f.attname) for f in Image._meta.concrete_fields})
        obj._state.adding = False

    def delete_model(self, request, obj):
        services.image_delete(image=obj)

    def delete_queryset(self, request, queryset):
        for image in queryset:
            services.image_delete(image=image)

    @admin.action(description="Re-analyse with the version the workers build (through the sweep)")
    def reanalyse(self, request, queryset):
        result = reindex_mark(version=version_built_by_workers(), scope=ReindexScope.ALL,
                              image_ids=[str(pk) for pk in queryset.values_list("id", flat=True)])
        self.message_user(request, *reindex_message(result))
        log_bulk_change(request, queryset, f"Marked for re-analysis with {result.version}.")
