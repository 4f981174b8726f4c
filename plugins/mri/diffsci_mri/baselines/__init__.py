"""Classical MRI reconstruction baselines: zero-filled and compressed sensing (TV, wavelets) by PDHG."""
