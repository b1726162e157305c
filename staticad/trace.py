def jit(*a, **k): pass
def trace(*a, **k): pass
