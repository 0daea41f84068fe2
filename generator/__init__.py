"""amlgen: Azure ML fine-tuning workflow as reviewable infrastructure-as-code."""

__version__ = "0.1.0"
