"""Examples of extending the stack (plugging in another environment, ...)."""
