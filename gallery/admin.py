from django import forms
from django.contrib import admin, messages

from gallery import services
from gallery.models import Image


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


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    list_display = ["__str__", "owner", "visibility", "width", "height", "created"]
    list_filter = ["visibility"]
    search_fields = ["title", "owner__username", "sha256"]
    readonly_fields = ["file", "content_type", "sha256", "size_bytes", "width", "height", "created"]
    actions = ["reanalyse"]

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

    @admin.action(description="Re-analyse with the active model version")
    def reanalyse(self, request, queryset):
        from inference.services import images_reindex

        count = images_reindex(image_ids=[str(pk) for pk in queryset.values_list("id", flat=True)])
        self.message_user(request, f"Queued {count} photo(s) for analysis.", messages.SUCCESS)
