"""Keras-style training callbacks, where Keras users look for them: `kspec.callbacks.EarlyStopping`
(as `keras.callbacks.EarlyStopping`). Importing this module imports JAX; `import kspec` does not."""

from __future__ import annotations

from kspec.runtime.training.callbacks import Callback as Callback
from kspec.runtime.training.callbacks import CSVLogger as CSVLogger
from kspec.runtime.training.callbacks import EarlyStopping as EarlyStopping
from kspec.runtime.training.callbacks import History as History
from kspec.runtime.training.callbacks import LambdaCallback as LambdaCallback
from kspec.runtime.training.callbacks import LearningRateScheduler as LearningRateScheduler
from kspec.runtime.training.callbacks import ReduceLROnPlateau as ReduceLROnPlateau
from kspec.runtime.training.callbacks import TerminateOnNaN as TerminateOnNaN
from kspec.runtime.training.checkpoints import ModelCheckpoint as ModelCheckpoint
from kspec.runtime.training.checkpoints import restore_latest as restore_latest
