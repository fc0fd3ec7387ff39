"""pgc: a declarative pipeline-graph compiler for training LLMs across heterogeneous machines."""

__version__ = "0.1.0"
