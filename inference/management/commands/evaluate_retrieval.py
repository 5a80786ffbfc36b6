"""Retrieval quality of the production pipeline on a labelled folder: Recall@1/5/10 and mAP,
leave-one-out over labels, or the INRIA Holidays protocol over groups (--groups)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from inference.embedding.retrieval import DISTRACTORS_FOLDER as DISTRACTORS
from inference.embedding.retrieval import holidays_metrics, metrics_line, retrieval_metrics
from inference.management.commands._photos import photos_decoded


class Command(BaseCommand):
    help = (
        "Embed every photo under DIR/<label>/ with the production pipeline (load_rgb -> Pipeline.analyze) "
        "and print leave-one-out cosine Recall@1/5/10 and mAP of the served (fused) vector, and of the "
        "whole-photo and salient-crop vectors it fuses. Unreadable photos are skipped and listed. "
        "With --groups, DIR/<group>/ holds shots of one scene: the first photo of each group (by name) "
        "queries all others and AP is taken over the rest of its group (the INRIA Holidays protocol); "
        f"photos in DIR/{DISTRACTORS}/ are distractors (bench/scene_groups.py writes such a folder)."
    )

    def add_arguments(self, parser):
        parser.add_argument("dir", type=Path)
        parser.add_argument("--no-crop", action="store_true",
                            help="whole-photo vectors only (no saliency, no crop), as embed_images --no-crop")
        parser.add_argument("--groups", action="store_true",
                            help=f"INRIA Holidays protocol: DIR/<group>/ are shots of one scene, DIR/{DISTRACTORS}/ "
                                 "distractors; one query per group (its first photo by name)")
        parser.add_argument("--head",
                            help="embedding head file to use instead of EMBEDDING_HEAD ('' for EMBEDDING_MODEL)")
        parser.add_argument("--model", help="EMBEDDING_MODEL to use instead of the setting (e.g. lite0-p128)")
        parser.add_argument("--crop-weights", default="",
                            help="also score fusions w*crop + (1-w)*whole for these comma-separated w")

    def handle(self, *args, dir: Path, no_crop: bool, groups: bool, head: str | None, model: str | None,
               crop_weights: str, **options):
        from inference.configuration import (
            configured_embedding_head,
            configured_embedding_model,
            configured_saliency_model,
        )
        from inference.pipeline import Pipeline, fuse_vectors

        saliency_model, vgg16_path = configured_saliency_model()
        pipeline = Pipeline(settings.MODEL_CACHE_DIR, saliency_model=saliency_model, saliency_vgg16_path=vgg16_path,
                            embedding_head=(configured_embedding_head() if head is None else head) or None,
                            embedding_model=model or configured_embedding_model())
        labels, whole, crop, fused, failed = [], [], [], [], []
        for path, rgb in photos_decoded(dir, failed=failed, desc="Embedding", progress=options["verbosity"] > 0):
            labels.append(path.relative_to(dir).parts[0])
            if no_crop:
                whole.append(pipeline.embed([rgb])[0])
            else:
                analysis = pipeline.analyze(rgb)
                whole.append(analysis.whole_vector)
                crop.append(analysis.crop_vector)
                fused.append(analysis.vector)
        for line in failed:
            self.stderr.write(f"  skipped {line}")

        protocol = "Holidays protocol, one query per group" if groups else "leave-one-out"
        self.stdout.write(
            f"{dir}: {len(labels)} photos, {len(set(labels))} labels; model {pipeline.version}; {protocol}")
        rows = {"whole photo": whole}
        if not no_crop:
            rows = {"fused (served)": fused, "whole photo": whole, "salient crop": crop}
            for weight in (float(w) for w in crop_weights.split(",") if w.strip()):
                rows[f"fused, crop weight {weight:g}"] = fuse_vectors(np.stack(whole), np.stack(crop),
                                                                      crop_weight=weight)
        try:
            for name, vectors in rows.items():
                if groups:
                    metrics = holidays_metrics(np.stack(vectors), [None if g == DISTRACTORS else g for g in labels])
                else:
                    metrics = retrieval_metrics(np.stack(vectors), labels)
                self.stdout.write(metrics_line(name, metrics))
        except ValueError as exc:  # e.g. every label has a single photo
            raise CommandError(f"{dir}: {exc}; put 2+ photos in each label folder, DIR/<label>/*.jpg") from exc
