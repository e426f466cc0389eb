"""Test metrics as the Train tab shows them: a markdown table of hand-worked scores."""

import numpy as np

from menny_core.evaluate import metrics_from_confusion, metrics_markdown


def test_metrics_markdown_is_a_table_of_the_hand_worked_scores():
    """Rows true, columns predicted: a 5 right and 1 called b; b 2 called a and 3 right."""
    metrics = metrics_from_confusion(np.array([[5, 1], [2, 3]]), ["a", "b"])
    metrics.loss = 0.4321
    lines = metrics_markdown(metrics, "Weights saved.").splitlines()
    assert lines[0] == "**Test accuracy 72.7%**, loss 0.432. Weights saved."  # 8 of 11
    assert lines[2:4] == ["| class | precision | recall | F1 | images |", "|---|---|---|---|---|"]
    # a: precision 5/7, recall 5/6, F1 2*5/(7+6) = 10/13; b: 3/4, 3/5, 2/3.
    assert lines[4] == "| a | 0.71 | 0.83 | 0.77 | 6 |"
    assert lines[5] == "| b | 0.75 | 0.60 | 0.67 | 5 |"
    assert metrics_markdown(metrics).splitlines()[0].endswith("loss 0.432.")
