from django import forms
from django.contrib.auth.forms import UserCreationForm

from gallery.models import Visibility


class SignupForm(UserCreationForm):
    # Optional, but without it a forgotten password cannot be reset.
    email = forms.EmailField(
        required=False,
        label="E-mail (optional)",
        help_text="Only used to send you a link if you forget your password.",
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )

    class Meta(UserCreationForm.Meta):
        fields = ("username", "email")


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


class ProfileForm(forms.Form):
    email = forms.EmailField(
        required=False,
        label="E-mail",
        help_text="Where a password-reset link is sent. Leave empty to have none.",
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )


class AccountDeleteForm(forms.Form):
    """Deleting an account asks for its password: a borrowed, logged-in browser is not enough."""

    password = forms.CharField(
        label="Your password", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise forms.ValidationError("That is not your password.", code="password_incorrect")
        return password
