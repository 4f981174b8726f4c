"""The MRI harnesses: reconstruction, anomaly, the demo, and the prior they share."""
