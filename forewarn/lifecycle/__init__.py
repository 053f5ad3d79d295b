"""Model use cases: train and list models, retrain on a schedule (champion/challenger), operator
feedback, and quality metrics per model with the threshold suggestion drawn from the feedback."""
