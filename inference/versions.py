"""Model versions, importable without TensorFlow (web processes need them to read results).

Every stored map and vector records the version that made it, and search compares only vectors
of one version. Bump a version whenever its model's output changes: the sweep then re-analyses
every photo in the background.
"""

SALIENCY_VERSION = "spectral-residual-cb-v1"
EMBEDDER_VERSION = "lite0-imagenet-p128-v1"
MODEL_VERSION = f"{SALIENCY_VERSION}+{EMBEDDER_VERSION}"
EMBEDDING_DIM = 128
