"""newsflow: an always-on stream processor for news articles.

The package is a pure core (prepare -> fingerprint -> dedup -> classify -> publish) with a thin
Faust shell around it (``streams.app``). Nothing in the core imports Kafka or Faust.
"""

__version__ = "0.3.0"
PIPELINE_VERSION = f"newsflow-{__version__}"
