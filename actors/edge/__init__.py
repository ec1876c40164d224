"""The edges actors talk through: the broker and the lake."""
