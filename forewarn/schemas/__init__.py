"""Request and response schemas: XBase -> XCreate/XUpdate -> XPublic, lists as {data, count}."""
