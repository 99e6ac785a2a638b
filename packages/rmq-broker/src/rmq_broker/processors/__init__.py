"""Request processors of the broker, one module per area (Java's ``broker.processor``)."""
