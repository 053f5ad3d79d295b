"""The HTTP edge: routes, dependencies and error mapping. Only this package knows HTTP."""
