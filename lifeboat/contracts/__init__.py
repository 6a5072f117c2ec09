"""Activity inputs and outputs: the typed boundary between workflows and the agents.

Workflows import these (never activity implementations); activities return them. Every
model here is JSON-serialisable through temporalio's pydantic data converter.
"""
