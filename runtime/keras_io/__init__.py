"""Keras files in and out: legacy HDF5 and `.weights.h5` reading, `.keras` archives (read
with limits, written without Keras), and Keras 2's weight conversions (see docs/importing.md).

The Keras config itself is translated by `kspec.spec.keras`; this package moves the weights."""
