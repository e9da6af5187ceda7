"""Ensemble views of a fitted residual network (Veit, Wilber and Belongie, NeurIPS 2016).

A residual network unravels into ``2^T`` paths of different lengths. The
studies here delete or reorder blocks at test time, count the paths and
measure how much gradient paths of each length carry, and score every stage's
head; the displays plot them and the two decompositions of the scores. They
work on any fitted estimator of the package (its ``module_``).
"""

from ._plot import (
    DecompositionDisplay,
    LesionDisplay,
    PathLengthDisplay,
    ReorderDisplay,
    StagedScoresDisplay,
)
from ._studies import (
    gradient_by_path_length,
    lesion_study,
    path_length_distribution,
    reorder_study,
    staged_scores,
)

__all__ = [
    "DecompositionDisplay",
    "LesionDisplay",
    "PathLengthDisplay",
    "ReorderDisplay",
    "StagedScoresDisplay",
    "gradient_by_path_length",
    "lesion_study",
    "path_length_distribution",
    "reorder_study",
    "staged_scores",
]
