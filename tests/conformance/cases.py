"""The row types of the conformance tables (the checks live in `kspec.runtime.conformance`,
which plugin authors run on their own layers through `kspec.testing`)."""

from kspec.runtime.conformance import Case as Case
from kspec.runtime.conformance import Invalid as Invalid
