from django import forms
from django.contrib.auth.forms import UserCreationForm

from gallery.models import Visibility


class SignupForm(UserCreationForm):
    class Meta(UserCreationForm.Meta):
        fields = ("username",)


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleImageField(forms.FileField):
    """A file field that accepts several files; content checks happen in gallery.services."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": "image/*", "multiple": True}))
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        # Each file is judged on its own by image_create, so one bad file does not sink the rest.
        files = [item for item in (data if isinstance(data, (list, tuple)) else [data]) if item]
        if not files:
            raise forms.ValidationError("Choose one or more photos to upload.", code="required")
        return files


class UploadForm(forms.Form):
    files = MultipleImageField(label="Photos")
    visibility = forms.ChoiceField(choices=Visibility.choices, initial=Visibility.PRIVATE)


class AlbumForm(forms.Form):
    title = forms.CharField(max_length=120, label="Album name")


class ImageEditForm(forms.Form):
    title = forms.CharField(max_length=200, required=False)
    visibility = forms.ChoiceField(choices=Visibility.choices)
