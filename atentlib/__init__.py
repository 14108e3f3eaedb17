"""atentlib: ATENT (adversarial training with a data-entropy loss) and the defenses it is compared with."""

__version__ = "0.1.0"
