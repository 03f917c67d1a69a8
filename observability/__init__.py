"""What operators see of the engine: business metrics, traces and structured logs."""
