from django.conf import settings

from inference.configuration import configured_embedding_head
from inference.versions import SALIENCY_LABELS


def models(request) -> dict:
    """Name the models in use on every page, so a person knows what drew the overlays."""
    return {
        "saliency_model_label": SALIENCY_LABELS.get(settings.SALIENCY_MODEL, settings.SALIENCY_MODEL),
        "embedding_label": "EfficientNet-Lite0, "
        + ("a trained ArcFace head" if configured_embedding_head() else "ImageNet features")
        + ", 128-D",
    }
