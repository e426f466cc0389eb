"""The detector's data: the generated strangers and no-face pictures of every split."""

import numpy as np
from test_train import write_squares

from menny_core import detector_data
from menny_core.dataset import discover, stratified_split
from menny_core.detector_data import GENERATED_FLOOR, SPLITS, draw_generated, prepare


def test_generated_pictures_drawn_side_by_side_are_each_kinds_own_sequence(tmp_path):
    """Two threads draw the kinds and splits at once; every list must still be exactly
    what its own seed sequence gives drawn alone, in order (same pixels, same boxes)."""
    folder = discover(write_squares(tmp_path, per_class=6))
    split = stratified_split(folder.samples, 0.15, 0.15, 3)
    data = prepare(folder, split)
    label = data.classes.index("someone else")
    for index, name in enumerate(SPLITS):
        for kind in ("strangers", "no_faces"):
            drawn = getattr(data.parts[name], kind)
            assert len(drawn) == GENERATED_FLOOR[name]  # 6 per class: the floor, not a share
            seed_of_kind = detector_data._KIND_SEED[kind]
            rng = np.random.default_rng(np.random.SeedSequence([3, 7919, index, seed_of_kind]))
            for got in drawn:
                alone = draw_generated(kind, rng, label)
                assert np.array_equal(got.pixels, alone.pixels)
                assert (got.label, got.box) == (alone.label, alone.box)
