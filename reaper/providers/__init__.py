"""Provider modules: the only code that talks to clouds."""
