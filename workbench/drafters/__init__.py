"""Where draft tokens come from: a draft model, prompt lookup, a suffix cache, or a cascade of them."""
