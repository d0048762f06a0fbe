"""The row types of the conformance tables (the checks live in `kspec.compiler.conformance`,
which plugin authors run on their own layers through `kspec.testing`)."""

from kspec.compiler.conformance import Case as Case
from kspec.compiler.conformance import Invalid as Invalid
