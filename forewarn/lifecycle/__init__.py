"""Model lifecycle: scheduled retraining (champion/challenger), operator feedback, quality
metrics per model and the threshold suggestion drawn from the feedback."""
