"""The quick subset (`make test-fast`, `pytest -m quick`): the inner loop and the runner of
`make mutate`, about two minutes on a 2-core machine.

One declaration of what it holds, applied as the `quick` marker at collection. It keeps every
stage's cheap tests whole, runs each parity test of each layer family once (its first
parametrized row: every lowering meets Keras at least once), and names the few outcome tests
the planted bugs of the test audit need (docs/testing.md lists them). Whole-model examples,
subprocesses, fuzzing and the long rows of the grids stay in `make test`, which runs everything.
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest

# Run whole (every row).
WHOLE = (
    "tests/spec/",
    "tests/schemas/",
    "tests/test_architecture.py",
    "tests/test_packaging.py",
    "tests/test_mutation.py",  # the `make mutate` driver, on a planted module (seconds)
    "tests/parity/test_merge.py",  # masks across 3+ inputs differ per merge type
    "tests/compiler/test_expressions.py",
    "tests/compiler/test_lowering_choices.py",  # each alternative lowering equals XLA's form
    "tests/compiler/test_declarations.py",  # declared weights, rules and wrappability
    "tests/training/test_dispatch_costs.py",  # what the first step compiles, predict copies
)

# The first parametrized row of each test function.
FIRST_ROW = ("tests/parity/",)

# Single test functions (every row), for the outcomes no parity row checks.
FUNCTIONS = (
    "tests/compiler/test_conformance.py::test_every_schema_has_exactly_one_lowering",
    "tests/compiler/test_conformance.py::test_every_layer_type_has_cases",
    "tests/compiler/test_conformance.py::test_infer_shape_matches_eval_shape",
    "tests/compiler/test_conformance.py::test_spec_round_trip",
    "tests/compiler/test_conformance.py::test_invalid_shapes_raise_shape_error",
    "tests/compiler/test_conformance.py::test_every_family_has_reference_rows",
    "tests/compiler/test_conformance.py::test_outputs_match_the_reference",
    "tests/compiler/test_conformance.py::test_a_one_input_layer_given_two_names_itself",
    "tests/compiler/test_conformance.py::test_mixed_bfloat16_dtypes",
    "tests/compiler/test_custom_layers.py::test_a_lowering_with_an_unknown_mask_policy_is_refused",
    "tests/compiler/test_submodels.py::test_activity_losses_inside_reach_the_outer_model_as_at_top_level",
    "tests/training/test_fit.py::test_early_stopping_restores_the_best_epochs_weights",
    # every row: masks, scales, causal and score modes are separate branches (make mutate)
    "tests/parity/test_attention.py::test_luong_and_bahdanau_parity",
    "tests/parity/test_wrappers.py::test_bidirectional_grid",  # each merge mode, masks, states
    "tests/parity/test_wrappers.py::test_bidirectional_stateful_halves_equal_the_whole",
    "tests/parity/test_wrappers.py::test_bidirectional_backward_layer_and_initial_states",
    "tests/parity/test_recurrent.py::test_parity_options",  # each cell's variants (reset_after)
    # each encoder mask alone: either one without an `encoder_sequence` is refused
    "tests/parity/test_transformer.py::test_transformer_decoder_encoder_masks_need_an_encoder_sequence",
)

# Left out although a rule above selects them: whole networks, long sequences, fuzzing.
LEFT_OUT = (
    "tests/spec/test_blocks_example.py",
    "tests/spec/test_includes.py::test_cli_flag_allows_outside_includes",
    "tests/schemas/test_fuzz.py",
    "tests/parity/test_conv_lstm.py",
    "tests/parity/test_composition.py",
    "tests/parity/test_building_blocks.py::test_functional_weight_order_and_outputs",
    "tests/parity/test_normalization.py::test_resnet_small_example_matches_keras_at_inference_and_in_training",
    "tests/parity/test_precision.py::test_mnist_cnn_example_under_mixed_bfloat16",
    "tests/parity/test_precision.py::test_per_layer_dtype_overrides_the_model_policy",
    "tests/parity/test_attention.py::test_self_attention_with_padding_masks_matches_keras",
    "tests/parity/test_attention.py::test_group_query_attention_scores_parity",
    "tests/parity/test_attention.py::test_multi_head_attention_dropout_applies_in_training",
    "tests/parity/test_attention.py::test_attention_mask_input_combines_with_padding_and_causal",
    "tests/parity/test_embedding.py::test_mask_flows_through_dense_and_dropout_into_the_rnn",
    "tests/parity/test_wrappers.py::test_imdb_style_classifier_matches_keras",
    "tests/parity/test_wrappers.py::test_time_distributed_passes_the_mask_on_and_reaches_nested_rules",
)


def _function_id(item: pytest.Item) -> str:
    """`path::function`, without the parametrized row."""
    return item.nodeid.split("[", 1)[0]


def _matches(function: str, declared: Iterable[str]) -> bool:
    """A folder (`tests/spec/`), a file (`tests/x.py`) or one function (`tests/x.py::test_y`)."""
    path = function.split("::", 1)[0]
    return any(path.startswith(d) if d.endswith("/") else d in (path, function) for d in declared)


def mark_quick(items: list[pytest.Item]) -> None:
    """Add the `quick` marker to the items the declaration above selects (never a `slow` one)."""
    seen: set[str] = set()
    for item in items:
        function = _function_id(item)
        first_row = function not in seen
        seen.add(function)
        if item.get_closest_marker("slow") or _matches(function, LEFT_OUT):
            continue
        if (
            _matches(function, WHOLE)
            or _matches(function, FUNCTIONS)
            or (first_row and _matches(function, FIRST_ROW))
        ):
            item.add_marker(pytest.mark.quick)
