"""`make mutate`: a seeded sample of mutmut's mutants of `compiler/layers/` and the Keras 1
alias maps in `schemas/`, each run against the quick tests that execute its line.

mutmut's own runner copies the code into `mutants/` with trampolines, which the `package-dir`
layout (top-level folders installed as `kspec.*`) does not survive, so this driver uses only
mutmut's mutation operators and applies one mutant at a time to the real file. Run it as
`python -m tests.mutation` (docs/testing.md, "Mutation score").
"""
