"""AWS resource kinds."""
