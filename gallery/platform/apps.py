from django.apps import AppConfig


class PlatformConfig(AppConfig):
    """Installed for its management command (`serve`); it has no models."""

    name = "gallery.platform"
    label = "platform"
