"""HTTP layer: one flask-smorest Blueprint per resource."""
