"""Training: Keras-style compile / fit / evaluate on optax, as pure jitted steps."""
