from django import forms


class PhotoSearchForm(forms.Form):
    photo = forms.FileField(label="Photo", widget=forms.ClearableFileInput(attrs={"accept": "image/*"}))


class RegionSearchForm(forms.Form):
    """A box in the photo's pixels; the photo page's script fills these from the drawn rectangle."""

    left = forms.IntegerField(min_value=0)
    top = forms.IntegerField(min_value=0)
    right = forms.IntegerField(min_value=1)
    bottom = forms.IntegerField(min_value=1)

    @property
    def box(self) -> tuple[int, int, int, int]:
        data = self.cleaned_data
        return data["left"], data["top"], data["right"], data["bottom"]
