"""Names of the graph document format."""
FORMAT = "staticad.graph"
VERSION = 1
SOURCES = ("placeholder", "constant", "variable")
_NODE_KEYS = {"op", "name", "shape", "dtype", "inputs", "attrs", "data", "trainable"}
