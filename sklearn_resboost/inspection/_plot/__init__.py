"""Displays of the ensemble views, in the style of scikit-learn's ``*Display`` classes.

``Display(...)`` stores the arrays of a study; ``plot(ax=None, ...)`` draws them
and stores the matplotlib artists; ``Display.from_estimator(...)`` runs the study
and plots it. matplotlib is imported only when something is drawn. Each display
has its module; ``_common`` holds what they set up alike.
"""

from ._decomposition import DecompositionDisplay
from ._lesion import LesionDisplay
from ._paths import PathLengthDisplay
from ._reorder import ReorderDisplay
from ._staged import StagedScoresDisplay

__all__ = [
    "DecompositionDisplay",
    "LesionDisplay",
    "PathLengthDisplay",
    "ReorderDisplay",
    "StagedScoresDisplay",
]
