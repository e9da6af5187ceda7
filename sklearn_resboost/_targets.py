"""Target encoding and the mapping from scores to predictions.

The boosted and the end-to-end estimators share them: the classifiers encode
labels and turn scores into labels and probabilities the same way, and so do
the regressors with standardised targets.
"""

import numpy as np
import torch
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import compute_sample_weight

from ._losses import CLASSIFICATION_LOSSES, REGRESSION_LOSSES
from ._validation import check_class_labels, check_class_weight, python_scalar, target_transform


class ClassifierTargets:
    """Label encoding, class weights and the prediction methods of the classifiers.

    Needs ``_raw_scores(X)`` (final scores of shape ``(n_samples, K)``) and
    ``_loss`` from the estimator.
    """

    def _encode_classes(self, y, keep_classes=False):
        """Encode labels as class indices; set ``classes_`` unless ``keep_classes``."""
        check_class_labels(y)
        if keep_classes:
            unseen = np.setdiff1d(np.unique(y), self.classes_)
            if unseen.size:
                raise ValueError(
                    f"y contains labels {unseen.tolist()} not seen in the first fit; "
                    "warm_start needs the same classes."
                )
            encoded = np.searchsorted(self.classes_, y)
        else:
            encoder = LabelEncoder()
            encoded = encoder.fit_transform(y)
            self.classes_ = encoder.classes_
            self.n_classes_ = len(self.classes_)
        if self.n_classes_ < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes; "
                f"y has only 1 class: {python_scalar(self.classes_[0])!r}."
            )
        return encoded

    def _encode_target(self, y):
        """Encode the labels (a warm start keeps the fitted classes); return them and the loss."""
        return self._encode_classes(y, keep_classes=self._continues()), self._classification_loss()

    def _classification_loss(self):
        """The loss for ``n_classes_``: one score for two classes, one per class otherwise."""
        binary_loss, multiclass_loss = CLASSIFICATION_LOSSES[self.loss]
        if self.n_classes_ == 2:
            return binary_loss(1)
        return multiclass_loss(self.n_classes_)

    def _class_sample_weight(self, y, sample_weight):
        if self.class_weight is None:
            return sample_weight
        class_weight = self.class_weight
        if isinstance(class_weight, dict):
            check_class_weight(class_weight, self.classes_)
            class_weight = {
                int(np.searchsorted(self.classes_, label)): weight
                for label, weight in class_weight.items()
            }
        return sample_weight * compute_sample_weight(class_weight, y)

    def _check_weighted_target(self, y):
        """Check that 2 classes keep positive weight once zero-weight samples are dropped."""
        present = np.unique(y)
        if len(present) < 2:
            which = "none has"
            if len(present):
                which = f"only class {python_scalar(self.classes_[present[0]])!r} has any"
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes with "
                f"positive weight; {which}."
            )

    def _stratify(self, y):
        return y

    def _target_tensor(self, y, device, offset=None, scale=None):
        if self.n_classes_ == 2:
            if self.loss == "exponential":
                return torch.as_tensor(2.0 * y - 1.0, dtype=torch.float32, device=device)
            return torch.as_tensor(y, dtype=torch.float32, device=device)
        return torch.as_tensor(y, dtype=torch.int64, device=device)

    def _format(self, scores):
        """Drop the output axis of a single score."""
        return scores[..., 0] if scores.shape[-1] == 1 else scores

    def _labels(self, scores):
        if scores.shape[1] == 1:
            return self.classes_[(scores[:, 0] > 0).astype(int)]
        return self.classes_[scores.argmax(axis=1)]

    def decision_function(self, X):
        """Raw scores ``z_T`` of the final head.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input samples.

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            One score per sample for two classes (positive favours
            ``classes_[1]``), one per class otherwise.
        """
        return self._format(self._raw_scores(X))

    def predict(self, X):
        """Predict class labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input samples.

        Returns
        -------
        y : ndarray of shape (n_samples,)
            Predicted labels.
        """
        return self._labels(self._raw_scores(X))

    def predict_proba(self, X):
        """Predict class probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input samples.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Probabilities, in the order of ``classes_``.
        """
        scores = self._raw_scores(X)
        return self._loss.proba(scores)

    def predict_log_proba(self, X):
        """Predict the logarithm of class probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input samples.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            Log-probabilities, in the order of ``classes_``.
        """
        scores = self._raw_scores(X)
        return self._loss.log_proba(scores)


class RegressorTargets:
    """Target validation, standardisation and ``predict`` of the regressors.

    Needs ``_raw_scores(X)`` (final scores of shape ``(n_samples, K)``) from
    the estimator.
    """

    def _encode_outputs(self, y, n_outputs=None):
        """Validate ``y`` as a 2-D float array; ``n_outputs``, when given, must match."""
        y = np.asarray(y, dtype=np.float64)
        if not np.all(np.isfinite(y)):
            raise ValueError("y contains NaN or infinity.")
        self._y_ndim = y.ndim
        y = y.reshape(len(y), -1)
        if n_outputs is not None and y.shape[1] != n_outputs:
            raise ValueError(f"y has {y.shape[1]} outputs but the first fit had {n_outputs}.")
        self.n_outputs_ = y.shape[1]
        return y

    def _encode_target(self, y):
        """Check the targets (a warm start keeps the fitted outputs); return them and the loss."""
        y = self._encode_outputs(y, self.n_outputs_ if self._continues() else None)
        return y, self._regression_loss()

    def _regression_loss(self):
        loss_class = REGRESSION_LOSSES[self.loss]
        if self.loss == "huber":
            return loss_class(self.n_outputs_, self.alpha)
        return loss_class(self.n_outputs_)

    def _output_transform(self, y, sample_weight, n_outputs):
        return target_transform(y, sample_weight)

    def _head_targets(self, y, offset, scale):
        return (y - offset) / scale

    def _target_tensor(self, y, device, offset, scale):
        return torch.as_tensor(
            self._head_targets(y, offset, scale), dtype=torch.float32, device=device
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _format(self, scores):
        """Drop the output axis when ``y`` was 1-D."""
        return scores[..., 0] if self._y_ndim == 1 else scores

    def predict(self, X):
        """Predict regression targets.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input samples.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Predicted values.
        """
        return self._format(self._raw_scores(X))
