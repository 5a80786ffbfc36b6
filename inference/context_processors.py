from django.conf import settings

from inference.configuration import configured_embedding_head, configured_embedding_model
from inference.versions import EMBEDDING_LABELS, SALIENCY_LABELS


def models(request) -> dict:
    """Name the models in use on every page, so a person knows what drew the overlays and ranked
    the similar photos."""
    model = configured_embedding_model()
    return {
        "saliency_model_label": SALIENCY_LABELS.get(settings.SALIENCY_MODEL, settings.SALIENCY_MODEL),
        "embedding_label": ("EfficientNet-Lite0 features with a trained 128-D ArcFace head"
                            if configured_embedding_head() else EMBEDDING_LABELS.get(model, model)),
    }
