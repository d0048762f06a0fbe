"""How many values a block use will expand to, known before expanding it.

Blocks that use blocks multiply: 25 blocks each using the next twice stand for 2**25 layers in
a 3 KB file. Expanding and counting would take minutes before the budget ran out, so each use
is first priced from the definitions alone (memoized per block, so pricing is linear in the
definitions), and refused at once, naming its heaviest chain of uses, when the price is over
what the load may still spend.
"""

from __future__ import annotations

from typing import Any

from kspec.errors import Location
from kspec.spec.block_definitions import Block, is_use
from kspec.spec.limits import MAX_BLOCK_DEPTH, Budget, size_of


class BlockPrices:
    """The expanded size of each block, in values, without substituting parameters."""

    def __init__(self, blocks: dict[str, Block]) -> None:
        self.blocks = blocks
        self.prices: dict[str, int] = {}

    def price(self, name: str, depth: int = 0) -> int:
        """Values block `name` expands to (0 for an unknown block, a cycle or a chain too
        deep: the expansion reports those)."""
        if name in self.prices:
            return self.prices[name]
        block = self.blocks.get(name)
        if block is None or depth > MAX_BLOCK_DEPTH:
            return 0
        self.prices[name] = 0  # a cycle prices as nothing
        self.prices[name] = sum(self._node(node, depth) for node in block.layers)
        return self.prices[name]

    def heaviest_chain(self, name: str) -> list[str]:
        """`name`, the block it uses that costs the most, and so on down."""
        chain = [name]
        while len(chain) <= MAX_BLOCK_DEPTH:
            used = [n["block"] for n in self.blocks[chain[-1]].layers if _uses_known(n, self)]
            if not used:
                break
            heaviest = max(used, key=self.price)
            if heaviest in chain:
                break
            chain.append(heaviest)
        return chain

    def check(self, name: str, spent: Budget, where: Location | None) -> None:
        """Refuse a use of `name` that would expand past the budget still left."""
        if isinstance(name, str) and name in self.blocks:
            chain = " -> ".join(self.heaviest_chain(name))
            spent.check(self.price(name), where, f"blocks ({chain})")

    def _node(self, node: Any, depth: int) -> int:
        if is_use(node) and isinstance(node["block"], str):
            return self.price(node["block"], depth + 1)
        return size_of(node)[0]


def _uses_known(node: Any, prices: BlockPrices) -> bool:
    return is_use(node) and isinstance(node["block"], str) and node["block"] in prices.blocks
