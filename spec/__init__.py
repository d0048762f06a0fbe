"""Stage 1 of the pipeline: text (YAML, JSON) or dicts -> plain data + source map.

Imports nothing from the later stages and never imports JAX.
"""

from kspec.spec.document import Document as Document
from kspec.spec.document import load_document as load_document
from kspec.spec.source_map import Path as Path
from kspec.spec.source_map import SourceMap as SourceMap
