"""INN Lab engine: find wrongly labelled training samples with INN (Integration with the Nearest Neighborhoods)."""

__version__ = "0.1.0"
